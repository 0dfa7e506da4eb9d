//! QR text → [`Payload`]: which of the three accepted code formats a scanned text is, and
//! whether it may be paid with right now. Pure: the clock comes in as `now_unix`.
//!
//! Formats (DESIGN.md §7), tried in this order on the text with surrounding whitespace
//! removed (keyboard-wedge scanners append CR/LF):
//!
//! 1. **Signed one-time code** — `"QP1"` + Base45 (RFC 9285) of `body ‖ signature`. Any text
//!    starting with `QP1` is treated as one; if it does not decode it is [`PayloadError::Malformed`].
//! 2. **Static fintech number** — exactly 24 ASCII alphanumerics (what the KFTC seed app shows).
//! 3. **EMVCo consumer-presented** — Base64 of BER-TLV starting `85 05 "CPV01"` (see `emv.rs`).
//!
//! Anything else is [`PayloadError::UnknownFormat`].
//!
//! ## `QP1` body layout (all integers big-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0  | 1  | `key_id` — which issuer key signed it |
//! | 1  | 4  | `issued_at` — unix seconds, u32 |
//! | 5  | 1  | `lifetime` — seconds; `expires_at = issued_at + lifetime`; ≤ [`MAX_LIFETIME_S`] |
//! | 6  | 8  | `nonce` — random, remembered by the terminal until expiry so a code pays once |
//! | 14 | 1  | means tag: `1` fintech number, `2` payRequest |
//! | 15 | .. | tag 1: 24 bytes ASCII alphanumeric `fintech_use_num` |
//! |    |    | tag 2: three `len: u8 ‖ ASCII` strings: `identity_number` (1..=15), `org_code` (1..=10), `account_number` (1..=20) |
//! | end | 64 | Ed25519 signature over `b"QP1" ‖ body` (the prefix is signed so a future `QP2` body can never be replayed as `QP1`) |
//!
//! No trailing bytes are allowed. Sizes: fintech code 103 bytes → 158 QR alphanumeric chars
//! (version 7 at EC M); payRequest with every field at its maximum 127 bytes → 194 chars,
//! which needs EC L to stay at version 7 (see `code_image.rs`).
//!
//! ## Check order
//!
//! Base45 and envelope (length, key id) → key known → signature → body layout → time.
//! The body fields are interpreted only after the signature verifies, so altered bytes
//! anywhere after the key id are always [`PayloadError::BadSignature`], never a
//! misleading layout error or a wrong payload.

use std::collections::BTreeMap;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey, SIGNATURE_LENGTH};

use crate::sale::{EmvData, PaymentMeans};

use super::emv;

/// Longest lifetime accepted for a customer-generated code: the Korean FSC QR standard (2018)
/// requires codes not used within 3 minutes to be replaced.
pub const MAX_LIFETIME_S: i64 = 180;

/// How far `issued_at` may lie in the future: phone and terminal clocks drift.
pub const CLOCK_SKEW_S: i64 = 30;

/// Version prefix of the project's signed one-time code; also signed, see module doc.
const QP1_PREFIX: &str = "QP1";
const FINTECH_NUM_LEN: usize = 24;
const MEANS_FINTECH: u8 = 1;
const MEANS_PAY_REQUEST: u8 = 2;
const MAX_IDENTITY_LEN: usize = 15;
const MAX_ORG_CODE_LEN: usize = 10;
const MAX_ACCOUNT_LEN: usize = 20;
/// key_id + issued_at + lifetime + nonce + means tag.
const FIXED_HEADER_LEN: usize = 1 + 4 + 1 + 8 + 1;

/// One scanned payment code, recognised and (for one-time codes) verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A bare fintech use number: replayable, so accepted online only.
    Static { fintech_use_num: String },
    /// A signed, short-lived code from the project's backend, with the text as scanned (a
    /// payment host checks the signature again and uses the nonce up in its own register).
    OneTime { code: OneTimeCode, text: String },
    /// An EMVCo consumer-presented code; its cryptogram is checked by the issuer, not here.
    Emv(EmvData),
}

