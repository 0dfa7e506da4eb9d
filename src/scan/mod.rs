//! Scanning a customer's payment code: camera image → QR text → checked [`Payload`].
//!
//! - [`decode`]: image → QR texts, with the QR engine's panics contained.
//! - [`payload`]: text → [`Payload`] (static fintech number, signed `QP1` one-time code, or
//!   EMVCo consumer-presented), or a [`PayloadError`] the cashier can act on.
//! - [`code_image`]: text → QR image, for issuing codes.
//!
//! Remembering nonces of one-time codes (so each pays once) is the caller's job; it reports a
//! second use as [`PayloadError::Replayed`].
//!
//! ```no_run
//! # fn demo(keys: &qrpos::scan::TrustedKeys, now: i64) -> Result<(), Box<dyn std::error::Error>> {
//! use qrpos::scan;
//! for text in scan::decode_file(std::path::Path::new("frame.png"))? {
//!     let payload = scan::parse(&text, keys, now)?;
//!     println!("{}: {}", payload.kind(), payload.means().masked());
//! }
//! # Ok(()) }
//! ```

pub mod code_image;
pub mod decode;
mod emv;
pub mod payload;

pub use code_image::{qr_version, render, write_png, RenderError};
pub use decode::{decode_file, decode_luma, DecodeError};
pub use payload::{
    encode_one_time, parse, try_encode_one_time, EncodeError, KeyError, OneTimeCode, Payload,
    PayloadError, TrustedKeys, MAX_LIFETIME_S,
};
