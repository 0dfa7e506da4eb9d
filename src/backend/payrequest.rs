//! The payRequest client: `POST /api/payRequest` (de-duplicated by the `X-Request-Id`
//! header) and `GET /api/payRequest/{id}`, each reply reported faithfully as an `Answer`.

use super::openbanking::log_answer;
use super::{
    endpoint, exchange, json_object, means_unsupported, BackendError, Gateway, RawReply, Withdrawal,
};
use crate::protocol::payrequest::{
    PayError, PayRequest, PayResponse, PayStatus, PAY_PATH, REQUEST_ID_HEADER,
};
use crate::sale::{Answer, PaymentMeans, Protocol, QueryAnswer};

/// payRequest gateway (see `src/protocol/payrequest.rs`).
pub struct PayRequestGateway {
    http: reqwest::Client,
    base: reqwest::Url,
    pay_url: reqwest::Url,
}

impl PayRequestGateway {
    pub(super) fn new(
        http: reqwest::Client,
        base: &reqwest::Url,
    ) -> Result<PayRequestGateway, BackendError> {
        Ok(PayRequestGateway {
            http,
            base: base.clone(),
            pay_url: endpoint(base, PAY_PATH)?,
        })
    }

    /// `{base}/api/payRequest/{id}`, the id percent-encoded as one path segment.
    fn status_url(&self, request_id: &str) -> Option<reqwest::Url> {
        let mut url = self.base.clone();
        {
            let mut segments = url.path_segments_mut().ok()?;
            segments.pop_if_empty();
            for part in PAY_PATH.split('/').filter(|p| !p.is_empty()) {
                segments.push(part);
            }
            segments.push(request_id);
        }
        Some(url)
    }
}

/// Reports a `payRequest` reply: a success must carry `productPrice`, a failure a `code`.
fn read_pay(reply: &RawReply) -> Answer {
    if (200..300).contains(&reply.status) {
        let (rsp, map) = match json_object::<PayResponse>(reply) {
            Ok(parsed) => parsed,
            Err(garbage) => return garbage,
        };
        if !map.contains_key("productPrice") {
            return Answer::Garbage {
                http_status: reply.status,
                detail: "success reply without productPrice".into(),
            };
        }
        return Answer::Reply {
            http_status: reply.status,
            code: "OK".into(),
            bank_code: String::new(),
            message: if rsp.product_trans_date.is_empty() {
                String::new()
            } else {
                format!("paid at {}", rsp.product_trans_date)
            },
            amount: Some(rsp.product_price),
            bank_tran_date: None,
        };
    }
    read_error(reply)
}

/// A non-success reply: a `PayError` body, or garbage.
fn read_error(reply: &RawReply) -> Answer {
    let (err, map) = match json_object::<PayError>(reply) {
        Ok(parsed) => parsed,
        Err(garbage) => return garbage,
    };
    if !map.contains_key("code") {
        return Answer::Garbage {
            http_status: reply.status,
            detail: format!("HTTP {} reply without an error code", reply.status),
        };
    }
    Answer::Reply {
        http_status: reply.status,
        code: err.code,
        bank_code: String::new(),
        message: err.message,
        amount: None,
        bank_tran_date: None,
    }
}

/// Reports a status reply: `code` = the status, `bank_code` = its failure code.
fn read_status(reply: &RawReply) -> Answer {
    let (st, map) = match json_object::<PayStatus>(reply) {
        Ok(parsed) => parsed,
        Err(garbage) => return garbage,
    };
    if !map.contains_key("status") {
        // Not a status: perhaps a PayError (e.g. a malformed id), reported as such.
        return read_error(reply);
    }
    Answer::Reply {
        http_status: reply.status,
        code: st.status,
        bank_code: st.code,
        message: st.message,
        amount: st.payment.map(|p| p.product_price),
        bank_tran_date: None,
    }
}

#[async_trait::async_trait]
impl Gateway for PayRequestGateway {
    fn protocol(&self) -> Protocol {
        Protocol::Payrequest
    }

    async fn withdraw(&self, w: &Withdrawal) -> Answer {
        let PaymentMeans::PayRequest {
            identity_number,
            org_code,
            account_number,
        } = &w.means
        else {
            return means_unsupported(&w.means, Protocol::Payrequest);
        };
        let body = PayRequest {
            identity_number: identity_number.clone(),
            org_code: org_code.clone(),
            account_number: account_number.clone(),
            // The terminal has no product catalogue: the sale's id makes the product id
            // unique per sale and ties the backend's record to the journal's.
            product_id: w.bank_tran_id.clone(),
            product_name: w.product.clone(),
            product_price: w.amount.0,
        };
        let request = self
            .http
            .post(self.pay_url.clone())
            .header(REQUEST_ID_HEADER, w.bank_tran_id.as_str())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body);
        let answer = match exchange(request).await {
            Ok(reply) => read_pay(&reply),
            Err(answer) => answer,
        };
        log_answer("payRequest", &w.bank_tran_id, &answer);
        answer
    }

    async fn query(&self, w: &Withdrawal, _now_dtime: &str) -> QueryAnswer {
        let Some(url) = self.status_url(&w.bank_tran_id) else {
            return Answer::NotSent {
                reason: "the backend URL cannot take a request id path".into(),
            };
        };
        let request = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        let answer = match exchange(request).await {
            Ok(reply) => read_status(&reply),
            Err(answer) => answer,
        };
        log_answer("payRequest status", &w.bank_tran_id, &answer);
        answer
    }
}
