//! The wire formats of the backend APIs (open banking, payRequest, and `qrpos host`'s own
//! terminal API), exactly as their public specs name the fields.
//!
//! Shared by the terminal's clients (`backend/`) and the sandbox (`sandbox/`) because both
//! sides speak the same public contract; amounts and times travel as strings where the spec
//! says so. Nothing here knows about sales or the journal.

pub mod host;
pub mod openbanking;
pub mod payrequest;
