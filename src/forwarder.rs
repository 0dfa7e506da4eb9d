//! Store-and-forward: sends the sales accepted offline, oldest first, each under its original
//! `bank_tran_id`, once the backend answers again; journals every step before acting on it;
//! puts declines-after-forwarding and sales too old to send on the attention list. [`run`] is
//! the background worker that also keeps the resolver going.

use crate::crash_point::{crash_point, AFTER_FORWARD_JOURNALED, AFTER_RESPONSE};
use crate::sale::{self, Outcome, Sale, Status};
use crate::terminal::{now_ms, tran_dtime, Terminal, TerminalError};
use std::sync::Arc;
use std::time::Duration;

/// What one forwarding pass did.
#[derive(Debug, Default)]
pub struct ForwardReport {
    /// Sales the pass moved on (settled, unknown, or expired), in order.
    pub sales: Vec<Sale>,
    /// The backend could not be reached: the pass stopped, the rest stays queued.
    pub offline: bool,
}

/// Sends every queued sale, oldest first. Stops at the first sign the backend is still
/// unreachable, so order is kept and nothing is skipped ahead.
pub async fn forward_queued(t: &Terminal) -> Result<ForwardReport, TerminalError> {
    let mut report = ForwardReport::default();
    let queued: Vec<Sale> = t
        .journal()
        .open_sales()?
        .into_iter()
        .filter(|s| s.status == Status::Queued && !t.is_held(&s.id))
        .collect();
    for listed in queued {
        // The journal's copy as it is now (see `Terminal::resolve_open`): skip it unless it
        // is still queued and no checkout holds it.
        let Ok(mut sale) = t.journal().get(&listed.id) else {
            continue;
        };
        if sale.status != Status::Queued || t.is_held(&sale.id) {
            continue;
        }
        let now = now_ms(&t.clock().now());
        if sale::too_old_to_forward(&t.policy().offline, sale.created_at_ms, now) {
            sale.advance(Status::Declined, now, "too old to forward: not sent")?;
            sale.code = Some("EXPIRED_OFFLINE".into());
            sale.message = Some(
                "accepted offline but not sent within the offline time limit; nothing was charged"
                    .into(),
            );
            sale.attention = Some(format!(
                "offline sale of {} was never charged (too old to send): collect the payment another way",
                sale.amount
            ));
            t.journal().save(&sale)?;
            report.sales.push(sale);
            continue;
        }
        // Back in the queue after a send judged never received: the bank may still have filed
        // it, late, under that send's day, and a send on another day would be a new transfer.
        // So it is looked for first, and sent again only if it is nowhere.
        let sent_before = sale.history.iter().any(|h| h.to == Status::Forwarded);
        if let (true, Some(earlier)) = (sent_before, t.withdrawal(&sale)) {
            match t.query_outcome(&sale, &earlier).await {
                Outcome::NotFound => {}
                found @ (Outcome::Approved { .. } | Outcome::Declined { .. }) => {
                    t.settle(&mut sale, found, "earlier send found before sending again")?;
                    report.sales.push(sale);
                    continue;
                }
                // Cannot tell now: keep it, and the order, for the next pass.
                Outcome::Unknown { .. } | Outcome::NotSent { .. } => {
                    report.offline = true;
                    break;
                }
            }
        }
        // Nothing of this sale reached the backend (or it is nowhere there), so this send is
        // its first: it carries today's time, and the bank files it under today (the day to
        // query). A "not found" of an earlier send counts for nothing now.
        sale.tran_dtime = Some(tran_dtime(&t.clock().now()));
        sale.not_found_at_ms = None;
        let Some(w) = t.withdrawal(&sale) else {
            report.sales.push(t.flag_incomplete(sale)?);
            continue;
        };
        sale.advance(Status::Forwarded, now, "forwarding")?;
        t.journal().save(&sale)?;
        crash_point(AFTER_FORWARD_JOURNALED);
        t.mark_sent(&sale.id);
        let answer = t.gateway().withdraw(&w).await;
        crash_point(AFTER_RESPONSE);
        t.note_answer(&mut sale, &answer);
        let outcome = t.classify(&answer, sale.amount);
        tracing::info!(sale = %sale.id, ?outcome, "forwarded");
        match outcome {
            Outcome::NotSent { reason } => {
                sale.advance(
                    Status::Queued,
                    now_ms(&t.clock().now()),
                    format!("still unreachable ({reason})"),
                )?;
                t.journal().save(&sale)?;
                report.offline = true;
                break;
            }
            // A decline lands on the attention list in `settle`, like any offline sale's.
            other => {
                t.settle(&mut sale, other, "forwarded")?;
                if sale.status == Status::Unknown {
                    sale = t.confirm(sale, &w, t.policy().query_attempts).await?;
                }
            }
        }
        report.sales.push(sale);
    }
    Ok(report)
}

