//! Codes for sandbox customers, as their payment app would show them: a one-time code signed
//! with the sandbox's development key (`QP1…`), or the static fintech number. The terminal's
//! demo config trusts this key; an installed terminal's config does not.

use super::{dev_signing_key, seeded_customers, DEV_KEY_ID};
use crate::sale::PaymentMeans;
use crate::scan::{try_encode_one_time, OneTimeCode, MAX_LIFETIME_S};
use rand::RngCore;

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("no sandbox customer {0:?}: try one of {1}")]
    UnknownUser(String, String),
    #[error("{0} has no fintech number: static codes exist only for open-banking customers")]
    NoStaticCode(String),
    #[error("lifetime {0} s is out of range: 1 ..= {MAX_LIFETIME_S} s")]
    Lifetime(i64),
    #[error("cannot encode the code: {0}")]
    Encode(String),
}

/// The QR text for `user`: a one-time code issued at `now_unix` living `lifetime_s`, or the
/// static fintech number.
pub fn issue_code(
    user: &str,
    now_unix: i64,
    lifetime_s: i64,
    static_code: bool,
) -> Result<String, IssueError> {
    let customers = seeded_customers();
    let Some(c) = customers.iter().find(|c| c.name == user) else {
        let names: Vec<&str> = customers.iter().map(|c| c.name.as_str()).collect();
        return Err(IssueError::UnknownUser(user.to_string(), names.join(", ")));
    };
    if static_code {
        return c
            .fintech_use_num
            .clone()
            .ok_or_else(|| IssueError::NoStaticCode(user.to_string()));
    }
    if !(1..=MAX_LIFETIME_S).contains(&lifetime_s) {
        return Err(IssueError::Lifetime(lifetime_s));
    }
    let means = match (
        &c.fintech_use_num,
        &c.identity_number,
        &c.org_code,
        &c.account_number,
    ) {
        (Some(f), _, _, _) => PaymentMeans::FintechNumber {
            fintech_use_num: f.clone(),
        },
        (None, Some(id), Some(org), Some(acct)) => PaymentMeans::PayRequest {
            identity_number: id.clone(),
            org_code: org.clone(),
            account_number: acct.clone(),
        },
        _ => return Err(IssueError::Encode(format!("{user} has no payment means"))),
    };
    let mut nonce = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut nonce);
    let code = OneTimeCode {
        key_id: DEV_KEY_ID,
        issued_at: now_unix,
        expires_at: now_unix + lifetime_s,
        nonce,
        means,
    };
    try_encode_one_time(&code, &dev_signing_key()).map_err(|e| IssueError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{parse, Payload, TrustedKeys};

    fn keys() -> TrustedKeys {
        let mut k = TrustedKeys::new();
        k.add(DEV_KEY_ID, dev_signing_key().verifying_key());
        k
    }

    #[test]
    fn every_seeded_customer_gets_a_code_the_demo_terminal_accepts() {
        for c in seeded_customers() {
            let text = issue_code(&c.name, 1_800_000_000, 180, false).unwrap();
            match parse(&text, &keys(), 1_800_000_010).unwrap() {
                Payload::OneTime { code, .. } => assert_eq!(code.expires_at, 1_800_000_180),
                other => panic!("{}: {other:?}", c.name),
            }
        }
    }

    #[test]
    fn two_codes_for_one_customer_differ_in_nonce() {
        let a = issue_code("alice", 1_800_000_000, 60, false).unwrap();
        let b = issue_code("alice", 1_800_000_000, 60, false).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn static_codes_and_errors() {
        assert_eq!(
            issue_code("alice", 0, 180, true).unwrap(),
            "199100000000000000000001"
        );
        assert!(matches!(
            issue_code("erin", 0, 180, true),
            Err(IssueError::NoStaticCode(_))
        ));
        assert!(matches!(
            issue_code("mallory", 0, 180, false),
            Err(IssueError::UnknownUser(..))
        ));
        assert!(matches!(
            issue_code("alice", 0, 181, false),
            Err(IssueError::Lifetime(181))
        ));
    }

    #[test]
    fn a_production_key_set_does_not_accept_sandbox_codes() {
        let text = issue_code("alice", 1_800_000_000, 180, false).unwrap();
        let other = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let mut prod = TrustedKeys::new();
        prod.add(DEV_KEY_ID, other.verifying_key());
        assert!(parse(&text, &prod, 1_800_000_010).is_err());
        assert!(parse(&text, &TrustedKeys::new(), 1_800_000_010).is_err());
    }
}
