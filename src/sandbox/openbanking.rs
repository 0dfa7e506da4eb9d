//! The open-banking side of the sandbox: token, withdraw by fintech number (or EMV CPM),
//! transfer result and balance, with the checks in the order the real API applies them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Extension, Form, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, FixedOffset};

use super::emv::pan_from_cpm;
use super::faults::{FaultKind, FaultOn, KillSwitch};
use super::server::{deliver, App};
use super::state::{
    expired, mask, record_key, CustomerConfig, LedgerEntry, State, Transfer, TransferState,
};
use super::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_INSTITUTION_CODE};
use crate::protocol::openbanking::{
    BalanceResponse, TokenResponse, TransferResultItem, TransferResultRequest,
    TransferResultResponse, WithdrawRequest, WithdrawResponse,
};

/// The bank code the sandbox plays (`097`, the testbed's "오픈은행").
const BANK_CODE: &str = "097";

pub(crate) fn api_tran_id() -> String {
    format!("SBX{:032X}", rand::random::<u128>())
}

pub(crate) fn api_tran_dtm(now: &DateTime<FixedOffset>) -> String {
    now.format("%Y%m%d%H%M%S%3f").to_string()
}

/// `"fault:drop (committed)"`, `"fault:http500 (A0002/453, not committed)"`, or just `base`.
pub(crate) fn ledger_result(
    base: &str,
    approved_base: &str,
    committed: bool,
    fault: Option<&str>,
) -> String {
    match fault {
        None => base.to_string(),
        Some(f) if base == approved_base => format!("fault:{f} (committed)"),
        Some(f) => format!(
            "fault:{f} ({base}, {})",
            if committed {
                "committed"
            } else {
                "not committed"
            }
        ),
    }
}

/// The ledger-worthy ids of a body that may not parse as a [`WithdrawRequest`].
struct Lenient {
    bank_tran_id: String,
    amount: u64,
    fintech: Option<String>,
}

fn lenient(body: &[u8]) -> Lenient {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let fin = s("fintech_use_num");
    Lenient {
        bank_tran_id: s("bank_tran_id"),
        amount: s("tran_amt").parse().unwrap_or(0),
        fintech: (!fin.is_empty()).then_some(fin),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn institution_of<'a>(st: &'a State, headers: &HeaderMap) -> Option<&'a str> {
    st.tokens.get(bearer(headers)?).map(String::as_str)
}

// ---------------------------------------------------------------- token

pub(crate) async fn token(
    AxState(app): AxState<Arc<App>>,
    Extension(kill): Extension<KillSwitch>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let fault = app.take_fault(FaultOn::Token);
    let normal = if fault.as_ref().is_none_or(FaultKind::processes) {
        Some(issue_token(&app, form))
    } else {
        None
    };
    deliver(
        fault.as_ref(),
        &kill,
        || to_response(normal),
        || {
            let (code, msg, status) = reply_fields(fault.as_ref());
            let body = TokenResponse {
                rsp_code: Some(code),
                rsp_message: Some(msg),
                ..Default::default()
            };
            (status.unwrap_or(StatusCode::UNAUTHORIZED), Json(body)).into_response()
        },
    )
    .await
}

