//! The payRequest side of the sandbox (seed `001_…`): pay from a registered card or account,
//! with the seed's rules — account or card; check card/account: linked balance; credit card:
//! limit, and on the billing day the linked balance too — plus de-duplication on
//! `X-Request-Id` and the status query.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Datelike;

use super::faults::{FaultKind, FaultOn, KillSwitch};
use super::openbanking::ledger_result;
use super::server::{deliver, App};
use super::state::{record_key, CardKind, LedgerEntry, PayRecord, State};
use crate::protocol::payrequest::{
    codes, PayError, PayRequest, PayResponse, PayStatus, REQUEST_ID_HEADER,
};

type PayResult = (StatusCode, Result<PayResponse, PayError>);

fn into_response(r: PayResult) -> Response {
    match r {
        (s, Ok(p)) => (s, Json(p)).into_response(),
        (s, Err(e)) => (s, Json(e)).into_response(),
    }
}

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> PayResult {
    (
        status,
        Err(PayError {
            code: code.into(),
            message: message.into(),
        }),
    )
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(REQUEST_ID_HEADER)?.to_str().ok()?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn price_of(body: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("productPrice").and_then(|p| p.as_u64()))
        .unwrap_or(0)
}

/// `(code, message, status)` of a `reply` fault on payRequest (default status 400).
fn reply_of(f: Option<&FaultKind>) -> (String, String, StatusCode) {
    match f {
        Some(FaultKind::Reply {
            code,
            rsp_code,
            message,
            status,
            ..
        }) => (
            code.clone()
                .or_else(|| rsp_code.clone())
                .unwrap_or_default(),
            message.clone().unwrap_or_else(|| "sandbox fault".into()),
            status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::BAD_REQUEST),
        ),
        _ => (String::new(), String::new(), StatusCode::BAD_REQUEST),
    }
}

pub(crate) async fn pay(
    AxState(app): AxState<Arc<App>>,
    Extension(kill): Extension<KillSwitch>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = app.take_fault(FaultOn::Pay);
    let label = fault.as_ref().map(FaultKind::label);
    let normal = if fault.as_ref().is_none_or(FaultKind::processes) {
        Some(app.with_state(|st| process_pay(st, &headers, &body, label.as_deref())))
    } else {
        app.with_state(|st| not_processed(st, &headers, &body, fault.as_ref()));
        None
    };
    deliver(
        fault.as_ref(),
        &kill,
        || match normal {
            Some(r) => into_response(r),
            None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        || {
            let (code, message, status) = reply_of(fault.as_ref());
            (status, Json(PayError { code, message })).into_response()
        },
    )
    .await
}

/// Fault before the backend saw the request: a ledger line; for `reply`, a declined record
/// (the backend answered, the id is taken); otherwise the id stays free for a retry.
fn not_processed(st: &mut State, headers: &HeaderMap, body: &[u8], fault: Option<&FaultKind>) {
    let id = request_id(headers).unwrap_or_default();
    let result = FaultKind::unprocessed_result(fault);
    let date = st.today();
    let key = record_key(&date, &id);
    if matches!(fault, Some(FaultKind::Reply { .. }))
        && !id.is_empty()
        && !st.pays.contains_key(&key)
    {
        let (code, message, _) = reply_of(fault);
        st.pays.insert(
            key,
            PayRecord {
                date,
                approved: false,
                code,
                message,
                payment: None,
            },
        );
    }
    st.record(LedgerEntry {
        seq: 0,
        protocol: "payrequest".into(),
        bank_tran_id: id,
        amount: price_of(body),
        fintech_use_num: None,
        customer: None,
        result,
        committed: false,
        at: String::new(),
    });
}

fn process_pay(st: &mut State, headers: &HeaderMap, body: &[u8], fault: Option<&str>) -> PayResult {
    let mut entry = LedgerEntry {
        seq: 0,
        protocol: "payrequest".into(),
        bank_tran_id: request_id(headers).unwrap_or_default(),
        amount: price_of(body),
        fintech_use_num: None,
        customer: None,
        result: String::new(),
        committed: false,
        at: String::new(),
    };
    let r = decide_pay(st, headers, body, &mut entry);
    let (base, committed) = match &r.1 {
        Ok(_) => ("APPROVED".to_string(), true),
        Err(e) => (e.code.clone(), false),
    };
    entry.committed = committed;
    entry.result = ledger_result(&base, "APPROVED", committed, fault);
    st.record(entry);
    r
}

fn decide_pay(
    st: &mut State,
    headers: &HeaderMap,
    body: &[u8],
    entry: &mut LedgerEntry,
) -> PayResult {
    let Some(id) = request_id(headers) else {
        return err(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("header {REQUEST_ID_HEADER} is required"),
        );
    };
    let req: PayRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return err(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                format!("bad JSON: {e}"),
            )
        }
    };
    // De-duplicated within the business day, like a `bank_tran_id`.
    let date = st.today();
    let key = record_key(&date, &id);
    if st.pays.contains_key(&key) {
        return err(
            StatusCode::CONFLICT,
            codes::DUPLICATE_REQUEST,
            "request id already used; the first request stands — query its status",
        );
    }
    // From here the id is taken: every outcome is recorded for the status query.
    let outcome = decide_payment(st, &req, entry);
    let record = match &outcome.1 {
        Ok(p) => PayRecord {
            date: date.clone(),
            approved: true,
            code: String::new(),
            message: String::new(),
            payment: Some(p.clone()),
        },
        Err(e) => PayRecord {
            date: date.clone(),
            approved: false,
            code: e.code.clone(),
            message: e.message.clone(),
            payment: None,
        },
    };
    st.pays.insert(key, record);
    outcome
}