/// The content of a verified `QP1` code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeCode {
    pub key_id: u8,
    pub issued_at: i64,
    pub expires_at: i64,
    pub nonce: [u8; 8],
    pub means: PaymentMeans,
}

impl Payload {
    /// What the backend debits for this code.
    pub fn means(&self) -> PaymentMeans {
        match self {
            Payload::Static { fintech_use_num } => PaymentMeans::FintechNumber {
                fintech_use_num: fintech_use_num.clone(),
            },
            Payload::OneTime { code, .. } => code.means.clone(),
            Payload::Emv(data) => PaymentMeans::Emv(data.clone()),
        }
    }

    /// True for codes whose nonce the caller must remember to refuse a second use.
    pub fn is_one_time(&self) -> bool {
        matches!(self, Payload::OneTime { .. })
    }

    /// A stable name for logs and metrics: `"static"`, `"one-time"` or `"emv"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Static { .. } => "static",
            Payload::OneTime { .. } => "one-time",
            Payload::Emv(_) => "emv",
        }
    }
}

/// Issuer public keys this terminal accepts one-time codes from, by `key_id`
/// (several ids allow key rotation without a flag day).
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<u8, VerifyingKey>,
}

/// A configured issuer key that cannot be used; the message names the key for the installer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("trusted key {key_id}: not valid Base64")]
    NotBase64 { key_id: u8 },
    #[error("trusted key {key_id}: {len} bytes, an Ed25519 public key has 32")]
    WrongLength { key_id: u8, len: usize },
    #[error("trusted key {key_id}: not a valid Ed25519 public key")]
    NotAKey { key_id: u8 },
}

impl TrustedKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust `key` for codes carrying `key_id`; replaces an earlier key with the same id.
    pub fn add(&mut self, key_id: u8, key: VerifyingKey) {
        self.keys.insert(key_id, key);
    }

    /// Trust a key given as standard Base64 of its 32 bytes (the config-file form).
    pub fn add_base64(&mut self, key_id: u8, b64: &str) -> Result<(), KeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| KeyError::NotBase64 { key_id })?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength {
                key_id,
                len: bytes.len(),
            })?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotAKey { key_id })?;
        self.add(key_id, key);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn get(&self, key_id: u8) -> Option<&VerifyingKey> {
        self.keys.get(&key_id)
    }
}

/// Why a scanned text cannot be paid with. Display texts are shown to the cashier or installer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("not a payment code: ask the customer to open the payment QR in their app")]
    UnknownFormat,
    #[error("payment code expired {seconds_ago} s ago: ask the customer to refresh it")]
    Expired { seconds_ago: i64 },
    #[error("payment code is dated in the future: check the terminal's clock")]
    NotYetValid,
    #[error(
        "payment code is valid for {seconds} s, more than the {MAX_LIFETIME_S} s allowed: \
         the issuer must shorten it"
    )]
    LifetimeTooLong { seconds: i64 },
    #[error("payment code signature is invalid (altered or forged): do not accept it")]
    BadSignature,
    #[error(
        "payment code signed with key {key_id}, which this terminal does not trust: \
         the installer must add the issuer's key"
    )]
    UnknownKey { key_id: u8 },
    #[error("damaged payment code ({0}): ask the customer to refresh it")]
    Malformed(String),
    #[error("damaged EMV payment code ({0}): ask the customer to show it again")]
    MalformedTlv(String),
    /// Returned by the caller that remembers nonces; [`parse`] never returns it.
    #[error("payment code was already used: ask the customer for a new one")]
    Replayed,
}

/// Recognise and check one scanned text.
pub fn parse(text: &str, keys: &TrustedKeys, now_unix: i64) -> Result<Payload, PayloadError> {
    let text = text.trim();
    if let Some(blob) = text.strip_prefix(QP1_PREFIX) {
        return parse_one_time(blob, keys, now_unix).map(|code| Payload::OneTime {
            code,
            text: text.to_string(),
        });
    }
    if text.len() == FINTECH_NUM_LEN && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(Payload::Static {
            fintech_use_num: text.to_string(),
        });
    }
    if let Some(emv) = emv::parse_if_cpm(text) {
        return emv.map(Payload::Emv);
    }
    Err(PayloadError::UnknownFormat)
}

