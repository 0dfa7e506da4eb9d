//! One business day of the journal as the merchant's books: every sale with its outcome, and
//! totals per outcome. Approved totals are what the backend's ledger shows as moved that day.

use crate::sale::{Sale, Status};
use chrono::{FixedOffset, TimeZone};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct DayExport {
    pub date: String,
    pub sales: Vec<ExportRow>,
    pub totals: Totals,
}

#[derive(Debug, Serialize)]
pub struct ExportRow {
    pub sale_id: String,
    /// KST, `YYYY-MM-DD HH:MM:SS`.
    pub time: String,
    pub bank_tran_id: String,
    pub amount: u64,
    pub product: String,
    /// The journal state: approved, declined, cancelled, unknown, queued, …
    pub status: &'static str,
    pub code: String,
    pub means: String,
    pub attention: String,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub approved_count: usize,
    pub approved_amount: u64,
    pub declined_count: usize,
    pub cancelled_count: usize,
    /// Not settled yet (submitted, unknown, queued, forwarded): may still become money.
    pub pending_count: usize,
    pub pending_amount: u64,
    pub attention_count: usize,
}

impl DayExport {
    pub fn new(date: &str, sales: &[Sale]) -> DayExport {
        let kst = FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset");
        let mut totals = Totals::default();
        let rows = sales
            .iter()
            .map(|s| {
                match s.status {
                    Status::Approved => {
                        totals.approved_count += 1;
                        totals.approved_amount += s.amount.0;
                    }
                    Status::Declined => totals.declined_count += 1,
                    Status::Cancelled => totals.cancelled_count += 1,
                    _ => {
                        totals.pending_count += 1;
                        totals.pending_amount += s.amount.0;
                    }
                }
                if s.attention.is_some() {
                    totals.attention_count += 1;
                }
                ExportRow {
                    sale_id: s.id.clone(),
                    time: kst
                        .timestamp_millis_opt(s.created_at_ms)
                        .single()
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    bank_tran_id: s.bank_tran_id.clone(),
                    amount: s.amount.0,
                    product: s.product.clone(),
                    status: s.status.as_str(),
                    code: s.code.clone().unwrap_or_default(),
                    means: s.means.as_ref().map(|m| m.masked()).unwrap_or_default(),
                    attention: s.attention.clone().unwrap_or_default(),
                }
            })
            .collect();
        DayExport {
            date: date.to_string(),
            sales: rows,
            totals,
        }
    }

    /// One CSV row per sale, then one `TOTAL` row per outcome (amounts in won).
    pub fn write_csv(&self, out: impl std::io::Write) -> Result<(), csv::Error> {
        let mut w = csv::Writer::from_writer(out);
        for row in &self.sales {
            w.serialize(row)?;
        }
        let t = &self.totals;
        for (what, count, amount) in [
            ("approved", t.approved_count, t.approved_amount),
            ("declined", t.declined_count, 0),
            ("cancelled", t.cancelled_count, 0),
            ("pending", t.pending_count, t.pending_amount),
        ] {
            w.write_record([
                "TOTAL",
                &self.date,
                "",
                &amount.to_string(),
                &format!("{count} sale(s)"),
                what,
                "",
                "",
                "",
            ])?;
        }
        w.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sale::{Protocol, Won};

    fn sale(n: u32, amount: u64, to: &[Status]) -> Sale {
        let mut s = Sale::new(
            format!("20261121-T1{n:07}"),
            format!("T991000001UT1{n:07}"),
            "20261121".into(),
            Won(amount),
            "tea, large".into(),
            Protocol::Openbanking,
            1_795_000_000_000,
        );
        for st in to {
            s.advance(*st, 1, "x").unwrap();
        }
        s
    }

    #[test]
    fn totals_per_outcome_and_csv_quoting() {
        let sales = [
            sale(1, 1000, &[Status::Submitted, Status::Approved]),
            sale(2, 2500, &[Status::Submitted, Status::Approved]),
            sale(3, 9000, &[Status::Submitted, Status::Declined]),
            sale(4, 700, &[Status::Submitted, Status::Queued]),
            sale(5, 50, &[Status::Cancelled]),
        ];
        let e = DayExport::new("2026-11-21", &sales);
        assert_eq!(
            e.totals,
            Totals {
                approved_count: 2,
                approved_amount: 3500,
                declined_count: 1,
                cancelled_count: 1,
                pending_count: 1,
                pending_amount: 700,
                attention_count: 0
            }
        );
        let mut buf = Vec::new();
        e.write_csv(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("sale_id,time,bank_tran_id,amount"),
            "{}",
            lines[0]
        );
        assert_eq!(lines.len(), 1 + 5 + 4);
        assert!(
            lines[1].contains("\"tea, large\""),
            "a comma in a product name is quoted: {}",
            lines[1]
        );
        assert!(text.contains("TOTAL,2026-11-21,,3500,2 sale(s),approved"));
    }
}
