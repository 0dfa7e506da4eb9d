//! What the screens show of a sale, as plain data: the outcome's colour class, the reason
//! for a decline or a refused code as an enum the `.slint` files put into words (so every
//! translation lives there), amounts and times as text. Pure: no I/O, no widgets.

use super::{Outcome, Reason, ResultView, SaleDetail, SaleRow, Total};
use crate::sale::{Sale, Status, Won};
use slint::{ModelRc, SharedString, VecModel};

pub fn outcome(status: Status) -> Outcome {
    match status {
        Status::Approved => Outcome::Approved,
        Status::Declined => Outcome::Declined,
        Status::Cancelled => Outcome::Cancelled,
        Status::Queued | Status::Forwarded => Outcome::Offline,
        Status::Submitted | Status::Unknown => Outcome::Unknown,
        Status::Created => Outcome::Open,
    }
}

/// The reason behind a sale's or a refusal's code (see `sale::outcome` and
/// `terminal::Refusal` for where the codes come from).
pub fn reason(code: &str) -> Reason {
    let bank = code.rsplit('/').next().unwrap_or(code);
    match bank {
        "453" | "454" | "INSUFFICIENT_BALANCE" => return Reason::InsufficientFunds,
        "468" => return Reason::ConsentExpired,
        "455" | "456" | "CREDIT_LIMIT_EXCEEDED" => return Reason::LimitExceeded,
        "311" => return Reason::BankBusy,
        "412" | "413" | "414" | "415" | "416" | "417" | "418" | "419" | "420" | "421" | "422"
        | "424" | "425" | "426" | "427" | "428" | "431" | "432" | "433" | "452" | "458" | "461"
        | "462" | "463" | "464" | "467" | "470" | "471" | "472" | "473" | "474" | "475" | "476"
        | "477" | "490" | "499" | "551" | "555" | "556" | "815" | "CARD_INACTIVE"
        | "UNKNOWN_CUSTOMER" => return Reason::AccountProblem,
        _ => {}
    }
    match code {
        "A0316" | "A0319" | "A0305" | "A0306" | "A0332" | "A0334" => Reason::ConsentExpired,
        "A0017" => Reason::BankBusy,
        "A0014" | "A0019" => Reason::AccountProblem,
        c if c.len() == 5
            && c.starts_with("A01")
            && c[1..]
                .parse::<u32>()
                .is_ok_and(|n| (101..=112).contains(&n)) =>
        {
            Reason::LimitExceeded
        }
        "CANCELLED" => Reason::Cancelled,
        "SCAN_TIMEOUT" => Reason::ScanTimeout,
        "QR_UNKNOWN_FORMAT" | "QR_MALFORMED" | "QR_MALFORMED_TLV" | "MEANS_UNSUPPORTED" => {
            Reason::NotAPaymentCode
        }
        // At the counter the frames end only when the camera does (gone, or not built in).
        "NO_QR" => Reason::NoCamera,
        "QR_EXPIRED" | "QR_NOT_YET_VALID" | "QR_LIFETIME_TOO_LONG" => Reason::CodeExpired,
        "QR_REPLAYED" => Reason::CodeUsed,
        "QR_BAD_SIGNATURE" | "QR_UNKNOWN_KEY" => Reason::CodeNotTrusted,
        "STATIC_NOT_ALLOWED" => Reason::StaticNotAllowed,
        "OFFLINE" | "NOT_RECEIVED" => Reason::BackendDown,
        "" => Reason::None,
        _ => Reason::Other,
    }
}

