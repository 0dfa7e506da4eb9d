//! The orchestrator of a sale: opens it in the journal, checks the customer's payload, sends
//! the withdrawal, classifies the answer, confirms unknown outcomes by query, and resolves what
//! an earlier run left open. One rule above all: every state change is journaled (durably)
//! before anything is sent, shown or signalled, and an unknown outcome is only ever settled by
//! querying the original `bank_tran_id`, never by a new withdrawal.

use crate::backend::{Gateway, Withdrawal};
use crate::clock::Clock;
use crate::crash_point::{crash_point, AFTER_RESPONSE, AFTER_SUBMIT_JOURNALED};
use crate::sale::{self, Answer, Outcome, Protocol, Sale, Status, Won};
use crate::scan::{Payload, PayloadError, TrustedKeys};
use crate::store::{Journal, NonceUse, StoreError};
use chrono::{DateTime, FixedOffset};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The rules a sale runs by, from the config.
#[derive(Debug, Clone)]
pub struct SalePolicy {
    pub institution_code: String,
    pub terminal_prefix: String,
    pub max_amount: Won,
    pub accept_static: bool,
    pub protocol: Protocol,
    /// The backend request timeout: "no such transfer" is believed only after it, twice.
    pub grace: Duration,
    pub query_attempts: u32,
    pub query_backoff: Duration,
    pub offline: sale::OfflinePolicy,
    /// How long after an A0017/311 decline its one re-check may run (the bank may finish
    /// late).
    pub recheck_after: Duration,
    /// A sale still unknown this long after it was sent goes on the attention list.
    pub unknown_attention_after: Duration,
}

/// The start of the attention note for a sale that stays unknown too long; it is cleared
/// when the sale settles.
const STILL_UNKNOWN: &str = "outcome still unknown";

/// What this process did with a sale, on the monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Moment {
    /// The withdrawal (last) left the device.
    Sent,
    /// The first "no such transfer" came back.
    NotFound,
    /// An A0017/311 decline was journaled.
    Declined,
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Amount(#[from] sale::AmountError),
    #[error(transparent)]
    Lifecycle(#[from] sale::IllegalTransition),
    #[error("the terminal's clock says {0}, which cannot be right: set the date and time before selling")]
    ClockWrong(String),
}

/// Before this (2026-01-01 KST) a wall clock is certainly wrong: a Pi without a real-time
/// clock boots at 1970 until it finds a time server. Its dates would file sales under the
/// wrong day, so no sale opens.
const EARLIEST_PLAUSIBLE_MS: i64 = 1_767_193_200_000;

/// Why a scanned code cannot pay, with a stable code for logs/JSON and words for the cashier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl From<PayloadError> for Refusal {
    fn from(e: PayloadError) -> Refusal {
        let code = match e {
            PayloadError::UnknownFormat => "QR_UNKNOWN_FORMAT",
            PayloadError::Expired { .. } => "QR_EXPIRED",
            PayloadError::NotYetValid => "QR_NOT_YET_VALID",
            PayloadError::LifetimeTooLong { .. } => "QR_LIFETIME_TOO_LONG",
            PayloadError::BadSignature => "QR_BAD_SIGNATURE",
            PayloadError::UnknownKey { .. } => "QR_UNKNOWN_KEY",
            PayloadError::Malformed(_) => "QR_MALFORMED",
            PayloadError::MalformedTlv(_) => "QR_MALFORMED_TLV",
            PayloadError::Replayed => "QR_REPLAYED",
        };
        Refusal {
            code,
            message: e.to_string(),
        }
    }
}

pub struct Terminal {
    journal: Journal,
    gateway: Arc<dyn Gateway>,
    keys: TrustedKeys,
    policy: SalePolicy,
    clock: Arc<dyn Clock>,
    /// Monotonic instants of this process's [`Moment`]s per sale id. A sale an earlier run
    /// left has none: its waits are measured on the journaled wall-clock times instead.
    moments: Mutex<HashMap<(String, Moment), Instant>>,
    /// Sales a checkout of this process is working on (see [`Terminal::open_held_sale`]):
    /// the resolver and the forwarder leave them alone, or a background pass would cancel a
    /// sale waiting for its code as abandoned, or query one while its charge is under way.
    in_hand: Mutex<HashSet<String>>,
}