fn to_response<T: serde::Serialize>(r: Option<(StatusCode, T)>) -> Response {
    match r {
        Some((s, b)) => (s, Json(b)).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `(rsp_code or code, message, status)` of a `reply` fault.
fn reply_fields(f: Option<&FaultKind>) -> (String, String, Option<StatusCode>) {
    match f {
        Some(FaultKind::Reply {
            rsp_code,
            code,
            message,
            status,
            ..
        }) => (
            rsp_code
                .clone()
                .or_else(|| code.clone())
                .unwrap_or_default(),
            message.clone().unwrap_or_else(|| "sandbox fault".into()),
            status.and_then(|s| StatusCode::from_u16(s).ok()),
        ),
        _ => (String::new(), String::new(), None),
    }
}

fn issue_token(
    app: &App,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> (StatusCode, TokenResponse) {
    let fail = |status, msg: &str| {
        (
            status,
            TokenResponse {
                rsp_code: Some("O0001".into()),
                rsp_message: Some(msg.into()),
                ..Default::default()
            },
        )
    };
    let Ok(Form(f)) = form else {
        return fail(
            StatusCode::BAD_REQUEST,
            "인증요청 거부: form-encoded body expected (3000103)",
        );
    };
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    if get("grant_type") != "client_credentials" || get("scope") != "oob" {
        return fail(
            StatusCode::BAD_REQUEST,
            "인증요청 거부: grant_type=client_credentials and scope=oob required (3000103)",
        );
    }
    if get("client_id") != DEMO_CLIENT_ID || get("client_secret") != DEMO_CLIENT_SECRET {
        return fail(
            StatusCode::UNAUTHORIZED,
            "인증요청 거부: bad client credentials (3000201)",
        );
    }
    let token = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    app.with_state(|st| {
        st.tokens
            .insert(token.clone(), DEMO_INSTITUTION_CODE.into())
    });
    (
        StatusCode::OK,
        TokenResponse {
            access_token: token,
            token_type: "Bearer".into(),
            expires_in: 7_775_999,
            scope: "oob".into(),
            client_use_code: DEMO_INSTITUTION_CODE.into(),
            rsp_code: None,
            rsp_message: None,
        },
    )
}

// ---------------------------------------------------------------- withdraw

pub(crate) async fn withdraw(
    AxState(app): AxState<Arc<App>>,
    Extension(kill): Extension<KillSwitch>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = app.take_fault(FaultOn::Withdraw);
    let label = fault.as_ref().map(FaultKind::label);
    let normal = if fault.as_ref().is_none_or(FaultKind::processes) {
        Some(app.with_state(|st| process_withdraw(st, &headers, &body, label.as_deref())))
    } else {
        app.with_state(|st| not_processed(st, &body, fault.as_ref()));
        None
    };
    let echo = lenient(&body);
    let committed_resp = normal.as_ref().map(|(_, r)| r.clone());
    deliver(
        fault.as_ref(),
        &kill,
        || to_response(normal),
        || {
            let (rsp_code, msg, status) = reply_fields(fault.as_ref());
            let bank_rsp_code = match fault.as_ref() {
                Some(FaultKind::Reply { bank_rsp_code, .. }) => bank_rsp_code.clone(),
                _ => None,
            };
            let now = app.now();
            let mut r = committed_resp.unwrap_or_else(|| WithdrawResponse {
                bank_tran_id: echo.bank_tran_id.clone(),
                bank_tran_date: now.format("%Y%m%d").to_string(),
                bank_code_tran: BANK_CODE.into(),
                fintech_use_num: echo.fintech.clone().unwrap_or_default(),
                ..Default::default()
            });
            r.api_tran_id = api_tran_id();
            r.api_tran_dtm = api_tran_dtm(&now);
            r.rsp_code = rsp_code;
            r.rsp_message = msg;
            r.bank_rsp_code = bank_rsp_code.unwrap_or_default();
            r.bank_rsp_message = String::new();
            (status.unwrap_or(StatusCode::OK), Json(r)).into_response()
        },
    )
    .await
}

/// A fault that hits before the bank sees the request: only a ledger line, and for `reply`
/// a refusal record (the bank answered; the id is taken). `drop`/`http500`/`garbage` without
/// commit model a request lost on the way, so the id stays free for a retry.
fn not_processed(st: &mut State, body: &[u8], fault: Option<&FaultKind>) {
    let l = lenient(body);
    let result = FaultKind::unprocessed_result(fault);
    if let Some(FaultKind::Reply {
        rsp_code,
        bank_rsp_code,
        ..
    }) = fault
    {
        let key = record_key(&st.today(), &l.bank_tran_id);
        if !l.bank_tran_id.is_empty() && !st.transfers.contains_key(&key) {
            let state = match bank_rsp_code {
                Some(b) if !b.is_empty() && b != "000" => TransferState::BankRefused {
                    bank_rsp_code: b.clone(),
                },
                _ => TransferState::Refused {
                    rsp_code: rsp_code.clone().unwrap_or_default(),
                },
            };
            let customer = l.fintech.as_ref().and_then(|f| {
                st.customers
                    .iter()
                    .find(|c| c.fintech_use_num.as_ref() == Some(f))
                    .map(|c| c.name.clone())
            });
            let bank_tran_date = st.today();
            st.transfers.insert(
                key,
                Transfer {
                    amount: l.amount,
                    customer,
                    fintech_use_num: l.fintech.clone().unwrap_or_default(),
                    bank_tran_date,
                    state,
                },
            );
        }
    }
    st.record(LedgerEntry {
        seq: 0,
        protocol: "openbanking".into(),
        bank_tran_id: l.bank_tran_id,
        amount: l.amount,
        fintech_use_num: l.fintech,
        customer: None,
        result,
        committed: false,
        at: String::new(),
    });
}

fn process_withdraw(
    st: &mut State,
    headers: &HeaderMap,
    body: &[u8],
    fault: Option<&str>,
) -> (StatusCode, WithdrawResponse) {
    let now = st.now;
    let l = lenient(body);
    let mut resp = WithdrawResponse {
        api_tran_id: api_tran_id(),
        api_tran_dtm: api_tran_dtm(&now),
        bank_tran_id: l.bank_tran_id.clone(),
        bank_tran_date: now.format("%Y%m%d").to_string(),
        bank_code_tran: BANK_CODE.into(),
        ..Default::default()
    };
    let mut entry = LedgerEntry {
        seq: 0,
        protocol: "openbanking".into(),
        bank_tran_id: l.bank_tran_id,
        amount: l.amount,
        fintech_use_num: l.fintech,
        customer: None,
        result: String::new(),
        committed: false,
        at: String::new(),
    };
    let (status, base, committed) = decide_withdraw(st, headers, body, &now, &mut resp, &mut entry);
    entry.committed = committed;
    entry.result = ledger_result(&base, "A0000/000", committed, fault);
    st.record(entry);
    (status, resp)
}

fn decide_withdraw(
    st: &mut State,
    headers: &HeaderMap,
    body: &[u8],
    now: &DateTime<FixedOffset>,
    resp: &mut WithdrawResponse,
    entry: &mut LedgerEntry,
) -> (StatusCode, String, bool) {
    let refuse = |resp: &mut WithdrawResponse, status: StatusCode, code: &str, msg: &str| {
        resp.rsp_code = code.into();
        resp.rsp_message = msg.into();
        (status, code.to_string(), false)
    };
    // 1. token
    let Some(institution) = institution_of(st, headers).map(str::to_string) else {
        return refuse(
            resp,
            StatusCode::UNAUTHORIZED,
            "O0002",
            "Access Token 거부 (missing or unknown bearer token)",
        );
    };
    // 2. parse
    let req: WithdrawRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                resp,
                StatusCode::BAD_REQUEST,
                "A0004",
                &format!("요청전문 포맷 에러: {e}"),
            )
        }
    };
    let emv = req.emv_cpm.as_deref().unwrap_or_default();
    let missing = [
        ("bank_tran_id", req.bank_tran_id.is_empty()),
        ("tran_amt", req.tran_amt.is_empty()),
        ("tran_dtime", req.tran_dtime.is_empty()),
        (
            "fintech_use_num",
            req.fintech_use_num.is_empty() && emv.is_empty(),
        ),
    ]
    .into_iter()
    .find(|(_, m)| *m);
    if let Some((field, _)) = missing {
        return refuse(
            resp,
            StatusCode::BAD_REQUEST,
            "A0004",
            &format!("요청전문 포맷 에러: {field} is required"),
        );
    }
    // 3. de-duplicate within the business day: the first request stands, whatever became of
    // it; the same id on another day is another transfer (KFTC's rule).
    let date = now.format("%Y%m%d").to_string();
    let key = record_key(&date, &req.bank_tran_id);
    if st.transfers.contains_key(&key) {
        return refuse(
            resp,
            StatusCode::OK,
            "A0326",
            "거래고유번호(참가기관) 중복 (duplicate bank_tran_id; query the original)",
        );
    }
    let amount: u64 = req.tran_amt.parse().unwrap_or(0);
    // From here on the bank has the id: every outcome is recorded for dedup and result queries.
    let record = |st: &mut State, customer: Option<&CustomerConfig>, state: TransferState| {
        st.transfers.insert(
            key.clone(),
            Transfer {
                amount,
                customer: customer.map(|c| c.name.clone()),
                fintech_use_num: customer
                    .and_then(|c| c.fintech_use_num.clone())
                    .unwrap_or_else(|| req.fintech_use_num.clone()),
                bank_tran_date: date.clone(),
                state,
            },
        );
    };
    // 4. validate
    let id_ok = req.bank_tran_id.len() == 20
        && req.bank_tran_id.starts_with(&format!("{institution}U"))
        && req
            .bank_tran_id
            .get(11..)
            .is_some_and(|s| s.bytes().all(|b| b.is_ascii_alphanumeric()));
    let amt_ok = !req.tran_amt.is_empty()
        && req.tran_amt.len() <= 12
        && req.tran_amt.bytes().all(|b| b.is_ascii_digit())
        && amount > 0;
    let dtime_ok = req.tran_dtime.len() == 14 && req.tran_dtime.bytes().all(|b| b.is_ascii_digit());
    let bad = [
        (
            !id_ok,
            "bank_tran_id must be the institution code + 'U' + 9 alphanumerics",
        ),
        (!amt_ok, "tran_amt must be 1 to 12 digits, > 0"),
        (!dtime_ok, "tran_dtime must be yyyyMMddHHmmss"),
    ]
    .into_iter()
    .find(|(b, _)| *b);
    if let Some((_, why)) = bad {
        record(
            st,
            None,
            TransferState::Refused {
                rsp_code: "A0004".into(),
            },
        );
        return refuse(
            resp,
            StatusCode::OK,
            "A0004",
            &format!("요청전문 포맷 에러: {why}"),
        );
    }
    // 5. customer
    let idx = if !req.fintech_use_num.is_empty() {
        st.customer_idx(|c| c.fintech_use_num.as_deref() == Some(req.fintech_use_num.as_str()))
    } else {
        pan_from_cpm(emv)
            .and_then(|pan| st.customer_idx(|c| c.emv_pan.as_deref() == Some(pan.as_str())))
    };
    let Some(idx) = idx else {
        record(
            st,
            None,
            TransferState::Refused {
                rsp_code: "A0304".into(),
            },
        );
        return refuse(
            resp,
            StatusCode::OK,
            "A0304",
            "핀테크이용번호 불일치 (unknown fintech_use_num or QR)",
        );
    };
    let c = st.customers[idx].clone();
    entry.customer = Some(c.name.clone());
    entry.fintech_use_num = c.fintech_use_num.clone();
    resp.fintech_use_num = c.fintech_use_num.clone().unwrap_or_default();
    resp.bank_code_std = c.bank_code_std.clone();
    resp.bank_name = c.bank_name.clone();
    resp.account_num_masked = c.masked_account();
    resp.account_holder_name = c.name.clone();
    resp.account_alias = format!("{} 입출금", c.name);
    resp.dps_bank_code_std = BANK_CODE.into();
    resp.dps_bank_name = "오픈은행".into();
    resp.dps_account_num_masked = mask(&req.cntr_account_num);
    resp.dps_print_content = req.dps_print_content.clone();
    resp.dps_account_holder_name = req.recv_client_name.clone();
    resp.print_content = req.wd_print_content.clone().unwrap_or_default();
    // 6. consents
    let today = now.date_naive();
    let consent = if expired(&c.withdraw_consent_until, today) {
        Some((
            "A0319",
            "출금동의 만료 (withdrawal consent expired: the customer must renew it in their app)",
        ))
    } else if expired(&c.third_party_consent_until, today) {
        Some(("A0316", "제3자정보제공동의 만료 (third-party consent expired: the customer must renew it in their app)"))
    } else {
        None
    };
    if let Some((code, msg)) = consent {
        record(
            st,
            Some(&c),
            TransferState::Refused {
                rsp_code: code.into(),
            },
        );
        return refuse(resp, StatusCode::OK, code, msg);
    }
    // 7. limits
    let day_key = format!("{}|{date}", c.name);
    let used = st.daily_used.get(&day_key).copied().unwrap_or(0);
    let limit = if amount > c.per_tx_limit() {
        Some(("A0111", "사용자 출금한도 초과 (per-transaction limit)"))
    } else if used.saturating_add(amount) > c.daily_limit() {
        Some(("A0112", "사용자 일일 출금한도 초과 (daily limit)"))
    } else {
        None
    };
    if let Some((code, msg)) = limit {
        record(
            st,
            Some(&c),
            TransferState::Refused {
                rsp_code: code.into(),
            },
        );
        resp.wd_limit_remain_amt = c.daily_limit().saturating_sub(used).to_string();
        return refuse(resp, StatusCode::OK, code, msg);
    }
    // 8. balance (a participant-bank refusal: A0002 + bank code)
    if amount > c.balance {
        record(
            st,
            Some(&c),
            TransferState::BankRefused {
                bank_rsp_code: "453".into(),
            },
        );
        resp.bank_rsp_code = "453".into();
        resp.bank_rsp_message = "잔액부족 (insufficient balance)".into();
        refuse(resp, StatusCode::OK, "A0002", "참가기관 에러");
        return (StatusCode::OK, "A0002/453".into(), false);
    }
    // 9. debit
    st.customers[idx].balance -= amount;
    st.daily_used.insert(day_key, used + amount);
    record(st, Some(&c), TransferState::Committed);
    resp.rsp_code = "A0000".into();
    resp.rsp_message = String::new();
    resp.bank_rsp_code = "000".into();
    resp.bank_rsp_message = String::new();
    resp.tran_amt = amount.to_string();
    resp.wd_limit_remain_amt = c.daily_limit().saturating_sub(used + amount).to_string();
    (StatusCode::OK, "A0000/000".into(), true)
}

