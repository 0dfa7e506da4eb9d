//! The customers' own open-banking tokens. The real API withdraws only with the *customer's*
//! access token (scope `transfer`), which the customer grants once through the 3-legged flow
//! (`GET /oauth/2.0/authorize` → code → `authorization_code` token → `account/list`).
//! [`enrol`] runs that flow; [`CustomerTokens`] keeps the tokens the gateway withdraws with.
//!
//! Where the tokens come from is `backend.enrolment`:
//! - `sandbox`: the sandbox's customers, enrolled on first use through the testbed's consent
//!   page (its non-interactive approve), found by their fintech number or EMV PAN through
//!   `GET /_sandbox/accounts`. For the demo and tests only: a real bank has no such page.
//! - `none`: no customer tokens; an open-banking withdrawal is not sent, and says why. A
//!   counter device must never hold customers' tokens: in a real deployment the merchant's
//!   payment host holds them and the terminal talks only to it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use super::{endpoint, exchange, json_object, json_strings_object, Secret};
use crate::protocol::openbanking::{
    AccountListResponse, TokenResponse, ACCOUNT_LIST_PATH, AUTHORIZE_PATH, TOKEN_PATH,
};
use crate::sale::{Answer, PaymentMeans};

/// Where customers' tokens come from (`backend.enrolment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enrolment {
    /// Enrol the sandbox's customers on first use (demo, tests).
    #[default]
    Sandbox,
    /// No customer tokens here.
    None,
}

/// The scopes a customer grants at enrolment.
pub const CUSTOMER_SCOPES: &str = "login inquiry transfer";
/// The callback the 3-legged flow names. Nothing listens there: the code is read from the
/// redirect itself, which the client does not follow.
pub const CALLBACK: &str = "http://127.0.0.1/qrpos/openbanking/callback";

/// A customer's grant: their tokens and the accounts they cover.
#[derive(Debug, Clone)]
pub struct CustomerGrant {
    pub user_seq_no: String,
    pub access_token: Secret,
    pub refresh_token: Secret,
    pub scope: String,
    pub expires_in: u64,
    pub fintech_use_nums: Vec<String>,
}

/// Why an enrolment failed, in words without secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolError {
    /// The testbed could not be reached (or did not answer): try again later.
    #[error("enrolment: the testbed did not answer: {0}")]
    Unreachable(String),
    /// The testbed answered, and not with a grant.
    #[error("enrolment refused: {0}")]
    Refused(String),
    /// The gateway refused this terminal's own client credentials (O0001, 3000201): the
    /// terminal's setup is wrong, not the customer's consent.
    #[error("the gateway refused this terminal's client credentials while enrolling: {0}")]
    Client(String),
}

/// A refusal of the client itself (`error_code` 3000201) in a reply body, in words.
fn client_refusal(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    (v.get("error_code")?.as_str()? == "3000201").then(|| {
        let code = v
            .get("rsp_code")
            .and_then(|c| c.as_str())
            .unwrap_or("O0001");
        let message = v.get("rsp_message").and_then(|m| m.as_str()).unwrap_or("");
        format!("{code} {message}")
    })
}

fn answer_error(a: Answer) -> EnrolError {
    match a {
        Answer::Reply { code, message, .. } => EnrolError::Refused(format!("{code} {message}")),
        Answer::NotSent { reason } | Answer::NoReply { reason } => EnrolError::Unreachable(reason),
        // A server error is the testbed's passing trouble, not an answer about the customer.
        Answer::Garbage {
            http_status,
            detail,
        } if http_status >= 500 => EnrolError::Unreachable(format!("HTTP {http_status}: {detail}")),
        Answer::Garbage {
            http_status,
            detail,
        } => EnrolError::Refused(format!("HTTP {http_status}: {detail}")),
    }
}

/// The consent page's URL for the 3-legged flow: the customer approves there, and the bank
/// sends them back to `redirect_uri` with a code and `state`. `sandbox_user` approves at once
/// as that sandbox customer (the testbed's non-interactive approve).
pub fn authorize_url(
    base: &reqwest::Url,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    sandbox_user: Option<&str>,
) -> Result<reqwest::Url, EnrolError> {
    let mut authorize =
        endpoint(base, AUTHORIZE_PATH).map_err(|e| EnrolError::Refused(e.to_string()))?;
    {
        let mut q = authorize.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", CUSTOMER_SCOPES)
            .append_pair("state", state)
            .append_pair("auth_type", "0");
        if let Some(name) = sandbox_user {
            q.append_pair("sandbox_user", name);
        }
    }
    Ok(authorize)
}

