//! The terminal's side of the payment backends: the `Gateway` trait the sale flow calls, the
//! settings to reach a backend, `connect`, and the transport-error mapping both clients share.
//!
//! A gateway only *reports* what happened on the wire as an [`Answer`]; what an answer means
//! for the money is decided by the pure classifiers in `sale::outcome`, never here. The one
//! distinction made here is the one only the transport can see: whether anything can have
//! reached the backend (`NotSent`) or not (`NoReply`).

// The error of a backend call is the `Answer` itself (what the sale flow classifies), made
// once per request: its size costs nothing, and boxing it would only add indirection.
#![allow(clippy::result_large_err)]

pub mod enrolment;
mod host;
mod openbanking;
mod payrequest;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::sale::{Answer, PaymentMeans, Protocol, QueryAnswer, Won};

pub use host::HostGateway;
pub use openbanking::OpenBankingGateway;
pub use payrequest::PayRequestGateway;

/// Answer code for a payment means the chosen protocol cannot carry. Nothing is sent in that
/// case; the classifiers treat the code as unknown, so the terminal must check means/protocol
/// compatibility before sending.
pub const MEANS_UNSUPPORTED: &str = "MEANS_UNSUPPORTED";

/// Replies larger than this are not read to the end: no legitimate answer comes near it, and
/// a runaway body must not exhaust a small terminal's memory.
const MAX_REPLY_BYTES: usize = 1 << 20;

/// A value that must never be shown: client secret, access token. `Debug` and `Display`
/// print a placeholder; the value is only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value itself, for the one place it has to go (a form body, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One withdrawal as the terminal asks for it; the same value is used to send, re-send and
/// query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub bank_tran_id: String,
    /// `yyyyMMddHHmmss`, fixed at first send.
    pub tran_dtime: String,
    pub amount: Won,
    pub means: PaymentMeans,
    pub product: String,
    /// The one-time code as scanned, if the code was one (only a payment host uses it).
    pub signed_code: Option<String>,
}

/// A payment backend, whichever protocol it speaks.
#[async_trait::async_trait]
pub trait Gateway: Send + Sync {
    fn protocol(&self) -> Protocol;
    /// Sends (or re-sends, same id) a withdrawal. Never errors: every failure is an `Answer`.
    async fn withdraw(&self, w: &Withdrawal) -> Answer;
    /// Asks what became of `w`, sent on the business day `bank_tran_date` (`yyyyMMdd`);
    /// `now_dtime` (`yyyyMMddHHmmss`) is the time of this query. Only a record that matches
    /// `w` in full (id, day, amount, payer) is reported as its outcome; one that names the id
    /// but differs is reported as [`crate::sale::RESULT_MISMATCH`].
    async fn query(&self, w: &Withdrawal, bank_tran_date: &str, now_dtime: &str) -> QueryAnswer;
    /// Proves the terminal's credentials where the protocol has a sign-in (open banking: a
    /// token fetch), for `qrpos doctor`. What it says never holds a secret.
    async fn sign_in(&self) -> Result<String, String> {
        Ok("this protocol has no separate sign-in".into())
    }
}

/// How to reach the backend and who the terminal is to it.
#[derive(Debug, Clone)]
pub struct BackendSettings {
    /// Base URL, e.g. `http://127.0.0.1:PORT`; API paths are appended to it.
    pub url: String,
    pub protocol: Protocol,
    /// Whole request, connect included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub client_id: String,
    pub client_secret: Secret,
    /// The institution's collection account.
    pub cntr_account_type: String,
    pub cntr_account_num: String,
    /// `dps_print_content` / `recv_client_name`.
    pub merchant_name: String,
    pub recv_client_bank_code: String,
    pub recv_client_account_num: String,
    pub institution_code: String,
    /// Where the customers' own tokens (for withdrawals) come from.
    pub enrolment: enrolment::Enrolment,
}

/// Why a gateway could not be built. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("backend URL {url:?} is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("backend setting `{setting}` is not usable: {reason}")]
    BadSetting {
        setting: &'static str,
        reason: String,
    },
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// Checks the settings and builds the gateway for `settings.protocol`.
pub fn connect(settings: BackendSettings) -> Result<Arc<dyn Gateway>, BackendError> {
    connect_with(settings, None)
}