/// A wall-clock instant (unix ms) as KST `HH:MM:SS`, or `yyyy-MM-dd HH:MM` when `with_date`.
pub fn kst_time(unix_ms: i64, with_date: bool) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(unix_ms) else {
        return String::new();
    };
    let t = t.with_timezone(&crate::clock::kst());
    if with_date {
        t.format("%Y-%m-%d %H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

/// When the sale reached the state it is in (KST `HH:MM:SS`).
pub fn settled_time(sale: &Sale) -> String {
    let at = sale
        .history
        .last()
        .map(|t| t.at_ms)
        .unwrap_or(sale.created_at_ms);
    kst_time(at, false)
}

fn account(sale: &Sale) -> String {
    sale.means.as_ref().map(|m| m.masked()).unwrap_or_default()
}

/// The result screen of a sale a checkout finished.
pub fn result(sale: &Sale) -> ResultView {
    ResultView {
        outcome: outcome(sale.status),
        reason: reason(sale.code.as_deref().unwrap_or("")),
        amount: sale.amount.to_string().into(),
        bank: sale.bank_name.clone().unwrap_or_default().into(),
        account: account(sale).into(),
        time: settled_time(sale).into(),
        approval: sale.bank_tran_id.clone().into(),
        sale_id: sale.id.clone().into(),
        detail: sale.message.clone().unwrap_or_default().into(),
    }
}

/// The result screen of a checkout that failed inside the terminal (the journal, most
/// likely). `may_have_been_sent`: the outcome is unknown and must not be charged again.
pub fn failure(
    sale: Option<&Sale>,
    amount: Won,
    error: &str,
    may_have_been_sent: bool,
) -> ResultView {
    ResultView {
        outcome: if may_have_been_sent {
            Outcome::Unknown
        } else {
            Outcome::Declined
        },
        reason: Reason::Other,
        amount: amount.to_string().into(),
        sale_id: sale.map(|s| s.id.clone()).unwrap_or_default().into(),
        approval: sale
            .map(|s| s.bank_tran_id.clone())
            .unwrap_or_default()
            .into(),
        detail: error.into(),
        ..Default::default()
    }
}

pub fn rows(sales: &[Sale]) -> ModelRc<SaleRow> {
    let mut sales: Vec<&Sale> = sales.iter().collect();
    sales.sort_by_key(|s| std::cmp::Reverse(s.created_at_ms));
    let rows: Vec<SaleRow> = sales
        .into_iter()
        .map(|s| SaleRow {
            id: s.id.clone().into(),
            time: kst_time(s.created_at_ms, false).into(),
            amount: s.amount.to_string().into(),
            product: s.product.clone().into(),
            outcome: outcome(s.status),
        })
        .collect();
    ModelRc::new(VecModel::from(rows))
}

/// Count and sum per outcome, in a fixed order, leaving out outcomes with no sale.
pub fn totals(sales: &[Sale]) -> ModelRc<Total> {
    let order = [
        Outcome::Approved,
        Outcome::Offline,
        Outcome::Unknown,
        Outcome::Declined,
        Outcome::Cancelled,
        Outcome::Open,
    ];
    let totals: Vec<Total> = order
        .into_iter()
        .filter_map(|o| {
            let of: Vec<&Sale> = sales.iter().filter(|s| outcome(s.status) == o).collect();
            (!of.is_empty()).then(|| Total {
                outcome: o,
                count: of.len() as i32,
                amount: Won(of.iter().map(|s| s.amount.0).sum()).to_string().into(),
            })
        })
        .collect();
    ModelRc::new(VecModel::from(totals))
}

pub fn detail(sale: &Sale) -> SaleDetail {
    // The last few steps only: a long offline spell adds two per retry, and the detail must
    // keep its Close button on screen (the whole history is in `qrpos journal list`).
    const SHOWN: usize = 6;
    let skip = sale.history.len().saturating_sub(SHOWN);
    let history: Vec<SharedString> = sale
        .history
        .iter()
        .skip(skip)
        .map(|t| {
            format!(
                "{}  {} → {}  {}",
                kst_time(t.at_ms, false),
                t.from.as_str(),
                t.to.as_str(),
                t.note
            )
            .into()
        })
        .collect();
    SaleDetail {
        id: sale.id.clone().into(),
        bank_tran_id: sale.bank_tran_id.clone().into(),
        time: kst_time(sale.created_at_ms, true).into(),
        amount: sale.amount.to_string().into(),
        product: sale.product.clone().into(),
        outcome: outcome(sale.status),
        account: account(sale).into(),
        code: sale.code.clone().unwrap_or_default().into(),
        message: sale.message.clone().unwrap_or_default().into(),
        attention: sale.attention.clone().unwrap_or_default().into(),
        history: ModelRc::new(VecModel::from(history)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decline_codes_become_reasons_a_cashier_can_act_on() {
        assert_eq!(reason("453"), Reason::InsufficientFunds);
        assert_eq!(reason("INSUFFICIENT_BALANCE"), Reason::InsufficientFunds);
        assert_eq!(reason("A0319"), Reason::ConsentExpired);
        assert_eq!(reason("468"), Reason::ConsentExpired);
        assert_eq!(reason("A0105"), Reason::LimitExceeded);
        assert_eq!(reason("A0017"), Reason::BankBusy);
        assert_eq!(reason("416"), Reason::AccountProblem);
        assert_eq!(reason("QR_EXPIRED"), Reason::CodeExpired);
        assert_eq!(reason("QR_REPLAYED"), Reason::CodeUsed);
        assert_eq!(reason("QR_UNKNOWN_FORMAT"), Reason::NotAPaymentCode);
        assert_eq!(reason("SCAN_TIMEOUT"), Reason::ScanTimeout);
        assert_eq!(reason("OFFLINE"), Reason::BackendDown);
        assert_eq!(reason("A0004"), Reason::Other);
        assert_eq!(reason(""), Reason::None);
    }

    #[test]
    fn every_status_has_an_outcome_class() {
        assert_eq!(outcome(Status::Approved), Outcome::Approved);
        assert_eq!(outcome(Status::Forwarded), Outcome::Offline);
        assert_eq!(outcome(Status::Submitted), Outcome::Unknown);
        assert_eq!(outcome(Status::Cancelled), Outcome::Cancelled);
    }

    #[test]
    fn times_are_kst() {
        // 2026-11-22 00:00:00 UTC is 09:00 in Seoul.
        assert_eq!(kst_time(1_795_305_600_000, false), "09:00:00");
        assert_eq!(kst_time(1_795_305_600_000, true), "2026-11-22 09:00");
    }
}