// ---------------------------------------------------------------- transfer result

pub(crate) async fn result(
    AxState(app): AxState<Arc<App>>,
    Extension(kill): Extension<KillSwitch>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = app.take_fault(FaultOn::Result);
    let normal = if fault.as_ref().is_none_or(FaultKind::processes) {
        Some(process_result(&app.lock(), &headers, &body))
    } else {
        None
    };
    deliver(
        fault.as_ref(),
        &kill,
        || to_response(normal),
        || {
            let (code, msg, status) = reply_fields(fault.as_ref());
            let now = app.now();
            let body = TransferResultResponse {
                api_tran_id: api_tran_id(),
                api_tran_dtm: api_tran_dtm(&now),
                rsp_code: code,
                rsp_message: msg,
                res_cnt: "0".into(),
                res_list: vec![],
            };
            (status.unwrap_or(StatusCode::OK), Json(body)).into_response()
        },
    )
    .await
}

fn process_result(
    st: &State,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, TransferResultResponse) {
    let now = st.now;
    let mut resp = TransferResultResponse {
        api_tran_id: api_tran_id(),
        api_tran_dtm: api_tran_dtm(&now),
        res_cnt: "0".into(),
        ..Default::default()
    };
    let mut fail = |status, code: &str, msg: String| {
        resp.rsp_code = code.into();
        resp.rsp_message = msg;
        (status, resp.clone())
    };
    if institution_of(st, headers).is_none() {
        return fail(
            StatusCode::UNAUTHORIZED,
            "O0002",
            "Access Token 거부 (missing or unknown bearer token)".into(),
        );
    }
    let req: TransferResultRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "A0004",
                format!("요청전문 포맷 에러: {e}"),
            )
        }
    };
    if req.req_list.is_empty() {
        return fail(
            StatusCode::OK,
            "A0004",
            "요청전문 포맷 에러: req_list is empty".into(),
        );
    }
    let items: Vec<Option<TransferResultItem>> = req
        .req_list
        .iter()
        .map(|q| {
            // Found only by the day and the amount it was made with, as the real API does.
            let t = st
                .transfers
                .get(&record_key(&q.org_bank_tran_date, &q.org_bank_tran_id))
                .filter(|t| q.org_tran_amt.trim().parse() == Ok(t.amount))?;
            let (code, msg) = match &t.state {
                TransferState::Committed => ("000".to_string(), String::new()),
                TransferState::BankRefused { bank_rsp_code } => (
                    bank_rsp_code.clone(),
                    "참가기관 거부 (refused by the bank)".to_string(),
                ),
                // Refused before reaching the bank: to the bank, no such transfer.
                TransferState::Refused { .. } => return None,
            };
            let c = t
                .customer
                .as_ref()
                .and_then(|n| st.customers.iter().find(|c| &c.name == n));
            Some(TransferResultItem {
                tran_no: q.tran_no.clone(),
                bank_tran_id: q.org_bank_tran_id.clone(),
                bank_tran_date: t.bank_tran_date.clone(),
                bank_code_tran: BANK_CODE.into(),
                bank_rsp_code: code,
                bank_rsp_message: msg,
                wd_bank_code_std: c.map(|c| c.bank_code_std.clone()).unwrap_or_default(),
                wd_bank_name: c.map(|c| c.bank_name.clone()).unwrap_or_default(),
                wd_fintech_use_num: t.fintech_use_num.clone(),
                wd_account_num_masked: c.map(|c| c.masked_account()).unwrap_or_default(),
                wd_account_holder_name: t.customer.clone().unwrap_or_default(),
                tran_amt: t.amount.to_string(),
                ..Default::default()
            })
        })
        .collect();
    if items.len() == 1 && items[0].is_none() {
        return fail(
            StatusCode::OK,
            "A0310",
            "해당 거래 없음 (no such transfer)".into(),
        );
    }
    let all_found = items.iter().all(Option::is_some);
    resp.rsp_code = if all_found { "A0000" } else { "A0009" }.into();
    resp.rsp_message = if all_found {
        String::new()
    } else {
        "일부 항목 실패 (some items failed; check each item)".into()
    };
    resp.res_list = items
        .into_iter()
        .zip(&req.req_list)
        .map(|(item, q)| {
            item.unwrap_or_else(|| TransferResultItem {
                tran_no: q.tran_no.clone(),
                bank_tran_id: q.org_bank_tran_id.clone(),
                bank_tran_date: q.org_bank_tran_date.clone(),
                bank_rsp_message: "A0310 해당 거래 없음 (no such transfer)".into(),
                ..Default::default()
            })
        })
        .collect();
    resp.res_cnt = resp.res_list.len().to_string();
    (StatusCode::OK, resp)
}

