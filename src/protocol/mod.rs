//! The wire formats of the two backend APIs, exactly as their public specs name the fields.
//!
//! Shared by the terminal's clients (`backend/`) and the sandbox (`sandbox/`) because both
//! sides speak the same public contract; amounts and times travel as strings where the spec
//! says so. Nothing here knows about sales or the journal.

pub mod openbanking;
pub mod payrequest;