/// Runs the 3-legged flow for the sandbox customer `name`: the consent (approved at once),
/// the code exchanged for the customer's tokens, and their accounts from `account/list`.
/// `http` must not follow redirects.
pub async fn enrol(
    http: &reqwest::Client,
    base: &reqwest::Url,
    client_id: &str,
    client_secret: &Secret,
    name: &str,
) -> Result<CustomerGrant, EnrolError> {
    let fail = EnrolError::Refused;
    let state = format!("{:032x}", rand::random::<u128>());
    let authorize = authorize_url(base, client_id, CALLBACK, &state, Some(name))?;
    let consent = exchange(http.get(authorize)).await.map_err(answer_error)?;
    server_trouble(&consent, "the consent page")?;
    if let Some(words) = client_refusal(&consent.body) {
        return Err(EnrolError::Client(words));
    }
    let location = consent.location.as_deref().ok_or_else(|| {
        let words = String::from_utf8_lossy(&consent.body);
        fail(format!(
            "the consent page did not redirect (HTTP {}): {}",
            consent.status,
            super::truncate_chars(&words, 200)
        ))
    })?;
    let back = reqwest::Url::parse(location).map_err(|e| fail(format!("redirect: {e}")))?;
    let param = |k: &str| {
        back.query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.to_string())
    };
    if param("state").as_deref() != Some(state.as_str()) {
        return Err(fail("the redirect's state is not ours".into()));
    }
    let code = param("code").ok_or_else(|| fail("the redirect carries no code".into()))?;
    exchange_code(http, base, client_id, client_secret, &code, CALLBACK).await
}

/// The second leg: the consent's `code` exchanged for the customer's tokens, and their
/// accounts from `account/list`.
pub async fn exchange_code(
    http: &reqwest::Client,
    base: &reqwest::Url,
    client_id: &str,
    client_secret: &Secret,
    code: &str,
    redirect_uri: &str,
) -> Result<CustomerGrant, EnrolError> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
        ("client_secret", client_secret.expose()),
        ("redirect_uri", redirect_uri),
    ];
    grant(http, base, &form).await
}

/// A customer's tokens renewed with their refresh token (which the bank replaces too), before
/// the access token expires.
pub async fn refresh(
    http: &reqwest::Client,
    base: &reqwest::Url,
    client_id: &str,
    client_secret: &Secret,
    refresh_token: &Secret,
) -> Result<CustomerGrant, EnrolError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", client_id),
        ("client_secret", client_secret.expose()),
        ("scope", CUSTOMER_SCOPES),
    ];
    grant(http, base, &form).await
}

/// A customer token request (`form`), then `account/list` with the token it gave.
async fn grant(
    http: &reqwest::Client,
    base: &reqwest::Url,
    form: &[(&str, &str)],
) -> Result<CustomerGrant, EnrolError> {
    let fail = EnrolError::Refused;
    let token_url = endpoint(base, TOKEN_PATH).map_err(|e| fail(e.to_string()))?;
    let reply = exchange(http.post(token_url).form(form))
        .await
        .map_err(answer_error)?;
    server_trouble(&reply, "the token endpoint")?;
    if let Some(words) = client_refusal(&reply.body) {
        return Err(EnrolError::Client(words));
    }
    let (token, _) = json_object::<TokenResponse>(&reply)
        .map_err(|_| fail(format!("unreadable token reply (HTTP {})", reply.status)))?;
    if let Some(code) = token.rsp_code.filter(|c| !c.is_empty()) {
        return Err(fail(format!(
            "token refused: {code} {}",
            token.rsp_message.unwrap_or_default()
        )));
    }
    if token.access_token.is_empty() || token.user_seq_no.is_empty() {
        return Err(fail(
            "the token reply lacks access_token or user_seq_no".into(),
        ));
    }
    let access = Secret::new(token.access_token);
    let mut list_url = endpoint(base, ACCOUNT_LIST_PATH).map_err(|e| fail(e.to_string()))?;
    list_url
        .query_pairs_mut()
        .append_pair("user_seq_no", &token.user_seq_no)
        .append_pair("include_cancel_yn", "N")
        .append_pair("sort_order", "D");
    let reply = exchange(http.get(list_url).bearer_auth(access.expose()))
        .await
        .map_err(answer_error)?;
    server_trouble(&reply, "account/list")?;
    let (list, _) = json_strings_object::<AccountListResponse>(&reply).map_err(|_| {
        fail(format!(
            "unreadable account/list reply (HTTP {})",
            reply.status
        ))
    })?;
    if list.rsp_code != "A0000" {
        return Err(fail(format!(
            "account/list: {} {}",
            list.rsp_code, list.rsp_message
        )));
    }
    Ok(CustomerGrant {
        user_seq_no: token.user_seq_no,
        access_token: access,
        refresh_token: Secret::new(token.refresh_token),
        scope: token.scope,
        expires_in: token.expires_in,
        // Every account listed, consented or not: a withdrawal from one whose consent has
        // lapsed goes to the bank, which answers with the precise code (A0319).
        fintech_use_nums: list
            .res_list
            .into_iter()
            .map(|a| a.fintech_use_num)
            .filter(|f| !f.is_empty())
            .collect(),
    })
}

