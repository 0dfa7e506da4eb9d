//! The open-banking APIs that only read: the user (`user/me`) and their accounts
//! (`account/list`), scope `login`; an account's transactions (`transaction_list`), scope
//! `inquiry`, from the transfers the bank holds; and the real-name check of an account
//! (`inquiry/real_name`), scope `oob`. Fields follow docs §5 and the KFTC sample app.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::fields::{self, check, check_tran_dtime};
use super::oauth::require;
use super::openbanking::{
    api_tran_dtm, api_tran_id, bank_tran_id_of, format_error, json_body, own_account, query_object,
    BANK_CODE,
};
use super::server::App;
use super::state::{expired, State, TransferKind, TransferState};
use crate::protocol::openbanking::{
    Account, AccountListResponse, RealNameResponse, Transaction, TransactionListResponse,
    UserMeResponse,
};

/// The header every reply starts with, as JSON (merged into the typed reply).
fn header(st: &State, code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "api_tran_id": api_tran_id(), "api_tran_dtm": api_tran_dtm(&st.now),
        "rsp_code": code, "rsp_message": message,
    })
}

fn reply<T: serde::Serialize>(status: StatusCode, body: T, head: serde_json::Value) -> Response {
    let mut v = serde_json::to_value(&body).unwrap_or_default();
    if let (Some(v), Value::Object(h)) = (v.as_object_mut(), head) {
        v.extend(h);
    }
    (status, Json(v)).into_response()
}

