//! The open-banking APIs that move or query money: withdraw by fintech number (or this
//! project's EMV CPM extension), transfer result, balance and deposit. Each request passes the
//! gate first (`oauth::require`: a live token with the API's scope), then the field table of
//! `fields`, then the business rules in the order the real API applies them. Business
//! refusals are HTTP 200 with `rsp_code`/`rsp_message`; gate refusals carry O-codes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use super::emv::pan_from_cpm;
use super::faults::{FaultKind, FaultOn, KillSwitch};
use super::fields::{self, check, check_tran_dtime, one_payer};
use super::oauth::require;
use super::server::{deliver, App};
use super::state::{
    expired, mask, record_key, CustomerConfig, Grant, LedgerEntry, State, Transfer, TransferKind,
    TransferState,
};
use crate::protocol::openbanking::{
    BalanceResponse, TransferResultItem, TransferResultRequest, TransferResultResponse,
    WithdrawRequest, WithdrawResponse,
};

/// The bank code the sandbox plays (`097`, the testbed's "오픈은행").
pub(crate) const BANK_CODE: &str = "097";
/// At most this many items in one `transfer/result` (a public client's note; docs §4.1).
const RESULT_MAX_ITEMS: usize = 25;

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

/// The request body as a JSON object, or why not (A0004). The API takes JSON only.
pub(crate) fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err("Content-Type must be application/json; charset=UTF-8".into());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(without_nulls(m)),
        Ok(_) => Err("the body must be a JSON object".into()),
        Err(_) => Err("the body is not JSON".into()),
    }
}

/// A field whose value is `null` is read as left out, in list items too (the field tables
/// say so as well). A `null` list item stays: it is not an item.
fn without_nulls(m: Map<String, Value>) -> Map<String, Value> {
    fn strip(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(without_nulls(m)),
            Value::Array(items) => Value::Array(items.into_iter().map(strip).collect()),
            other => other,
        }
    }
    m.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k, strip(v)))
        .collect()
}

/// `bank_tran_id` is the token's institution code + `U` + 9 letters or digits (docs §2).
pub(crate) fn bank_tran_id_of(grant: &Grant, id: &str) -> Option<String> {
    let ok = id.len() == 20
        && id.starts_with(&format!("{}U", grant.client_use_code))
        && id.bytes().all(|b| b.is_ascii_alphanumeric());
    (!ok).then(|| {
        format!(
            "bank_tran_id {id:?} must be the institution code {} + 'U' + 9 letters or digits",
            grant.client_use_code
        )
    })
}

/// Whether the user of `grant` is the customer at `idx`.
pub(crate) fn owns(st: &State, grant: &Grant, idx: usize) -> bool {
    grant.user_seq_no.as_deref() == Some(st.user_seq_no(idx).as_str())
}

/// `"요청전문 포맷 에러: <why>"`.
pub(crate) fn format_error(why: &str) -> String {
    format!("요청전문 포맷 에러: {why}")
}

