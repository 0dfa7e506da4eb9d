//! Faults injected into the real sandbox: every unknown outcome ends in the right final state
//! through result queries, the ledger never shows a second withdrawal, and a sale left
//! `submitted` by a killed process is resolved by query after a restart, not re-sent.

mod common;

use common::{Sandbox, Terminal};
use qrpos::sale::Status;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

/// Pays with alice under `fault`; returns the outcome JSON, the sale from the journal, and
/// how many ledger entries (attempts) and commits (money moved) the sandbox has for it.
fn pay_under(
    fault: serde_json::Value,
) -> (i32, serde_json::Value, qrpos::sale::Sale, usize, usize) {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    sb.inject(json!([fault]));
    let (code, out) = t.pay(2500, &t.code("alice", &[]));
    let btid = out["bank_tran_id"].as_str().unwrap().to_string();
    let sale = t.sale(out["sale_id"].as_str().unwrap());
    (
        code,
        out,
        sale,
        sb.entries_for(&btid).len(),
        sb.committed(&btid),
    )
}

fn went_through_unknown(sale: &qrpos::sale::Sale) -> bool {
    sale.history.iter().any(|h| h.to == Status::Unknown)
}

#[test]
fn dropped_after_commit_is_confirmed_approved_by_query() {
    let (code, out, sale, attempts, moved) = pay_under(json!({"kind": "drop", "commit": true}));
    assert_eq!(code, 0, "{out}");
    assert_eq!(sale.status, Status::Approved);
    assert!(went_through_unknown(&sale));
    assert_eq!((attempts, moved), (1, 1));
}

#[test]
fn dropped_before_commit_is_declined_after_the_grace_period() {
    let (code, out, sale, attempts, moved) = pay_under(json!({"kind": "drop", "commit": false}));
    assert_eq!(code, 1, "{out}");
    assert_eq!(sale.status, Status::Declined);
    assert_eq!(sale.code.as_deref(), Some("NOT_RECEIVED"));
    assert!(went_through_unknown(&sale));
    assert_eq!(moved, 0);
    assert!(attempts <= 1);
}

#[test]
fn http_500_is_unknown_then_settled_by_the_ledger_truth() {
    let (code, out, sale, _, moved) = pay_under(json!({"kind": "http500", "commit": true}));
    assert_eq!(
        (code, sale.status, moved),
        (0, Status::Approved, 1),
        "{out}"
    );
    let (code, out, sale, _, moved) = pay_under(json!({"kind": "http500", "commit": false}));
    assert_eq!(
        (code, sale.status, moved),
        (1, Status::Declined, 0),
        "{out}"
    );
}

#[test]
fn a0007_processing_timeout_is_settled_by_query() {
    let (code, out, sale, attempts, moved) =
        pay_under(json!({"kind": "reply", "rsp_code": "A0007", "commit": true}));
    assert_eq!(code, 0, "{out}");
    assert_eq!(sale.status, Status::Approved);
    assert!(sale.history.iter().any(|h| h.note.contains("A0007")));
    assert_eq!((attempts, moved), (1, 1));
}

#[test]
fn a0001_in_progress_then_success() {
    let (code, out, sale, attempts, moved) =
        pay_under(json!({"kind": "reply", "rsp_code": "A0001", "commit": true}));
    assert_eq!(code, 0, "{out}");
    assert_eq!(sale.status, Status::Approved);
    assert!(sale
        .history
        .iter()
        .any(|h| h.to == Status::Unknown && h.note.contains("A0001")));
    assert_eq!((attempts, moved), (1, 1));
}

#[test]
fn garbage_reply_is_unknown_then_settled() {
    let (code, out, sale, _, moved) = pay_under(json!({"kind": "garbage", "commit": true}));
    assert_eq!(
        (code, sale.status, moved),
        (0, Status::Approved, 1),
        "{out}"
    );
}

#[test]
fn a0017_is_declined_and_rechecked_once_by_the_resolver() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    sb.inject(json!([{"kind": "reply", "rsp_code": "A0017", "commit": false}]));
    let (code, out) = t.pay(2500, &t.code("alice", &[]));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], "A0017");
    let sale_id = out["sale_id"].as_str().unwrap();
    assert_eq!(t.sale(sale_id).status, Status::Declined);

    // (recheck_after_ms = 0 here: `pay`'s pass after the sale may already have run it.)
    let r = t.resolve();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let sale = t.sale(sale_id);
    assert!(!sale.recheck_due);
    let rechecks = sale
        .history
        .iter()
        .filter(|h| h.note == "re-checked by query")
        .count();
    assert_eq!(rechecks, 1, "re-checked once: {:?}", sale.history);
    assert_eq!(sale.attention, None, "the bank agrees: nothing moved");
    assert_eq!(sb.committed(out["bank_tran_id"].as_str().unwrap()), 0);
    assert_eq!(
        sb.entries_for(out["bank_tran_id"].as_str().unwrap()).len(),
        1,
        "re-checked by query, never re-sent"
    );
}