/// The account of the customer at `idx`, as the user's account lists show it.
fn account(st: &State, idx: usize, with_state: bool) -> Account {
    let c = &st.customers[idx];
    let today = st.now.date_naive();
    let transfer_ok = !expired(&c.withdraw_consent_until, today);
    Account {
        fintech_use_num: c.fintech_use_num.clone().unwrap_or_default(),
        account_alias: format!("{} 입출금", c.name),
        bank_code_std: c.bank_code_std.clone(),
        bank_code_sub: format!("{}0001", c.bank_code_std),
        bank_name: c.bank_name.clone(),
        account_num_masked: c.masked_account(),
        account_holder_name: c.name.clone(),
        account_holder_type: "P".into(),
        account_type: "1".into(),
        inquiry_agree_yn: "Y".into(),
        inquiry_agree_dtime: "20240101090000".into(),
        transfer_agree_yn: if transfer_ok { "Y" } else { "N" }.into(),
        transfer_agree_dtime: "20240101090000".into(),
        account_state: if with_state {
            "01".into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

/// The user a `login` request is about: the query's `user_seq_no`, which must be the
/// token's own user (A0313 otherwise).
fn login_user(
    st: &State,
    headers: &HeaderMap,
    q: &serde_json::Map<String, Value>,
    table: &[fields::Field],
) -> Result<usize, (StatusCode, serde_json::Value)> {
    let grant =
        require(st, headers, "login").map_err(|r| (r.status, header(st, r.code, &r.message)))?;
    if let Some(why) = check(q, table) {
        return Err((StatusCode::OK, header(st, "A0004", &format_error(&why))));
    }
    let asked = q
        .get("user_seq_no")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if grant.user_seq_no.as_deref() != Some(asked) {
        return Err((
            StatusCode::OK,
            header(
                st,
                "A0313",
                "사용자 불일치 (user_seq_no is not the token's user)",
            ),
        ));
    }
    st.user_idx(asked).ok_or_else(|| {
        (
            StatusCode::OK,
            header(st, "A0313", "사용자 불일치 (no such user)"),
        )
    })
}

/// `GET /v2.0/user/me`.
pub(crate) async fn user_me(
    AxState(app): AxState<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let st = app.lock();
    let q = query_object(query);
    match login_user(&st, &headers, &q, fields::USER_ME) {
        Err((status, head)) => reply(status, UserMeResponse::default(), head),
        Ok(i) => {
            let body = UserMeResponse {
                user_seq_no: st.user_seq_no(i),
                user_ci: format!("SANDBOX-CI-{}", st.user_seq_no(i)),
                user_name: st.customers[i].name.clone(),
                res_cnt: "1".into(),
                res_list: vec![account(&st, i, false)],
                ..Default::default()
            };
            reply(StatusCode::OK, body, header(&st, "A0000", ""))
        }
    }
}

/// `GET /v2.0/account/list`.
pub(crate) async fn account_list(
    AxState(app): AxState<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let st = app.lock();
    let q = query_object(query);
    match login_user(&st, &headers, &q, fields::ACCOUNT_LIST) {
        Err((status, head)) => reply(status, AccountListResponse::default(), head),
        Ok(i) => {
            let body = AccountListResponse {
                user_name: st.customers[i].name.clone(),
                res_cnt: "1".into(),
                res_list: vec![account(&st, i, true)],
                ..Default::default()
            };
            reply(StatusCode::OK, body, header(&st, "A0000", ""))
        }
    }
}

/// `GET /v2.0/account/transaction_list/fin_num`: the committed withdrawals and deposits of
/// the account between `from_date` and `to_date`, filtered by `inquiry_type` (`A` all, `I`
/// in, `O` out) and sorted by `sort_order` (`D` newest first, `A` oldest first).
pub(crate) async fn transaction_list(
    AxState(app): AxState<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let st = app.lock();
    let q = query_object(query);
    let s = |k: &str| q.get(k).and_then(Value::as_str).unwrap_or_default();
    let grant = match require(&st, &headers, "inquiry") {
        Ok(g) => g,
        Err(r) => {
            return reply(
                r.status,
                TransactionListResponse::default(),
                header(&st, r.code, &r.message),
            )
        }
    };
    let why = check(&q, fields::TRANSACTION_LIST)
        .or_else(|| check_tran_dtime(s("tran_dtime"), &st.now))
        .or_else(|| bank_tran_id_of(&grant, s("bank_tran_id")))
        .or_else(|| {
            (!matches!(s("inquiry_type"), "A" | "I" | "O"))
                .then(|| "inquiry_type must be A, I or O".to_string())
        })
        .or_else(|| {
            (!matches!(s("inquiry_base"), "D" | "T"))
                .then(|| "inquiry_base must be D or T".to_string())
        })
        .or_else(|| {
            (!matches!(s("sort_order"), "D" | "A")).then(|| "sort_order must be D or A".to_string())
        })
        .or_else(|| {
            let ok = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y%m%d").is_ok();
            (!ok(s("from_date")) || !ok(s("to_date")) || s("from_date") > s("to_date"))
                .then(|| "from_date and to_date must be dates (yyyyMMdd), from ≤ to".to_string())
        });
    let base = TransactionListResponse {
        bank_tran_id: s("bank_tran_id").to_string(),
        bank_tran_date: st.today(),
        bank_code_tran: BANK_CODE.into(),
        fintech_use_num: s("fintech_use_num").to_string(),
        ..Default::default()
    };
    if let Some(why) = why {
        return reply(
            StatusCode::OK,
            base,
            header(&st, "A0004", &format_error(&why)),
        );
    }
    let idx = match own_account(&st, &grant, s("fintech_use_num")) {
        Ok(i) => i,
        Err(why) => return reply(StatusCode::OK, base, header(&st, "A0304", &why)),
    };
    let c = &st.customers[idx];
    let mut list: Vec<Transaction> = st
        .transfers
        .values()
        .filter(|t| t.customer.as_deref() == Some(c.name.as_str()))
        .filter(|t| t.state == TransferState::Committed)
        .filter(|t| (s("from_date")..=s("to_date")).contains(&t.bank_tran_date.as_str()))
        .filter(|t| match s("inquiry_type") {
            "I" => t.kind == TransferKind::Deposit,
            "O" => t.kind == TransferKind::Withdraw,
            _ => true,
        })
        .map(|t| Transaction {
            tran_date: t.bank_tran_date.clone(),
            tran_time: t.time.clone(),
            inout_type: match t.kind {
                TransferKind::Withdraw => "출금",
                TransferKind::Deposit => "입금",
            }
            .into(),
            tran_type: "오픈뱅킹".into(),
            print_content: t.print_content.clone(),
            tran_amt: t.amount.to_string(),
            after_balance_amt: t.after_balance.to_string(),
            branch_name: "오픈은행 본점".into(),
        })
        .collect();
    list.sort_by(|a, b| (&a.tran_date, &a.tran_time).cmp(&(&b.tran_date, &b.tran_time)));
    if s("sort_order") == "D" {
        list.reverse();
    }
    let body = TransactionListResponse {
        bank_rsp_code: "000".into(),
        bank_name: c.bank_name.clone(),
        balance_amt: c.balance.to_string(),
        page_record_cnt: list.len().to_string(),
        next_page_yn: "N".into(),
        res_list: list,
        ..base
    };
    reply(StatusCode::OK, body, header(&st, "A0000", ""))
}

/// `POST /v2.0/inquiry/real_name`: is `account_num` at `bank_code_std` held by the person
/// born on `account_holder_info` (`YYMMDD`, with `account_holder_info_type` " ")? An unknown
/// account is bank code 412, another holder 815 (docs §6.2), both under A0002.
pub(crate) async fn real_name(
    AxState(app): AxState<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = app.lock();
    let grant = match require(&st, &headers, "oob") {
        Ok(g) => g,
        Err(r) => {
            return reply(
                r.status,
                RealNameResponse::default(),
                header(&st, r.code, &r.message),
            )
        }
    };
    let obj = match json_body(&headers, &body) {
        Ok(o) => o,
        Err(why) => {
            return reply(
                StatusCode::OK,
                RealNameResponse::default(),
                header(&st, "A0004", &format_error(&why)),
            )
        }
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default();
    let why = check(&obj, fields::REAL_NAME)
        .or_else(|| check_tran_dtime(s("tran_dtime"), &st.now))
        .or_else(|| bank_tran_id_of(&grant, s("bank_tran_id")))
        .or_else(|| {
            (s("account_holder_info_type") != " ")
                .then(|| {
                    "account_holder_info_type must be \" \" (a birth date, YYMMDD); other kinds are not served here".to_string()
                })
        })
        .or_else(|| {
            (s("account_holder_info").len() != 6)
                .then(|| "account_holder_info must be the birth date YYMMDD".to_string())
        });
    let mut body = RealNameResponse {
        bank_tran_id: s("bank_tran_id").to_string(),
        bank_tran_date: st.today(),
        bank_code_tran: s("bank_code_std").to_string(),
        bank_code_std: s("bank_code_std").to_string(),
        account_num: s("account_num").to_string(),
        account_holder_info_type: s("account_holder_info_type").to_string(),
        account_holder_info: s("account_holder_info").to_string(),
        ..Default::default()
    };
    if let Some(why) = why {
        return reply(
            StatusCode::OK,
            body,
            header(&st, "A0004", &format_error(&why)),
        );
    }
    let holder = st
        .customers
        .iter()
        .find(|c| c.bank_code_std == s("bank_code_std") && c.account_num == s("account_num"));
    let (code, bank_code, bank_msg) = match holder {
        None => ("A0002", "412", "계좌없음 (no such account)"),
        Some(c) if c.birth_date() != s("account_holder_info") => (
            "A0002",
            "815",
            "실명번호 불일치 (the holder's details do not match)",
        ),
        Some(c) => {
            body.bank_name = c.bank_name.clone();
            body.account_holder_name = c.name.clone();
            ("A0000", "000", "")
        }
    };
    body.bank_rsp_code = bank_code.into();
    body.bank_rsp_message = bank_msg.into();
    let message = if code == "A0000" {
        ""
    } else {
        "참가기관 에러"
    };
    reply(StatusCode::OK, body, header(&st, code, message))
}
