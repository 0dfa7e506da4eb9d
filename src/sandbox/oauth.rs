//! The testbed's OAuth 2.0, as KFTC runs it (docs §1): the consent page of the 3-legged flow
//! (`GET /oauth/2.0/authorize`), the token endpoint with its three grants, and the gate every
//! API call passes: a live bearer token with the scope the API needs ([`require`]).
//!
//! Refusals use the reference's O-codes (docs §6.1, from the CGCII header): `O0001` with an
//! `error_code` for a bad authorize or token request (`3000103` missing or bad parameter,
//! `3000201` bad client credentials, `3000114` redirect URI mismatch, `3000115` scope not
//! allowed, `3000116` bad response or grant type, `3000117` bad or used code, `3000118` bad
//! refresh token), `O0002` an unknown token, `O0003` an expired one, `O0005` a token whose
//! scope does not cover the API. The HTTP statuses (400, 401, 401, 403) are our choice
//! [inferred]: the reference only says that the body carries the code.
//!
//! The app registered at this testbed is [`DEMO_CLIENT_ID`]; its callback may be any
//! loopback URL (`http://127.0.0.1:PORT/…` or `http://localhost:PORT/…`), as RFC 8252 §7.3
//! lets native apps register one, so a test or a host on a free port can receive the code.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Extension, Form, Query, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::faults::{FaultKind, FaultOn, KillSwitch};
use super::server::{deliver, App};
use super::state::{AuthCode, Grant, RefreshGrant, State};
use super::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_INSTITUTION_CODE};

/// Access tokens live ≈ 90 days, as public samples show (`expires_in` 7775999).
pub(crate) const ACCESS_TOKEN_LIFETIME_S: i64 = 7_775_999;
/// Refresh tokens: longer than the access token [unverified; the reference gives none].
pub(crate) const REFRESH_TOKEN_LIFETIME_S: i64 = 2 * ACCESS_TOKEN_LIFETIME_S;
/// An authorization code must be exchanged within this many seconds.
pub(crate) const AUTH_CODE_LIFETIME_S: i64 = 600;
/// The scopes a user can grant; `oob` is the institution's alone.
const USER_SCOPES: [&str; 3] = ["login", "inquiry", "transfer"];

/// A refusal at the gate: an O-code, its HTTP status and words (plus `error_code` for O0001).
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub error_code: Option<&'static str>,
    pub message: String,
}

impl Refusal {
    fn o0001(error_code: &'static str, message: impl Into<String>) -> Refusal {
        let status = if error_code == "3000201" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        Refusal {
            status,
            code: "O0001",
            error_code: Some(error_code),
            message: format!("인증요청 거부 ({error_code}): {}", message.into()),
        }
    }

    /// The body: `rsp_code`, `rsp_message` and, for O0001, `error_code`.
    pub(crate) fn body(&self) -> serde_json::Value {
        let mut b = json!({"rsp_code": self.code, "rsp_message": self.message});
        if let Some(e) = self.error_code {
            b["error_code"] = e.into();
        }
        b
    }

    pub(crate) fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

fn new_secret() -> String {
    format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The grant behind the request's bearer token, if it is live and has `scope`.
pub(crate) fn require(st: &State, headers: &HeaderMap, scope: &str) -> Result<Grant, Refusal> {
    let refuse = |status, code, message: String| Refusal {
        status,
        code,
        error_code: None,
        message,
    };
    let Some(token) = bearer(headers) else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "O0002",
            "Access Token 거부: no bearer token (Authorization: Bearer …)".into(),
        ));
    };
    let Some(grant) = st.grants.get(token) else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "O0002",
            "Access Token 거부: unknown access token".into(),
        ));
    };
    if st.now.timestamp() >= grant.expires_at {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "O0003",
            "Access Token 만료: the access token has expired; renew it".into(),
        ));
    }
    if !grant.has(scope) {
        let whose = match &grant.user_seq_no {
            None => "the institution's token",
            Some(_) => "this user's token",
        };
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "O0005",
            format!(
                "API 허용 거부: this API needs scope `{scope}`; {whose} has `{}`",
                grant.scopes.join(" ")
            ),
        ));
    }
    Ok(grant.clone())
}

/// The registered callback: any loopback `http` URL.
fn redirect_allowed(uri: &str) -> Option<reqwest::Url> {
    let url = reqwest::Url::parse(uri).ok()?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    (url.scheme() == "http" && loopback).then_some(url)
}

