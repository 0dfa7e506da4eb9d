//! The terminal's word with systemd (`Type=notify`, `WatchdogSec=`): ready once it can sell,
//! alive at each watchdog tick, stopping on the way out. Outside systemd (no
//! `NOTIFY_SOCKET`) every call does nothing.
//!
//! Who pings matters: `qrpos run` pings from the UI's event loop, so a frozen screen stops
//! the pings and systemd restarts the terminal; headless commands ping from the runtime.

use sd_notify::NotifyState;
use std::time::Duration;

/// Tell systemd the service is up (with a one-line status for `systemctl status`).
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// One watchdog ping.
pub fn alive() {
    send(&[NotifyState::Watchdog]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// How often to ping: half the unit's `WatchdogSec`, or `None` without a watchdog.
pub fn ping_every() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

fn send(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        // Not fatal for a sale; worth knowing for the installer (the watchdog would fire).
        tracing::warn!("telling systemd {state:?}: {e}");
    }
}
