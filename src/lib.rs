//! qrpos: a point-of-sale QR payment terminal. See `ARCHITECTURE.md` for the map.

pub mod protocol;
pub mod sale;
#[cfg(feature = "sandbox")]
pub mod sandbox;