/// A 5xx is the testbed's passing trouble: [`EnrolError::Unreachable`], try again later.
fn server_trouble(reply: &super::RawReply, what: &str) -> Result<(), EnrolError> {
    if reply.status >= 500 {
        return Err(EnrolError::Unreachable(format!(
            "{what} answered HTTP {}",
            reply.status
        )));
    }
    Ok(())
}

/// A sandbox customer as `GET /_sandbox/accounts` lists them.
#[derive(Debug, Deserialize)]
struct SandboxAccount {
    name: String,
    #[serde(default)]
    fintech_use_num: Option<String>,
    #[serde(default)]
    emv_pan: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SandboxAccounts {
    accounts: Vec<SandboxAccount>,
}

/// Where a payment host keeps its customers' grants (encrypted at rest), so that they outlive
/// the process and are renewed before they expire. `key` is a fintech number, or `pan:` + an
/// EMV PAN.
#[async_trait::async_trait]
pub trait GrantStore: Send + Sync {
    /// The access token of the customer whose account `key` is, and its expiry (unix s).
    async fn token(&self, key: &str) -> Option<(Secret, i64)>;
    /// Keeps a customer's new grant, found for `key` (sandbox enrolment on first use).
    async fn keep(&self, key: &str, grant: &CustomerGrant);
}

/// The customers' tokens the gateway withdraws with, by fintech number (and EMV PAN).
///
/// One lock covers an enrolment: a second payment waits for it rather than enrolling the
/// same customer twice. A terminal serves one sale at a time, so nobody else waits.
pub struct CustomerTokens {
    enrolment: Enrolment,
    /// A payment host's lasting store, asked before enrolling.
    store: Option<std::sync::Arc<dyn GrantStore>>,
    /// fintech number or `pan:` + PAN → the customer's access token, and until when to use
    /// it (a minute before it expires, so no withdrawal starts with a dying token).
    tokens: Mutex<HashMap<String, (Secret, Instant)>>,
}

/// How long before its expiry a customer token is replaced.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

impl CustomerTokens {
    pub fn new(enrolment: Enrolment) -> CustomerTokens {
        CustomerTokens {
            enrolment,
            store: None,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn key(means: &PaymentMeans) -> Option<String> {
        match means {
            PaymentMeans::FintechNumber { fintech_use_num } => Some(fintech_use_num.clone()),
            PaymentMeans::Emv(emv) => emv.pan.as_ref().map(|p| format!("pan:{p}")),
            PaymentMeans::PayRequest { .. } => None,
        }
    }

    /// The token of the customer who pays with `means`, enrolling them if this is the
    /// sandbox. `Err` is the answer for the withdrawal: nothing of it was sent.
    pub async fn token_for(
        &self,
        http: &reqwest::Client,
        base: &reqwest::Url,
        client_id: &str,
        client_secret: &Secret,
        means: &PaymentMeans,
    ) -> Result<Secret, Answer> {
        let key = Self::key(means)
            .ok_or_else(|| no_consent("this payment code names no open-banking account"))?;
        let mut tokens = self.tokens.lock().await;
        if let Some((t, until)) = tokens.get(&key) {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        if let Some(store) = &self.store {
            let now = chrono::Utc::now().timestamp();
            if let Some((token, expires_at)) = store.token(&key).await {
                let left = Duration::from_secs(expires_at.saturating_sub(now).max(0) as u64);
                if left > TOKEN_MARGIN {
                    tokens.insert(key, (token.clone(), Instant::now() + left - TOKEN_MARGIN));
                    return Ok(token);
                }
            }
        }
        if self.enrolment == Enrolment::None {
            return Err(no_consent(
                "no token of this customer here: open banking withdraws only with the \
                 customer's own token, which a payment host holds (backend.enrolment = \"none\")",
            ));
        }
        // A testbed that did not answer is the network's fault: the sale may go offline. One
        // that answered without a grant is the customer's: declined, like a missing consent.
        let failed = |e: EnrolError| match e {
            EnrolError::Unreachable(_) => Answer::NotSent {
                reason: format!("no customer token: {e}"),
            },
            EnrolError::Refused(_) => no_consent(&e.to_string()),
            EnrolError::Client(ref words) => Answer::Reply {
                http_status: 0,
                code: words.split(' ').next().unwrap_or("O0001").to_string(),
                bank_code: String::new(),
                message: e.to_string(),
                amount: None,
                bank_tran_date: None,
                bank_name: None,
            },
        };
        let name = sandbox_customer(http, base, &key).await.map_err(failed)?;
        let grant = enrol(http, base, client_id, client_secret, &name)
            .await
            .map_err(failed)?;
        tracing::info!(user_seq_no = %grant.user_seq_no, "sandbox customer enrolled");
        // A fintech number the customer's own accounts do not include is not theirs to pay
        // with, whatever the sandbox's listing said.
        if !key.starts_with("pan:") && !grant.fintech_use_nums.contains(&key) {
            return Err(no_consent(
                "the customer's open-banking accounts do not include this one",
            ));
        }
        if let Some(store) = &self.store {
            store.keep(&key, &grant).await;
        }
        let lifetime = Duration::from_secs(grant.expires_in);
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN.min(lifetime / 2));
        for fin in &grant.fintech_use_nums {
            tokens.insert(fin.clone(), (grant.access_token.clone(), until));
        }
        tokens.insert(key, (grant.access_token.clone(), until));
        Ok(grant.access_token)
    }

    /// The same, asking `store` first and keeping new grants there.
    pub fn with_store(enrolment: Enrolment, store: std::sync::Arc<dyn GrantStore>) -> Self {
        CustomerTokens {
            store: Some(store),
            ..CustomerTokens::new(enrolment)
        }
    }

    /// Forgets `rejected` (expired or revoked), so the next payment enrols again.
    pub async fn forget(&self, rejected: &Secret) {
        self.tokens.lock().await.retain(|_, (t, _)| t != rejected);
    }
}

/// The answer for a withdrawal the customer has not consented to here: A0306 (출금동의
/// 미완료), what the bank would answer, so the sale is declined with the consent prompt
/// and never queued. Nothing was sent (HTTP status 0).
fn no_consent(why: &str) -> Answer {
    Answer::Reply {
        http_status: 0,
        code: "A0306".into(),
        bank_code: String::new(),
        message: format!("출금동의 미완료 (withdrawal consent missing): {why}"),
        amount: None,
        bank_tran_date: None,
        bank_name: None,
    }
}

/// The name of the sandbox customer with fintech number (or `pan:` PAN) `key`.
async fn sandbox_customer(
    http: &reqwest::Client,
    base: &reqwest::Url,
    key: &str,
) -> Result<String, EnrolError> {
    let fail = EnrolError::Refused;
    let url = endpoint(base, "/_sandbox/accounts").map_err(|e| fail(e.to_string()))?;
    let reply = exchange(http.get(url)).await.map_err(answer_error)?;
    if reply.status >= 500 {
        return Err(EnrolError::Unreachable(format!(
            "GET /_sandbox/accounts: HTTP {}",
            reply.status
        )));
    }
    let accounts: SandboxAccounts = serde_json::from_slice(&reply.body).map_err(|_| {
        fail(format!(
            "the backend is not the qrpos sandbox (GET /_sandbox/accounts: HTTP {}), so it \
             cannot enrol customers; set backend.enrolment",
            reply.status
        ))
    })?;
    let pan = key.strip_prefix("pan:");
    accounts
        .accounts
        .into_iter()
        .find(|a| match pan {
            Some(p) => a.emv_pan.as_deref() == Some(p),
            None => a.fintech_use_num.as_deref() == Some(key),
        })
        .map(|a| a.name)
        .ok_or_else(|| fail("no sandbox customer has this account".into()))
}
