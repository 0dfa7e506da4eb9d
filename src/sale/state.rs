//! A sale and its lifecycle. Every change goes through [`Sale::advance`], which refuses any
//! move the lifecycle does not allow, so a bug cannot e.g. turn an approved sale back into a
//! submitted one. The journal stores the whole record, history included.
//!
//! ```text
//! created ─▶ submitted ─▶ approved | declined | unknown ─▶ approved | declined   (resolved)
//! created ─▶ queued ─▶ forwarded ─▶ approved | declined | unknown
//! queued ─▶ approved | declined   (back in the queue, but its earlier send is found after all)
//! submitted ─▶ queued                                    (nothing left the device)
//! forwarded | unknown ─▶ queued        (an offline sale the backend never received: sent again, same id)
//! created ─▶ cancelled                                   (nothing was sent)
//! ```

use super::{PaymentMeans, Won};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Journaled, amount known, waiting for a QR. Nothing sent.
    Created,
    /// The withdrawal may have left the device.
    Submitted,
    /// Accepted offline; durable, waiting for the forwarder. Nothing sent yet.
    Queued,
    /// A queued sale whose withdrawal may have left the device.
    Forwarded,
    /// Sent, answer unknown: only a query may settle it, never a new id.
    Unknown,
    Approved,
    Declined,
    /// Given up before anything was sent (cashier cancel, bad QR, timeout).
    Cancelled,
}

impl Status {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Approved | Status::Declined | Status::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Submitted => "submitted",
            Status::Queued => "queued",
            Status::Forwarded => "forwarded",
            Status::Unknown => "unknown",
            Status::Approved => "approved",
            Status::Declined => "declined",
            Status::Cancelled => "cancelled",
        }
    }

    fn may_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Created, Submitted | Queued | Cancelled)
                | (Submitted, Approved | Declined | Unknown | Queued)
                | (Queued, Forwarded | Declined | Approved)
                | (Forwarded, Approved | Declined | Unknown | Queued)
                | (Unknown, Approved | Declined | Unknown | Queued)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Openbanking,
    Payrequest,
    /// The merchant's payment host (`qrpos host`), which talks to the bank itself.
    Host,
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "openbanking" => Ok(Protocol::Openbanking),
            "payrequest" => Ok(Protocol::Payrequest),
            "host" => Ok(Protocol::Host),
            other => Err(format!(
                "unknown protocol {other:?}: use \"host\", \"openbanking\" or \"payrequest\""
            )),
        }
    }
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Openbanking => "openbanking",
            Protocol::Payrequest => "payrequest",
            Protocol::Host => "host",
        }
    }
}

/// One step of a sale's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub at_ms: i64,
    pub from: Status,
    pub to: Status,
    /// Why, in words a merchant can read (e.g. "A0000/000 on withdraw", "query: 000").
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sale {sale_id}: {from:?} cannot become {to:?}")]
pub struct IllegalTransition {
    pub sale_id: String,
    pub from: Status,
    pub to: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    /// `YYYYMMDD-` + the 9-char tail of `bank_tran_id`: unique for the terminal's lifetime.
    pub id: String,
    /// Institution code (10) + `U` + terminal prefix (2) + id number (7): never repeats for a
    /// terminal (see `store::IdNumber`).
    pub bank_tran_id: String,
    /// The terminal's business date (KST) when the sale was created, `yyyyMMdd`.
    pub date: String,
    /// The `bank_tran_date` the backend's reply gave (`yyyyMMdd`): the day to query with.
    /// `None` until a reply said it (see [`Sale::query_dates`]).
    #[serde(default)]
    pub reply_date: Option<String>,
    /// The payer's bank as a reply named it (open banking `bank_name`), for the receipt.
    #[serde(default)]
    pub bank_name: Option<String>,
    pub amount: Won,
    pub product: String,
    pub protocol: Protocol,
    pub created_at_ms: i64,
    pub status: Status,
    pub means: Option<PaymentMeans>,
    /// Whether the QR was a signed one-time code (the only kind allowed offline).
    pub one_time_code: bool,
    /// The one-time code's text as scanned: a payment host checks it again and uses its nonce
    /// up in the register all terminals share.
    #[serde(default)]
    pub signed_code: Option<String>,
    /// `yyyyMMddHHmmss` of the withdrawal request; fixed at first send, reused on re-send.
    pub tran_dtime: Option<String>,
    /// The answer's code (`A0000`, `A0017/311`, `INSUFFICIENT_BALANCE`, `QR_EXPIRED`, …).
    pub code: Option<String>,
    /// What to tell the cashier.
    pub message: Option<String>,
    /// The sale needs a human: a decline after forwarding, a resolver mismatch.
    pub attention: Option<String>,
    /// Declined as A0017/311: the resolver queries it once more to catch a bank that did
    /// move the money after all.
    pub recheck_due: bool,
    /// The backend answered a withdrawal request for this sale (any reply, even an error or
    /// garbage): it has seen the id. Only a sale it never answered may be re-sent.
    #[serde(default)]
    pub backend_answered: bool,
    /// Wall time (unix ms) of the first "no such transfer" answer, if one came: a second one
    /// a grace period later declines the sale (`sale::not_found_outcome`).
    #[serde(default)]
    pub not_found_at_ms: Option<i64>,
    pub history: Vec<Transition>,
}

