//! What a customer pays with, as read from their QR: the thing the backend debits.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PaymentMeans {
    /// An open-banking fintech use number (24 chars): debited by `withdraw/fin_num`.
    FintechNumber { fintech_use_num: String },
    /// A payRequest customer's registered card or account.
    PayRequest {
        identity_number: String,
        org_code: String,
        account_number: String,
    },
    /// An EMVCo consumer-presented code, passed through to the backend.
    Emv(EmvData),
}

/// The parts of an EMVCo CPM payload the terminal shows or forwards; `qr_text` is the whole
/// Base64 text, forwarded untouched so the issuer can check the cryptogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmvData {
    pub qr_text: String,
    /// Application PAN (tag 5A), digits.
    pub pan: Option<String>,
    /// Application labels (tag 50) of each application template.
    pub labels: Vec<String>,
}

impl PaymentMeans {
    /// A short, non-identifying label for screens, receipts and logs (never a full number).
    pub fn masked(&self) -> String {
        fn tail(s: &str, n: usize) -> &str {
            let start = s.len().saturating_sub(n);
            s.get(start..).unwrap_or(s)
        }
        match self {
            PaymentMeans::FintechNumber { fintech_use_num } => {
                format!("fintech …{}", tail(fintech_use_num, 4))
            }
            PaymentMeans::PayRequest {
                org_code,
                account_number,
                ..
            } => {
                format!("{org_code} …{}", tail(account_number, 4))
            }
            PaymentMeans::Emv(emv) => match &emv.pan {
                Some(pan) => format!("EMV …{}", tail(pan, 4)),
                None => "EMV".to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_never_shows_the_whole_number() {
        let f = PaymentMeans::FintechNumber {
            fintech_use_num: "199003328057724253012100".into(),
        };
        assert_eq!(f.masked(), "fintech …2100");
        let p = PaymentMeans::PayRequest {
            identity_number: "CI0000000000001".into(),
            org_code: "HANA".into(),
            account_number: "11122233344".into(),
        };
        assert_eq!(p.masked(), "HANA …3344");
    }
}