/// Space-separated scopes, each a user scope; at least one.
fn user_scopes(scope: &str) -> Result<Vec<String>, Refusal> {
    let mut scopes: Vec<String> = Vec::new();
    for s in scope.split_whitespace() {
        if !USER_SCOPES.contains(&s) {
            return Err(Refusal::o0001(
                "3000115",
                format!("scope `{s}` is not one a user can grant (login inquiry transfer)"),
            ));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    if scopes.is_empty() {
        return Err(Refusal::o0001("3000103", "scope is required"));
    }
    Ok(scopes)
}

// ---------------------------------------------------------------- authorize

/// `GET /oauth/2.0/authorize`: checks the request, then shows the consent page; with
/// `sandbox_user=NAME` (what the page's buttons send, and what a test sends directly) the
/// sandbox customer NAME consents and the browser is sent to `redirect_uri` with `code`,
/// `scope` and `state`.
pub(crate) async fn authorize(
    AxState(app): AxState<Arc<App>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    for k in [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
    ] {
        if get(k).is_empty() {
            return Refusal::o0001("3000103", format!("{k} is required")).into_response();
        }
    }
    if get("response_type") != "code" {
        return Refusal::o0001("3000116", "response_type must be `code`").into_response();
    }
    if get("client_id") != DEMO_CLIENT_ID {
        return Refusal::o0001("3000201", "unknown client_id").into_response();
    }
    let Some(mut redirect) = redirect_allowed(get("redirect_uri")) else {
        return Refusal::o0001(
            "3000114",
            "redirect_uri is not the app's registered callback (a loopback http URL)",
        )
        .into_response();
    };
    let scopes = match user_scopes(get("scope")) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if !matches!(get("auth_type"), "" | "0" | "1" | "2") {
        return Refusal::o0001("3000103", "auth_type must be 0, 1 or 2").into_response();
    }
    let user = get("sandbox_user");
    if user.is_empty() {
        return consent_page(&app.lock(), &q, &scopes);
    }
    let code = new_secret();
    let issued = app.with_state(|st| {
        let idx = st.customer_idx(|c| c.name == user && c.fintech_use_num.is_some())?;
        let user_seq_no = st.user_seq_no(idx);
        st.auth_codes.insert(
            code.clone(),
            AuthCode {
                user_seq_no,
                scopes: scopes.clone(),
                client_id: DEMO_CLIENT_ID.into(),
                redirect_uri: get("redirect_uri").to_string(),
                expires_at: st.now.timestamp() + AUTH_CODE_LIFETIME_S,
            },
        );
        Some(())
    });
    if issued.is_none() {
        return Refusal::o0001(
            "3000103",
            format!("no open-banking customer {user:?} at this testbed"),
        )
        .into_response();
    }
    redirect
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", get("state"));
    (
        StatusCode::FOUND,
        [(header::LOCATION, redirect.to_string())],
        "",
    )
        .into_response()
}

/// Plain HTML: one button per open-banking customer, each a GET form that repeats the
/// request with `sandbox_user`. A person clicks; a test reads the same links.
fn consent_page(st: &State, q: &HashMap<String, String>, scopes: &[String]) -> Response {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let hidden: String = q
        .iter()
        .filter(|(k, _)| k.as_str() != "sandbox_user")
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let buttons: String = st
        .customers
        .iter()
        .filter(|c| c.fintech_use_num.is_some())
        .map(|c| {
            format!(
                "<form method=\"get\" action=\"/oauth/2.0/authorize\">{hidden}\
                 <button name=\"sandbox_user\" value=\"{n}\">{n} ({bank} {acct}) 동의 / agree</button></form>\n",
                n = esc(&c.name),
                bank = esc(&c.bank_name),
                acct = esc(&c.masked_account()),
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
         <title>오픈뱅킹 테스트베드: 동의 (qrpos sandbox consent)</title></head><body>\
         <h1>오픈뱅킹 서비스 동의</h1>\
         <p>The app <b>{client}</b> asks for: <b>{scopes}</b>. Sign in as a sandbox customer to agree.</p>\n\
         {buttons}</body></html>",
        client = esc(q.get("client_id").map(String::as_str).unwrap_or_default()),
        scopes = esc(&scopes.join(" ")),
    ))
    .into_response()
}

// ---------------------------------------------------------------- token

/// `POST /oauth/2.0/token` (form-encoded): `authorization_code`, `client_credentials`
/// (scope `oob`) or `refresh_token`.
pub(crate) async fn token(
    AxState(app): AxState<Arc<App>>,
    Extension(kill): Extension<KillSwitch>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let fault = app.take_fault(FaultOn::Token);
    let normal = if fault.as_ref().is_none_or(FaultKind::processes) {
        Some(app.with_state(|st| issue(st, &headers, form)))
    } else {
        None
    };
    deliver(
        fault.as_ref(),
        &kill,
        || match normal {
            Some(Ok(body)) => (StatusCode::OK, Json(body)).into_response(),
            Some(Err(r)) => r.into_response(),
            None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        || {
            let (code, msg, status) = super::openbanking::reply_fields(fault.as_ref());
            (
                status.unwrap_or(StatusCode::UNAUTHORIZED),
                Json(json!({"rsp_code": code, "rsp_message": msg})),
            )
                .into_response()
        },
    )
    .await
}

fn issue(
    st: &mut State,
    headers: &HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<serde_json::Value, Refusal> {
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (true, Ok(Form(f))) = (form_encoded, form) else {
        return Err(Refusal::o0001(
            "3000103",
            "the token request is a form (application/x-www-form-urlencoded)",
        ));
    };
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    for k in ["grant_type", "client_id", "client_secret"] {
        if get(k).is_empty() {
            return Err(Refusal::o0001("3000103", format!("{k} is required")));
        }
    }
    if get("client_id") != DEMO_CLIENT_ID || get("client_secret") != DEMO_CLIENT_SECRET {
        return Err(Refusal::o0001("3000201", "bad client credentials"));
    }
    let now = st.now.timestamp();
    // Long-expired grants open nothing: drop them so the snapshot does not grow. A month
    // of grace keeps "expired" (O0003) apart from "unknown" (O0002) for a while.
    let keep = |expires_at: i64| expires_at + 30 * 86_400 > now;
    st.grants.retain(|_, g| keep(g.expires_at));
    st.refresh_tokens.retain(|_, r| keep(r.expires_at));
    st.auth_codes.retain(|_, c| c.expires_at > now);
    match get("grant_type") {
        "client_credentials" => {
            if get("scope") != "oob" {
                return Err(Refusal::o0001(
                    "3000115",
                    "client_credentials is for scope `oob` only",
                ));
            }
            let access = new_secret();
            st.grants.insert(
                access.clone(),
                Grant {
                    client_use_code: DEMO_INSTITUTION_CODE.into(),
                    user_seq_no: None,
                    scopes: vec!["oob".into()],
                    expires_at: now + ACCESS_TOKEN_LIFETIME_S,
                },
            );
            Ok(json!({
                "access_token": access, "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME_S, "scope": "oob",
                "client_use_code": DEMO_INSTITUTION_CODE,
            }))
        }
        "authorization_code" => {
            for k in ["code", "redirect_uri"] {
                if get(k).is_empty() {
                    return Err(Refusal::o0001("3000103", format!("{k} is required")));
                }
            }
            // One use: the code is gone whatever happens next (RFC 6749 §4.1.2).
            let Some(code) = st.auth_codes.remove(get("code")) else {
                return Err(Refusal::o0001("3000117", "unknown or already used code"));
            };
            if code.expires_at <= now {
                return Err(Refusal::o0001("3000117", "the code has expired"));
            }
            if code.redirect_uri != get("redirect_uri") || code.client_id != get("client_id") {
                return Err(Refusal::o0001(
                    "3000114",
                    "redirect_uri differs from the one the code was issued for",
                ));
            }
            Ok(user_tokens(st, code.user_seq_no, code.scopes))
        }
        "refresh_token" => {
            if get("refresh_token").is_empty() {
                return Err(Refusal::o0001("3000103", "refresh_token is required"));
            }
            let Some(old) = st.refresh_tokens.get(get("refresh_token")).cloned() else {
                return Err(Refusal::o0001("3000118", "unknown refresh token"));
            };
            if old.expires_at <= now {
                return Err(Refusal::o0001("3000118", "the refresh token has expired"));
            }
            // A narrower scope may be asked for, never a wider one.
            let scopes = if get("scope").is_empty() {
                old.scopes.clone()
            } else {
                let asked = user_scopes(get("scope"))?;
                if let Some(extra) = asked.iter().find(|s| !old.scopes.contains(s)) {
                    return Err(Refusal::o0001(
                        "3000115",
                        format!("scope `{extra}` was not granted"),
                    ));
                }
                asked
            };
            // Rotated: the old refresh token is spent.
            st.refresh_tokens.remove(get("refresh_token"));
            Ok(user_tokens(st, old.user_seq_no, scopes))
        }
        other => Err(Refusal::o0001(
            "3000116",
            format!(
                "grant_type {other:?} is not one of authorization_code, client_credentials, refresh_token"
            ),
        )),
    }
}

/// A new access + refresh token pair for a user.
fn user_tokens(st: &mut State, user_seq_no: String, scopes: Vec<String>) -> serde_json::Value {
    let now = st.now.timestamp();
    let (access, refresh) = (new_secret(), new_secret());
    st.grants.insert(
        access.clone(),
        Grant {
            client_use_code: DEMO_INSTITUTION_CODE.into(),
            user_seq_no: Some(user_seq_no.clone()),
            scopes: scopes.clone(),
            expires_at: now + ACCESS_TOKEN_LIFETIME_S,
        },
    );
    st.refresh_tokens.insert(
        refresh.clone(),
        RefreshGrant {
            user_seq_no: user_seq_no.clone(),
            scopes: scopes.clone(),
            expires_at: now + REFRESH_TOKEN_LIFETIME_S,
        },
    );
    json!({
        "access_token": access, "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME_S, "refresh_token": refresh,
        "scope": scopes.join(" "), "user_seq_no": user_seq_no,
    })
}
