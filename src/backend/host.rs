//! The terminal's client of `qrpos host` (`/v1`): charges by the sale's own id, status by the
//! same id, signed in with the terminal's own credentials (HTTP Basic). The host holds the
//! institution's secret and the customers' tokens; this client holds neither.

use base64::Engine;

use super::openbanking::log_answer;
use super::{endpoint, exchange, json_object, BackendError, Gateway, RawReply, Secret, Withdrawal};
use crate::protocol::host::{ChargeReply, ChargeRequest, ErrorReply, CHARGES_PATH, TERMINAL_PATH};
use crate::sale::{Answer, Protocol, QueryAnswer};

pub struct HostGateway {
    http: reqwest::Client,
    charges_url: reqwest::Url,
    terminal_url: reqwest::Url,
    authorization: Secret,
}

impl HostGateway {
    pub(super) fn new(
        http: reqwest::Client,
        base: &reqwest::Url,
        terminal_id: &str,
        terminal_secret: &Secret,
    ) -> Result<HostGateway, BackendError> {
        if terminal_id.is_empty() || terminal_secret.expose().is_empty() {
            return Err(BackendError::BadSetting {
                setting: "client_id",
                reason: "a terminal of a payment host needs its own id and secret in client_id and client_secret (`qrpos host terminal add` prints them)".into(),
            });
        }
        let pair = format!("{terminal_id}:{}", terminal_secret.expose());
        Ok(HostGateway {
            http,
            charges_url: endpoint(base, CHARGES_PATH)?,
            terminal_url: endpoint(base, TERMINAL_PATH)?,
            authorization: Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )),
        })
    }

    fn status_url(&self, payment_id: &str) -> Option<reqwest::Url> {
        let mut url = self.charges_url.clone();
        url.path_segments_mut().ok()?.push(payment_id);
        Some(url)
    }

    fn signed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header(reqwest::header::AUTHORIZATION, self.authorization.expose())
            .header(reqwest::header::ACCEPT, "application/json")
    }
}

/// A host reply as an `Answer`: `code` = the host's status word (`error` for a refusal),
/// `bank_code` = the deciding code, `message` = the host's words for the cashier.
fn read_reply(reply: &RawReply) -> Answer {
    if (200..300).contains(&reply.status) || reply.status == 404 {
        if let Ok((r, map)) = json_object::<ChargeReply>(reply) {
            if map.contains_key("status") {
                return Answer::Reply {
                    http_status: reply.status,
                    code: r.status.as_str().to_string(),
                    bank_code: r.code,
                    message: r.message,
                    amount: r.amount,
                    bank_tran_date: r.bank_tran_date,
                    bank_name: r.bank_name,
                };
            }
        }
    }
    match json_object::<ErrorReply>(reply) {
        Ok((e, map)) if map.contains_key("error") => Answer::Reply {
            http_status: reply.status,
            code: "error".into(),
            bank_code: e.error,
            message: e.message,
            amount: None,
            bank_tran_date: None,
            bank_name: None,
        },
        Ok(_) => Answer::Garbage {
            http_status: reply.status,
            detail: format!(
                "HTTP {} reply that is neither an answer nor an error",
                reply.status
            ),
        },
        Err(garbage) => garbage,
    }
}

#[async_trait::async_trait]
impl Gateway for HostGateway {
    fn protocol(&self) -> Protocol {
        Protocol::Host
    }

    async fn withdraw(&self, w: &Withdrawal) -> Answer {
        let body = ChargeRequest {
            payment_id: w.bank_tran_id.clone(),
            amount: w.amount.0,
            tran_dtime: w.tran_dtime.clone(),
            product: w.product.clone(),
            means: w.means.clone(),
            one_time_code: w.signed_code.clone(),
        };
        let request = self
            .signed(self.http.post(self.charges_url.clone()))
            .json(&body);
        let answer = match exchange(request).await {
            Ok(reply) => read_reply(&reply),
            Err(answer) => answer,
        };
        log_answer("host charge", &w.bank_tran_id, &answer);
        answer
    }

    async fn query(&self, w: &Withdrawal, _bank_tran_date: &str, _now_dtime: &str) -> QueryAnswer {
        // The host keys charges by the terminal's payment id alone: the day is its business.
        let Some(url) = self.status_url(&w.bank_tran_id) else {
            return Answer::NotSent {
                reason: "the host URL cannot take a payment id path".into(),
            };
        };
        let answer = match exchange(self.signed(self.http.get(url))).await {
            Ok(reply) => read_reply(&reply),
            Err(answer) => answer,
        };
        log_answer("host status", &w.bank_tran_id, &answer);
        answer
    }

    async fn sign_in(&self) -> Result<String, String> {
        match exchange(self.signed(self.http.get(self.terminal_url.clone()))).await {
            Ok(reply) if reply.status == 200 => {
                Ok("the payment host accepts this terminal's credentials".into())
            }
            Ok(reply) => match read_reply(&reply) {
                Answer::Reply {
                    bank_code, message, ..
                } => Err(format!("{bank_code}: {message}")),
                _ => Err(format!(
                    "unreadable reply from the payment host (HTTP {})",
                    reply.status
                )),
            },
            Err(Answer::NotSent { reason } | Answer::NoReply { reason }) => Err(reason),
            Err(_) => Err("unreadable reply from the payment host".into()),
        }
    }
}
