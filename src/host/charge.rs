//! One charge at the host, from a terminal's request to the bank and back: the code checked
//! again and its nonce used up in the shared register, the charge journaled before anything
//! leaves, the bank's answer classified by the KFTC rules of `sale::outcome`, and an unknown
//! settled only by asking the bank about the same `bank_tran_id`, never by a new withdrawal.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::db::{Begun, ChargeRow, ChargeState, Db, DbError, NewCharge};
use crate::backend::{Gateway, Withdrawal};
use crate::clock::Clock;
use crate::protocol::host::{codes, ChargeReply, ChargeRequest, ChargeStatus, MAX_PAYMENT_ID_LEN};
use crate::sale::{self, Answer, Outcome, PaymentMeans, Protocol, Won};
use crate::scan::{Payload, TrustedKeys};

/// How long a used nonce is remembered after its code expires: a sale accepted offline with
/// the code may be forwarded this much later (the terminals' offline age cap is below it).
const NONCE_KEPT_AFTER_EXPIRY_S: i64 = 7 * 24 * 3600;

/// Why a request was refused before anything was decided (the API maps each to a status).
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    #[error("{0}")]
    BadRequest(String),
    #[error("payment id {0:?} was already used for a different request")]
    PaymentIdReused(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What the host needs to charge: its records, its bank, the keys its codes are signed with.
pub struct Charges {
    pub db: Db,
    pub bank: Arc<dyn Gateway>,
    pub keys: TrustedKeys,
    /// The host's institution code: its `bank_tran_id`s are this + `U` + 9 characters.
    pub institution_code: String,
    pub clock: Arc<dyn Clock>,
    /// The bank request timeout: also how long "no such transfer" must hold to be believed.
    pub grace: Duration,
}

impl Charges {
    /// A terminal's charge: decided once, answered the same way however often it is asked.
    pub async fn charge(
        &self,
        terminal_id: &str,
        req: &ChargeRequest,
    ) -> Result<ChargeReply, ChargeError> {
        check_request(req)?;
        let nonce = match self.check_code(req) {
            Ok(nonce) => nonce,
            Err(why) => return Ok(decline(req, codes::CODE_INVALID, &why)),
        };
        if let Some(refusal) = self.means_refusal(req) {
            return Ok(refusal);
        }
        let request = serde_json::to_string(req).unwrap_or_default();
        let fingerprint = format!("{:x}", Sha256::digest(request.as_bytes()));
        let nonce_hex = nonce.map(|(n, keep)| (format!("{:016x}", u64::from_be_bytes(n)), keep));
        let code_used = decline(
            req,
            codes::CODE_USED,
            "this code was already used (here or at another till): ask the customer for a new one",
        );
        let now_ms = self.clock.now().timestamp_millis();
        let begun = self
            .db
            .begin_charge(&NewCharge {
                terminal_id,
                payment_id: &req.payment_id,
                fingerprint: &fingerprint,
                request: &request,
                nonce: nonce_hex.as_ref().map(|(n, keep)| (n.as_str(), *keep)),
                code_used: &code_used,
                now_ms,
            })
            .await?;
        match begun {
            Begun::New(row) => self.send(row, req).await,
            Begun::CodeUsed(_) => {
                tracing::warn!(terminal = terminal_id, payment = %req.payment_id, "one-time code used again: declined");
                Ok(code_used)
            }
            Begun::Existing(row) if row.fingerprint != fingerprint => {
                Err(ChargeError::PaymentIdReused(req.payment_id.clone()))
            }
            Begun::Existing(row) => match row.state {
                ChargeState::NotSent => {
                    self.db.resend(row.seq, now_ms).await?;
                    self.send(row, req).await
                }
                _ => self.settle(row).await,
            },
        }
    }

    /// What became of a terminal's charge, asking the bank if the host does not know yet.
    pub async fn status(
        &self,
        terminal_id: &str,
        payment_id: &str,
    ) -> Result<ChargeReply, ChargeError> {
        match self.db.charge(terminal_id, payment_id).await? {
            Some(row) => self.settle(row).await,
            None => Ok(not_found(payment_id)),
        }
    }

    /// A one-time code is checked as of the charge's own time (a sale accepted offline is
    /// forwarded after its code expired) with the host's keys: its nonce and until when to
    /// keep it, or why the code is refused.
    fn check_code(&self, req: &ChargeRequest) -> Result<Option<([u8; 8], i64)>, String> {
        let Some(text) = &req.one_time_code else {
            return Ok(None);
        };
        let at = kst_unix(&req.tran_dtime).ok_or("unreadable tran_dtime")?;
        match crate::scan::parse(text, &self.keys, at) {
            Ok(Payload::OneTime { code, .. }) if code.means == req.means => Ok(Some((
                code.nonce,
                code.expires_at + NONCE_KEPT_AFTER_EXPIRY_S,
            ))),
            Ok(Payload::OneTime { .. }) => {
                Err("the code names another account than the request".into())
            }
            Ok(_) => Err("one_time_code holds no one-time code".into()),
            Err(e) => Err(format!("the one-time code was refused: {e}")),
        }
    }

    fn means_refusal(&self, req: &ChargeRequest) -> Option<ChargeReply> {
        let fits = match self.bank.protocol() {
            Protocol::Payrequest => matches!(req.means, PaymentMeans::PayRequest { .. }),
            _ => !matches!(req.means, PaymentMeans::PayRequest { .. }),
        };
        (!fits).then(|| {
            decline(
                req,
                codes::MEANS_UNSUPPORTED,
                &format!(
                    "this payment host pays through {}, which cannot debit this code",
                    self.bank.protocol().as_str()
                ),
            )
        })
    }

    fn withdrawal(&self, row: &ChargeRow, req: &ChargeRequest) -> Withdrawal {
        Withdrawal {
            bank_tran_id: bank_tran_id(&self.institution_code, row.seq),
            tran_dtime: req.tran_dtime.clone(),
            amount: Won(req.amount),
            means: req.means.clone(),
            product: req.product.clone(),
            signed_code: None,
        }
    }

    async fn send(&self, row: ChargeRow, req: &ChargeRequest) -> Result<ChargeReply, ChargeError> {
        let w = self.withdrawal(&row, req);
        let answer = self.bank.withdraw(&w).await;
        let outcome = match self.bank.protocol() {
            Protocol::Payrequest => sale::classify_pay_request(&answer, w.amount),
            _ => sale::classify_withdrawal(&answer, w.amount),
        };
        let (state, reply) = reply_for(req, &outcome, &answer);
        self.db
            .record(row.seq, state, &reply, self.clock.now().timestamp_millis())
            .await?;
        Ok(reply)
    }

    /// A stored charge's answer; one still open (sending, unknown) or declined for a re-check
    /// is asked about at the bank first.
    async fn settle(&self, row: ChargeRow) -> Result<ChargeReply, ChargeError> {
        let req: ChargeRequest = serde_json::from_str(&row.request)
            .map_err(|e| DbError::Corrupt(format!("charge request: {e}")))?;
        let stored = row.reply.clone();
        let recheck = matches!(&stored, Some(r) if r.status == ChargeStatus::Declined && ["A0017", "311"].contains(&r.code.as_str()));
        match (row.state, stored) {
            (ChargeState::NotSent, _) => return Ok(not_found(&req.payment_id)),
            (state, Some(reply)) if state.is_final() && !recheck => return Ok(reply),
            _ => {}
        }
        let w = self.withdrawal(&row, &req);
        let now = self.clock.now();
        let reply_date = row.reply.as_ref().and_then(|r| r.bank_tran_date.clone());
        let fallback = now.format("%Y%m%d").to_string();
        let mut outcome = Outcome::NotFound;
        let mut last = None;
        for date in sale::query_dates(reply_date.as_deref(), Some(&req.tran_dtime), &fallback) {
            let answer = self
                .bank
                .query(&w, &date, &now.format("%Y%m%d%H%M%S").to_string())
                .await;
            outcome = match self.bank.protocol() {
                Protocol::Payrequest => sale::classify_pay_status(&answer, w.amount),
                _ => sale::classify_transfer_result(&answer, w.amount),
            };
            last = Some(answer);
            if outcome != Outcome::NotFound {
                break;
            }
        }
        let now_ms = now.timestamp_millis();
        if recheck {
            // Only a bank that did pay after all changes a re-checked decline.
            if !matches!(outcome, Outcome::Approved { .. }) {
                return Ok(row.reply.unwrap_or_else(|| not_found(&req.payment_id)));
            }
            tracing::error!(payment = %req.payment_id, "MISMATCH: a charge declined as A0017/311 was paid by the bank");
        }
        if outcome == Outcome::NotFound {
            let first = row.not_found_at.unwrap_or(now_ms);
            self.db.note_not_found(row.seq, first).await?;
            let age =
                |since: i64| Duration::from_millis(now_ms.saturating_sub(since).max(0) as u64);
            outcome =
                sale::not_found_outcome(age(row.sent_at), row.not_found_at.map(age), self.grace);
        }
        let answer = last.unwrap_or(Answer::NotSent {
            reason: "no query was made".into(),
        });
        let (state, reply) = reply_for(&req, &outcome, &answer);
        if state != ChargeState::NotSent {
            self.db.record(row.seq, state, &reply, now_ms).await?;
        }
        Ok(reply)
    }
}

/// The host's answer (and the state to store) for an outcome.
fn reply_for(
    req: &ChargeRequest,
    outcome: &Outcome,
    answer: &Answer,
) -> (ChargeState, ChargeReply) {
    let (bank_name, amount, date) = match answer {
        Answer::Reply {
            bank_name,
            amount,
            bank_tran_date,
            ..
        } => (bank_name.clone(), *amount, bank_tran_date.clone()),
        _ => (None, None, None),
    };
    let mut reply = ChargeReply {
        payment_id: req.payment_id.clone(),
        status: ChargeStatus::Unknown,
        code: String::new(),
        message: String::new(),
        amount,
        bank_tran_date: date,
        bank_name,
    };
    let state = match outcome {
        Outcome::Approved { bank_tran_date } => {
            reply.status = ChargeStatus::Approved;
            reply.code = "A0000".into();
            reply.message = "approved".into();
            reply.bank_tran_date = bank_tran_date.clone().or(reply.bank_tran_date);
            ChargeState::Approved
        }
        Outcome::Declined { code, message, .. } => {
            reply.status = ChargeStatus::Declined;
            reply.code = code.clone();
            reply.message = message.clone();
            ChargeState::Declined
        }
        Outcome::Unknown { code, message } => {
            reply.code = code.clone();
            reply.message = message.clone();
            ChargeState::Unknown
        }
        Outcome::NotSent { reason } => {
            reply.status = ChargeStatus::NotSent;
            reply.code = "NOT_SENT".into();
            reply.message = reason.clone();
            ChargeState::NotSent
        }
        Outcome::NotFound => {
            reply.code = "NOT_FOUND_YET".into();
            reply.message = "the bank has no record of it yet: checking".into();
            ChargeState::Unknown
        }
    };
    (state, reply)
}

fn decline(req: &ChargeRequest, code: &str, message: &str) -> ChargeReply {
    ChargeReply {
        payment_id: req.payment_id.clone(),
        status: ChargeStatus::Declined,
        code: code.into(),
        message: message.into(),
        amount: None,
        bank_tran_date: None,
        bank_name: None,
    }
}

fn not_found(payment_id: &str) -> ChargeReply {
    ChargeReply {
        payment_id: payment_id.into(),
        status: ChargeStatus::NotFound,
        code: "NOT_FOUND".into(),
        message: "the host has no charge of this id".into(),
        amount: None,
        bank_tran_date: None,
        bank_name: None,
    }
}

fn check_request(req: &ChargeRequest) -> Result<(), ChargeError> {
    let bad = |m: &str| Err(ChargeError::BadRequest(m.into()));
    if req.payment_id.is_empty()
        || req.payment_id.len() > MAX_PAYMENT_ID_LEN
        || !req.payment_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return bad("payment_id must be 1 to 40 letters and digits");
    }
    if req.amount == 0 {
        return bad("amount must be at least 1 won");
    }
    if kst_unix(&req.tran_dtime).is_none() {
        return bad("tran_dtime must be a real yyyyMMddHHmmss time");
    }
    if req.product.chars().count() > 100 {
        return bad("product is longer than 100 characters");
    }
    Ok(())
}

/// `yyyyMMddHHmmss` in Korean time, as unix seconds.
fn kst_unix(dtime: &str) -> Option<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(dtime, "%Y%m%d%H%M%S").ok()?;
    (dtime.len() == 14).then(|| t.and_utc().timestamp() - 9 * 3600)
}

/// Institution code + `U` + the charge's serial number in 9 base-36 digits: the database's
/// serial key makes it unique for every host sharing the database, on every day.
pub fn bank_tran_id(institution_code: &str, seq: i64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = seq.max(0) as u64;
    let mut out = [b'0'; 9];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    format!("{institution_code}U{}", String::from_utf8_lossy(&out))
}