// ---------------------------------------------------------------- balance

pub(crate) async fn balance(
    AxState(app): AxState<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let st = app.lock();
    let now = st.now;
    let mut resp = BalanceResponse {
        api_tran_id: api_tran_id(),
        api_tran_dtm: api_tran_dtm(&now),
        bank_tran_date: now.format("%Y%m%d").to_string(),
        bank_code_tran: BANK_CODE.into(),
        ..Default::default()
    };
    if institution_of(&st, &headers).is_none() {
        resp.rsp_code = "O0002".into();
        resp.rsp_message = "Access Token 거부 (missing or unknown bearer token)".into();
        return (StatusCode::UNAUTHORIZED, Json(resp)).into_response();
    }
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    resp.bank_tran_id = get("bank_tran_id");
    resp.fintech_use_num = get("fintech_use_num");
    if resp.bank_tran_id.is_empty()
        || resp.fintech_use_num.is_empty()
        || get("tran_dtime").len() != 14
    {
        resp.rsp_code = "A0004".into();
        resp.rsp_message =
            "요청전문 포맷 에러: bank_tran_id, fintech_use_num, tran_dtime required".into();
        return (StatusCode::BAD_REQUEST, Json(resp)).into_response();
    }
    match st
        .customers
        .iter()
        .find(|c| c.fintech_use_num.as_deref() == Some(resp.fintech_use_num.as_str()))
    {
        None => {
            resp.rsp_code = "A0304".into();
            resp.rsp_message = "핀테크이용번호 불일치 (unknown fintech_use_num)".into();
        }
        Some(c) => {
            resp.rsp_code = "A0000".into();
            resp.bank_rsp_code = "000".into();
            resp.bank_name = c.bank_name.clone();
            resp.balance_amt = c.balance.to_string();
            resp.available_amt = c.balance.to_string();
        }
    }
    (StatusCode::OK, Json(resp)).into_response()
}

