//! The open banking client: `withdraw/fin_num` with the customer's own token (scope
//! `transfer`, from `enrolment`), and `transfer/result` with the institution's `oob` token
//! (fetched lazily, cached); a rejected token is renewed once. Each reply is reported
//! faithfully as an `Answer`.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::enrolment::CustomerTokens;
use super::{
    endpoint, exchange, join_messages, json_object, json_strings_object, means_unsupported,
    result_mismatch, BackendError, BackendSettings, Gateway, RawReply, Secret, Withdrawal,
};
use crate::protocol::openbanking::{
    TokenRequest, TokenResponse, TransferResultItem, TransferResultQuery, TransferResultRequest,
    TransferResultResponse, WithdrawRequest, WithdrawResponse, RESULT_PATH, TOKEN_PATH,
    WITHDRAW_PATH,
};
use crate::sale::{Answer, PaymentMeans, Protocol, QueryAnswer};

/// Print fields (`dps_print_content`, `wd_print_content`, names) are AH(20): 20 bytes of
/// UTF-8, so at most 6 Hangul syllables (the testbed counts the same way).
const PRINT_MAX_BYTES: usize = 20;
/// `req_client_num` is AN(20).
const CLIENT_NUM_MAX_CHARS: usize = 20;
/// The terminal does not know the payer's name; the field is mandatory.
const PAYER_NAME: &str = "QR customer";
/// A token is renewed this long before the backend says it expires, so a call never starts
/// with a token that dies in flight.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// Codes with which the backend rejects the access token itself (rejected, expired): the
/// call was refused at the gate, not processed, so it is safe to send it again.
fn is_token_rejection(answer: &Answer) -> bool {
    matches!(answer, Answer::Reply { code, .. } if code == "O0002" || code == "O0003")
}

struct CachedToken {
    token: Secret,
    valid_until: Instant,
}

/// Open banking gateway (see `shared/docs/openbanking.md` §1–§4).
pub struct OpenBankingGateway {
    http: reqwest::Client,
    base: reqwest::Url,
    /// The customers' tokens, which withdrawals go with.
    customers: CustomerTokens,
    token_url: reqwest::Url,
    withdraw_url: reqwest::Url,
    result_url: reqwest::Url,
    settings: BackendSettings,
    /// Held across a token fetch, so concurrent calls wait for one fetch instead of each
    /// asking for its own token.
    token: Mutex<Option<CachedToken>>,
}

impl OpenBankingGateway {
    pub(super) fn new(
        http: reqwest::Client,
        base: &reqwest::Url,
        settings: BackendSettings,
        customers: CustomerTokens,
    ) -> Result<OpenBankingGateway, BackendError> {
        Ok(OpenBankingGateway {
            http,
            base: base.clone(),
            customers,
            token_url: endpoint(base, TOKEN_PATH)?,
            withdraw_url: endpoint(base, WITHDRAW_PATH)?,
            result_url: endpoint(base, RESULT_PATH)?,
            settings,
            token: Mutex::new(None),
        })
    }

    /// The cached token, or a fresh one. `Err` is the answer for the call that needed it:
    /// nothing of that call was sent.
    async fn token(&self) -> Result<Secret, Answer> {
        let mut cache = self.token.lock().await;
        if let Some(cached) = cache.as_ref() {
            if Instant::now() < cached.valid_until {
                return Ok(cached.token.clone());
            }
        }
        *cache = None;
        let (token, lifetime) = self.fetch_token().await?;
        let margin = TOKEN_MARGIN.min(lifetime / 2);
        *cache = Some(CachedToken {
            token: token.clone(),
            valid_until: Instant::now() + lifetime.saturating_sub(margin),
        });
        Ok(token)
    }

    /// Forgets `rejected` unless another call has already replaced it.
    async fn forget_token(&self, rejected: &Secret) {
        let mut cache = self.token.lock().await;
        if cache.as_ref().is_some_and(|c| &c.token == rejected) {
            *cache = None;
        }
    }

