//! The terminal API of `qrpos host` (`/v1`), shared by the host and the terminal's
//! `HostGateway`: a charge, idempotent on the terminal's payment id, and its status.
//!
//! A terminal signs in on every request with HTTP Basic (`terminal id : terminal secret`).
//! Answers carry the outcome the host decided (it classifies the bank's answer with the same
//! KFTC rules the terminal used to apply), the bank's codes, and words for the cashier.

use serde::{Deserialize, Serialize};

use crate::sale::PaymentMeans;

pub const CHARGES_PATH: &str = "/v1/charges";
/// `GET` + `/{payment_id}`: what became of a charge.
pub const CHARGE_PATH: &str = "/v1/charges/{payment_id}";
pub const OPENAPI_PATH: &str = "/v1/openapi.json";
/// The customer's app: `GET` starts the 3-legged flow (a redirect to the bank's consent page);
/// the bank sends the customer back to the callback, whose answer is an [`EnrolReply`].
pub const ENROL_PATH: &str = "/v1/enrol";
pub const ENROL_CALLBACK_PATH: &str = "/v1/enrol/callback";
/// The customer's app: `POST` a [`CodeRequest`], signed in with the enrolment's credential.
pub const CODES_PATH: &str = "/v1/codes";
/// `GET`: who the host takes this terminal to be (proves its credentials, for `qrpos doctor`).
pub const TERMINAL_PATH: &str = "/v1/terminal";

/// Longest payment id a terminal may use (the terminal's own `bank_tran_id` is 20).
pub const MAX_PAYMENT_ID_LEN: usize = 40;

/// One charge, as a terminal asks for it. Sending it again with the same `payment_id` never
/// charges twice: the host answers with what became of the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "host", derive(utoipa::ToSchema))]
pub struct ChargeRequest {
    /// The terminal's own id for this payment (letters and digits), unique for the terminal.
    pub payment_id: String,
    /// Won, integer.
    pub amount: u64,
    /// `yyyyMMddHHmmss` (KST) when the terminal first sent it; a forwarded offline sale keeps
    /// its first time.
    pub tran_dtime: String,
    #[serde(default)]
    pub product: String,
    /// What the customer's code names: a fintech number, a payRequest account or an EMV code.
    #[cfg_attr(feature = "host", schema(value_type = Object))]
    pub means: PaymentMeans,
    /// The signed one-time code (`QP1…`) exactly as scanned, when the code was one: the host
    /// checks its signature and uses its nonce up in the shared register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time_code: Option<String>,
}

/// What the host decided about a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "host", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    /// The money moved.
    Approved,
    /// No money moved, and none will.
    Declined,
    /// The bank's answer is not known yet: ask for the status of the same id (never charge
    /// again under a new one).
    Unknown,
    /// The host could not reach the bank: nothing was sent. The same request may be sent
    /// again later.
    NotSent,
    /// The host has no charge of this id (status only).
    NotFound,
}

impl ChargeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Approved => "approved",
            ChargeStatus::Declined => "declined",
            ChargeStatus::Unknown => "unknown",
            ChargeStatus::NotSent => "not_sent",
            ChargeStatus::NotFound => "not_found",
        }
    }
}

/// The answer to a charge or a status query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "host", derive(utoipa::ToSchema))]
pub struct ChargeReply {
    pub payment_id: String,
    pub status: ChargeStatus,
    /// The deciding code: the bank's (`A0000`, `A0306`, `311`, `INSUFFICIENT_BALANCE`, …) or
    /// the host's own (`CODE_USED`, `CODE_INVALID`, `NOT_RECEIVED`, …).
    #[serde(default)]
    pub code: String,
    /// Words for the cashier.
    #[serde(default)]
    pub message: String,
    /// The amount the bank says it processed.
    #[serde(default)]
    pub amount: Option<u64>,
    /// The bank's business day (`yyyyMMdd`), when it said one.
    #[serde(default)]
    pub bank_tran_date: Option<String>,
    #[serde(default)]
    pub bank_name: Option<String>,
}

/// A refused request: malformed, wrong credentials, too many failed sign-ins, a payment id
/// reused for another request. Nothing was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "host", derive(utoipa::ToSchema))]
pub struct ErrorReply {
    /// Stable: one of [`codes`].
    pub error: String,
    pub message: String,
}

/// What the customer's app gets at the end of enrolment: its sign-in for [`CODES_PATH`]
/// (shown once; the host keeps only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolReply {
    /// The bank's id of the customer (`user_seq_no`).
    pub customer_id: String,
    pub credential: String,
    /// The fintech numbers of the accounts the customer consented to.
    pub accounts: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "host", derive(utoipa::ToSchema))]
pub struct CodeRequest {
    /// Which of the customer's accounts pays (default: the first).
    #[serde(default)]
    pub fintech_use_num: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "host", derive(utoipa::ToSchema))]
pub struct CodeReply {
    /// The `QP1…` text to show as a QR code.
    pub code: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The host's stable error and decline codes.
pub mod codes {
    /// HTTP 401: no credentials, an unknown terminal or a wrong secret.
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    /// HTTP 403: the terminal was revoked.
    pub const REVOKED: &str = "TERMINAL_REVOKED";
    /// HTTP 429: too many failed sign-ins for this terminal; wait and retry.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// HTTP 400: the body is not a charge request, or a field breaks its rule.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// HTTP 409: this payment id was already used for a different request.
    pub const PAYMENT_ID_REUSED: &str = "PAYMENT_ID_REUSED";
    /// HTTP 502: the bank refused the customer's consent or its code.
    pub const ENROLMENT_REFUSED: &str = "ENROLMENT_REFUSED";
    /// HTTP 503: the host's database is unavailable; nothing was decided.
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// A decline: the one-time code was already used, here or at another terminal.
    pub const CODE_USED: &str = "CODE_USED";
    /// A decline: the one-time code is not the host's, is damaged, or was not valid at the
    /// charge's time.
    pub const CODE_INVALID: &str = "CODE_INVALID";
    /// A decline: the means cannot be paid with the host's bank protocol.
    pub const MEANS_UNSUPPORTED: &str = "MEANS_UNSUPPORTED";
}
