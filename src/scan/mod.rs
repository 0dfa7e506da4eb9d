//! Scanning a customer's payment code: camera image → QR text → checked [`Payload`].
//!
//! - [`engine`]: the QR engines (rxing, rqrr) behind one trait, each call panic-isolated.
//! - [`prepare`]: binarizations, rescaling and inversion the cascade feeds to the engines.
//! - [`cascade`]: (engine, preparation) steps in measured order, within a time budget.
//! - [`live`]: per-frame decoding for a camera: region of interest, rotating budgeted steps.
//! - [`scanner`]: the decoder thread: newest frame only, de-duplicated [`ScanEvent`]s.
//! - [`decode`]: a still image → QR texts through the whole cascade.
//! - [`bench`]: `qrpos bench decode`, against zxing-cpp and zbar.
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

pub mod bench;
pub mod cascade;
pub mod code_image;
pub mod decode;
mod emv;
pub mod engine;
pub mod live;
pub mod payload;
pub mod prepare;
pub mod scanner;

pub use cascade::{Cascade, Outcome, Step};
pub use code_image::{qr_version, render, write_png, RenderError};
pub use decode::{decode_file, decode_luma, DecodeError};
pub use engine::{Bounds, Engine, Read, Rqrr, Rxing};
pub use live::FrameDecoder;
pub use payload::{
    encode_one_time, parse, try_encode_one_time, EncodeError, KeyError, OneTimeCode, Payload,
    PayloadError, TrustedKeys, MAX_LIFETIME_S,
};
pub use prepare::Preparation;
pub use scanner::{ScanEvent, Scanner, ScannerSettings, ScannerStats};
