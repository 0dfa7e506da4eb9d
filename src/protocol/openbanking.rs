//! KFTC open banking v2.0 subset (see `shared/docs/openbanking.md`): the 3-legged and
//! 2-legged tokens, withdraw by fintech number, transfer result, balance, the user and their
//! accounts, the transaction list and the real-name check. Every response field defaults to empty so that a
//! partial body still parses and the classifier, not serde, decides what it means.

use serde::{Deserialize, Serialize};

pub const TOKEN_PATH: &str = "/oauth/2.0/token";
pub const WITHDRAW_PATH: &str = "/v2.0/transfer/withdraw/fin_num";
pub const RESULT_PATH: &str = "/v2.0/transfer/result";
pub const BALANCE_PATH: &str = "/v2.0/account/balance/fin_num";
pub const AUTHORIZE_PATH: &str = "/oauth/2.0/authorize";
pub const USER_ME_PATH: &str = "/v2.0/user/me";
pub const ACCOUNT_LIST_PATH: &str = "/v2.0/account/list";
pub const TRANSACTION_LIST_PATH: &str = "/v2.0/account/transaction_list/fin_num";
pub const REAL_NAME_PATH: &str = "/v2.0/inquiry/real_name";
pub const DEPOSIT_PATH: &str = "/v2.0/transfer/deposit/fin_num";

/// `POST /oauth/2.0/token`, form-encoded, `grant_type=client_credentials`, `scope=oob`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRequest {
    pub client_id: String,
    pub client_secret: String,
    pub scope: String,
    pub grant_type: String,
}

/// Success has no `rsp_code`; a failure carries an O-code in `rsp_code`. A user's token
/// (`authorization_code`, `refresh_token`) comes with `refresh_token` and `user_seq_no`; the
/// institution's (`client_credentials`) with `client_use_code`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
    pub client_use_code: String,
    pub refresh_token: String,
    pub user_seq_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsp_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsp_message: Option<String>,
}

/// `POST /v2.0/transfer/withdraw/fin_num`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WithdrawRequest {
    /// Institution code (10) + `U` + 9 chars.
    pub bank_tran_id: String,
    /// `N` bank account, `C` ledger account.
    pub cntr_account_type: String,
    pub cntr_account_num: String,
    pub dps_print_content: String,
    pub fintech_use_num: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wd_print_content: Option<String>,
    /// Won, decimal digits.
    pub tran_amt: String,
    /// `yyyyMMddHHmmss`, the request time.
    pub tran_dtime: String,
    pub req_client_name: String,
    pub req_client_fintech_use_num: String,
    pub req_client_num: String,
    /// `ST` = payment.
    pub transfer_purpose: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_frnc_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_frnc_num: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_frnc_business_num: Option<String>,
    pub recv_client_name: String,
    pub recv_client_bank_code: String,
    pub recv_client_account_num: String,
    /// Extension of this project: an EMVCo consumer-presented payload (the QR text, Base64
    /// BER-TLV) handed to the merchant's backend, which resolves it to an account. When set,
    /// `fintech_use_num` is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emv_cpm: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WithdrawResponse {
    pub api_tran_id: String,
    pub api_tran_dtm: String,
    pub rsp_code: String,
    pub rsp_message: String,
    pub dps_bank_code_std: String,
    pub dps_bank_name: String,
    pub dps_account_num_masked: String,
    pub dps_print_content: String,
    pub dps_account_holder_name: String,
    pub bank_tran_id: String,
    /// The participant's business date, `yyyyMMdd`: `transfer/result` needs it.
    pub bank_tran_date: String,
    pub bank_code_tran: String,
    pub bank_rsp_code: String,
    pub bank_rsp_message: String,
    pub fintech_use_num: String,
    pub account_alias: String,
    pub bank_code_std: String,
    pub bank_name: String,
    pub account_num_masked: String,
    pub print_content: String,
    pub account_holder_name: String,
    pub tran_amt: String,
    pub wd_limit_remain_amt: String,
}

/// `POST /v2.0/transfer/result`, `check_type = "1"` for withdrawals.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferResultRequest {
    pub check_type: String,
    pub tran_dtime: String,
    pub req_cnt: String,
    pub req_list: Vec<TransferResultQuery>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferResultQuery {
    pub tran_no: String,
    pub org_bank_tran_id: String,
    pub org_bank_tran_date: String,
    pub org_tran_amt: String,
}