impl Sale {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        bank_tran_id: String,
        date: String,
        amount: Won,
        product: String,
        protocol: Protocol,
        now_ms: i64,
    ) -> Sale {
        Sale {
            id,
            bank_tran_id,
            reply_date: None,
            bank_name: None,
            date,
            amount,
            product,
            protocol,
            created_at_ms: now_ms,
            status: Status::Created,
            means: None,
            one_time_code: false,
            signed_code: None,
            tran_dtime: None,
            code: None,
            message: None,
            attention: None,
            recheck_due: false,
            backend_answered: false,
            not_found_at_ms: None,
            history: Vec::new(),
        }
    }

    /// Keeps the `bank_tran_date` a reply gave, if it is a real day (an unreadable one would
    /// send every later query to the wrong day).
    pub fn keep_reply_date(&mut self, bank_tran_date: Option<&str>) {
        if let Some(d) = bank_tran_date.filter(|d| is_date(d)) {
            self.reply_date = Some(d.to_string());
        }
    }

    /// The business days (`yyyyMMdd`) a result query must name, most likely first. The bank
    /// dates a transfer by the day it received it: the reply's `bank_tran_date` when one came.
    /// Else the day of `tran_dtime` and both days beside it, the nearer first: the request may
    /// have arrived after a midnight, and the terminal's clock may be hours off the bank's
    /// (set wrong, or an hour out), so "not found" on one day alone proves nothing.
    pub fn query_dates(&self) -> Vec<String> {
        query_dates(
            self.reply_date.as_deref(),
            self.tran_dtime.as_deref(),
            &self.date,
        )
    }

    /// Moves the sale to `to`, recording why. Refuses moves the lifecycle forbids.
    pub fn advance(
        &mut self,
        to: Status,
        now_ms: i64,
        note: impl Into<String>,
    ) -> Result<(), IllegalTransition> {
        if !self.status.may_become(to) {
            return Err(IllegalTransition {
                sale_id: self.id.clone(),
                from: self.status,
                to,
            });
        }
        self.history.push(Transition {
            at_ms: now_ms,
            from: self.status,
            to,
            note: note.into(),
        });
        self.status = to;
        Ok(())
    }

    /// Whether the resolver still has work on this sale.
    pub fn needs_resolver(&self) -> bool {
        !self.status.is_final() || self.recheck_due
    }

    /// Whether the sale was accepted offline (it has been in the queue).
    pub fn was_queued(&self) -> bool {
        self.history.iter().any(|t| t.to == Status::Queued)
    }

    /// When the withdrawal was last sent (for the "not found yet" grace period).
    pub fn sent_at_ms(&self) -> Option<i64> {
        self.history
            .iter()
            .rfind(|t| matches!(t.to, Status::Submitted | Status::Forwarded))
            .map(|t| t.at_ms)
    }
}

/// `yyyyMMdd` and a real calendar day.
fn is_date(s: &str) -> bool {
    s.len() == 8 && chrono::NaiveDate::parse_from_str(s, "%Y%m%d").is_ok()
}

