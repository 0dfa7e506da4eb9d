//! One sale at the counter, start to finish, for every front end (`qrpos pay` now, the
//! touchscreen next): open the sale, take the texts the scanner reads (from camera frames or
//! an image), the first payable code wins, charge, and confirm or queue.
//!
//! It is driven by [`Input`]s (codes read, the cashier's cancel, the frame source ending, the
//! scan timeout) and reports [`Step`]s to the front end, which draws them and drives the
//! buzzer and LED from the [`Pattern`]s. A sale's own states are reported only once they are
//! journaled (the terminal journals before it returns); a [`Step::CodeRead`] says a code
//! passed the checks and the charge begins.

use crate::sale::{Sale, Status, Won};
pub use crate::signal::Pattern;
use crate::terminal::{Refusal, Terminal, TerminalError};
use std::time::Duration;
use tokio::sync::mpsc;

/// What reaches a checkout while it waits for a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The texts read from one frame (or one image file).
    Read(Vec<String>),
    /// The cashier cancelled.
    Cancel,
    /// No more frames will come (an image read whole, a camera gone), and why.
    SourceEnded { why: String },
}

/// What a checkout reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The sale is journaled and waits for a code.
    Opened(Sale),
    /// A code was read but cannot pay; scanning goes on.
    Refused(Refusal),
    /// A payable code was read (`means` masked); the charge begins.
    CodeRead {
        means: String,
    },
    /// The checkout is over: approved, declined, queued, unknown or cancelled (journaled).
    Finished(Sale),
    Signal(Pattern),
}

/// A sale to take.
#[derive(Debug, Clone)]
pub struct Order {
    pub amount: Won,
    pub product: String,
    /// How long the customer has to show a code.
    pub scan_timeout: Duration,
}

/// A checkout that could not finish. `may_have_been_sent`: the withdrawal may have left, so
/// the outcome is unknown and the cashier must not charge again (the resolver settles it).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failure {
    pub error: TerminalError,
    /// The sale, as far as it got (`None` if it could not even be opened).
    pub sale: Option<Sale>,
    pub may_have_been_sent: bool,
}

/// Runs one sale. Returns the sale in its final state for this checkout.
pub async fn run(
    t: &Terminal,
    order: &Order,
    inputs: &mut mpsc::Receiver<Input>,
    report: &mut impl FnMut(Step),
) -> Result<Sale, Failure> {
    let failed = |error, sale: Option<Sale>, may_have_been_sent| Failure {
        error,
        sale,
        may_have_been_sent,
    };
    // Held until this function returns: the background resolver must not cancel the sale
    // while it waits for a code, nor query it while it is being charged.
    let (sale, _hold) = t
        .open_held_sale(order.amount, &order.product)
        .map_err(|e| failed(e, None, false))?;
    report(Step::Opened(sale.clone()));
    let deadline = tokio::time::Instant::now() + order.scan_timeout;
    let mut first_refusal: Option<Refusal> = None;
    let end = loop {
        let input = match tokio::time::timeout_at(deadline, inputs.recv()).await {
            Ok(Some(input)) => input,
            Ok(None) => Input::SourceEnded {
                why: "the frame source stopped".into(),
            },
            Err(_) => {
                break Refusal::new(
                    "SCAN_TIMEOUT",
                    format!(
                        "no payment code was shown within {} s; nothing was charged",
                        order.scan_timeout.as_secs()
                    ),
                );
            }
        };
        let texts = match input {
            Input::Read(texts) => texts,
            Input::Cancel => {
                break Refusal::new("CANCELLED", "cancelled by the cashier; nothing was charged")
            }
            Input::SourceEnded { why } => {
                break first_refusal.unwrap_or_else(|| Refusal::new("NO_QR", why))
            }
        };
        for text in texts {
            match t.read_payload(&text) {
                Ok(payload) => {
                    report(Step::Signal(Pattern::GoodRead));
                    report(Step::CodeRead {
                        means: payload.means().masked(),
                    });
                    return charge(t, sale, &payload, report).await;
                }
                Err(refusal) => {
                    report(Step::Signal(Pattern::Error));
                    report(Step::Refused(refusal.clone()));
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
    };
    let id = sale.id.clone();
    match t.cancel(sale, &end) {
        Ok(sale) => {
            // Journaled first, then shown; a timeout also beeps (the cashier may have
            // looked away).
            report(Step::Finished(sale.clone()));
            if end.code == "SCAN_TIMEOUT" {
                report(Step::Signal(Pattern::Error));
            }
            Ok(sale)
        }
        Err(e) => Err(failed(e, t.journal().get(&id).ok(), false)),
    }
}

async fn charge(
    t: &Terminal,
    sale: Sale,
    payload: &crate::scan::Payload,
    report: &mut impl FnMut(Step),
) -> Result<Sale, Failure> {
    let before = sale.clone();
    match t.charge(sale, payload).await {
        Ok(sale) => {
            report(Step::Finished(sale.clone()));
            report(Step::Signal(pattern_for(sale.status)));
            Ok(sale)
        }
        Err(error) => {
            // Nothing left unless the journal says the sale was sent (or may have been):
            // when it cannot say, it may have.
            let journaled = t.journal().get(&before.id).ok();
            let may_have_been_sent = !journaled
                .as_ref()
                .is_some_and(|s| matches!(s.status, Status::Created | Status::Cancelled));
            report(Step::Signal(Pattern::Error));
            Err(Failure {
                error,
                sale: Some(journaled.unwrap_or(before)),
                may_have_been_sent,
            })
        }
    }
}

/// The pattern for a sale's final state in a checkout.
pub fn pattern_for(status: Status) -> Pattern {
    match status {
        Status::Approved => Pattern::Approved,
        Status::Declined | Status::Cancelled => Pattern::Declined,
        Status::Queued | Status::Forwarded => Pattern::AcceptedOffline,
        Status::Created | Status::Submitted | Status::Unknown => Pattern::Error,
    }
}

#[cfg(all(test, feature = "sandbox"))]
mod tests;
