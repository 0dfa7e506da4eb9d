//! The `/_sandbox/…` control endpoints: ledger, balances, reset and the fault FIFO. They are
//! for tests and demos, never part of either payment API.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::faults::FaultList;
use super::server::App;
use super::state::{LedgerEntry, State};

#[derive(Serialize)]
struct Ledger {
    entries: Vec<LedgerEntry>,
}

pub(crate) async fn ledger(AxState(app): AxState<Arc<App>>) -> Json<serde_json::Value> {
    let entries = app.lock().ledger.clone();
    Json(json!(Ledger { entries }))
}

/// `{"accounts":[{"name","kind","balance","credit_used","credit_limit","fintech_use_num",…}]}`
pub(crate) async fn accounts(AxState(app): AxState<Arc<App>>) -> Json<serde_json::Value> {
    let st = app.lock();
    let accounts: Vec<_> = st
        .customers
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "kind": c.kind(),
                "balance": c.balance,
                "credit_used": c.credit_used,
                "credit_limit": c.card.as_ref().map(|k| k.limit),
                "fintech_use_num": c.fintech_use_num,
                "emv_pan": c.emv_pan,
                "identity_number": c.identity_number,
                "account_number": c.account_number,
            })
        })
        .collect();
    Json(json!({ "accounts": accounts }))
}

/// Back to the initial customers (seeds or accounts file); ledger, records and faults
/// cleared. Issued tokens survive so a running terminal is not logged out by a test reset.
pub(crate) async fn reset(AxState(app): AxState<Arc<App>>) -> Json<serde_json::Value> {
    app.faults().clear();
    app.with_state(|st| {
        let grants = std::mem::take(&mut st.grants);
        let refresh = std::mem::take(&mut st.refresh_tokens);
        *st = State::new(app.initial.clone());
        st.grants = grants;
        st.refresh_tokens = refresh;
    });
    Json(json!({ "reset": true }))
}

pub(crate) async fn list_faults(AxState(app): AxState<Arc<App>>) -> Json<FaultList> {
    Json(FaultList {
        faults: app.faults().iter().cloned().collect(),
    })
}

pub(crate) async fn add_faults(AxState(app): AxState<Arc<App>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultList>(&body) {
        Ok(list) => {
            let mut q = app.faults();
            q.extend(list.faults);
            (StatusCode::OK, Json(json!({ "pending": q.len() }))).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("bad fault list: {e}") })),
        )
            .into_response(),
    }
}

pub(crate) async fn clear_faults(AxState(app): AxState<Arc<App>>) -> Json<serde_json::Value> {
    app.faults().clear();
    Json(json!({ "pending": 0 }))
}

pub(crate) async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "no such endpoint in the qrpos sandbox" })),
    )
        .into_response()
}

/// A known path with the wrong method: the gateway's O0010 (docs §6.1).
pub(crate) async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({ "rsp_code": "O0010", "rsp_message": "HTTP method not allowed for this API" })),
    )
        .into_response()
}