#[test]
fn an_a0017_decline_the_bank_did_pay_is_raised_loudly() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    sb.inject(json!([{"kind": "reply", "rsp_code": "A0017", "commit": true}]));
    let (code, out) = t.pay(2500, &t.code("alice", &[]));
    assert_eq!(code, 1, "{out}");
    let r = t.resolve();
    assert!(r.status.success());
    let sale = t.sale(out["sale_id"].as_str().unwrap());
    let attention = sale.attention.expect("a mismatch must be flagged");
    assert!(attention.contains("MISMATCH"), "{attention}");
    let (_, listed) = t.run_json(&["queue", "list"]);
    assert!(
        listed.iter().any(|s| s["sale_id"] == out["sale_id"]
            && s["attention"]
                .as_str()
                .is_some_and(|a| a.contains("MISMATCH"))),
        "on the attention list: {listed:?}"
    );
}

#[test]
fn a_sale_left_submitted_by_a_killed_process_is_resolved_by_query_not_resent() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    // The backend commits, then sits on the reply: the terminal is killed while waiting.
    sb.inject(json!([{"kind": "delay", "ms": 60_000}]));
    let png = t.code("alice", &[]);
    let mut child = t
        .pay_command(4000, &png)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ledger = sb.wait_for_ledger(Duration::from_secs(20), |l| {
        l.iter().any(|e| e["committed"] == true)
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let btid = ledger[0]["bank_tran_id"].as_str().unwrap().to_string();

    let open = t.journal().open_sales().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].status,
        Status::Submitted,
        "journaled before the request left"
    );
    assert_eq!(open[0].bank_tran_id, btid);
    let sale_id = open[0].id.clone();

    let r = t.resolve();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(t.sale(&sale_id).status, Status::Approved);
    assert_eq!(
        sb.entries_for(&btid).len(),
        1,
        "resolved by query: no second withdrawal request at all"
    );
    assert_eq!(sb.committed(&btid), 1);

    // The next sale after the restart gets the next id of the day, not a reused one.
    let (code, out) = t.pay(100, &t.code("alice", &[]));
    assert_eq!(code, 0, "{out}");
    assert_ne!(out["bank_tran_id"].as_str().unwrap(), btid);
}

#[test]
fn a_journal_record_without_payment_means_is_flagged_not_fatal() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let id = {
        let j = t.journal();
        let mut sale = j
            .create_sale("T991000001", "T1", "20261121", 0, |id, btid| {
                qrpos::sale::Sale::new(
                    id,
                    btid,
                    "20261121".into(),
                    qrpos::sale::Won(800),
                    "x".into(),
                    qrpos::sale::Protocol::Openbanking,
                    0,
                )
            })
            .unwrap();
        sale.advance(Status::Submitted, 1, "sent").unwrap(); // but its means were lost
        j.save(&sale).unwrap();
        sale.id
    };
    let r = t.resolve();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let sale = t.sale(&id);
    assert!(sale.attention.unwrap().contains("lacks the payment means"));
    assert_eq!(
        sale.status,
        Status::Submitted,
        "left open for a human, not guessed at"
    );
    // The resolver keeps working for everything else.
    let (code, out) = t.pay(500, &t.code("alice", &[]));
    assert_eq!(code, 0, "{out}");
    assert!(sb
        .ledger()
        .iter()
        .all(|e| e["bank_tran_id"] != t.sale(&id).bank_tran_id.as_str()));
}

#[test]
fn an_unreadable_journal_record_is_set_aside_and_new_sales_go_on() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let (code, first) = t.pay(1000, &t.code("alice", &[]));
    assert_eq!(code, 0, "{first}");
    let first_id = first["sale_id"].as_str().unwrap();
    {
        // The record is damaged on disk, and marked open, so the resolver meets it first.
        let db = sled::open(t.journal_dir()).unwrap();
        db.open_tree("sales")
            .unwrap()
            .insert(first_id, &b"{\"id\": \"2026"[..])
            .unwrap();
        db.open_tree("open").unwrap().insert(first_id, &[]).unwrap();
        db.flush().unwrap();
    }
    let (code, second) = t.pay(1100, &t.code("alice", &[]));
    assert_eq!(code, 0, "a damaged record blocks no sale: {second}");
    assert_eq!(sb.committed(second["bank_tran_id"].as_str().unwrap()), 1);
    let (code, listed) = t.run_json(&["queue", "list"]);
    assert_eq!(code, 0);
    let flagged = listed
        .iter()
        .find(|s| s["sale_id"] == first_id)
        .unwrap_or_else(|| panic!("on the attention list: {listed:?}"));
    assert_eq!(flagged["state"], "unreadable");
    assert!(flagged["attention"]
        .as_str()
        .unwrap()
        .contains("cannot be read"));
    let (_, status) = t.run_json(&["queue", "status"]);
    assert_eq!(status[0]["attention_count"], 1);
}
