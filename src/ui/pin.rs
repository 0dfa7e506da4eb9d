//! The operator PIN that guards settings and diagnostics. There is no default: it comes
//! from the config (`ui.operator_pin`), or the first opening of settings chooses it and it
//! is kept (salted SHA-256, never the digits) in `operator-pin` beside the journal.

use sha2::{Digest, Sha256};
use std::path::PathBuf;

pub const MIN_DIGITS: usize = 4;
pub const MAX_DIGITS: usize = 8;

/// Where the PIN comes from.
#[derive(Debug, Clone)]
pub struct OperatorPin {
    configured: Option<String>,
    file: PathBuf,
}

impl OperatorPin {
    pub fn new(configured: Option<String>, file: PathBuf) -> OperatorPin {
        OperatorPin { configured, file }
    }

    /// Whether a PIN exists yet (else the next opening of settings chooses one). A PIN file
    /// that is there but unreadable counts as set: settings stay locked (fail closed) until
    /// an operator removes it or sets `ui.operator_pin`.
    pub fn is_set(&self) -> bool {
        self.configured.is_some() || self.file.exists()
    }

    pub fn check(&self, typed: &str) -> bool {
        if let Some(pin) = &self.configured {
            return pin == typed;
        }
        match self.stored() {
            Some((salt, hash)) => hex(&digest(&salt, typed)) == hash,
            None => false,
        }
    }

    /// Keeps a newly chosen PIN, durably (written aside, synced, renamed).
    pub fn choose(&self, pin: &str) -> std::io::Result<()> {
        use std::io::Write;
        let salt: [u8; 16] = rand::random();
        let line = format!("{}:{}\n", hex(&salt), hex(&digest(&hex(&salt), pin)));
        let aside = self.file.with_extension("new");
        let mut f = std::fs::File::create(&aside)?;
        f.write_all(line.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&aside, &self.file)
    }

    fn stored(&self) -> Option<(String, String)> {
        let text = std::fs::read_to_string(&self.file).ok()?;
        let (salt, hash) = text.trim().split_once(':')?;
        Some((salt.to_string(), hash.to_string()))
    }
}

fn digest(salt: &str, pin: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(pin.as_bytes());
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the PIN pad is asking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Enter,
    Choose,
    Confirm,
}

/// The PIN pad: digits typed (never shown), the step, and what went wrong last.
#[derive(Debug, Clone)]
pub struct PinPad {
    pub step: Step,
    typed: String,
    chosen: String,
    pub wrong: bool,
    pub mismatch: bool,
}

/// What a key on the pad led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    Typing,
    Unlocked,
    /// The chosen PIN could not be kept (the message says why).
    NotKept(String),
}

impl PinPad {
    pub fn new(pin: &OperatorPin) -> PinPad {
        PinPad {
            step: if pin.is_set() {
                Step::Enter
            } else {
                Step::Choose
            },
            typed: String::new(),
            chosen: String::new(),
            wrong: false,
            mismatch: false,
        }
    }

    pub fn typed_len(&self) -> usize {
        self.typed.len()
    }

    /// Applies a key: a digit, `"back"` or `"ok"`.
    pub fn press(&mut self, key: &str, pin: &OperatorPin) -> PinOutcome {
        match key {
            "back" => {
                self.typed.pop();
            }
            "ok" => return self.submit(pin),
            d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => {
                if self.typed.len() < MAX_DIGITS {
                    self.typed.push_str(d);
                }
                self.wrong = false;
                self.mismatch = false;
            }
            _ => {}
        }
        PinOutcome::Typing
    }

    fn submit(&mut self, pin: &OperatorPin) -> PinOutcome {
        let typed = std::mem::take(&mut self.typed);
        match self.step {
            Step::Enter => {
                if pin.check(&typed) {
                    return PinOutcome::Unlocked;
                }
                self.wrong = true;
            }
            Step::Choose => {
                if typed.len() >= MIN_DIGITS {
                    self.chosen = typed;
                    self.step = Step::Confirm;
                }
            }
            Step::Confirm => {
                if typed == self.chosen {
                    return match pin.choose(&typed) {
                        Ok(()) => {
                            self.step = Step::Enter;
                            PinOutcome::Unlocked
                        }
                        Err(e) => PinOutcome::NotKept(format!("the PIN could not be saved: {e}")),
                    };
                }
                self.mismatch = true;
                self.step = Step::Choose;
            }
        }
        PinOutcome::Typing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_pin(pad: &mut PinPad, pin: &OperatorPin, digits: &str) -> PinOutcome {
        for d in digits.chars() {
            pad.press(&d.to_string(), pin);
        }
        pad.press("ok", pin)
    }

    #[test]
    fn the_first_opening_chooses_a_pin_that_is_kept_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let pin = OperatorPin::new(None, dir.path().join("operator-pin"));
        let mut pad = PinPad::new(&pin);
        assert_eq!(pad.step, Step::Choose);
        assert_eq!(
            type_pin(&mut pad, &pin, "123"),
            PinOutcome::Typing,
            "too short"
        );
        assert_eq!(pad.step, Step::Choose);
        type_pin(&mut pad, &pin, "2468");
        assert_eq!(pad.step, Step::Confirm);
        assert_eq!(type_pin(&mut pad, &pin, "2469"), PinOutcome::Typing);
        assert!(pad.mismatch);
        assert_eq!(pad.step, Step::Choose);
        type_pin(&mut pad, &pin, "2468");
        assert_eq!(type_pin(&mut pad, &pin, "2468"), PinOutcome::Unlocked);
        // Kept as salt:SHA-256 in hex, never the digits (which hex may hold by chance, so the
        // shape is what is checked).
        let kept = std::fs::read_to_string(dir.path().join("operator-pin")).unwrap();
        let (salt, hash) = kept.trim().split_once(':').expect("salt:hash");
        assert_eq!((salt.len(), hash.len()), (32, 64), "{kept}");
        assert!(kept
            .trim()
            .chars()
            .all(|c| c == ':' || c.is_ascii_hexdigit()));
        assert_eq!(hash, hex(&digest(salt, "2468")));

        let again = OperatorPin::new(None, dir.path().join("operator-pin"));
        let mut pad = PinPad::new(&again);
        assert_eq!(pad.step, Step::Enter);
        assert_eq!(type_pin(&mut pad, &again, "1111"), PinOutcome::Typing);
        assert!(pad.wrong);
        assert_eq!(type_pin(&mut pad, &again, "2468"), PinOutcome::Unlocked);
    }

    #[test]
    fn a_configured_pin_needs_no_choosing() {
        let dir = tempfile::tempdir().unwrap();
        let pin = OperatorPin::new(Some("9876".into()), dir.path().join("operator-pin"));
        let mut pad = PinPad::new(&pin);
        assert_eq!(pad.step, Step::Enter);
        assert_eq!(type_pin(&mut pad, &pin, "98765"), PinOutcome::Typing);
        assert_eq!(type_pin(&mut pad, &pin, "9876"), PinOutcome::Unlocked);
    }
}
