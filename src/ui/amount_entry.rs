//! The amount keypad's arithmetic: digits in, an amount in won out, the terminal's maximum
//! enforced as the cashier types (a key that would pass it is refused and says so).

use crate::sale::Won;

/// The amount being keyed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmountEntry {
    value: u64,
    /// The last key was refused because it would pass the maximum.
    over: bool,
}

impl AmountEntry {
    /// Applies one key: `"0"`–`"9"`, `"00"`, `"back"` or `"clear"`. Unknown keys do nothing.
    pub fn press(&mut self, key: &str, max: Won) {
        let next = match key {
            "back" => Some(self.value / 10),
            "clear" => Some(0),
            "00" => self.value.checked_mul(100),
            d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => self
                .value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d.as_bytes()[0] - b'0'))),
            _ => return,
        };
        match next {
            Some(v) if v <= max.0 => {
                self.value = v;
                self.over = false;
            }
            _ => self.over = true,
        }
    }

    pub fn amount(&self) -> Won {
        Won(self.value)
    }

    /// The last key was refused: it would have passed the maximum.
    pub fn over_maximum(&self) -> bool {
        self.over
    }

    /// A sale may be charged: at least ₩1 (the maximum is kept by [`AmountEntry::press`]).
    pub fn can_charge(&self) -> bool {
        self.value > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(keys: &[&str], max: u64) -> AmountEntry {
        let mut e = AmountEntry::default();
        keys.iter().for_each(|k| e.press(k, Won(max)));
        e
    }

    #[test]
    fn digits_double_zero_back_and_clear() {
        assert_eq!(keyed(&["4", "5", "00"], 1_000_000).amount(), Won(4500));
        assert_eq!(
            keyed(&["4", "5", "00", "back"], 1_000_000).amount(),
            Won(450)
        );
        assert_eq!(keyed(&["4", "5", "clear"], 1_000_000).amount(), Won(0));
        assert_eq!(keyed(&["0", "0", "7"], 1_000_000).amount(), Won(7));
        assert_eq!(keyed(&["x", "-", ""], 1_000_000).amount(), Won(0));
    }

    #[test]
    fn a_key_past_the_maximum_is_refused_and_says_so() {
        let e = keyed(&["5", "0", "0", "0", "1"], 5000);
        assert_eq!(e.amount(), Won(5000));
        assert!(e.over_maximum());
        // The next accepted key clears the message.
        let mut e = e;
        e.press("back", Won(5000));
        assert_eq!(e.amount(), Won(500));
        assert!(!e.over_maximum());
    }

    #[test]
    fn no_overflow_however_many_keys() {
        let keys = vec!["9"; 40];
        let e = keyed(&keys, u64::MAX);
        assert_eq!(e.amount(), Won(9_999_999_999_999_999_999));
        assert!(e.over_maximum());
    }

    #[test]
    fn nothing_keyed_cannot_be_charged() {
        assert!(!keyed(&[], 100).can_charge());
        assert!(keyed(&["1"], 100).can_charge());
    }
}