fn parse_one_time(
    blob: &str,
    keys: &TrustedKeys,
    now_unix: i64,
) -> Result<OneTimeCode, PayloadError> {
    let raw = base45::decode(blob)
        .map_err(|_| PayloadError::Malformed("not valid Base45 after QP1".into()))?;
    // Base45's last pair can carry values above 255 that truncate to the same byte; insisting
    // on the canonical text keeps one code = one text.
    if base45::encode(&raw) != blob {
        return Err(PayloadError::Malformed("non-canonical Base45".into()));
    }
    if raw.len() < 1 + SIGNATURE_LENGTH {
        return Err(PayloadError::Malformed(format!(
            "{} bytes, too short for a signed code",
            raw.len()
        )));
    }
    let (body, sig) = raw.split_at(raw.len() - SIGNATURE_LENGTH);
    let key_id = body[0];
    let key = keys
        .get(key_id)
        .ok_or(PayloadError::UnknownKey { key_id })?;
    let sig = Signature::from_slice(sig).map_err(|_| PayloadError::BadSignature)?;
    // verify_strict also refuses small-order keys and non-canonical signatures.
    key.verify_strict(&signed_message(body), &sig)
        .map_err(|_| PayloadError::BadSignature)?;

    let code = read_body(body)?;

    let lifetime = code.expires_at - code.issued_at;
    if lifetime > MAX_LIFETIME_S {
        return Err(PayloadError::LifetimeTooLong { seconds: lifetime });
    }
    if code.issued_at > now_unix.saturating_add(CLOCK_SKEW_S) {
        return Err(PayloadError::NotYetValid);
    }
    if now_unix > code.expires_at {
        return Err(PayloadError::Expired {
            seconds_ago: now_unix.saturating_sub(code.expires_at),
        });
    }
    Ok(code)
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(QP1_PREFIX.len() + body.len());
    msg.extend_from_slice(QP1_PREFIX.as_bytes());
    msg.extend_from_slice(body);
    msg
}

/// A cursor over the body that turns running out of bytes into `Malformed`, never a panic.
struct BodyReader<'a> {
    rest: &'a [u8],
}

impl<'a> BodyReader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], PayloadError> {
        if self.rest.len() < n {
            return Err(PayloadError::Malformed(format!("body ends inside {what}")));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &str) -> Result<u8, PayloadError> {
        Ok(self.take(1, what)?[0])
    }

    /// A `len: u8 ‖ ASCII` string of 1..=max printable characters.
    fn short_ascii(&mut self, what: &str, max: usize) -> Result<String, PayloadError> {
        let len = usize::from(self.u8(what)?);
        if len == 0 || len > max {
            return Err(PayloadError::Malformed(format!(
                "{what} has length {len}, expected 1..={max}"
            )));
        }
        ascii_field(self.take(len, what)?, what)
    }
}

fn ascii_field(bytes: &[u8], what: &str) -> Result<String, PayloadError> {
    if !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return Err(PayloadError::Malformed(format!(
            "{what} is not printable ASCII"
        )));
    }
    // All bytes are ASCII, so this is lossless.
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn read_body(body: &[u8]) -> Result<OneTimeCode, PayloadError> {
    let mut r = BodyReader { rest: body };
    let key_id = r.u8("key id")?;
    let issued = r.take(4, "issued-at")?;
    let issued_at = i64::from(u32::from_be_bytes([
        issued[0], issued[1], issued[2], issued[3],
    ]));
    let lifetime = i64::from(r.u8("lifetime")?);
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(r.take(8, "nonce")?);
    let means = match r.u8("means tag")? {
        MEANS_FINTECH => {
            let num = r.take(FINTECH_NUM_LEN, "fintech use number")?;
            if !num.iter().all(|b| b.is_ascii_alphanumeric()) {
                return Err(PayloadError::Malformed(
                    "fintech use number is not alphanumeric".into(),
                ));
            }
            PaymentMeans::FintechNumber {
                fintech_use_num: ascii_field(num, "fintech use number")?,
            }
        }
        MEANS_PAY_REQUEST => PaymentMeans::PayRequest {
            identity_number: r.short_ascii("identity number", MAX_IDENTITY_LEN)?,
            org_code: r.short_ascii("org code", MAX_ORG_CODE_LEN)?,
            account_number: r.short_ascii("account number", MAX_ACCOUNT_LEN)?,
        },
        other => {
            return Err(PayloadError::Malformed(format!(
                "unknown means tag {other}"
            )));
        }
    };
    if !r.rest.is_empty() {
        return Err(PayloadError::Malformed(format!(
            "{} unexpected bytes after the means",
            r.rest.len()
        )));
    }
    Ok(OneTimeCode {
        key_id,
        issued_at,
        expires_at: issued_at + lifetime,
        nonce,
        means,
    })
}

