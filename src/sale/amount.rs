//! Money: integer won, bounded by the merchant's configured maximum.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of Korean won. Won has no minor unit, so this is exact.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Won(pub u64);

impl fmt::Display for Won {
    /// `₩12,345`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        write!(f, "₩{out}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount {0:?} is not a whole number of won (digits only)")]
    NotANumber(String),
    #[error("amount must be at least ₩1")]
    Zero,
    #[error("amount {asked} is over this terminal's maximum of {max}")]
    OverMaximum { asked: Won, max: Won },
    /// More digits than any amount can have: said as typed, never saturated to a number
    /// nobody typed.
    #[error("amount {typed} is too large: this terminal's maximum is {max}")]
    TooLarge { typed: String, max: Won },
}

/// Parses what a cashier typed (digits, optionally with `,` separators) into an amount in
/// `1..=max`.
pub fn parse_amount(input: &str, max: Won) -> Result<Won, AmountError> {
    let cleaned: String = input.trim().chars().filter(|c| *c != ',').collect();
    if cleaned.is_empty() {
        return Err(AmountError::Empty);
    }
    if !cleaned.chars().all(|c| c.is_ascii_digit()) {
        return Err(AmountError::NotANumber(input.trim().to_string()));
    }
    // All digits: the only parse failure left is overflow, which is over any maximum.
    let Ok(value) = cleaned.parse::<u64>().map(Won) else {
        return Err(AmountError::TooLarge {
            typed: input.trim().to_string(),
            max,
        });
    };
    if value.0 == 0 {
        return Err(AmountError::Zero);
    }
    if value > max {
        return Err(AmountError::OverMaximum { asked: value, max });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_grouped_digits() {
        assert_eq!(parse_amount("15000", Won(1_000_000)), Ok(Won(15_000)));
        assert_eq!(
            parse_amount(" 1,234,567 ", Won(2_000_000)),
            Ok(Won(1_234_567))
        );
    }

    #[test]
    fn refuses_zero_empty_fractions_negative_and_over_max() {
        let max = Won(100_000);
        assert_eq!(parse_amount("", max), Err(AmountError::Empty));
        assert_eq!(parse_amount("0", max), Err(AmountError::Zero));
        assert!(matches!(
            parse_amount("12.5", max),
            Err(AmountError::NotANumber(_))
        ));
        assert!(matches!(
            parse_amount("-5", max),
            Err(AmountError::NotANumber(_))
        ));
        assert_eq!(
            parse_amount("100001", max),
            Err(AmountError::OverMaximum {
                asked: Won(100_001),
                max
            })
        );
        let too_large = parse_amount("99999999999999999999", max).unwrap_err();
        assert_eq!(
            too_large.to_string(),
            "amount 99999999999999999999 is too large: this terminal's maximum is ₩100,000"
        );
        assert!(
            !too_large.to_string().contains("18,446"),
            "never saturated to u64::MAX"
        );
        assert_eq!(parse_amount("100000", max), Ok(max));
    }

    #[test]
    fn displays_with_thousands_separators() {
        assert_eq!(Won(0).to_string(), "₩0");
        assert_eq!(Won(999).to_string(), "₩999");
        assert_eq!(Won(1000).to_string(), "₩1,000");
        assert_eq!(Won(1_234_567).to_string(), "₩1,234,567");
    }
}