fn to_response<T: serde::Serialize>(r: Option<(StatusCode, T)>) -> Response {
    match r {
        Some((s, b)) => (s, Json(b)).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `(rsp_code or code, message, status)` of a `reply` fault.
pub(crate) fn reply_fields(f: Option<&FaultKind>) -> (String, String, Option<StatusCode>) {
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
                    kind: TransferKind::Withdraw,
                    time: st.now.format("%H%M%S").to_string(),
                    print_content: String::new(),
                    after_balance: 0,
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
    // 1. the gate: the customer's own token, scope `transfer`
    let grant = match require(st, headers, "transfer") {
        Ok(g) => g,
        Err(r) => return refuse(resp, r.status, r.code, &r.message),
    };
    // 2. the message: JSON, the field table, one payer, a real time, our id format. A
    // malformed request never reaches the bank: its id stays free.
    let obj = match json_body(headers, body) {
        Ok(o) => o,
        Err(why) => return refuse(resp, StatusCode::OK, "A0004", &format_error(&why)),
    };
    let emv_given = obj
        .get("emv_cpm")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    let fintech_given = obj
        .get("fintech_use_num")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    let why = check(&obj, fields::WITHDRAW)
        .or_else(|| match (fintech_given, emv_given) {
            (false, false) => Some("fintech_use_num is required".into()),
            (true, true) => Some("give fintech_use_num or emv_cpm, not both".into()),
            _ => None,
        })
        .or_else(|| {
            obj.get("emv_cpm")
                .filter(|v| !v.is_string() && !v.is_null())
                .map(|_| "emv_cpm must be a string".to_string())
        })
        .or_else(|| {
            // An EMV code names the payer itself; any payer field given must still be whole.
            let payer_fields = ["req_client_fintech_use_num", "req_client_bank_code"]
                .iter()
                .chain(&["req_client_account_num"])
                .any(|k| {
                    obj.get(*k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                });
            if emv_given && !payer_fields {
                None
            } else {
                one_payer(&obj)
            }
        })
        .or_else(|| {
            let dtime = obj.get("tran_dtime").and_then(Value::as_str).unwrap_or("");
            check_tran_dtime(dtime, now)
        })
        .or_else(|| {
            let id = obj
                .get("bank_tran_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            bank_tran_id_of(&grant, id)
        })
        .or_else(|| {
            let amt = obj.get("tran_amt").and_then(Value::as_str).unwrap_or("");
            (amt.parse::<u64>() == Ok(0)).then(|| "tran_amt must be more than 0".to_string())
        });
    if let Some(why) = why {
        return refuse(resp, StatusCode::OK, "A0004", &format_error(&why));
    }
    let Ok(req) = serde_json::from_value::<WithdrawRequest>(Value::Object(obj)) else {
        return refuse(
            resp,
            StatusCode::OK,
            "A0004",
            &format_error("unreadable fields"),
        );
    };
    let emv = req.emv_cpm.as_deref().unwrap_or_default();
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
    let time = now.format("%H%M%S").to_string();
    let print = req.wd_print_content.clone().unwrap_or_default();
    // From here on the bank has the id: every outcome is recorded for dedup and result queries.
    let record = |st: &mut State, customer: Option<&CustomerConfig>, state: TransferState| {
        let after_balance = customer
            .and_then(|c| st.customers.iter().find(|x| x.name == c.name))
            .map_or(0, |c| c.balance);
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
                kind: TransferKind::Withdraw,
                time: time.clone(),
                print_content: print.clone(),
                after_balance,
            },
        );
    };
    // 4. the customer, who must be the token's user
    let idx = if !req.fintech_use_num.is_empty() {
        st.customer_idx(|c| c.fintech_use_num.as_deref() == Some(req.fintech_use_num.as_str()))
    } else {
        pan_from_cpm(emv)
            .and_then(|pan| st.customer_idx(|c| c.emv_pan.as_deref() == Some(pan.as_str())))
    };
    let not_theirs = idx.filter(|&i| !owns(st, &grant, i));
    let (Some(idx), None) = (idx, not_theirs) else {
        record(
            st,
            None,
            TransferState::Refused {
                rsp_code: "A0304".into(),
            },
        );
        let why = if not_theirs.is_some() {
            "핀테크이용번호 불일치 (the account is not the token's user's)"
        } else {
            "핀테크이용번호 불일치 (unknown fintech_use_num or QR)"
        };
        return refuse(resp, StatusCode::OK, "A0304", why);
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
    // 5. consents
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
    // 6. limits
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
    // 7. balance (a participant-bank refusal: A0002 + bank code)
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
    // 8. debit
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
    if let Err(r) = require(st, headers, "oob") {
        return fail(r.status, r.code, r.message);
    }
    let obj = match json_body(headers, body) {
        Ok(o) => o,
        Err(why) => return fail(StatusCode::OK, "A0004", format_error(&why)),
    };
    let items: Vec<Map<String, Value>> = match obj.get("req_list") {
        Some(Value::Array(l)) => l.iter().filter_map(|i| i.as_object().cloned()).collect(),
        _ => vec![],
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default();
    let why = check(&obj, fields::RESULT)
        .or_else(|| {
            (!matches!(s("check_type"), "1" | "2"))
                .then(|| "check_type must be 1 (withdrawals) or 2 (deposits)".to_string())
        })
        .or_else(|| check_tran_dtime(s("tran_dtime"), &now))
        .or_else(|| {
            let n = obj
                .get("req_list")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if n == 0 || n != items.len() {
                Some("req_list must be a non-empty list of objects".to_string())
            } else if n > RESULT_MAX_ITEMS {
                Some(format!(
                    "req_list holds {n} items, at most {RESULT_MAX_ITEMS}"
                ))
            } else if s("req_cnt").parse::<usize>() != Ok(n) {
                Some(format!(
                    "req_cnt {:?} does not match the {n} items of req_list",
                    s("req_cnt")
                ))
            } else {
                None
            }
        })
        .or_else(|| {
            items.iter().enumerate().find_map(|(i, item)| {
                check(item, fields::RESULT_ITEM).map(|w| format!("req_list[{i}].{w}"))
            })
        });
    if let Some(why) = why {
        return fail(StatusCode::OK, "A0004", format_error(&why));
    }
    let Ok(req) = serde_json::from_value::<TransferResultRequest>(Value::Object(obj.clone()))
    else {
        return fail(StatusCode::OK, "A0004", format_error("unreadable fields"));
    };
    let found: Vec<Option<TransferResultItem>> = req
        .req_list
        .iter()
        .map(|q| {
            // Found only by its kind, day and amount, as the real API does.
            let t = st
                .transfers
                .get(&record_key(&q.org_bank_tran_date, &q.org_bank_tran_id))
                .filter(|t| t.kind.check_type() == req.check_type)
                .filter(|t| q.org_tran_amt.parse() == Ok(t.amount))?;
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
            let mut item = TransferResultItem {
                tran_no: q.tran_no.clone(),
                bank_tran_id: q.org_bank_tran_id.clone(),
                bank_tran_date: t.bank_tran_date.clone(),
                bank_code_tran: BANK_CODE.into(),
                bank_rsp_code: code,
                bank_rsp_message: msg,
                tran_amt: t.amount.to_string(),
                ..Default::default()
            };
            let (bank, name) = (
                c.map(|c| c.bank_code_std.clone()).unwrap_or_default(),
                c.map(|c| c.bank_name.clone()).unwrap_or_default(),
            );
            let masked = c.map(|c| c.masked_account()).unwrap_or_default();
            let holder = t.customer.clone().unwrap_or_default();
            // The customer's side is the withdrawal side of a withdrawal, the deposit side of
            // a deposit.
            match t.kind {
                TransferKind::Withdraw => {
                    item.wd_bank_code_std = bank;
                    item.wd_bank_name = name;
                    item.wd_fintech_use_num = t.fintech_use_num.clone();
                    item.wd_account_num_masked = masked;
                    item.wd_account_holder_name = holder;
                    item.wd_print_content = t.print_content.clone();
                }
                TransferKind::Deposit => {
                    item.dps_bank_code_std = bank;
                    item.dps_bank_name = name;
                    item.dps_fintech_use_num = t.fintech_use_num.clone();
                    item.dps_account_num_masked = masked;
                    item.dps_account_holder_name = holder;
                    item.dps_print_content = t.print_content.clone();
                }
            }
            Some(item)
        })
        .collect();
    if found.len() == 1 && found[0].is_none() {
        return fail(
            StatusCode::OK,
            "A0310",
            "해당 거래 없음 (no such transfer)".into(),
        );
    }
    let all_found = found.iter().all(Option::is_some);
    resp.rsp_code = if all_found { "A0000" } else { "A0009" }.into();
    resp.rsp_message = if all_found {
        String::new()
    } else {
        "일부 항목 실패 (some items failed; check each item)".into()
    };
    resp.res_list = found
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

/// A GET API's query string as a JSON object of strings, for the field tables.
pub(crate) fn query_object(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Map<String, Value> {
    query
        .map(|Query(q)| q)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

/// The open-banking customer whose fintech number is `fin`, if the token's user owns it;
/// the refusal (A0304) otherwise.
pub(crate) fn own_account(st: &State, grant: &Grant, fin: &str) -> Result<usize, String> {
    match st.customer_idx(|c| c.fintech_use_num.as_deref() == Some(fin)) {
        Some(i) if owns(st, grant, i) => Ok(i),
        Some(_) => Err("핀테크이용번호 불일치 (the account is not the token's user's)".into()),
        None => Err("핀테크이용번호 불일치 (unknown fintech_use_num)".into()),
    }
}

pub(crate) async fn balance(
    AxState(app): AxState<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let st = app.lock();
    let now = st.now;
    let q = query_object(query);
    let s = |k: &str| q.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut resp = BalanceResponse {
        api_tran_id: api_tran_id(),
        api_tran_dtm: api_tran_dtm(&now),
        bank_tran_id: s("bank_tran_id").to_string(),
        bank_tran_date: now.format("%Y%m%d").to_string(),
        bank_code_tran: BANK_CODE.into(),
        fintech_use_num: s("fintech_use_num").to_string(),
        ..Default::default()
    };
    let grant = match require(&st, &headers, "inquiry") {
        Ok(g) => g,
        Err(r) => {
            resp.rsp_code = r.code.into();
            resp.rsp_message = r.message;
            return (r.status, Json(resp)).into_response();
        }
    };
    let why = check(&q, fields::BALANCE)
        .or_else(|| check_tran_dtime(s("tran_dtime"), &now))
        .or_else(|| bank_tran_id_of(&grant, s("bank_tran_id")));
    if let Some(why) = why {
        resp.rsp_code = "A0004".into();
        resp.rsp_message = format_error(&why);
        return (StatusCode::OK, Json(resp)).into_response();
    }
    match own_account(&st, &grant, s("fintech_use_num")) {
        Err(why) => {
            resp.rsp_code = "A0304".into();
            resp.rsp_message = why;
        }
        Ok(i) => {
            let c = &st.customers[i];
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

// `POST /v2.0/transfer/deposit/fin_num` (docs §5.4). `crate::protocol` has no type for
// its body, so it is read as JSON by field name.

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
    let grant = match require(st, headers, "oob") {
        Ok(g) => g,
        Err(r) => return (r.status, head(r.code, &r.message)),
    };
    let obj = match json_body(headers, body) {
        Ok(o) => o,
        Err(why) => return (StatusCode::OK, head("A0004", &format_error(&why))),
    };
    let list: Vec<Map<String, Value>> = match obj.get("req_list") {
        Some(Value::Array(l)) => l.iter().filter_map(|i| i.as_object().cloned()).collect(),
        _ => vec![],
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default();
    let why = check(&obj, fields::DEPOSIT)
        .or_else(|| check_tran_dtime(s("tran_dtime"), &now))
        .or_else(|| {
            let n = obj
                .get("req_list")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            // The reference fixes req_cnt at 1 for deposits by fintech number.
            (s("req_cnt") != "1" || n != 1 || list.len() != 1).then(|| {
                format!(
                    "req_cnt must be \"1\" with one req_list item (got {:?} and {n})",
                    s("req_cnt")
                )
            })
        })
        .or_else(|| {
            list.iter().enumerate().find_map(|(i, item)| {
                check(item, fields::DEPOSIT_ITEM)
                    .or_else(|| one_payer(item))
                    .or_else(|| {
                        let id = item.get("bank_tran_id").and_then(Value::as_str);
                        bank_tran_id_of(&grant, id.unwrap_or_default())
                    })
                    .or_else(|| {
                        let amt = item.get("tran_amt").and_then(Value::as_str);
                        (amt.unwrap_or_default().parse::<u64>() == Ok(0))
                            .then(|| "tran_amt must be more than 0".to_string())
                    })
                    .map(|w| format!("req_list[{i}].{w}"))
            })
        });
    if let Some(why) = why {
        return (StatusCode::OK, head("A0004", &format_error(&why)));
    }
    let items = deposit_items(body);
    let tran_nos: Vec<String> = list
        .iter()
        .map(|i| {
            i.get("tran_no")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let prints: Vec<String> = list
        .iter()
        .map(|i| {
            i.get("print_content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
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
                    kind: TransferKind::Deposit,
                    time: now.format("%H%M%S").to_string(),
                    print_content: prints.get(n).cloned().unwrap_or_default(),
                    after_balance: idx.map_or(0, |i| st.customers[i].balance),
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