/// The business days to ask about a withdrawal on (see [`Sale::query_dates`]): the day a
/// reply gave, else the day of `tran_dtime` and both days beside it, else `fallback`.
pub fn query_dates(
    reply_date: Option<&str>,
    tran_dtime: Option<&str>,
    fallback: &str,
) -> Vec<String> {
    use chrono::{Duration, NaiveDateTime, Timelike};
    if let Some(d) = reply_date.filter(|d| is_date(d)) {
        return vec![d.to_string()];
    }
    let Some(sent) = tran_dtime.and_then(|t| NaiveDateTime::parse_from_str(t, "%Y%m%d%H%M%S").ok())
    else {
        return vec![fallback.to_string()];
    };
    let day = |t: NaiveDateTime| t.format("%Y%m%d").to_string();
    let (next, previous) = (day(sent + Duration::days(1)), day(sent - Duration::days(1)));
    if sent.hour() >= 12 {
        vec![day(sent), next, previous]
    } else {
        vec![day(sent), previous, next]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> Sale {
        Sale::new(
            "20261121-T10000001".into(),
            "T991000001UT10000001".into(),
            "20261121".into(),
            Won(1000),
            "coffee".into(),
            Protocol::Openbanking,
            0,
        )
    }

    #[test]
    fn online_path_to_approved_and_resolved_unknown() {
        let mut s = sale();
        s.advance(Status::Submitted, 1, "sent").unwrap();
        s.advance(Status::Unknown, 2, "A0007").unwrap();
        s.advance(Status::Unknown, 3, "query: still processing")
            .unwrap();
        s.advance(Status::Approved, 4, "query: 000").unwrap();
        assert_eq!(s.status, Status::Approved);
        assert_eq!(s.history.len(), 4);
        assert_eq!(s.sent_at_ms(), Some(1));
    }

    #[test]
    fn offline_path_queued_forwarded_declined() {
        let mut s = sale();
        s.advance(Status::Queued, 1, "offline").unwrap();
        s.advance(Status::Forwarded, 2, "forwarder").unwrap();
        s.advance(Status::Declined, 3, "A0017").unwrap();
        assert!(s.status.is_final());
    }

    #[test]
    fn final_states_never_move_and_created_cannot_jump_to_approved() {
        let mut s = sale();
        assert!(s.advance(Status::Approved, 1, "x").is_err());
        s.advance(Status::Submitted, 1, "sent").unwrap();
        s.advance(Status::Approved, 2, "ok").unwrap();
        for to in [
            Status::Created,
            Status::Submitted,
            Status::Unknown,
            Status::Declined,
            Status::Queued,
            Status::Cancelled,
        ] {
            let err = s.advance(to, 3, "x").unwrap_err();
            assert_eq!(err.from, Status::Approved);
        }
        assert_eq!(s.status, Status::Approved);
        assert_eq!(s.history.len(), 2);
    }

    #[test]
    fn the_query_date_is_the_replys_else_the_requests_and_the_days_beside_it() {
        let mut s = sale();
        assert_eq!(s.query_dates(), ["20261121"], "never sent: its own day");
        s.tran_dtime = Some("20261121235959".into());
        assert_eq!(s.query_dates(), ["20261121", "20261122", "20261120"]);
        s.tran_dtime = Some("20261122000010".into());
        assert_eq!(
            s.query_dates(),
            ["20261122", "20261121", "20261123"],
            "sent just after midnight: the day before is the nearer"
        );
        s.tran_dtime = Some("20261231235800".into());
        assert_eq!(s.query_dates(), ["20261231", "20270101", "20261230"]);
        s.reply_date = Some("20270101".into());
        assert_eq!(s.query_dates(), ["20270101"], "the bank said so");
        s.reply_date = Some("2027-01-01".into());
        assert_eq!(
            s.query_dates(),
            ["20261231", "20270101", "20261230"],
            "an unreadable reply date is not trusted"
        );
    }

    #[test]
    fn submitted_cannot_be_cancelled_or_resubmitted() {
        let mut s = sale();
        s.advance(Status::Submitted, 1, "sent").unwrap();
        assert!(s.advance(Status::Cancelled, 2, "x").is_err());
        assert!(s.advance(Status::Submitted, 2, "x").is_err());
        assert!(s.advance(Status::Created, 2, "x").is_err());
    }
}