    async fn fetch_token(&self) -> Result<(Secret, Duration), Answer> {
        let form = TokenRequest {
            client_id: self.settings.client_id.clone(),
            client_secret: self.settings.client_secret.expose().to_string(),
            scope: "oob".into(),
            grant_type: "client_credentials".into(),
        };
        let request = self
            .http
            .post(self.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        // Whatever goes wrong getting a token, the payment call itself never left.
        let not_sent = |why: String| Answer::NotSent {
            reason: format!("no access token: {why}"),
        };
        let reply = match exchange(request).await {
            Ok(reply) => reply,
            Err(Answer::NotSent { reason } | Answer::NoReply { reason }) => {
                return Err(not_sent(reason))
            }
            Err(Answer::Garbage {
                http_status,
                detail,
            }) => return Err(not_sent(format!("HTTP {http_status}: {detail}"))),
            Err(other) => return Err(other),
        };
        // The body may hold the token: its parse errors are not quoted, only the status.
        let parsed = json_object::<TokenResponse>(&reply).map(|(t, _)| t);
        let status = reply.status;
        let Ok(parsed) = parsed else {
            return Err(not_sent(format!(
                "the token endpoint gave an unreadable reply (HTTP {status})"
            )));
        };
        if let Some(code) = parsed.rsp_code.filter(|c| !c.is_empty()) {
            // The gateway refused the institution (bad credentials, not allowed, …).
            tracing::warn!(code = %code, http_status = status, "access token refused");
            return Err(Answer::Reply {
                http_status: status,
                code,
                bank_code: String::new(),
                message: join_messages(&[
                    "access token refused",
                    parsed.rsp_message.as_deref().unwrap_or(""),
                ]),
                amount: None,
                bank_tran_date: None,
                bank_name: None,
            });
        }
        if !(200..300).contains(&status) || parsed.access_token.is_empty() {
            return Err(not_sent(format!(
                "the token endpoint answered HTTP {status} without a token or a result code"
            )));
        }
        tracing::debug!(expires_in = parsed.expires_in, "access token obtained");
        Ok((
            Secret::new(parsed.access_token),
            Duration::from_secs(parsed.expires_in),
        ))
    }

    /// The token a call goes with: the paying customer's, or the institution's.
    async fn token_for(&self, payer: Option<&PaymentMeans>) -> Result<Secret, Answer> {
        match payer {
            None => self.token().await,
            Some(means) => {
                let s = &self.settings;
                self.customers
                    .token_for(
                        &self.http,
                        &self.base,
                        &s.client_id,
                        &s.client_secret,
                        means,
                    )
                    .await
            }
        }
    }

    /// POSTs `body` with the token of `payer` (the institution's when `None`) and reads the
    /// reply through `read`; a rejected token is renewed and the call sent once more.
    async fn call<B: serde::Serialize + Sync>(
        &self,
        url: &reqwest::Url,
        payer: Option<&PaymentMeans>,
        body: &B,
        read: impl Fn(&RawReply) -> Answer,
    ) -> Answer {
        let mut renewed = false;
        loop {
            let token = match self.token_for(payer).await {
                Ok(token) => token,
                Err(answer) => return answer,
            };
            let request = self
                .http
                .post(url.clone())
                .bearer_auth(token.expose())
                .header(reqwest::header::ACCEPT, "application/json")
                // The reference's content type, charset included (set before `json`, which
                // then keeps it).
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=UTF-8",
                )
                .json(body);
            let answer = match exchange(request).await {
                Ok(reply) => read(&reply),
                Err(answer) => answer,
            };
            if !renewed && is_token_rejection(&answer) {
                tracing::info!("access token rejected; renewing it and sending once more");
                match payer {
                    None => self.forget_token(&token).await,
                    Some(_) => self.customers.forget(&token).await,
                }
                renewed = true;
                continue;
            }
            return answer;
        }
    }