/// [`connect`] for a payment host: open-banking withdrawals go with the customers' tokens
/// kept in `grants`.
pub fn connect_with(
    settings: BackendSettings,
    grants: Option<Arc<dyn enrolment::GrantStore>>,
) -> Result<Arc<dyn Gateway>, BackendError> {
    let base = parse_base_url(&settings.url)?;
    if settings.timeout.is_zero() {
        return Err(BackendError::BadSetting {
            setting: "timeout",
            reason: "must be more than zero".into(),
        });
    }
    if settings.connect_timeout.is_zero() {
        return Err(BackendError::BadSetting {
            setting: "connect_timeout",
            reason: "must be more than zero".into(),
        });
    }
    // A connect that outlives the whole-request timeout is reported as a request timeout,
    // i.e. "may have been sent": correct but needlessly pessimistic, so refuse the mix-up.
    if settings.connect_timeout > settings.timeout {
        return Err(BackendError::BadSetting {
            setting: "connect_timeout",
            reason: format!(
                "{:?} is longer than the whole-request timeout {:?}",
                settings.connect_timeout, settings.timeout
            ),
        });
    }
    let http = build_client(&settings)?;
    Ok(match settings.protocol {
        Protocol::Openbanking => {
            let customers = match grants {
                Some(store) => enrolment::CustomerTokens::with_store(settings.enrolment, store),
                None => enrolment::CustomerTokens::new(settings.enrolment),
            };
            Arc::new(OpenBankingGateway::new(http, &base, settings, customers)?)
        }
        Protocol::Payrequest => Arc::new(PayRequestGateway::new(http, &base)?),
        Protocol::Host => {
            // The terminal's secret travels in every request: never in clear beyond this
            // machine.
            if base.scheme() == "http" && !is_loopback(&base) {
                return Err(BackendError::BadUrl {
                    url: settings.url.clone(),
                    reason: "a payment host is reached over https unless it is on this machine (loopback)".into(),
                });
            }
            Arc::new(HostGateway::new(
                http,
                &base,
                &settings.client_id,
                &settings.client_secret,
            )?)
        }
    })
}

fn parse_base_url(raw: &str) -> Result<reqwest::Url, BackendError> {
    let bad = |reason: &str| BackendError::BadUrl {
        url: raw.to_string(),
        reason: reason.to_string(),
    };
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Said without echoing the URL: it holds a credential.
        return Err(BackendError::BadUrl {
            url: "(hidden: it contains credentials)".into(),
            reason: "credentials belong in client_id/client_secret, not in the URL".into(),
        });
    }
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a base URL takes no query or fragment"));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        tracing::warn!(host = ?url.host_str(), "backend reached over plain http");
    }
    Ok(url)
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or("");
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `base` + an API path, keeping any path prefix the base has (`http://h/prefix` + `/x`).
fn endpoint(base: &reqwest::Url, path: &str) -> Result<reqwest::Url, BackendError> {
    let joined = format!("{}{}", base.as_str().trim_end_matches('/'), path);
    reqwest::Url::parse(&joined).map_err(|e| BackendError::BadUrl {
        url: joined,
        reason: e.to_string(),
    })
}

fn build_client(settings: &BackendSettings) -> Result<reqwest::Client, BackendError> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        // No connection reuse. A kept-alive connection the server has meanwhile closed makes
        // the next request fail *after* it was handed to the socket, which can only be
        // reported as NoReply ("maybe charged") and costs a result query. A POS sends a few
        // requests a minute, so a fresh connection each time is cheap, and it makes "could
        // not connect" a reliable proof that nothing was sent.
        .pool_max_idle_per_host(0)
        // A redirected payment POST could be replayed as something else; a 3xx is reported.
        .redirect(reqwest::redirect::Policy::none())
        // Environment proxies would change what a connect failure proves; the terminal talks
        // to its configured backend directly.
        .no_proxy()
        .user_agent(concat!("qrpos/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BackendError::Client(error_chain(&e)))
}

/// A reply read to the end.
struct RawReply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    /// The `Location` of a redirect (the 3-legged flow's consent page answers with one).
    location: Option<String>,
}

