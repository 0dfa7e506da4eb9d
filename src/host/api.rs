//! The terminal API over HTTP (axum): sign-in of each request (HTTP Basic, the secret hashed
//! at rest and compared in constant time, failed sign-ins rate-limited per terminal), the
//! `/v1` routes, stable error codes, and the OpenAPI document.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::OpenApi;

use super::charge::{ChargeError, Charges};
use super::customers::{credential_hash, Customers};
use crate::backend::enrolment::{self, EnrolError};
use crate::backend::BackendSettings;
use crate::protocol::host::{
    codes, ChargeReply, ChargeRequest, ChargeStatus, CodeReply, CodeRequest, EnrolReply,
    ErrorReply, CHARGES_PATH, CHARGE_PATH, CODES_PATH, ENROL_CALLBACK_PATH, ENROL_PATH,
    OPENAPI_PATH, TERMINAL_PATH,
};
use crate::sale::PaymentMeans;
use crate::scan::OneTimeCode;

/// How long a code the host issues lives (the terminals' limit is 180 s).
const CODE_LIFETIME_S: i64 = 180;

/// Failed sign-ins a terminal may make within [`LOCKOUT`] before it is refused for the rest
/// of it, right secret or not.
const MAX_FAILED_SIGN_INS: u32 = 5;
const LOCKOUT: Duration = Duration::from_secs(60);

pub struct Api {
    pub charges: Charges,
    issuer: Issuer,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// What the host needs for its customers: their grants, the bank's consent flow, its key.
pub struct Issuer {
    pub customers: Arc<Customers>,
    pub bank: BackendSettings,
    /// Where the bank sends a customer back to (`…/v1/enrol/callback`).
    pub public_url: String,
    pub signing_key: ed25519_dalek::SigningKey,
    pub signing_key_id: u8,
}

impl Issuer {
    fn callback(&self) -> String {
        format!("{}{ENROL_CALLBACK_PATH}", self.public_url)
    }

    fn bank_url(&self) -> Result<reqwest::Url, ApiError> {
        reqwest::Url::parse(&self.bank.url).map_err(|e| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UNAVAILABLE,
                format!("the bank's URL: {e}"),
            )
        })
    }

    /// A client that does not follow redirects (the consent's answer is one) or proxies.
    fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(self.bank.timeout)
            .connect_timeout(self.bank.connect_timeout)
            .build()
            .unwrap_or_default()
    }
}

impl Api {
    pub fn new(charges: Charges, issuer: Issuer) -> Api {
        Api {
            charges,
            issuer,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Renews the customers' grants that expire before `horizon_unix`.
    pub async fn renew_grants(&self, horizon_unix: i64) -> Result<usize, super::DbError> {
        let i = &self.issuer;
        let Ok(base) = reqwest::Url::parse(&i.bank.url) else {
            return Ok(0);
        };
        let http = i.http();
        let mut renewed = 0;
        for due in i.customers.due(horizon_unix).await? {
            let secret = &i.bank.client_secret;
            match enrolment::refresh(&http, &base, &i.bank.client_id, secret, &due.refresh_token)
                .await
            {
                Ok(grant) => {
                    let now = self.charges.clock.now().timestamp();
                    i.customers.keep_grant(&grant, None, None, now).await?;
                    renewed += 1;
                }
                Err(e) => {
                    tracing::warn!(user_seq_no = %due.user_seq_no, error = %e, "grant not renewed")
                }
            }
        }
        Ok(renewed)
    }
}

pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route(CHARGES_PATH, axum::routing::post(post_charge))
        .route(CHARGE_PATH, get(get_charge))
        .route(TERMINAL_PATH, get(get_terminal))
        .route(ENROL_PATH, get(get_enrol))
        .route(ENROL_CALLBACK_PATH, get(get_enrol_callback))
        .route(CODES_PATH, axum::routing::post(post_code))
        .route(OPENAPI_PATH, get(openapi))
        .with_state(api)
}

/// A refusal, as its HTTP status and stable code.
pub struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(status, code, message) = self;
        (
            status,
            Json(ErrorReply {
                error: code.into(),
                message,
            }),
        )
            .into_response()
    }
}

impl From<ChargeError> for ApiError {
    fn from(e: ChargeError) -> ApiError {
        match e {
            ChargeError::BadRequest(m) => ApiError(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, m),
            e @ ChargeError::PaymentIdReused(_) => ApiError(
                StatusCode::CONFLICT,
                codes::PAYMENT_ID_REUSED,
                e.to_string(),
            ),
            ChargeError::Db(e) => {
                tracing::error!(error = %e, "host database");
                ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::UNAVAILABLE,
                    e.to_string(),
                )
            }
        }
    }
}

/// The terminal a request comes from, once its credentials are proven.
struct SignedIn {
    id: String,
    name: String,
}

