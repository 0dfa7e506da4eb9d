//! One terminal journal and one bank's data across two business days, through the CLI, with
//! each process's wall clock set by `faketime`: the ₩4,500 sale of day 2 is its own
//! withdrawal, and every sale the terminal reports approved has exactly one committed
//! withdrawal in the ledger.

mod common;

use common::{at_time, Sandbox, Terminal};
use serde_json::Value;

/// 12:00 KST on two consecutive days, as UTC.
const DAY_1: &str = "2026-11-21 03:00:00";
const DAY_2: &str = "2026-11-22 03:00:00";

fn bank(day: &str, data: &std::path::Path) -> Sandbox {
    Sandbox::spawn(at_time(
        day,
        &[
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
    ))
    .expect("the sandbox starts")
}

/// `qrpos pay` of `amount` with a one-time code for alice, on `day`.
fn pay(t: &Terminal, day: &str, amount: u64) -> (i32, Value) {
    let unix = chrono::NaiveDateTime::parse_from_str(day, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp()
        .to_string();
    let png = t.code("alice", &["--issued-at", &unix]);
    let out = at_time(
        day,
        &[
            "pay",
            "--amount",
            &amount.to_string(),
            "--qr-image",
            png.to_str().unwrap(),
            "--config",
            t.config.to_str().unwrap(),
            "--json",
        ],
    )
    .output()
    .expect("run pay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "pay printed no JSON ({e}): {stdout:?} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn the_same_sale_on_two_days_is_charged_once_each_day() {
    let data = tempfile::tempdir().unwrap();
    let sb = bank(DAY_1, data.path());
    let t = Terminal::new(&sb.url);
    let (code, day1) = pay(&t, DAY_1, 4500);
    assert_eq!(code, 0, "{day1}");
    assert!(day1["sale_id"].as_str().unwrap().starts_with("20261121-"));
    drop(sb);

    // The next day: the same journal, the bank's data kept.
    let sb = bank(DAY_2, data.path());
    t.point_at(&sb.url);
    let (code, day2) = pay(&t, DAY_2, 4500);
    assert_eq!(code, 0, "{day2}");
    assert!(day2["sale_id"].as_str().unwrap().starts_with("20261122-"));
    assert_ne!(day1["bank_tran_id"], day2["bank_tran_id"]);

    let ledger = sb.ledger();
    for sale in [&day1, &day2] {
        let btid = sale["bank_tran_id"].as_str().unwrap();
        assert_eq!(
            sb.committed(btid),
            1,
            "approved {btid} has exactly one committed withdrawal: {ledger:?}"
        );
    }
    assert_eq!(
        ledger.iter().filter(|e| e["committed"] == true).count(),
        2,
        "{ledger:?}"
    );
    let days: Vec<&str> = ledger
        .iter()
        .map(|e| &e["at"].as_str().unwrap()[..10])
        .collect();
    assert_eq!(days, ["2026-11-21", "2026-11-22"], "the bank's own days");
}