// ---------------------------------------------------------------- deposit (refunds)

/// `POST /v2.0/transfer/deposit/fin_num` (docs §5.4), what the terminal's refunds use.
/// `crate::protocol` has no type for it yet, so the body is read as JSON by field name.
pub(crate) const DEPOSIT_PATH: &str = "/v2.0/transfer/deposit/fin_num";

pub(crate) async fn deposit(
    AxState(app): AxState<Arc<App>>,
    Extension(kill): Extension<KillSwitch>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = app.take_fault(FaultOn::Deposit);
    let label = fault.as_ref().map(FaultKind::label);
    let normal = if fault.as_ref().is_none_or(FaultKind::processes) {
        Some(app.with_state(|st| process_deposit(st, &headers, &body, label.as_deref())))
    } else {
        app.with_state(|st| {
            let result = format!("deposit:{}", FaultKind::unprocessed_result(fault.as_ref()));
            for (id, fin, amount) in deposit_items(&body) {
                st.record(LedgerEntry {
                    seq: 0,
                    protocol: "openbanking".into(),
                    bank_tran_id: id,
                    amount,
                    fintech_use_num: (!fin.is_empty()).then_some(fin),
                    customer: None,
                    result: result.clone(),
                    committed: false,
                    at: String::new(),
                });
            }
        });
        None
    };
    deliver(
        fault.as_ref(),
        &kill,
        || to_response(normal),
        || {
            let (code, msg, status) = reply_fields(fault.as_ref());
            let now = app.now();
            let body = serde_json::json!({
                "api_tran_id": api_tran_id(), "api_tran_dtm": api_tran_dtm(&now),
                "rsp_code": code, "rsp_message": msg, "res_cnt": "0", "res_list": [],
            });
            (status.unwrap_or(StatusCode::OK), Json(body)).into_response()
        },
    )
    .await
}

