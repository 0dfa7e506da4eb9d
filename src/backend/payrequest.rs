//! The payRequest client: `POST /api/payRequest` (de-duplicated by the `X-Request-Id`
//! header) and `GET /api/payRequest/{id}`, each reply reported faithfully as an `Answer`.

use super::openbanking::log_answer;
use super::{
    endpoint, exchange, json_object, means_unsupported, result_mismatch, BackendError, Gateway,
    RawReply, Withdrawal,
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

    /// `{base}/api/payRequest/{id}?date={yyyyMMdd}`, the id percent-encoded as one path
    /// segment; the day because a request id is unique only within its business day.
    fn status_url(&self, request_id: &str, date: &str) -> Option<reqwest::Url> {
        let mut url = self.base.clone();
        {
            let mut segments = url.path_segments_mut().ok()?;
            segments.pop_if_empty();
            for part in PAY_PATH.split('/').filter(|p| !p.is_empty()) {
                segments.push(part);
            }
            segments.push(request_id);
        }
        url.query_pairs_mut().append_pair("date", date);
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
            bank_tran_date: trans_day(&rsp.product_trans_date),
            bank_name: None,
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
        bank_name: None,
    }
}

/// `productTransDate` (`yyyy-MM-dd HH:mm:ss`) as a business day `yyyyMMdd`.
fn trans_day(product_trans_date: &str) -> Option<String> {
    chrono::NaiveDateTime::parse_from_str(product_trans_date.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.format("%Y%m%d").to_string())
}

/// Reports a status reply about `w`: `code` = the status, `bank_code` = its failure code. A
/// payment that is not ours (another request id, product or price) is [`RESULT_MISMATCH`].
fn read_status(reply: &RawReply, w: &Withdrawal) -> Answer {
    let (st, map) = match json_object::<PayStatus>(reply) {
        Ok(parsed) => parsed,
        Err(garbage) => return garbage,
    };
    if !map.contains_key("status") {
        // Not a status: perhaps a PayError (e.g. a malformed id), reported as such.
        return read_error(reply);
    }
    if let Some(p) = &st.payment {
        let mut differs = Vec::new();
        if !st.request_id.is_empty() && st.request_id != w.bank_tran_id {
            differs.push("requestId");
        }
        if p.product_id != w.bank_tran_id {
            differs.push("productId");
        }
        if p.product_name != w.product {
            differs.push("productName");
        }
        if p.product_price != w.amount.0 {
            differs.push("productPrice");
        }
        if !differs.is_empty() {
            return result_mismatch(reply.status, &w.bank_tran_id, &differs);
        }
    }
    Answer::Reply {
        http_status: reply.status,
        code: st.status,
        bank_code: st.code,
        message: st.message,
        bank_tran_date: st
            .payment
            .as_ref()
            .and_then(|p| trans_day(&p.product_trans_date)),
        amount: st.payment.map(|p| p.product_price),
        bank_name: None,
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

    async fn query(&self, w: &Withdrawal, bank_tran_date: &str, _now_dtime: &str) -> QueryAnswer {
        let Some(url) = self.status_url(&w.bank_tran_id, bank_tran_date) else {
            return Answer::NotSent {
                reason: "the backend URL cannot take a request id path".into(),
            };
        };
        let request = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        let answer = match exchange(request).await {
            Ok(reply) => read_status(&reply, w),
            Err(answer) => answer,
        };
        log_answer("payRequest status", &w.bank_tran_id, &answer);
        answer
    }
}
