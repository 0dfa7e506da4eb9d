//! The touchscreen (feature `ui`): the Slint screens of `ui/*.slint` over the same checkout
//! `qrpos pay` runs. State lives in Rust; the screens read the one `Pos` global and call its
//! callbacks (the layout of Slint's own demos).
//! - [`counter`]: the controller: callbacks in, properties out, events from the engine;
//! - [`camera_feed`]: one sale's camera → preview and decoder → checkout inputs;
//! - [`view`]: what the screens show of a sale, as plain data (pure);
//! - [`amount_entry`], [`pin`]: the amount keypad and the operator PIN;
//! - [`snapshot`]: every screen in every state, rendered to PNG.

slint::include_modules!();

pub mod amount_entry;
pub mod camera_feed;
pub mod counter;
pub mod pin;
pub mod snapshot;
pub mod view;

pub use counter::{Counter, Deps};

/// Why the window could not open, with what to do instead.
pub fn no_display_help(e: &slint::PlatformError) -> String {
    format!(
        "cannot open the touchscreen ({e}).\n\
         `qrpos run` needs a display: a desktop session (X11, DISPLAY set) or, on the Pi, the \
         Linux console (DRM/KMS, /dev/dri/card*, as a user in the `video` and `input` groups).\n\
         Without a display: `xvfb-run qrpos run` for a virtual one, or sell headless with \
         `qrpos pay --amount N --qr-image FILE` (`qrpos demo` shows a whole sale)."
    )
}