/// Why a [`OneTimeCode`] cannot be put into the `QP1` layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("issued_at {0} does not fit the code's u32 seconds")]
    IssuedAtOutOfRange(i64),
    #[error("lifetime {0} s does not fit the code's 0..=255 s")]
    LifetimeOutOfRange(i64),
    #[error("{0}")]
    Means(String),
}

/// Build the `QP1` text for `code`, signed by `key`, checking that every field fits the layout.
///
/// Policy limits (lifetime ≤ [`MAX_LIFETIME_S`]) are deliberately *not* enforced here, so a
/// test or a misconfigured issuer produces a code the terminal then refuses with a precise
/// error.
pub fn try_encode_one_time(code: &OneTimeCode, key: &SigningKey) -> Result<String, EncodeError> {
    let issued_at = u32::try_from(code.issued_at)
        .map_err(|_| EncodeError::IssuedAtOutOfRange(code.issued_at))?;
    let lifetime_s = code.expires_at.saturating_sub(code.issued_at);
    let lifetime =
        u8::try_from(lifetime_s).map_err(|_| EncodeError::LifetimeOutOfRange(lifetime_s))?;

    let mut body = Vec::with_capacity(FIXED_HEADER_LEN + FINTECH_NUM_LEN);
    body.push(code.key_id);
    body.extend_from_slice(&issued_at.to_be_bytes());
    body.push(lifetime);
    body.extend_from_slice(&code.nonce);
    match &code.means {
        PaymentMeans::FintechNumber { fintech_use_num } => {
            if fintech_use_num.len() != FINTECH_NUM_LEN
                || !fintech_use_num.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(EncodeError::Means(
                    "fintech use number must be 24 ASCII alphanumerics".into(),
                ));
            }
            body.push(MEANS_FINTECH);
            body.extend_from_slice(fintech_use_num.as_bytes());
        }
        PaymentMeans::PayRequest {
            identity_number,
            org_code,
            account_number,
        } => {
            body.push(MEANS_PAY_REQUEST);
            for (what, value, max) in [
                ("identity number", identity_number, MAX_IDENTITY_LEN),
                ("org code", org_code, MAX_ORG_CODE_LEN),
                ("account number", account_number, MAX_ACCOUNT_LEN),
            ] {
                let ok =
                    (1..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return Err(EncodeError::Means(format!(
                        "{what} must be 1..={max} printable ASCII characters"
                    )));
                }
                // Fits: max ≤ 20.
                body.push(value.len() as u8);
                body.extend_from_slice(value.as_bytes());
            }
        }
        PaymentMeans::Emv(_) => {
            return Err(EncodeError::Means(
                "an EMV code cannot be wrapped in a one-time code".into(),
            ));
        }
    }
    let sig = key.sign(&signed_message(&body));
    body.extend_from_slice(&sig.to_bytes());
    Ok(format!("{QP1_PREFIX}{}", base45::encode(&body)))
}

