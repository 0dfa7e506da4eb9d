//! Offline store-and-forward against the real sandbox: what may be queued when the backend is
//! unreachable, forwarding under the original ids when it is back, the attention list, and the
//! day's export matching the backend's ledger.

mod common;

use common::{free_port, Sandbox, Terminal};
use qrpos::sale::{Protocol, Sale, Status, Won};

fn status(t: &Terminal) -> serde_json::Value {
    let (code, v) = t.run_json(&["queue", "status"]);
    assert_eq!(code, 0);
    v.into_iter()
        .next()
        .expect("queue status printed one object")
}

#[test]
fn one_time_codes_queue_offline_and_are_forwarded_with_their_original_ids() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let data = tempfile::tempdir().unwrap();
    let t = Terminal::new(&url);

    // Backend down: a one-time code within the caps is accepted offline…
    let paying = std::time::Instant::now();
    let (code, first) = t.pay(3000, &t.code("alice", &[]));
    assert_eq!(code, 3, "{first}");
    assert_eq!(first["status"], "queued");
    let (_, second) = t.pay(4000, &t.code("alice", &[]));
    assert_eq!(second["status"], "queued");
    // …a static code never is, nor an amount over the per-sale cap.
    let (code, stat) = t.pay(1000, &t.code("alice", &["--static"]));
    assert_eq!(code, 1, "{stat}");
    assert!(
        stat["message"].as_str().unwrap().contains("one-time"),
        "{stat}"
    );
    let (code, big) = t.pay(60_000, &t.code("alice", &[]));
    assert_eq!(code, 1, "{big}");
    assert!(
        big["message"].as_str().unwrap().contains("offline limit"),
        "{big}"
    );

    let s = status(&t);
    assert_eq!(s["online"], false);
    assert_eq!(s["queued_count"], 2);
    assert_eq!(s["queued_amount"], 7000);
    // The oldest is the first sale, made since `paying` (whole seconds, rounded down).
    let oldest = s["oldest_age_s"]
        .as_u64()
        .expect("a queued sale has an age");
    assert!(oldest <= paying.elapsed().as_secs(), "{s}");

    // Backend back: forwarding sends both, in order, under their own ids.
    let sb = t.backend_returns(&["--data", data.path().to_str().unwrap()]);
    let (code, forwarded) = t.run_json(&["queue", "forward"]);
    assert_eq!(code, 0);
    assert_eq!(forwarded.len(), 2, "{forwarded:?}");
    assert!(
        forwarded.iter().all(|f| f["status"] == "approved"),
        "{forwarded:?}"
    );
    let ledger = sb.ledger();
    let ids: Vec<&str> = ledger
        .iter()
        .map(|e| e["bank_tran_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            first["bank_tran_id"].as_str().unwrap(),
            second["bank_tran_id"].as_str().unwrap()
        ]
    );
    assert!(ledger.iter().all(|e| e["committed"] == true));

    let s = status(&t);
    assert_eq!(
        (
            s["online"].clone(),
            s["queued_count"].clone(),
            s["attention_count"].clone()
        ),
        (true.into(), 0.into(), 0.into())
    );
    let sale = t.sale(first["sale_id"].as_str().unwrap());
    let path: Vec<Status> = sale.history.iter().map(|h| h.to).collect();
    assert_eq!(path[..2], [Status::Submitted, Status::Queued]);
    assert_eq!(
        path[path.len() - 2..],
        [Status::Forwarded, Status::Approved]
    );
    // Attempts while the backend was still down are journaled honestly, and went nowhere.
    for h in &sale.history[2..sale.history.len() - 2] {
        assert!(
            h.to == Status::Forwarded || h.note.contains("still unreachable"),
            "{h:?}"
        );
    }
}

#[test]
fn the_queue_count_and_total_caps_hold() {
    let t = Terminal::with(
        common::UNREACHABLE,
        "openbanking",
        "[offline]\nmax_count = 2\nmax_total = 5000\nmax_sale = 5000\n",
    );
    assert_eq!(t.pay(1000, &t.code("alice", &[])).0, 3);
    let (code, over_total) = t.pay(4500, &t.code("alice", &[]));
    assert_eq!(code, 1, "{over_total}");
    assert!(
        over_total["message"]
            .as_str()
            .unwrap()
            .contains("offline total"),
        "{over_total}"
    );
    assert_eq!(t.pay(1000, &t.code("alice", &[])).0, 3);
    let (code, over_count) = t.pay(10, &t.code("alice", &[]));
    assert_eq!(code, 1);
    assert!(
        over_count["message"]
            .as_str()
            .unwrap()
            .contains("already waiting"),
        "{over_count}"
    );
}

#[test]
fn a_decline_after_forwarding_goes_on_the_attention_list() {
    let port = free_port();
    let t = Terminal::new(&format!("http://127.0.0.1:{port}"));
    let (code, queued) = t.pay(20_000, &t.code("bob", &[])); // bob has ₩10,000
    assert_eq!(code, 3, "{queued}");
    let sb = t.backend_returns(&[]);
    let (_, forwarded) = t.run_json(&["queue", "forward"]);
    assert_eq!(forwarded[0]["status"], "declined");
    assert!(forwarded[0]["attention"]
        .as_str()
        .unwrap()
        .contains("declined after forwarding"));
    assert_eq!(sb.committed(queued["bank_tran_id"].as_str().unwrap()), 0);
    assert_eq!(status(&t)["attention_count"], 1);
    let (_, listed) = t.run_json(&["queue", "list"]);
    assert!(
        listed
            .iter()
            .any(|s| s["sale_id"] == queued["sale_id"] && s["attention"].is_string()),
        "{listed:?}"
    );
}