/// Sends a request and reads the whole reply, mapping transport failures to `Answer`s.
async fn exchange(request: reqwest::RequestBuilder) -> Result<RawReply, Answer> {
    let mut response = request.send().await.map_err(|e| transport_failure(&e))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(60)
        .collect();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_REPLY_BYTES {
                    return Err(Answer::Garbage {
                        http_status: status,
                        detail: format!("reply body longer than {MAX_REPLY_BYTES} bytes"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => {
                return Ok(RawReply {
                    status,
                    content_type,
                    body,
                    location,
                })
            }
            // The status line arrived but not the body: the request was processed or is
            // being processed, and we cannot tell how.
            Err(e) => {
                return Err(Answer::NoReply {
                    reason: format!("HTTP {status} reply cut off: {}", error_chain(&e)),
                })
            }
        }
    }
}

/// Maps a failed `send` to `NotSent` when nothing can have reached the server, else `NoReply`.
///
/// reqwest reports a connect timeout as both `is_connect()` and `is_timeout()`: connect is
/// checked first, because a connection that was never established carried nothing.
fn transport_failure(err: &reqwest::Error) -> Answer {
    let reason = error_chain(err);
    if err.is_connect() || err.is_builder() {
        Answer::NotSent { reason }
    } else {
        // Whole-request timeout, reset or close before the reply, …: the request may have
        // been written, so the backend may have acted on it.
        Answer::NoReply { reason }
    }
}

/// A short description of an error and its causes. The URL reqwest adds is left out: it is
/// known to the caller and only makes the journal noisy (it never holds secrets: `connect`
/// refuses URLs with credentials, and tokens travel in headers).
fn error_chain(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    if err.is_timeout() {
        parts.push("timed out".into());
    }
    if err.is_connect() {
        parts.push("could not connect".into());
    }
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    truncate_chars(&parts.join(": "), 200)
}

/// The first `max` characters of `s` (characters, not bytes: print fields hold Hangul).
fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Parses a reply body that must be a JSON object, keeping the object to check which keys the
/// backend actually sent (the wire types default every field, so `{}` would parse as anything).
fn json_object<T: DeserializeOwned>(
    reply: &RawReply,
) -> Result<(T, serde_json::Map<String, serde_json::Value>), Answer> {
    json_object_read(reply, |v| v)
}

/// [`json_object`] for a body whose fields are all strings on the wire (open banking's
/// withdraw and result replies): a `null` reads as absent and a number or boolean as its
/// text, as real backends send them now and then. Reading leniently decides nothing: the
/// fields that decide an outcome are still compared exactly, and one that is absent leaves
/// the outcome unknown.
fn json_strings_object<T: DeserializeOwned>(
    reply: &RawReply,
) -> Result<(T, serde_json::Map<String, serde_json::Value>), Answer> {
    json_object_read(reply, as_strings)
}

fn as_strings(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, as_strings(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(as_strings).collect()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other,
    }
}

fn json_object_read<T: DeserializeOwned>(
    reply: &RawReply,
    prepare: fn(serde_json::Value) -> serde_json::Value,
) -> Result<(T, serde_json::Map<String, serde_json::Value>), Answer> {
    let garbage = |what: String| Answer::Garbage {
        http_status: reply.status,
        detail: truncate_chars(
            &format!(
                "{what} ({} bytes, content-type {:?})",
                reply.body.len(),
                reply.content_type
            ),
            200,
        ),
    };
    let value: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|e| garbage(format!("body is not JSON: {e}")))?;
    let serde_json::Value::Object(map) = prepare(value) else {
        return Err(garbage("body is JSON but not an object".into()));
    };
    let parsed = serde_json::from_value(serde_json::Value::Object(map.clone()))
        .map_err(|e| garbage(format!("body is not the expected shape: {e}")))?;
    Ok((parsed, map))
}

/// A local refusal: `means` cannot travel over `protocol`. Nothing was sent.
fn means_unsupported(means: &PaymentMeans, protocol: Protocol) -> Answer {
    let kind = match means {
        PaymentMeans::FintechNumber { .. } => "a fintech number",
        PaymentMeans::PayRequest { .. } => "a payRequest card or account",
        PaymentMeans::Emv(_) => "an EMV code",
    };
    Answer::Reply {
        http_status: 0,
        code: MEANS_UNSUPPORTED.into(),
        bank_code: String::new(),
        message: format!(
            "{kind} cannot be paid through the {} backend (nothing was sent)",
            protocol.as_str()
        ),
        amount: None,
        bank_tran_date: None,
        bank_name: None,
    }
}

/// The answer for a status record that names our id but is not our sale: it settles
/// nothing (see `sale::RESULT_MISMATCH`).
fn result_mismatch(http_status: u16, bank_tran_id: &str, differs: &[&str]) -> Answer {
    let differs = differs.join(", ");
    tracing::warn!(bank_tran_id, %differs, "the backend's record of this id is not this sale");
    Answer::Reply {
        http_status,
        code: crate::sale::RESULT_MISMATCH.into(),
        bank_code: String::new(),
        message: format!("it differs in {differs}"),
        amount: None,
        bank_tran_date: None,
        bank_name: None,
    }
}

/// Joins the non-empty parts of a message.
fn join_messages(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod testserver;

#[cfg(test)]
mod tests;

/// Whether the backend's host accepts a TCP connection within `timeout`: the "online" light
/// on status screens. A real signal, not a guess, and it sends no payment bytes.
pub async fn reachable(url: &str, timeout: Duration) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
        return false;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    matches!(
        tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((host.as_str(), port))
        )
        .await,
        Ok(Ok(_))
    )
}