/// The background worker: resolver then forwarder, every `interval` while there is work,
/// backing off (doubling, up to 1 minute) while the backend is unreachable; every sale it
/// settles goes to `report` (a screen, a log line). Ends when `stop` turns true.
pub async fn run(
    t: Arc<Terminal>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    report: impl Fn(&Sale),
) {
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        let offline = match pass_reporting(&t, &report).await {
            Ok(offline) => offline,
            Err(e) => {
                tracing::error!("forwarder: {e}");
                true
            }
        };
        wait = if offline {
            (wait * 2).clamp(interval, Duration::from_secs(60))
        } else {
            interval
        };
    }
}

/// One resolver + forwarder pass; true if the backend looked unreachable.
pub async fn pass(t: &Terminal) -> Result<bool, TerminalError> {
    pass_reporting(t, &|_| {}).await
}

/// [`pass`], handing every sale it moved on to `report` (already journaled).
async fn pass_reporting(t: &Terminal, report: &impl Fn(&Sale)) -> Result<bool, TerminalError> {
    t.resolve_open().await?.iter().for_each(report);
    let forwarded = forward_queued(t).await?;
    forwarded.sales.iter().for_each(report);
    Ok(forwarded.offline)
}

/// The offline queue at a glance: for `qrpos queue status` and the touchscreen's status bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStatus {
    pub queued_count: usize,
    pub queued_amount: crate::sale::Won,
    /// Age of the oldest queued sale (never negative, even with a clock set back).
    pub oldest_age_s: Option<i64>,
    /// Sent but not yet confirmed: the resolver is asking.
    pub unknown_count: usize,
    /// Sales (and unreadable records) that need the merchant.
    pub attention_count: usize,
}

pub fn queue_status(t: &Terminal) -> Result<QueueStatus, crate::store::StoreError> {
    queue_status_of(t.journal(), now_ms(&t.clock().now()))
}

/// [`queue_status`] of a journal alone, at wall time `now` (unix ms).
pub fn queue_status_of(
    journal: &crate::store::Journal,
    now: i64,
) -> Result<QueueStatus, crate::store::StoreError> {
    let open = journal.open_sales()?;
    let queued: Vec<&Sale> = open
        .iter()
        .filter(|s| matches!(s.status, Status::Queued | Status::Forwarded))
        .collect();
    let attention = journal
        .all_sales()?
        .iter()
        .filter(|s| s.attention.is_some())
        .count()
        + journal.damaged()?.len();
    Ok(QueueStatus {
        queued_count: queued.len(),
        queued_amount: crate::sale::Won(queued.iter().map(|s| s.amount.0).sum()),
        oldest_age_s: queued
            .iter()
            .map(|s| s.created_at_ms)
            .min()
            .map(|c| (now - c).max(0) / 1000),
        unknown_count: open
            .iter()
            .filter(|s| matches!(s.status, Status::Submitted | Status::Unknown))
            .count(),
        attention_count: attention,
    })
}