async fn sign_in(api: &Api, headers: &HeaderMap) -> Result<SignedIn, ApiError> {
    let unauthorized = |m: &str| ApiError(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, m.into());
    let (id, secret) = basic_credentials(headers)
        .ok_or_else(|| unauthorized("sign in with HTTP Basic: terminal id and secret"))?;
    if api.locked_out(&id) {
        return Err(ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
            format!("too many failed sign-ins: wait {} s", LOCKOUT.as_secs()),
        ));
    }
    let row = api
        .charges
        .db
        .terminal(&id)
        .await
        .map_err(ChargeError::from)?;
    let given = format!("{:x}", Sha256::digest(secret.as_bytes()));
    // Compared in constant time, and hashed even for an unknown id, so timing tells nothing.
    let known = row.as_ref().map(|r| r.secret_hash.as_str()).unwrap_or("");
    let matches: bool = given.as_bytes().ct_eq(known.as_bytes()).into();
    match row {
        Some(r) if matches => {
            api.failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            if r.revoked {
                return Err(ApiError(
                    StatusCode::FORBIDDEN,
                    codes::REVOKED,
                    "this terminal was revoked".into(),
                ));
            }
            Ok(SignedIn {
                id: r.id,
                name: r.name,
            })
        }
        _ => {
            api.note_failure(&id);
            tracing::warn!(terminal = %id, "failed sign-in");
            Err(unauthorized("unknown terminal or wrong secret"))
        }
    }
}

impl Api {
    fn locked_out(&self, id: &str) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(id)
            .is_some_and(|(n, since)| *n >= MAX_FAILED_SIGN_INS && since.elapsed() < LOCKOUT)
    }

    fn note_failure(&self, id: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // The map is bounded by forgetting stale entries whenever it grows large.
        if failures.len() > 10_000 {
            failures.retain(|_, (_, since)| since.elapsed() < LOCKOUT);
        }
        let entry = failures
            .entry(id.to_string())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= LOCKOUT {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    (!id.is_empty() && id.len() <= 64).then(|| (id.to_string(), secret.to_string()))
}

/// Charge, idempotent on the terminal's payment id.
#[utoipa::path(post, path = "/v1/charges", request_body = ChargeRequest,
    security(("terminal" = [])),
    responses(
        (status = 200, description = "The host's decision", body = ChargeReply),
        (status = 400, description = "BAD_REQUEST: malformed; nothing was charged", body = ErrorReply),
        (status = 401, description = "UNAUTHORIZED", body = ErrorReply),
        (status = 403, description = "TERMINAL_REVOKED", body = ErrorReply),
        (status = 409, description = "PAYMENT_ID_REUSED for a different request", body = ErrorReply),
        (status = 429, description = "RATE_LIMITED after failed sign-ins", body = ErrorReply),
        (status = 503, description = "UNAVAILABLE: the host's database; the outcome is unknown, ask for the status", body = ErrorReply),
    ))]
async fn post_charge(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Result<Json<ChargeRequest>, JsonRejection>,
) -> Result<Json<ChargeReply>, ApiError> {
    let terminal = sign_in(&api, &headers).await?;
    let Json(req) =
        body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, e.body_text()))?;
    let reply = api.charges.charge(&terminal.id, &req).await?;
    tracing::info!(terminal = %terminal.name, payment = %req.payment_id, status = reply.status.as_str(), code = %reply.code, "charge");
    Ok(Json(reply))
}

/// What became of a charge (the host asks the bank when it does not know yet).
#[utoipa::path(get, path = "/v1/charges/{payment_id}",
    params(("payment_id" = String, Path, description = "The terminal's id of the payment")),
    security(("terminal" = [])),
    responses(
        (status = 200, description = "The charge's status", body = ChargeReply),
        (status = 404, description = "No charge of this id: status not_found", body = ChargeReply),
        (status = 401, description = "UNAUTHORIZED", body = ErrorReply),
        (status = 503, description = "UNAVAILABLE", body = ErrorReply),
    ))]
async fn get_charge(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
) -> Result<Response, ApiError> {
    let terminal = sign_in(&api, &headers).await?;
    let reply = api.charges.status(&terminal.id, &payment_id).await?;
    let status = if reply.status == ChargeStatus::NotFound {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok((status, Json(reply)).into_response())
}

/// Who the host takes the caller to be.
#[utoipa::path(get, path = "/v1/terminal", security(("terminal" = [])),
    responses((status = 200, description = "The terminal's id and name"), (status = 401, body = ErrorReply)))]
async fn get_terminal(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let t = sign_in(&api, &headers).await?;
    Ok(Json(
        serde_json::json!({ "terminal_id": t.id, "name": t.name }),
    ))
}

/// The query of `GET /v1/enrol`.
#[derive(serde::Deserialize)]
struct EnrolQuery {
    /// The testbed's non-interactive approve as this sandbox customer.
    sandbox_user: Option<String>,
}