/// `(bank_tran_id, fintech_use_num, amount)` of each `req_list` item, leniently.
fn deposit_items(body: &[u8]) -> Vec<(String, String, u64)> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    v.get("req_list")
        .and_then(|l| l.as_array())
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    let s = |k: &str| i.get(k).and_then(|x| x.as_str()).unwrap_or_default();
                    (
                        s("bank_tran_id").to_string(),
                        s("fintech_use_num").to_string(),
                        s("tran_amt").parse().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn process_deposit(
    st: &mut State,
    headers: &HeaderMap,
    body: &[u8],
    fault: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let now = st.now;
    let date = now.format("%Y%m%d").to_string();
    let head = |code: &str, msg: &str| {
        serde_json::json!({
            "api_tran_id": api_tran_id(), "api_tran_dtm": api_tran_dtm(&now),
            "rsp_code": code, "rsp_message": msg, "res_cnt": "0", "res_list": [],
        })
    };
    let Some(institution) = institution_of(st, headers).map(str::to_string) else {
        return (
            StatusCode::UNAUTHORIZED,
            head(
                "O0002",
                "Access Token 거부 (missing or unknown bearer token)",
            ),
        );
    };
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let items = deposit_items(body);
    if parsed.as_ref().and_then(|v| v.get("req_list")).is_none() || items.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            head("A0004", "요청전문 포맷 에러: req_list required"),
        );
    }
    let tran_nos: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("req_list"))
        .and_then(|l| l.as_array())
        .map(|l| {
            l.iter()
                .map(|i| {
                    i.get("tran_no")
                        .and_then(|x| x.as_str())
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    let well_formed = items.iter().all(|(id, _, amount)| {
        id.len() == 20
            && id.starts_with(&format!("{institution}U"))
            && id
                .get(11..)
                .is_some_and(|s| s.bytes().all(|b| b.is_ascii_alphanumeric()))
            && *amount > 0
    });
    if !well_formed {
        return (
            StatusCode::OK,
            head("A0004", "요청전문 포맷 에러: bank_tran_id or tran_amt"),
        );
    }
    let mut res_list = Vec::new();
    let mut failed: Vec<&str> = Vec::new();
    for (n, (id, fin, amount)) in items.iter().enumerate() {
        let idx = st.customer_idx(|c| c.fintech_use_num.as_deref() == Some(fin.as_str()));
        let key = record_key(&date, id);
        let (code, rsp, committed) = if st.transfers.contains_key(&key) {
            ("", "A0326", false)
        } else if let Some(i) = idx {
            st.customers[i].balance = st.customers[i].balance.saturating_add(*amount);
            ("000", "A0000", true)
        } else {
            ("", "A0304", false)
        };
        if rsp != "A0326" {
            st.transfers.insert(
                key,
                Transfer {
                    amount: *amount,
                    customer: idx.map(|i| st.customers[i].name.clone()),
                    fintech_use_num: fin.clone(),
                    bank_tran_date: date.clone(),
                    state: if committed {
                        TransferState::Committed
                    } else {
                        TransferState::Refused {
                            rsp_code: rsp.into(),
                        }
                    },
                },
            );
        }
        if !committed {
            failed.push(rsp);
        }
        let base = if committed { "A0000/000" } else { rsp };
        st.record(LedgerEntry {
            seq: 0,
            protocol: "openbanking".into(),
            bank_tran_id: id.clone(),
            amount: *amount,
            fintech_use_num: (!fin.is_empty()).then(|| fin.clone()),
            customer: idx.map(|i| st.customers[i].name.clone()),
            result: format!(
                "deposit:{}",
                ledger_result(base, "A0000/000", committed, fault)
            ),
            committed,
            at: String::new(),
        });
        let c = idx.map(|i| &st.customers[i]);
        res_list.push(serde_json::json!({
            "tran_no": tran_nos.get(n).cloned().unwrap_or_else(|| (n + 1).to_string()),
            "bank_tran_id": id, "bank_tran_date": date, "bank_code_tran": BANK_CODE,
            "bank_rsp_code": code,
            "bank_rsp_message": if committed { String::new() } else { format!("{rsp} refused") },
            "fintech_use_num": fin,
            "bank_code_std": c.map(|c| c.bank_code_std.clone()).unwrap_or_default(),
            "bank_name": c.map(|c| c.bank_name.clone()).unwrap_or_default(),
            "account_num_masked": c.map(|c| c.masked_account()).unwrap_or_default(),
            "account_holder_name": c.map(|c| c.name.clone()).unwrap_or_default(),
            "tran_amt": if committed { amount.to_string() } else { String::new() },
        }));
    }
    let rsp_code = match (failed.len(), items.len()) {
        (0, _) => "A0000",
        (1, 1) => failed[0],
        _ => "A0009",
    };
    let mut body = head(rsp_code, if rsp_code == "A0000" { "" } else { "refused" });
    body["wd_bank_code_std"] = BANK_CODE.into();
    body["wd_bank_name"] = "오픈은행".into();
    body["res_cnt"] = res_list.len().to_string().into();
    body["res_list"] = res_list.into();
    (StatusCode::OK, body)
}
