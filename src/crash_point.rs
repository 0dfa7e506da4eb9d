//! Deliberate crash points for the crash tests: with `QRPOS_CRASH_AT=<name>` in the
//! environment the process aborts at that point — no destructors, no flushes, like a SIGKILL —
//! so a test can hit the narrow windows (journaled but not sent; answered but not journaled)
//! that random kills rarely land in. Without the variable this is one cached comparison.

use std::sync::OnceLock;

/// The sale is journaled `submitted`; the withdrawal has not left.
pub const AFTER_SUBMIT_JOURNALED: &str = "after-submit-journaled";
/// The backend answered; the answer is not journaled yet.
pub const AFTER_RESPONSE: &str = "after-response";
/// A queued sale is journaled `forwarded`; the withdrawal has not left.
pub const AFTER_FORWARD_JOURNALED: &str = "after-forward-journaled";

pub fn crash_point(name: &str) {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    if TARGET
        .get_or_init(|| std::env::var("QRPOS_CRASH_AT").ok())
        .as_deref()
        == Some(name)
    {
        eprintln!("qrpos: QRPOS_CRASH_AT={name}: aborting here on purpose");
        std::process::abort();
    }
}