    fn withdraw_request(&self, w: &Withdrawal) -> Option<WithdrawRequest> {
        let (fintech_use_num, emv_cpm) = match &w.means {
            PaymentMeans::FintechNumber { fintech_use_num } => (fintech_use_num.clone(), None),
            PaymentMeans::Emv(emv) => (String::new(), Some(emv.qr_text.clone())),
            PaymentMeans::PayRequest { .. } => return None,
        };
        let s = &self.settings;
        let merchant = truncate_bytes(&s.merchant_name, PRINT_MAX_BYTES);
        let product = truncate_bytes(&w.product, PRINT_MAX_BYTES);
        Some(WithdrawRequest {
            bank_tran_id: w.bank_tran_id.clone(),
            cntr_account_type: s.cntr_account_type.clone(),
            cntr_account_num: s.cntr_account_num.clone(),
            dps_print_content: merchant.clone(),
            req_client_fintech_use_num: fintech_use_num.clone(),
            fintech_use_num,
            wd_print_content: (!product.is_empty()).then_some(product),
            tran_amt: w.amount.0.to_string(),
            tran_dtime: w.tran_dtime.clone(),
            req_client_name: PAYER_NAME.into(),
            // The institution's id for the payer. The terminal has no customer records, so
            // it uses the sale's own id: stable across re-sends, and it identifies no person.
            req_client_num: w
                .bank_tran_id
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(CLIENT_NUM_MAX_CHARS)
                .collect(),
            transfer_purpose: "ST".into(),
            sub_frnc_name: None,
            sub_frnc_num: None,
            sub_frnc_business_num: None,
            recv_client_name: merchant,
            recv_client_bank_code: s.recv_client_bank_code.clone(),
            recv_client_account_num: s.recv_client_account_num.clone(),
            emv_cpm,
        })
    }
}

/// Reports a `withdraw/fin_num` reply to `w`. A reply that names another id, or an approval
/// that does not echo ours, is not an answer about our sale
/// ([`crate::sale::RESULT_MISMATCH`]): only a result query settles it.
fn read_withdraw(reply: &RawReply, w: &Withdrawal) -> Answer {
    let rsp = match json_strings_object::<WithdrawResponse>(reply) {
        Ok((rsp, _)) => rsp,
        Err(garbage) => return garbage,
    };
    let names_another = !rsp.bank_tran_id.is_empty() && rsp.bank_tran_id != w.bank_tran_id;
    if names_another || (rsp.rsp_code == "A0000" && rsp.bank_tran_id != w.bank_tran_id) {
        return result_mismatch(reply.status, &w.bank_tran_id, &["bank_tran_id"]);
    }
    Answer::Reply {
        http_status: reply.status,
        code: rsp.rsp_code,
        bank_code: rsp.bank_rsp_code,
        message: join_messages(&[&rsp.rsp_message, &rsp.bank_rsp_message]),
        amount: parse_amount(&rsp.tran_amt),
        bank_tran_date: non_empty(rsp.bank_tran_date),
        bank_name: non_empty(rsp.bank_name),
    }
}

/// Reports a `transfer/result` reply about `w`, asked for on `date`: the top-level code says
/// whether the query worked, the item's bank code what became of the transfer. An item that
/// names our id but another day, amount or payer is someone else's transfer (an id reused
/// on another day, a bank that ignored the date): it is reported as [`RESULT_MISMATCH`],
/// never as our outcome.
fn read_result(reply: &RawReply, w: &Withdrawal, date: &str) -> Answer {
    let rsp = match json_strings_object::<TransferResultResponse>(reply) {
        Ok((rsp, _)) => rsp,
        Err(garbage) => return garbage,
    };
    // We ask about one transfer as tran_no 1; an item that does not name its id is taken as
    // the answer to that one question.
    let item = rsp.res_list.into_iter().find(|i| {
        i.bank_tran_id == w.bank_tran_id || (i.bank_tran_id.is_empty() && i.tran_no == "1")
    });
    let (bank_code, bank_message, amount, date) = match item {
        Some(i) => {
            let differs = item_difference(&i, w, date);
            if rsp.rsp_code == "A0000" && !differs.is_empty() {
                return result_mismatch(reply.status, &w.bank_tran_id, &differs);
            }
            (
                i.bank_rsp_code,
                i.bank_rsp_message,
                parse_amount(&i.tran_amt),
                non_empty(i.bank_tran_date),
            )
        }
        None => (String::new(), String::new(), None, None),
    };
    Answer::Reply {
        http_status: reply.status,
        code: rsp.rsp_code,
        bank_code,
        message: join_messages(&[&rsp.rsp_message, &bank_message]),
        amount,
        bank_tran_date: date,
        bank_name: None,
    }
}