/// The 3-legged flow, started by the customer's app: a redirect to the bank's consent page,
/// which sends the customer back to the host's callback.
async fn get_enrol(
    State(api): State<Arc<Api>>,
    axum::extract::Query(q): axum::extract::Query<EnrolQuery>,
) -> Result<Response, ApiError> {
    let i = &api.issuer;
    let state = format!("{:032x}", rand::random::<u128>());
    let now_ms = api.charges.clock.now().timestamp_millis();
    i.customers
        .start_enrolment(&state, now_ms)
        .await
        .map_err(ChargeError::from)?;
    let url = enrolment::authorize_url(
        &i.bank_url()?,
        &i.bank.client_id,
        &i.callback(),
        &state,
        q.sandbox_user.as_deref(),
    )
    .map_err(|e| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            e.to_string(),
        )
    })?;
    Ok(axum::response::Redirect::to(url.as_str()).into_response())
}

#[derive(serde::Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

/// The bank sends the customer back here with a code: the host exchanges it for the
/// customer's tokens, keeps them sealed, and gives the app its credential.
async fn get_enrol_callback(
    State(api): State<Arc<Api>>,
    axum::extract::Query(q): axum::extract::Query<CallbackQuery>,
) -> Result<Json<EnrolReply>, ApiError> {
    let i = &api.issuer;
    let bad = |m: &str| ApiError(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, m.into());
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(bad(
            "the bank sent no code and state: the consent was not given",
        ));
    };
    let now = api.charges.clock.now();
    if !i
        .customers
        .finish_enrolment(&state, now.timestamp_millis())
        .await
        .map_err(ChargeError::from)?
    {
        return Err(bad(
            "this consent is not one the host started, or it is over 10 minutes old",
        ));
    }
    let grant = enrolment::exchange_code(
        &i.http(),
        &i.bank_url()?,
        &i.bank.client_id,
        &i.bank.client_secret,
        &code,
        &i.callback(),
    )
    .await
    .map_err(|e| match e {
        EnrolError::Unreachable(_) => ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            e.to_string(),
        ),
        _ => ApiError(
            StatusCode::BAD_GATEWAY,
            codes::ENROLMENT_REFUSED,
            e.to_string(),
        ),
    })?;
    let credential =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    i.customers
        .keep_grant(
            &grant,
            None,
            Some(&credential_hash(&credential)),
            now.timestamp(),
        )
        .await
        .map_err(ChargeError::from)?;
    tracing::info!(user_seq_no = %grant.user_seq_no, "customer enrolled");
    Ok(Json(EnrolReply {
        customer_id: grant.user_seq_no,
        credential,
        accounts: grant.fintech_use_nums,
    }))
}

/// A one-time code for the signed-in customer's account, signed with the host's key.
#[utoipa::path(post, path = "/v1/codes", request_body = CodeRequest, security(("customer" = [])),
    responses(
        (status = 200, description = "A code to show at the till", body = CodeReply),
        (status = 400, description = "BAD_REQUEST: not one of the customer's accounts", body = ErrorReply),
        (status = 401, description = "UNAUTHORIZED", body = ErrorReply),
        (status = 429, description = "RATE_LIMITED", body = ErrorReply),
    ))]
async fn post_code(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: Option<Json<CodeRequest>>,
) -> Result<Json<CodeReply>, ApiError> {
    let unauthorized = || {
        ApiError(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            "unknown customer or wrong credential".into(),
        )
    };
    let (id, credential) = basic_credentials(&headers).ok_or_else(unauthorized)?;
    let limit_key = format!("customer:{id}");
    if api.locked_out(&limit_key) {
        return Err(ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
            format!("too many failed sign-ins: wait {} s", LOCKOUT.as_secs()),
        ));
    }
    let i = &api.issuer;
    let Some(accounts) = i
        .customers
        .sign_in(&id, &credential)
        .await
        .map_err(ChargeError::from)?
    else {
        api.note_failure(&limit_key);
        return Err(unauthorized());
    };
    let asked = body.and_then(|Json(b)| b.fintech_use_num);
    let account = match asked {
        Some(a) if accounts.contains(&a) => a,
        Some(_) => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                "not one of this customer's accounts".into(),
            ))
        }
        None => accounts.into_iter().next().ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                "this customer has no account".into(),
            )
        })?,
    };
    let now = api.charges.clock.now().timestamp();
    let code = OneTimeCode {
        key_id: i.signing_key_id,
        issued_at: now,
        expires_at: now + CODE_LIFETIME_S,
        nonce: rand::random(),
        means: PaymentMeans::FintechNumber {
            fintech_use_num: account,
        },
    };
    let text = crate::scan::try_encode_one_time(&code, &i.signing_key).map_err(|e| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            e.to_string(),
        )
    })?;
    Ok(Json(CodeReply {
        code: text,
        expires_at: code.expires_at,
    }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "qrpos host: terminal API", version = "1",
         description = "Charges by the terminal's own payment id (idempotent) and their status. Every request signs in with HTTP Basic: terminal id and secret."),
    paths(post_charge, get_charge, get_terminal, post_code),
    components(schemas(ChargeRequest, ChargeReply, ChargeStatus, ErrorReply, CodeRequest, CodeReply)),
    modifiers(&BasicAuth)
)]
pub struct ApiDoc;

struct BasicAuth;

impl utoipa::Modify for BasicAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        for who in ["terminal", "customer"] {
            components
                .add_security_scheme(who, SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        }
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