/// The top-level `rsp_code` says whether the query worked; each item's `bank_rsp_code` says
/// what happened to the original transfer (`000` = it went through).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferResultResponse {
    pub api_tran_id: String,
    pub api_tran_dtm: String,
    pub rsp_code: String,
    pub rsp_message: String,
    pub res_cnt: String,
    pub res_list: Vec<TransferResultItem>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferResultItem {
    pub tran_no: String,
    pub bank_tran_id: String,
    pub bank_tran_date: String,
    pub bank_code_tran: String,
    pub bank_rsp_code: String,
    pub bank_rsp_message: String,
    pub wd_bank_code_std: String,
    pub wd_bank_name: String,
    pub wd_fintech_use_num: String,
    pub wd_account_num_masked: String,
    pub wd_print_content: String,
    pub wd_account_holder_name: String,
    pub dps_bank_code_std: String,
    pub dps_bank_name: String,
    pub dps_fintech_use_num: String,
    pub dps_account_num_masked: String,
    pub dps_print_content: String,
    pub dps_account_holder_name: String,
    pub tran_amt: String,
}

/// `GET /v2.0/account/balance/fin_num?bank_tran_id=…&fintech_use_num=…&tran_dtime=…`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BalanceResponse {
    pub api_tran_id: String,
    pub api_tran_dtm: String,
    pub rsp_code: String,
    pub rsp_message: String,
    pub bank_tran_id: String,
    pub bank_tran_date: String,
    pub bank_code_tran: String,
    pub bank_rsp_code: String,
    pub bank_rsp_message: String,
    pub bank_name: String,
    pub fintech_use_num: String,
    pub balance_amt: String,
    pub available_amt: String,
}

/// One account of a user, as `user/me` and `account/list` list it (docs §5.2).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    pub fintech_use_num: String,
    pub account_alias: String,
    pub bank_code_std: String,
    pub bank_code_sub: String,
    pub bank_name: String,
    pub savings_bank_name: String,
    pub account_num_masked: String,
    pub account_holder_name: String,
    /// `P` person.
    pub account_holder_type: String,
    /// `1` deposit account.
    pub account_type: String,
    pub inquiry_agree_yn: String,
    pub inquiry_agree_dtime: String,
    /// `Y`: the user consented to withdrawals from this account.
    pub transfer_agree_yn: String,
    pub transfer_agree_dtime: String,
    /// `account/list` only: `01` in use, `09` cancelled.
    pub account_state: String,
}

/// `GET /v2.0/user/me?user_seq_no=…` (scope `login`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserMeResponse {
    pub api_tran_id: String,
    pub api_tran_dtm: String,
    pub rsp_code: String,
    pub rsp_message: String,
    pub user_seq_no: String,
    pub user_ci: String,
    pub user_name: String,
    pub res_cnt: String,
    pub res_list: Vec<Account>,
}

/// `GET /v2.0/account/list?user_seq_no=…&include_cancel_yn=N&sort_order=D` (scope `login`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountListResponse {
    pub api_tran_id: String,
    pub api_tran_dtm: String,
    pub rsp_code: String,
    pub rsp_message: String,
    pub user_name: String,
    pub res_cnt: String,
    pub res_list: Vec<Account>,
}

/// `GET /v2.0/account/transaction_list/fin_num` (scope `inquiry`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TransactionListResponse {
    pub api_tran_id: String,
    pub api_tran_dtm: String,
    pub rsp_code: String,
    pub rsp_message: String,
    pub bank_tran_id: String,
    pub bank_tran_date: String,
    pub bank_code_tran: String,
    pub bank_rsp_code: String,
    pub bank_rsp_message: String,
    pub bank_name: String,
    pub fintech_use_num: String,
    pub balance_amt: String,
    pub page_record_cnt: String,
    pub next_page_yn: String,
    pub befor_inquiry_trace_info: String,
    pub res_list: Vec<Transaction>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Transaction {
    /// `yyyyMMdd`, `HHmmss`.
    pub tran_date: String,
    pub tran_time: String,
    /// `입금` (in) or `출금` (out).
    pub inout_type: String,
    pub tran_type: String,
    pub print_content: String,
    pub tran_amt: String,
    pub after_balance_amt: String,
    pub branch_name: String,
}

/// `POST /v2.0/inquiry/real_name` (scope `oob`), docs §5.3.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RealNameResponse {
    pub api_tran_id: String,
    pub api_tran_dtm: String,
    pub rsp_code: String,
    pub rsp_message: String,
    pub bank_tran_id: String,
    pub bank_tran_date: String,
    pub bank_code_tran: String,
    pub bank_rsp_code: String,
    pub bank_rsp_message: String,
    pub bank_code_std: String,
    pub bank_name: String,
    pub account_num: String,
    pub account_holder_info_type: String,
    pub account_holder_info: String,
    pub account_holder_name: String,
}
