//! HanaOnePay-style `payRequest` (seed `001_…`): pay from a customer's registered card or
//! account. The spec gives only the success body; failures and the status path are this
//! project's extensions, named here so client and sandbox agree.

use serde::{Deserialize, Serialize};

pub const PAY_PATH: &str = "/api/payRequest";
/// `GET {STATUS_PATH_PREFIX}{request_id}`: what became of a request (extension).
pub const STATUS_PATH_PREFIX: &str = "/api/payRequest/";
/// Carries the terminal's `bank_tran_id`; the backend de-duplicates on it (extension).
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// `POST /api/payRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PayRequest {
    /// Customer identifier (CI), String(15).
    pub identity_number: String,
    /// Institution holding the card/account, String(10).
    pub org_code: String,
    /// The account linked to the card, or the account itself, String(20).
    pub account_number: String,
    pub product_id: String,
    pub product_name: String,
    /// Won (the spec's Integer).
    pub product_price: u64,
}

/// Success: the request echoed plus `productTransDate` (`yyyy-MM-dd HH:mm:ss`, KST).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PayResponse {
    pub identity_number: String,
    pub org_code: String,
    pub account_number: String,
    pub product_id: String,
    pub product_name: String,
    pub product_price: u64,
    pub product_trans_date: String,
}

/// Failure body (extension), sent with a 4xx status: one of the `codes` below.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PayError {
    pub code: String,
    pub message: String,
}

/// `GET /api/payRequest/{request_id}` (extension).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PayStatus {
    pub request_id: String,
    /// `approved`, `declined`, or `not_found` (the backend never saw this id).
    pub status: String,
    pub code: String,
    pub message: String,
    pub payment: Option<PayResponse>,
}

/// Failure codes of the payRequest extension.
pub mod codes {
    pub const INSUFFICIENT_BALANCE: &str = "INSUFFICIENT_BALANCE";
    pub const CREDIT_LIMIT_EXCEEDED: &str = "CREDIT_LIMIT_EXCEEDED";
    pub const CARD_INACTIVE: &str = "CARD_INACTIVE";
    pub const UNKNOWN_CUSTOMER: &str = "UNKNOWN_CUSTOMER";
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The request id was used before: the first request stands; query its status.
    pub const DUPLICATE_REQUEST: &str = "DUPLICATE_REQUEST";
}
