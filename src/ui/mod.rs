//! The touchscreen (feature `ui`): the Slint screens of `ui/*.slint` over the same checkout
//! `qrpos pay` runs. State lives in Rust; the screens read the one `Pos` global and call its
//! callbacks (the layout of Slint's own demos).
//! - [`counter`]: the controller: callbacks in, properties out, events from the engine;
//! - [`camera_feed`]: one sale's camera → preview and decoder → checkout inputs;
//! - [`view`]: what the screens show of a sale, as plain data (pure);
//! - [`amount_entry`], [`pin`]: the amount keypad and the operator PIN;
//! - [`snapshot`]: every screen in every state, rendered to PNG;
//! - [`bench`]: `qrpos bench ui`, the touchscreen's speed and memory targets.

slint::include_modules!();

pub mod amount_entry;
pub mod bench;
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

#[cfg(test)]
mod tests {
    /// Every `@tr` text of the screens has its Korean line (Korean is the default language:
    /// a missing line would show English at the counter).
    #[test]
    fn every_screen_text_has_a_korean_translation() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let po = std::fs::read_to_string(root.join("ui/translations/ko/LC_MESSAGES/qrpos.po"))
            .expect("the Korean translation");
        let mut translated = std::collections::HashMap::new();
        let mut id = None;
        for line in po.lines() {
            if let Some(rest) = line.strip_prefix("msgid ") {
                id = Some(rest.to_string());
            } else if let (Some(rest), Some(i)) = (line.strip_prefix("msgstr "), id.take()) {
                translated.insert(i, rest.to_string());
            }
        }
        let mut files = vec![root.join("ui")];
        let mut missing = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "slint") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices("@tr(\"") {
                let rest = &text[at + 4..];
                // The quoted literal, escapes included, as the .po file writes it.
                let end = rest[1..]
                    .char_indices()
                    .scan(false, |escaped, (i, c)| {
                        let done = c == '"' && !*escaped;
                        *escaped = c == '\\' && !*escaped;
                        Some((i, done))
                    })
                    .find(|(_, done)| *done)
                    .map(|(i, _)| i + 2)
                    .expect("a closed string");
                let literal = &rest[..end];
                match translated.get(literal) {
                    Some(ko) if ko != "\"\"" => {}
                    _ => missing.push(format!("{}: {literal}", path.display())),
                }
            }
        }
        assert!(missing.is_empty(), "no Korean for:\n{}", missing.join("\n"));
    }
}