/// A sale held by a checkout: released when dropped (the checkout ended, or was dropped).
/// From then on the resolver may take it, e.g. to confirm an unknown outcome.
pub struct Hold<'a> {
    terminal: &'a Terminal,
    sale_id: String,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.terminal
            .in_hand
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.sale_id);
    }
}

pub(crate) fn now_ms(t: &DateTime<FixedOffset>) -> i64 {
    t.timestamp_millis()
}
fn business_date(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y%m%d").to_string()
}
pub(crate) fn tran_dtime(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

impl Terminal {
    pub fn new(
        journal: Journal,
        gateway: Arc<dyn Gateway>,
        keys: TrustedKeys,
        policy: SalePolicy,
        clock: Arc<dyn Clock>,
    ) -> Terminal {
        Terminal {
            journal,
            gateway,
            keys,
            policy,
            clock,
            moments: Mutex::new(HashMap::new()),
            in_hand: Mutex::new(HashSet::new()),
        }
    }

    /// Notes that `moment` happened to `sale_id` now, on the monotonic clock.
    fn mark(&self, sale_id: &str, moment: Moment) {
        let now = self.clock.monotonic();
        self.moments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((sale_id.to_string(), moment), now);
    }

    /// The withdrawal of `sale_id` is leaving the device now. A "not found" of an earlier
    /// send says nothing about this one.
    pub(crate) fn mark_sent(&self, sale_id: &str) {
        self.mark(sale_id, Moment::Sent);
        self.moments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(sale_id.to_string(), Moment::NotFound));
    }

    /// Forgets the moments of a sale the terminal has no more work on.
    fn forget(&self, sale_id: &str) {
        self.moments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _), _| id != sale_id);
    }

    /// How long ago `moment` happened to `sale`: on the monotonic clock if this process saw
    /// it, else by the journaled wall-clock time (an earlier run's); `None` if it never did.
    fn since(&self, sale: &Sale, moment: Moment) -> Option<Duration> {
        let seen = self
            .moments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(sale.id.clone(), moment))
            .copied();
        if let Some(at) = seen {
            return Some(self.clock.monotonic().saturating_duration_since(at));
        }
        let journaled = match moment {
            Moment::Sent => sale.sent_at_ms(),
            Moment::NotFound => sale.not_found_at_ms,
            Moment::Declined => sale
                .history
                .iter()
                .rfind(|t| t.to == Status::Declined)
                .map(|t| t.at_ms),
        }?;
        let ago = now_ms(&self.clock.now()).saturating_sub(journaled).max(0);
        Some(Duration::from_millis(ago as u64))
    }

    /// Keeps what a withdrawal answer tells about the sale: that the backend saw it, and the
    /// business day it filed it under (the day to query with).
    pub(crate) fn note_answer(&self, sale: &mut Sale, answer: &Answer) {
        sale.backend_answered |= answer.reached_backend();
        if let Answer::Reply {
            bank_tran_date,
            bank_name,
            ..
        } = answer
        {
            sale.keep_reply_date(bank_tran_date.as_deref());
            if bank_name.is_some() {
                sale.bank_name = bank_name.clone();
            }
        }
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn policy(&self) -> &SalePolicy {
        &self.policy
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub(crate) fn gateway(&self) -> &dyn Gateway {
        self.gateway.as_ref()
    }

    pub(crate) fn classify(&self, answer: &sale::Answer, amount: Won) -> Outcome {
        match self.policy.protocol {
            Protocol::Openbanking => sale::classify_withdrawal(answer, amount),
            Protocol::Payrequest => sale::classify_pay_request(answer, amount),
            Protocol::Host => sale::classify_host_charge(answer, amount),
        }
    }

    /// Step 1–2 of a sale: the amount is checked, the ids allocated, and the sale journaled
    /// (durably) before any code is read.
    pub fn open_sale(&self, amount: Won, product: &str) -> Result<Sale, TerminalError> {
        self.open(amount, product, false)
    }

    /// [`Terminal::open_sale`] for a checkout running beside the background resolver and
    /// forwarder: the sale is held from the moment it is journaled (inside the same
    /// transaction's closure, so no background pass can see it unheld) until the [`Hold`]
    /// is dropped.
    pub fn open_held_sale(
        &self,
        amount: Won,
        product: &str,
    ) -> Result<(Sale, Hold<'_>), TerminalError> {
        let sale = self.open(amount, product, true)?;
        let hold = Hold {
            terminal: self,
            sale_id: sale.id.clone(),
        };
        Ok((sale, hold))
    }

    /// Whether a checkout of this process holds the sale.
    pub fn is_held(&self, sale_id: &str) -> bool {
        self.in_hand
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(sale_id)
    }

    fn open(&self, amount: Won, product: &str, hold: bool) -> Result<Sale, TerminalError> {
        if amount.0 == 0 {
            return Err(sale::AmountError::Zero.into());
        }
        if amount > self.policy.max_amount {
            return Err(sale::AmountError::OverMaximum {
                asked: amount,
                max: self.policy.max_amount,
            }
            .into());
        }
        let now = self.clock.now();
        if now_ms(&now) < EARLIEST_PLAUSIBLE_MS {
            return Err(TerminalError::ClockWrong(
                now.format("%Y-%m-%d %H:%M").to_string(),
            ));
        }
        let date = business_date(&now);
        let product = if product.trim().is_empty() {
            "QR payment"
        } else {
            product.trim()
        };
        let protocol = self.policy.protocol;
        // The ids held by this call: sled may run the closure more than once, and a failed
        // commit holds nothing.
        let held_here = Mutex::new(Vec::new());
        let created = self.journal.create_sale(
            &self.policy.institution_code,
            &self.policy.terminal_prefix,
            &date,
            now_ms(&now),
            |id, btid| {
                if hold {
                    self.in_hand
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id.clone());
                    held_here
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(id.clone());
                }
                Sale::new(
                    id,
                    btid,
                    date.clone(),
                    amount,
                    product.to_string(),
                    protocol,
                    now_ms(&now),
                )
            },
        );
        let kept = created.as_ref().ok().map(|s| s.id.as_str());
        let mut in_hand = self.in_hand.lock().unwrap_or_else(|e| e.into_inner());
        for id in held_here.into_inner().unwrap_or_else(|e| e.into_inner()) {
            if Some(id.as_str()) != kept {
                in_hand.remove(&id);
            }
        }
        drop(in_hand);
        let sale = created?;
        tracing::info!(sale = %sale.id, bank_tran_id = %sale.bank_tran_id, amount = %sale.amount, "sale opened");
        Ok(sale)
    }

    /// Step 4: is this QR text something this terminal may charge? Parsing, signature,
    /// expiry, the static-code policy, the protocol, and (early) the nonce.
    pub fn read_payload(&self, text: &str) -> Result<Payload, Refusal> {
        let now = self.clock.now();
        let payload = crate::scan::parse(text, &self.keys, now.timestamp())?;
        if let Payload::Static { .. } = payload {
            if !self.policy.accept_static {
                return Err(Refusal::new(
                    "STATIC_NOT_ALLOWED",
                    "static fintech-number codes are switched off here: ask the customer for a one-time code",
                ));
            }
        }
        let means = payload.means();
        let fits = match self.policy.protocol {
            Protocol::Openbanking => !matches!(means, sale::PaymentMeans::PayRequest { .. }),
            Protocol::Payrequest => matches!(means, sale::PaymentMeans::PayRequest { .. }),
            // The host knows which bank protocol it speaks, and declines what it cannot pay.
            Protocol::Host => true,
        };
        if !fits {
            return Err(Refusal::new(
                "MEANS_UNSUPPORTED",
                format!(
                    "this {} code cannot be paid through the {} backend",
                    payload.kind(),
                    self.policy.protocol.as_str()
                ),
            ));
        }
        if let Payload::OneTime { code, .. } = &payload {
            match self.journal.nonce_seen(&code.nonce) {
                Ok(true) => return Err(PayloadError::Replayed.into()),
                Ok(false) => {}
                Err(e) => return Err(Refusal::new("JOURNAL", e.to_string())),
            }
        }
        Ok(payload)
    }

    /// Gives up on a sale before anything was sent (bad code, cashier cancel, timeout).
    pub fn cancel(&self, mut sale: Sale, refusal: &Refusal) -> Result<Sale, TerminalError> {
        let now = self.clock.now();
        sale.advance(
            Status::Cancelled,
            now_ms(&now),
            format!("{}: {}", refusal.code, refusal.message),
        )?;
        sale.code = Some(refusal.code.to_string());
        sale.message = Some(refusal.message.clone());
        self.journal.save(&sale)?;
        tracing::info!(sale = %sale.id, code = refusal.code, "sale cancelled");
        Ok(sale)
    }

    /// Step 5: charges an open sale with a checked payload and returns it in its new state
    /// (approved, declined, unknown after on-the-spot confirmation, or cancelled if the code
    /// turned out to be replayed).
    pub async fn charge(&self, mut sale: Sale, payload: &Payload) -> Result<Sale, TerminalError> {
        let now = self.clock.now();
        let dtime = tran_dtime(&now);
        sale.means = Some(payload.means());
        sale.one_time_code = payload.is_one_time();
        if let Payload::OneTime { text, .. } = payload {
            sale.signed_code = Some(text.clone());
        }
        sale.tran_dtime = Some(dtime.clone());
        sale.advance(
            Status::Submitted,
            now_ms(&now),
            format!("sending withdrawal ({})", payload.means().masked()),
        )?;
        // Journaled before the request leaves: a crash from here on is resolved by query.
        if let Payload::OneTime { code, .. } = payload {
            if self
                .journal
                .save_with_nonce(&sale, &code.nonce, code.expires_at)?
                == NonceUse::Replayed
            {
                let fresh = self.journal.get(&sale.id)?;
                return self.cancel(fresh, &PayloadError::Replayed.into());
            }
        } else {
            self.journal.save(&sale)?;
        }
        crash_point(AFTER_SUBMIT_JOURNALED);
        let Some(withdrawal) = self.withdrawal(&sale) else {
            return self.flag_incomplete(sale);
        };
        self.mark_sent(&sale.id);
        let answer = self.gateway.withdraw(&withdrawal).await;
        crash_point(AFTER_RESPONSE);
        self.note_answer(&mut sale, &answer);
        let outcome = self.classify(&answer, sale.amount);
        tracing::info!(sale = %sale.id, ?outcome, "withdrawal answered");
        if let Outcome::NotSent { reason } = outcome {
            self.offline(&mut sale, &reason)?;
            return Ok(sale);
        }
        self.settle(&mut sale, outcome, "withdrawal")?;
        if sale.status == Status::Unknown {
            sale = self
                .confirm(sale, &withdrawal, self.policy.query_attempts)
                .await?;
        }
        Ok(sale)
    }

    /// Settles what earlier runs left open: sales never sent are cancelled, sales that may
    /// have been sent are queried (never re-sent), declines due a re-check are re-checked once.
    /// Queued sales are left to the forwarder. Also forgets the nonces of expired codes.
    pub async fn resolve_open(&self) -> Result<Vec<Sale>, TerminalError> {
        // A used code's nonce is kept only until the code expires: it cannot be replayed after.
        self.journal.prune_nonces(self.clock.now().timestamp())?;
        let mut touched = Vec::new();
        for listed in self.journal.open_sales()? {
            // Work from the journal's copy as it is now, not as listed: a sale held by a
            // checkout when listed may have been charged and released meanwhile (a query of
            // an earlier sale can take seconds). Once released a sale is never held again,
            // so this copy is the latest.
            if self.is_held(&listed.id) {
                continue;
            }
            let mut sale = self.journal.get(&listed.id)?;
            match sale.status {
                Status::Created => {
                    let refusal = Refusal::new(
                        "ABANDONED",
                        "no code was read before the terminal stopped; nothing was charged",
                    );
                    touched.push(self.cancel(sale, &refusal)?);
                }
                Status::Submitted | Status::Unknown | Status::Forwarded => {
                    let Some(w) = self.withdrawal(&sale) else {
                        touched.push(self.flag_incomplete(sale)?);
                        continue;
                    };
                    sale = self.confirm(sale, &w, 1).await?;
                    touched.push(self.flag_if_unknown_too_long(sale)?);
                }
                Status::Declined if sale.recheck_due => {
                    // The bank may still finish a transfer it timed out on: wait a while.
                    let due = self
                        .since(&sale, Moment::Declined)
                        .is_none_or(|d| d >= self.policy.recheck_after);
                    if due {
                        touched.push(self.recheck(sale).await?);
                    }
                }
                _ => {}
            }
        }
        Ok(touched)
    }

    /// Nothing left the device: queue the sale if the offline policy allows, else decline it.
    fn offline(&self, sale: &mut Sale, reason: &str) -> Result<(), TerminalError> {
        let now = now_ms(&self.clock.now());
        let queued: Vec<sale::QueuedSale> = self
            .journal
            .open_sales()?
            .iter()
            .filter(|s| matches!(s.status, Status::Queued | Status::Forwarded) && s.id != sale.id)
            .map(|s| sale::QueuedSale {
                amount: s.amount,
                created_at_ms: s.created_at_ms,
            })
            .collect();
        match sale::offline_acceptance(
            &self.policy.offline,
            sale.amount,
            sale.one_time_code,
            &queued,
            now,
        ) {
            Ok(()) => {
                sale.advance(
                    Status::Queued,
                    now,
                    format!("backend unreachable ({reason}): accepted offline"),
                )?;
                sale.code = Some("QUEUED".into());
                sale.message = Some(format!(
                    "accepted offline: {} will be sent when the backend answers again",
                    sale.amount
                ));
            }
            Err(why) => {
                sale.advance(
                    Status::Declined,
                    now,
                    format!("backend unreachable ({reason})"),
                )?;
                sale.code = Some("OFFLINE".into());
                sale.message = Some(format!(
                    "offline — cannot accept this payment: {why}; nothing was charged"
                ));
            }
        }
        self.journal.save(sale)?;
        Ok(())
    }

    /// The withdrawal of a sale as journaled; `None` if the record lacks its payment means
    /// (it can then be neither sent nor queried: see [`Terminal::flag_incomplete`]).
    pub(crate) fn withdrawal(&self, sale: &Sale) -> Option<Withdrawal> {
        Some(Withdrawal {
            bank_tran_id: sale.bank_tran_id.clone(),
            tran_dtime: sale.tran_dtime.clone().unwrap_or_default(),
            amount: sale.amount,
            means: sale.means.clone()?,
            product: sale.product.clone(),
            signed_code: sale.signed_code.clone(),
        })
    }

    /// A journal record that cannot be sent or queried is flagged for a human, once, and
    /// left open — never guessed at, and never a reason to stop resolving the others.
    pub(crate) fn flag_incomplete(&self, mut sale: Sale) -> Result<Sale, TerminalError> {
        if sale.attention.is_none() {
            sale.attention = Some(format!(
                "the journal record lacks the payment means: check {} ({}) with the backend by hand",
                sale.bank_tran_id, sale.amount
            ));
            tracing::error!(sale = %sale.id, "journal record without payment means");
            self.journal.save(&sale)?;
        }
        Ok(sale)
    }

    /// A sale sent long ago whose outcome is still unknown goes on the attention list, once;
    /// the resolver keeps asking all the same.
    fn flag_if_unknown_too_long(&self, mut sale: Sale) -> Result<Sale, TerminalError> {
        let waiting = matches!(
            sale.status,
            Status::Submitted | Status::Unknown | Status::Forwarded
        );
        let Some(since) = self.since(&sale, Moment::Sent) else {
            return Ok(sale);
        };
        if waiting && sale.attention.is_none() && since >= self.policy.unknown_attention_after {
            sale.attention = Some(format!(
                "{STILL_UNKNOWN} {} min after sending: the terminal keeps asking; check {} ({}, day {}) with the backend",
                since.as_secs() / 60,
                sale.bank_tran_id,
                sale.amount,
                sale.query_dates().join(" or ")
            ));
            tracing::warn!(sale = %sale.id, "outcome unknown for too long: on the attention list");
            self.journal.save(&sale)?;
        }
        Ok(sale)
    }

    /// Asks what became of the original withdrawal, on each business day it may be filed
    /// under ([`Sale::query_dates`]); the first day with a record answers.
    pub(crate) async fn query_outcome(&self, sale: &Sale, w: &Withdrawal) -> Outcome {
        for date in sale.query_dates() {
            let answer = self
                .gateway
                .query(w, &date, &tran_dtime(&self.clock.now()))
                .await;
            let outcome = match self.policy.protocol {
                Protocol::Openbanking => sale::classify_transfer_result(&answer, sale.amount),
                Protocol::Payrequest => sale::classify_pay_status(&answer, sale.amount),
                Protocol::Host => sale::classify_host_status(&answer, sale.amount),
            };
            if outcome != Outcome::NotFound {
                return outcome;
            }
        }
        Outcome::NotFound
    }

    /// What a "no such transfer" means for `sale` now (see [`sale::not_found_outcome`]).
    /// The first one is journaled (its wall time) and marked (its monotonic time).
    fn judge_not_found(&self, sale: &mut Sale) -> Result<Outcome, TerminalError> {
        let since_sent = self.since(sale, Moment::Sent).unwrap_or(Duration::ZERO);
        let since_first = self.since(sale, Moment::NotFound);
        if since_first.is_none() {
            sale.not_found_at_ms = Some(now_ms(&self.clock.now()));
            self.mark(&sale.id, Moment::NotFound);
            self.journal.save(sale)?;
        }
        Ok(sale::not_found_outcome(
            since_sent,
            since_first,
            self.policy.grace,
        ))
    }

    /// Queries the original withdrawal up to `attempts` times with doubling back-off; the
    /// first query of an on-the-spot confirmation waits one back-off, a resolver query not.
    pub(crate) async fn confirm(
        &self,
        mut sale: Sale,
        w: &Withdrawal,
        attempts: u32,
    ) -> Result<Sale, TerminalError> {
        let mut backoff = self.policy.query_backoff;
        for attempt in 0..attempts {
            if attempts > 1 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(8));
            }
            let outcome = match self.query_outcome(&sale, w).await {
                Outcome::NotFound => self.judge_not_found(&mut sale)?,
                other => other,
            };
            tracing::info!(sale = %sale.id, attempt, ?outcome, "result query");
            match outcome {
                Outcome::Unknown { ref code, .. }
                    if sale.status == Status::Unknown && sale.code.as_deref() == Some(code) => {}
                other => self.settle(&mut sale, other, "query")?,
            }
            // Settled, or back in the offline queue: nothing more to ask.
            if sale.status != Status::Unknown {
                break;
            }
        }
        Ok(sale)
    }

    /// The belt-and-braces check of an A0017/311 decline: if the bank did move the money
    /// after all, the sale is flagged loudly for the merchant.
    async fn recheck(&self, mut sale: Sale) -> Result<Sale, TerminalError> {
        let Some(w) = self.withdrawal(&sale) else {
            return self.flag_incomplete(sale);
        };
        // The bank already answered this withdrawal (A0017/311) and the re-check waited
        // `recheck_after`: nothing is in flight, so "no such transfer" confirms the decline.
        let outcome = self.query_outcome(&sale, &w).await;
        let now = now_ms(&self.clock.now());
        match outcome {
            Outcome::Approved { .. } => {
                let msg = format!(
                    "MISMATCH: declined as {} but the bank reports {} withdrawn — refund or honour the sale",
                    sale.code.as_deref().unwrap_or("?"),
                    sale.amount
                );
                tracing::error!(sale = %sale.id, "{msg}");
                sale.attention = Some(msg);
                sale.recheck_due = false;
            }
            Outcome::Declined { .. } | Outcome::NotFound => sale.recheck_due = false,
            // Still unclear: keep it due, the next resolver pass asks again.
            Outcome::Unknown { .. } | Outcome::NotSent { .. } => return Ok(sale),
        }
        sale.history.push(sale::Transition {
            at_ms: now,
            from: sale.status,
            to: sale.status,
            note: "re-checked by query".into(),
        });
        self.journal.save(&sale)?;
        self.forget(&sale.id);
        Ok(sale)
    }

    /// Applies an outcome to the sale and journals it (durably) before returning.
    pub(crate) fn settle(
        &self,
        sale: &mut Sale,
        outcome: Outcome,
        via: &str,
    ) -> Result<(), TerminalError> {
        let now = now_ms(&self.clock.now());
        match outcome {
            // Callers judge "not found" first; should one not, "not yet" is the cautious
            // reading.
            Outcome::NotFound => return self.settle(sale, Outcome::not_found_yet(), via),
            // An offline-accepted sale the backend never received goes back to the queue, to
            // be sent again under the same id (the forwarder looks for it first: see there)…
            Outcome::Declined { ref code, .. }
                if code == "NOT_RECEIVED" && sale.was_queued() && !sale.backend_answered =>
            {
                sale.advance(
                    Status::Queued,
                    now,
                    format!("the backend never received it ({via}): queued again"),
                )?;
                sale.code = Some("QUEUED".into());
            }
            // …but one it did answer, and now says it has no record of, is a contradiction a
            // re-send cannot settle (it would only meet A0326): a human must look.
            Outcome::Declined { code, message, .. }
                if code == "NOT_RECEIVED" && sale.was_queued() =>
            {
                sale.advance(
                    Status::Declined,
                    now,
                    format!("{code} ({via}) after the backend had answered"),
                )?;
                sale.attention = Some(format!(
                    "accepted offline, but the backend answered this payment and now has no record of it: \
                     nothing was charged as far as it shows — check with the backend or collect {} another way",
                    sale.amount
                ));
                sale.code = Some(code);
                sale.message = Some(message);
            }
            Outcome::Approved { bank_tran_date } => {
                sale.keep_reply_date(bank_tran_date.as_deref());
                sale.advance(Status::Approved, now, format!("approved ({via})"))?;
                sale.code = Some("A0000".into());
                sale.message = Some(format!("approved: {}", sale.amount));
            }
            Outcome::Declined {
                code,
                message,
                recheck,
                ..
            } => {
                sale.advance(Status::Declined, now, format!("{code} ({via})"))?;
                sale.recheck_due = recheck;
                sale.code = Some(code);
                sale.message = Some(message);
                if recheck {
                    self.mark(&sale.id, Moment::Declined);
                }
            }
            Outcome::Unknown { code, message } => {
                sale.advance(Status::Unknown, now, format!("{code} ({via})"))?;
                sale.code = Some(code);
                sale.message = Some(format!(
                    "{message} — do not charge again: the terminal will confirm it with the backend"
                ));
            }
            Outcome::NotSent { reason } => {
                sale.advance(
                    Status::Declined,
                    now,
                    format!("backend unreachable ({via})"),
                )?;
                sale.code = Some("OFFLINE".into());
                sale.message = Some(format!("offline — cannot accept this payment: the backend is unreachable ({reason}); nothing was charged"));
            }
        }
        if sale.status.is_final()
            && sale
                .attention
                .as_deref()
                .is_some_and(|a| a.starts_with(STILL_UNKNOWN))
        {
            sale.attention = None;
        }
        // The customer of an offline sale left believing it paid: any decline is the
        // merchant's to collect, however it came (the forward's reply or a later query).
        if sale.status == Status::Declined && sale.was_queued() && sale.attention.is_none() {
            sale.attention = Some(format!(
                "declined after forwarding ({}): the customer was told it was accepted — collect {} another way",
                sale.message.as_deref().unwrap_or("no reason given"),
                sale.amount
            ));
        }
        self.journal.save(sale)?;
        if sale.status.is_final() && !sale.recheck_due {
            self.forget(&sale.id);
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "sandbox"))]
pub(crate) mod tests;