#[test]
fn a_queued_sale_past_the_age_limit_is_not_sent() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let two_days_ago = chrono::Utc::now().timestamp_millis() - 48 * 3600 * 1000;
    let id = {
        let j = t.journal();
        let mut sale = j
            .create_sale("T991000001", "T1", "20261119", two_days_ago, |id, btid| {
                Sale::new(
                    id,
                    btid,
                    "20261119".into(),
                    Won(1500),
                    "old".into(),
                    Protocol::Openbanking,
                    two_days_ago,
                )
            })
            .unwrap();
        sale.means = Some(qrpos::sale::PaymentMeans::FintechNumber {
            fintech_use_num: "199100000000000000000001".into(),
        });
        sale.one_time_code = true;
        sale.tran_dtime = Some("20261119100000".into());
        sale.advance(Status::Submitted, two_days_ago, "sent")
            .unwrap();
        sale.advance(Status::Queued, two_days_ago, "offline")
            .unwrap();
        j.save(&sale).unwrap();
        sale.id
    };
    let (_, out) = t.run_json(&["queue", "forward"]);
    assert_eq!(out[0]["code"], "EXPIRED_OFFLINE", "{out:?}");
    let sale = t.sale(&id);
    assert_eq!(sale.status, Status::Declined);
    assert!(sale.attention.unwrap().contains("never charged"));
    assert!(
        sb.ledger().is_empty(),
        "an expired offline sale is never sent"
    );
}

#[test]
fn the_days_export_matches_the_ledger() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let mut days = std::collections::BTreeSet::new();
    for (user, amount) in [
        ("alice", 1200),
        ("alice", 3400),
        ("bob", 50_000),
        ("alice", 99),
    ] {
        let (_, out) = t.pay(amount, &t.code(user, &[]));
        // The business day is the one in the sale id (a run across midnight has two).
        let id = out["sale_id"].as_str().unwrap();
        days.insert(format!("{}-{}-{}", &id[..4], &id[4..6], &id[6..8]));
    }
    let export = |date: &str| -> serde_json::Value {
        let raw = common::qrpos(&[
            "journal",
            "export",
            "--date",
            date,
            "--format",
            "json",
            "--config",
            t.config.to_str().unwrap(),
        ]);
        assert!(
            raw.status.success(),
            "{}",
            String::from_utf8_lossy(&raw.stderr)
        );
        serde_json::from_slice(&raw.stdout).unwrap()
    };
    let exports: Vec<serde_json::Value> = days.iter().map(|d| export(d)).collect();
    let total = |key: &str| -> u64 {
        exports
            .iter()
            .map(|e| e["totals"][key].as_u64().unwrap())
            .sum()
    };
    let moved: u64 = sb
        .ledger()
        .iter()
        .filter(|e| e["committed"] == true)
        .map(|e| e["amount"].as_u64().unwrap())
        .sum();
    assert_eq!(total("approved_amount"), moved);
    assert_eq!(moved, 1200 + 3400 + 99);
    assert_eq!(total("approved_count"), 3);
    assert_eq!(total("declined_count"), 1);
    let listed: usize = exports
        .iter()
        .map(|e| e["sales"].as_array().unwrap().len())
        .sum();
    assert_eq!(listed, 4);
    if days.len() > 1 {
        return; // the CSV check below is for one day
    }
    let date = days.first().unwrap().clone();

    let csv = common::qrpos(&[
        "journal",
        "export",
        "--date",
        &date,
        "--config",
        t.config.to_str().unwrap(),
    ]);
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(
        csv.contains(&format!("TOTAL,{date},,{moved},3 sale(s),approved")),
        "{csv}"
    );
}

#[test]
fn the_background_forwarder_sends_the_queue_when_the_backend_returns() {
    use std::process::{Command, Stdio};
    let port = free_port();
    let t = Terminal::with(
        &format!("http://127.0.0.1:{port}"),
        "openbanking",
        "[offline]\nretry_interval_ms = 100\n",
    );
    let (code, queued) = t.pay(2200, &t.code("alice", &[]));
    assert_eq!(code, 3, "{queued}");

    let mut watch = Command::new(common::BIN)
        .args([
            "queue",
            "watch",
            "--json",
            "--config",
            t.config.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sb = Sandbox::start_on(&format!("127.0.0.1:{port}"), &[]);
    // The watcher prints each sale it settles; wait for ours (bounded by the read timeout).
    let rx = common::stdout_lines(&mut watch);
    let settled = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(90))
            .expect("the watcher settled the queued sale");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["sale_id"] == queued["sale_id"] && v["status"] != "queued" {
            break v;
        }
    };
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert_eq!(settled["status"], "approved", "{settled}");
    assert_eq!(sb.committed(queued["bank_tran_id"].as_str().unwrap()), 1);
    assert_eq!(
        t.sale(queued["sale_id"].as_str().unwrap()).status,
        Status::Approved,
        "journaled before it was printed"
    );
}