/// How a result item differs from the withdrawal it should describe (empty: it matches).
/// The day and the amount must be the ones asked; the payer's fintech number must be ours
/// where we know it (an EMV code does not tell the terminal the account behind it).
fn item_difference(i: &TransferResultItem, w: &Withdrawal, date: &str) -> Vec<&'static str> {
    let mut differs = Vec::new();
    if i.bank_tran_date != date {
        differs.push("bank_tran_date");
    }
    if parse_amount(&i.tran_amt) != Some(w.amount.0) {
        differs.push("tran_amt");
    }
    if let PaymentMeans::FintechNumber { fintech_use_num } = &w.means {
        if &i.wd_fintech_use_num != fintech_use_num {
            differs.push("wd_fintech_use_num");
        }
    }
    differs
}

/// The longest prefix of `s` that fits in `max` bytes of UTF-8, cut on a character boundary.
fn truncate_bytes(s: &str, max: usize) -> String {
    s[..s.floor_char_boundary(max)].to_string()
}

/// `tran_amt` as won; `None` when absent or not a plain number.
fn parse_amount(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn non_empty(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

#[async_trait::async_trait]
impl Gateway for OpenBankingGateway {
    fn protocol(&self) -> Protocol {
        Protocol::Openbanking
    }

    async fn sign_in(&self) -> Result<String, String> {
        match self.fetch_token().await {
            Ok((_, lifetime)) => Ok(format!(
                "access token issued (valid {} s)",
                lifetime.as_secs()
            )),
            Err(Answer::Reply { code, message, .. }) => Err(format!("{code}: {message}")),
            Err(Answer::NotSent { reason } | Answer::NoReply { reason }) => Err(reason),
            Err(Answer::Garbage { http_status, .. }) => {
                Err(format!("unreadable token reply (HTTP {http_status})"))
            }
        }
    }

    async fn withdraw(&self, w: &Withdrawal) -> Answer {
        let Some(body) = self.withdraw_request(w) else {
            return means_unsupported(&w.means, Protocol::Openbanking);
        };
        let answer = self
            .call(&self.withdraw_url, Some(&w.means), &body, |reply| {
                read_withdraw(reply, w)
            })
            .await;
        log_answer("withdraw", &w.bank_tran_id, &answer);
        answer
    }

    async fn query(&self, w: &Withdrawal, bank_tran_date: &str, now_dtime: &str) -> QueryAnswer {
        let body = TransferResultRequest {
            check_type: "1".into(),
            tran_dtime: now_dtime.to_string(),
            req_cnt: "1".into(),
            req_list: vec![TransferResultQuery {
                tran_no: "1".into(),
                org_bank_tran_id: w.bank_tran_id.clone(),
                org_bank_tran_date: bank_tran_date.to_string(),
                org_tran_amt: w.amount.0.to_string(),
            }],
        };
        let answer = self
            .call(&self.result_url, None, &body, |reply| {
                read_result(reply, w, bank_tran_date)
            })
            .await;
        log_answer("transfer/result", &w.bank_tran_id, &answer);
        answer
    }
}

/// One line per call; answers carry no secrets, and means are never logged.
pub(super) fn log_answer(call: &str, bank_tran_id: &str, answer: &Answer) {
    match answer {
        Answer::Reply {
            http_status,
            code,
            bank_code,
            ..
        } => {
            tracing::info!(call, bank_tran_id, http_status, code = %code, bank_code = %bank_code, "reply")
        }
        Answer::NotSent { reason } => {
            tracing::warn!(call, bank_tran_id, reason = %reason, "not sent")
        }
        Answer::NoReply { reason } => {
            tracing::warn!(call, bank_tran_id, reason = %reason, "no reply")
        }
        Answer::Garbage {
            http_status,
            detail,
        } => tracing::warn!(call, bank_tran_id, http_status, detail = %detail, "unreadable reply"),
    }
}