fn decide_payment(st: &mut State, req: &PayRequest, entry: &mut LedgerEntry) -> PayResult {
    let missing = [
        ("identityNumber", req.identity_number.is_empty()),
        ("orgCode", req.org_code.is_empty()),
        ("accountNumber", req.account_number.is_empty()),
        ("productPrice", req.product_price == 0),
    ]
    .into_iter()
    .find(|(_, m)| *m);
    if let Some((field, _)) = missing {
        return err(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("{field} is required (productPrice > 0)"),
        );
    }
    let Some(idx) = st.customer_idx(|c| {
        c.identity_number.as_deref() == Some(req.identity_number.as_str())
            && c.org_code.as_deref() == Some(req.org_code.as_str())
            && (c.account_number.as_deref() == Some(req.account_number.as_str())
                || c.card
                    .as_ref()
                    .is_some_and(|k| k.number == req.account_number))
    }) else {
        return err(
            StatusCode::NOT_FOUND,
            codes::UNKNOWN_CUSTOMER,
            "no customer with this identityNumber, orgCode and accountNumber",
        );
    };
    let price = req.product_price;
    let now = st.now;
    let c = &mut st.customers[idx];
    entry.customer = Some(c.name.clone());
    let insufficient = || {
        err(
            StatusCode::PAYMENT_REQUIRED,
            codes::INSUFFICIENT_BALANCE,
            "잔액부족 (insufficient balance in the linked account)",
        )
    };
    // 1. card or account? 2. credit or check? (seed flow charts)
    match &c.card {
        Some(card) if !card.active => {
            return err(
                StatusCode::FORBIDDEN,
                codes::CARD_INACTIVE,
                "카드 비활성 (card inactive)",
            )
        }
        Some(card) if card.kind == CardKind::Credit => {
            if c.credit_used.saturating_add(price) > card.limit {
                return err(
                    StatusCode::PAYMENT_REQUIRED,
                    codes::CREDIT_LIMIT_EXCEEDED,
                    "한도초과 (credit limit exceeded)",
                );
            }
            // On the billing day the bill is settled from the linked account, so the seed
            // checks that account's balance too.
            if card.billing_day == Some(now.day()) && c.balance < price {
                return insufficient();
            }
            c.credit_used += price;
        }
        // Check card or plain account: the linked account pays now.
        _ => {
            if c.balance < price {
                return insufficient();
            }
            c.balance -= price;
        }
    }
    (
        StatusCode::OK,
        Ok(PayResponse {
            identity_number: req.identity_number.clone(),
            org_code: req.org_code.clone(),
            account_number: req.account_number.clone(),
            product_id: req.product_id.clone(),
            product_name: req.product_name.clone(),
            product_price: price,
            product_trans_date: now.format("%Y-%m-%d %H:%M:%S").to_string(),
        }),
    )
}

pub(crate) async fn status(
    AxState(app): AxState<Arc<App>>,
    Extension(kill): Extension<KillSwitch>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let fault = app.take_fault(FaultOn::PayStatus);
    let id = path.map(|Path(p)| p).unwrap_or_default();
    let status = {
        let st = app.lock();
        // `?date=yyyyMMdd` names the business day of the request (default: today), since an
        // id is unique only within its day.
        let date = query
            .ok()
            .and_then(|Query(q)| q.get("date").cloned())
            .unwrap_or_else(|| st.today());
        match st.pays.get(&record_key(&date, &id)) {
            None => PayStatus {
                request_id: id.clone(),
                status: "not_found".into(),
                code: String::new(),
                message: "no request with this id was received".into(),
                payment: None,
            },
            Some(r) => PayStatus {
                request_id: id.clone(),
                status: if r.approved { "approved" } else { "declined" }.into(),
                code: r.code.clone(),
                message: r.message.clone(),
                payment: r.payment.clone(),
            },
        }
    };
    deliver(
        fault.as_ref(),
        &kill,
        || (StatusCode::OK, Json(status)).into_response(),
        || {
            let (code, message, status) = reply_of(fault.as_ref());
            (status, Json(PayError { code, message })).into_response()
        },
    )
    .await
}