/// Build the `QP1` text for `code`, signed by `key`.
///
/// For a code whose fields do not fit the layout (see [`try_encode_one_time`]) this returns
/// the bare prefix `"QP1"`, which [`parse`] refuses as [`PayloadError::Malformed`]: an issuer
/// bug then shows up as a refused code, never as a code that pays the wrong account.
pub fn encode_one_time(code: &OneTimeCode, key: &SigningKey) -> String {
    try_encode_one_time(code, key).unwrap_or_else(|_| QP1_PREFIX.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const NOW: i64 = 1_750_000_000;
    const FINTECH: &str = "199003328057724253012100";
    /// The EMVCo sample from docs/openbanking.md §8.2.
    const EMV_SAMPLE: &str = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==";

    fn issuer() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn keys() -> TrustedKeys {
        let mut k = TrustedKeys::new();
        k.add(3, issuer().verifying_key());
        k
    }

    fn fintech_code() -> OneTimeCode {
        OneTimeCode {
            key_id: 3,
            issued_at: NOW - 10,
            expires_at: NOW + 110,
            nonce: [1, 2, 3, 4, 5, 6, 7, 8],
            means: PaymentMeans::FintechNumber {
                fintech_use_num: FINTECH.into(),
            },
        }
    }

    fn pay_request_code() -> OneTimeCode {
        OneTimeCode {
            means: PaymentMeans::PayRequest {
                identity_number: "CI0000000000001".into(),
                org_code: "HANA".into(),
                account_number: "11122233344".into(),
            },
            ..fintech_code()
        }
    }

    fn encode(code: &OneTimeCode) -> String {
        try_encode_one_time(code, &issuer()).expect("encodable")
    }

    #[test]
    fn static_fintech_number() {
        let p = parse(FINTECH, &keys(), NOW).unwrap();
        assert_eq!(
            p,
            Payload::Static {
                fintech_use_num: FINTECH.into()
            }
        );
        assert_eq!(p.kind(), "static");
        assert!(!p.is_one_time());
        assert_eq!(
            p.means(),
            PaymentMeans::FintechNumber {
                fintech_use_num: FINTECH.into()
            }
        );
        // Scanner-added line ending is tolerated.
        assert!(parse(&format!("{FINTECH}\r\n"), &keys(), NOW).is_ok());
    }

    #[test]
    fn near_misses_of_static_are_unknown() {
        for text in [
            "",
            "12345",
            &FINTECH[..23],
            &format!("{FINTECH}0"),
            "19900332805772425301210-",
        ] {
            assert_eq!(
                parse(text, &keys(), NOW),
                Err(PayloadError::UnknownFormat),
                "{text:?}"
            );
        }
    }

    #[test]
    fn one_time_round_trips_both_means() {
        for code in [fintech_code(), pay_request_code()] {
            let text = encode(&code);
            assert!(text.starts_with("QP1"));
            let p = parse(&text, &keys(), NOW).unwrap();
            assert_eq!(
                p,
                Payload::OneTime {
                    code: code.clone(),
                    text: text.clone()
                }
            );
            assert!(p.is_one_time());
            assert_eq!(p.kind(), "one-time");
            assert_eq!(p.means(), code.means);
        }
    }

    #[test]
    fn tampered_signature_or_body_is_bad_signature() {
        let text = encode(&fintech_code());
        let mut raw = base45::decode(&text[3..]).unwrap();
        // Every byte after the key id: body fields and the signature itself.
        for i in 1..raw.len() {
            raw[i] ^= 0x01;
            let tampered = format!("QP1{}", base45::encode(&raw));
            assert_eq!(
                parse(&tampered, &keys(), NOW),
                Err(PayloadError::BadSignature),
                "byte {i}"
            );
            raw[i] ^= 0x01;
        }
    }

    #[test]
    fn signed_by_another_key_is_bad_signature() {
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let text = try_encode_one_time(&fintech_code(), &other).unwrap();
        assert_eq!(parse(&text, &keys(), NOW), Err(PayloadError::BadSignature));
    }

    #[test]
    fn unknown_key_id() {
        let code = OneTimeCode {
            key_id: 4,
            ..fintech_code()
        };
        assert_eq!(
            parse(&encode(&code), &keys(), NOW),
            Err(PayloadError::UnknownKey { key_id: 4 })
        );
        assert_eq!(
            parse(&encode(&fintech_code()), &TrustedKeys::new(), NOW),
            Err(PayloadError::UnknownKey { key_id: 3 })
        );
    }

    #[test]
    fn expiry_and_clock_skew() {
        let code = fintech_code(); // valid NOW-10 ..= NOW+110
        let text = encode(&code);
        assert!(parse(&text, &keys(), code.expires_at).is_ok());
        assert_eq!(
            parse(&text, &keys(), code.expires_at + 5),
            Err(PayloadError::Expired { seconds_ago: 5 })
        );
        // Issued up to 30 s "in the future" is clock skew, beyond is refused.
        assert!(parse(&text, &keys(), code.issued_at - CLOCK_SKEW_S).is_ok());
        assert_eq!(
            parse(&text, &keys(), code.issued_at - CLOCK_SKEW_S - 1),
            Err(PayloadError::NotYetValid)
        );
        // Extreme clocks do not overflow.
        assert_eq!(
            parse(&text, &keys(), i64::MIN),
            Err(PayloadError::NotYetValid)
        );
        assert!(matches!(
            parse(&text, &keys(), i64::MAX),
            Err(PayloadError::Expired { .. })
        ));
    }

    #[test]
    fn lifetime_limit() {
        let at_limit = OneTimeCode {
            expires_at: NOW - 10 + MAX_LIFETIME_S,
            ..fintech_code()
        };
        assert!(parse(&encode(&at_limit), &keys(), NOW).is_ok());
        let too_long = OneTimeCode {
            expires_at: NOW - 10 + 181,
            ..fintech_code()
        };
        assert_eq!(
            parse(&encode(&too_long), &keys(), NOW),
            Err(PayloadError::LifetimeTooLong { seconds: 181 })
        );
    }

    #[test]
    fn qp1_that_does_not_decode_is_malformed() {
        for text in ["QP1", "QP1A", "QP1abc", "QP1::::", "QP1ÄÖ", "QP1000"] {
            assert!(
                matches!(parse(text, &keys(), NOW), Err(PayloadError::Malformed(_))),
                "{text:?}"
            );
        }
        // Non-canonical last pair: "GGW" would overflow; "ZZ" = 35+35*45 > 255.
        assert!(matches!(
            parse("QP1ZZ", &keys(), NOW),
            Err(PayloadError::Malformed(_))
        ));
    }

    #[test]
    fn signed_but_bad_layout_is_malformed() {
        // A correctly signed body with an unknown means tag.
        let key = issuer();
        let mut body = vec![3u8];
        body.extend_from_slice(&((NOW - 10) as u32).to_be_bytes());
        body.push(60);
        body.extend_from_slice(&[0; 8]);
        body.push(9);
        let sig = key.sign(&signed_message(&body));
        body.extend_from_slice(&sig.to_bytes());
        let text = format!("QP1{}", base45::encode(&body));
        assert_eq!(
            parse(&text, &keys(), NOW),
            Err(PayloadError::Malformed("unknown means tag 9".into()))
        );
    }

    #[test]
    fn unencodable_codes_are_refused_not_mis_encoded() {
        let emv = OneTimeCode {
            means: PaymentMeans::Emv(EmvData {
                qr_text: String::new(),
                pan: None,
                labels: vec![],
            }),
            ..fintech_code()
        };
        let long_account = OneTimeCode {
            means: PaymentMeans::PayRequest {
                identity_number: "CI".into(),
                org_code: "HANA".into(),
                account_number: "1".repeat(21),
            },
            ..fintech_code()
        };
        let negative = OneTimeCode {
            issued_at: -1,
            ..fintech_code()
        };
        for code in [emv, long_account, negative] {
            assert!(try_encode_one_time(&code, &issuer()).is_err());
            let text = encode_one_time(&code, &issuer());
            assert!(matches!(
                parse(&text, &keys(), NOW),
                Err(PayloadError::Malformed(_))
            ));
        }
    }

    #[test]
    fn trusted_key_from_base64() {
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(issuer().verifying_key().as_bytes());
        let mut keys = TrustedKeys::new();
        keys.add_base64(3, &b64).unwrap();
        assert!(!keys.is_empty());
        assert!(parse(&encode(&fintech_code()), &keys, NOW).is_ok());
        assert_eq!(
            TrustedKeys::new().add_base64(1, "not base64!").unwrap_err(),
            KeyError::NotBase64 { key_id: 1 }
        );
        assert_eq!(
            TrustedKeys::new().add_base64(1, "AAAA").unwrap_err(),
            KeyError::WrongLength { key_id: 1, len: 3 }
        );
        assert!(TrustedKeys::new().is_empty());
    }

    #[test]
    fn emv_sample_from_the_docs() {
        let p = parse(EMV_SAMPLE, &keys(), NOW).unwrap();
        assert_eq!(p.kind(), "emv");
        let Payload::Emv(data) = p else {
            panic!("not emv")
        };
        assert_eq!(data.pan.as_deref(), Some("1234567890123458"));
        assert_eq!(data.labels, vec!["Product1", "Product2"]);
        assert_eq!(data.qr_text, EMV_SAMPLE);

        // The same code cut short is a damaged EMV code, not an unknown one.
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(EMV_SAMPLE)
            .unwrap();
        raw.truncate(raw.len() - 3);
        let cut = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert!(matches!(
            parse(&cut, &keys(), NOW),
            Err(PayloadError::MalformedTlv(_))
        ));
    }

    #[test]
    fn errors_have_actionable_messages() {
        assert!(PayloadError::Expired { seconds_ago: 7 }
            .to_string()
            .contains("7 s ago"));
        assert!(PayloadError::UnknownKey { key_id: 4 }
            .to_string()
            .contains("key 4"));
        assert!(PayloadError::LifetimeTooLong { seconds: 181 }
            .to_string()
            .contains("180"));
        assert!(PayloadError::Replayed.to_string().contains("already used"));
    }

    /// Random texts and single-character mutations of valid codes never panic, and a mutated
    /// code never parses to anything but its original payload.
    #[test]
    fn fuzz_no_panic_no_wrong_payload() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let keys = keys();
        let alphabet: Vec<char> = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:abcxyz=\u{0}é"
            .chars()
            .collect();
        let originals: Vec<(String, Option<Payload>)> = [
            encode(&fintech_code()),
            encode(&pay_request_code()),
            EMV_SAMPLE.to_string(),
            FINTECH.to_string(),
        ]
        .into_iter()
        .map(|t| {
            let p = parse(&t, &keys, NOW).ok();
            (t, p)
        })
        .collect();

        for _ in 0..3000 {
            let len = rng.gen_range(0..200);
            let text: String = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let _ = parse(&text, &keys, NOW);
            let _ = parse(&format!("QP1{text}"), &keys, NOW);
            let mut raw = vec![0u8; len];
            rng.fill(raw.as_mut_slice());
            if let Some(first) = raw.first_mut() {
                *first = 0x85;
            }
            let _ = parse(
                &base64::engine::general_purpose::STANDARD.encode(&raw),
                &keys,
                NOW,
            );
        }
        for (text, original) in &originals {
            let chars: Vec<char> = text.chars().collect();
            for _ in 0..1500 {
                let mut m = chars.clone();
                match rng.gen_range(0..3) {
                    0 => {
                        let i = rng.gen_range(0..m.len());
                        m[i] = alphabet[rng.gen_range(0..alphabet.len())];
                    }
                    1 => {
                        m.truncate(rng.gen_range(0..m.len()));
                    }
                    _ => {
                        let i = rng.gen_range(0..=m.len());
                        m.insert(i, alphabet[rng.gen_range(0..alphabet.len())]);
                    }
                }
                let mutated: String = m.into_iter().collect();
                if let Ok(p) = parse(&mutated, &keys, NOW) {
                    if matches!(p, Payload::OneTime { .. }) {
                        assert_eq!(Some(&p), original.as_ref(), "{mutated}");
                    }
                }
            }
        }
    }
}
