//! One sale end to end: a QR image in, money moved in the sandbox backend, the outcome in the
//! journal. Every test checks the ledger (what the backend did) and the journal (what the
//! terminal recorded), not just the exit code.

mod common;

use common::{Sandbox, Terminal};
use qrpos::sale::Status;
use serde_json::json;

fn states(t: &Terminal, sale_id: &str) -> Vec<Status> {
    let sale = t.sale(sale_id);
    let mut v = vec![Status::Created];
    v.extend(sale.history.iter().map(|h| h.to));
    v
}

#[test]
fn an_approved_sale_moves_the_money_exactly_once() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let (code, out) = t.pay(5000, &t.code("alice", &[]));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["status"], "approved");
    assert_eq!(out["amount"], 5000);
    let btid = out["bank_tran_id"].as_str().unwrap();
    assert_eq!(btid.len(), 20);
    assert!(btid.starts_with("T991000001U"), "{btid}");

    let entries = sb.entries_for(btid);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["committed"], true);
    assert_eq!(entries[0]["amount"], 5000);
    assert_eq!(entries[0]["customer"], "alice");

    let sale_id = out["sale_id"].as_str().unwrap();
    assert_eq!(
        states(&t, sale_id),
        [Status::Created, Status::Submitted, Status::Approved]
    );
    assert!(t.journal().open_sales().unwrap().is_empty());
}

#[test]
fn declines_say_why_and_move_no_money() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let cases = [
        ("bob", 20_000, "insufficient balance"),
        ("carol", 1000, "withdrawal consent expired"),
        ("dave", 1000, "third-party information consent expired"),
    ];
    for (user, amount, why) in cases {
        let (code, out) = t.pay(amount, &t.code(user, &[]));
        assert_eq!(code, 1, "{user}: {out}");
        assert_eq!(out["status"], "declined", "{user}");
        let msg = out["message"].as_str().unwrap();
        assert!(msg.contains(why), "{user}: {msg}");
        if user != "bob" {
            assert!(
                msg.contains("renew consent"),
                "{user}: the cashier must be told what to do: {msg}"
            );
        }
        let btid = out["bank_tran_id"].as_str().unwrap();
        assert_eq!(sb.committed(btid), 0, "{user}: no money may move");
        assert_eq!(
            t.sale(out["sale_id"].as_str().unwrap()).status,
            Status::Declined
        );
    }
    let codes: Vec<String> = sb
        .ledger()
        .iter()
        .map(|e| e["result"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(codes.iter().any(|c| c.contains("A0319")), "{codes:?}");
    assert!(codes.iter().any(|c| c.contains("A0316")), "{codes:?}");
    assert!(codes.iter().any(|c| c.contains("453")), "{codes:?}");
}

#[test]
fn a_one_time_code_pays_once() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let png = t.code("alice", &[]);
    let (first, _) = t.pay(1200, &png);
    assert_eq!(first, 0);
    let (second, out) = t.pay(1200, &png);
    assert_eq!(second, 1, "{out}");
    assert_eq!(out["code"], "QR_REPLAYED");
    assert_eq!(
        sb.ledger().len(),
        1,
        "the replay must never reach the backend"
    );
    assert_eq!(
        t.sale(out["sale_id"].as_str().unwrap()).status,
        Status::Cancelled
    );
}

#[test]
fn an_expired_code_is_refused_before_anything_is_sent() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let issued = (chrono::Utc::now().timestamp() - 400).to_string();
    let (code, out) = t.pay(1000, &t.code("alice", &["--issued-at", &issued]));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], "QR_EXPIRED");
    assert!(out["message"].as_str().unwrap().contains("expired"));
    assert!(sb.ledger().is_empty());
}

#[test]
fn a_static_fintech_number_code_pays_online() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let (code, out) = t.pay(700, &t.code("alice", &["--static"]));
    assert_eq!(code, 0, "{out}");
    assert_eq!(sb.committed(out["bank_tran_id"].as_str().unwrap()), 1);
}

#[test]
fn static_codes_can_be_switched_off() {
    let sb = Sandbox::start();
    let t = Terminal::with(&sb.url, "openbanking", "accept_static = false\n");
    let (code, out) = t.pay(700, &t.code("alice", &["--static"]));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], "STATIC_NOT_ALLOWED");
    assert!(sb.ledger().is_empty());
}

#[test]
fn an_emvco_consumer_presented_code_is_passed_to_the_backend() {
    // The EMVCo sample payload (docs/openbanking.md §8.2); the sandbox maps its PAN to alice.
    let text = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==";
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let png = t.dir.path().join("emv.png");
    qrpos::scan::write_png(text, &png).unwrap();
    let (code, out) = t.pay(3300, &png);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["means"], "EMV …3458");
    let e = sb.entries_for(out["bank_tran_id"].as_str().unwrap());
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["customer"], "alice");
}

#[test]
fn payrequest_customers_pay_by_card_with_the_seed_rules() {
    let sb = Sandbox::start();
    let t = Terminal::with(&sb.url, "payrequest", "");
    let (code, out) = t.pay(10_000, &t.code("erin", &[]));
    assert_eq!(code, 0, "erin (credit card): {out}");
    assert_eq!(sb.committed(out["bank_tran_id"].as_str().unwrap()), 1);

    let (code, out) = t.pay(900_000, &t.code("frank", &[]));
    assert_eq!(code, 1, "frank (check card) over his balance: {out}");
    assert_eq!(out["code"], "INSUFFICIENT_BALANCE");
    assert_eq!(sb.committed(out["bank_tran_id"].as_str().unwrap()), 0);

    // An open-banking code on a payRequest terminal is refused locally.
    let (code, out) = t.pay(1000, &t.code("alice", &[]));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], "MEANS_UNSUPPORTED");
}

#[test]
fn an_image_without_a_code_is_a_clear_decline() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let blank = t.dir.path().join("blank.png");
    image::GrayImage::from_pixel(320, 240, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let (code, out) = t.pay(1000, &blank);
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], "NO_QR");
    let not_image = t.dir.path().join("notes.png");
    std::fs::write(&not_image, "not an image").unwrap();
    let (code, out) = t.pay(1000, &not_image);
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], "NO_QR");
    assert!(sb.ledger().is_empty());
}

#[test]
fn usage_and_config_errors_exit_2_with_a_message() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let png = t.code("alice", &[]);
    let out = common::qrpos(&[
        "pay",
        "--amount",
        "12.5",
        "--qr-image",
        png.to_str().unwrap(),
        "--config",
        t.config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a whole number"));
    let out = common::qrpos(&[
        "pay",
        "--amount",
        "5000000",
        "--qr-image",
        png.to_str().unwrap(),
        "--config",
        t.config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("maximum"));
    let out = common::qrpos(&[
        "pay",
        "--amount",
        "99999999999999999999",
        "--qr-image",
        png.to_str().unwrap(),
        "--config",
        t.config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("99999999999999999999 is too large") && !said.contains("18,446"),
        "said as typed, never saturated: {said}"
    );
    let bad = t.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[backend]\nurl = \"embedded\"\n[terminal]\ninstitution_code = \"T991000001\"\nterminal_prefix = \"TOOLONG\"\n",
    )
    .unwrap();
    let out = common::qrpos(&[
        "pay",
        "--amount",
        "100",
        "--qr-image",
        png.to_str().unwrap(),
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("terminal.terminal_prefix"));
    assert!(sb.ledger().is_empty());
}

#[test]
fn with_offline_acceptance_off_a_backend_that_is_down_declines() {
    let t = Terminal::with(
        common::UNREACHABLE,
        "openbanking",
        "[offline]\nenabled = false\n",
    );
    let (code, out) = t.pay(1000, &t.code("alice", &[]));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], "OFFLINE");
    let msg = out["message"].as_str().unwrap();
    assert!(
        msg.contains("switched off") && msg.contains("nothing was charged"),
        "{msg}"
    );
}

#[test]
fn decode_prints_texts_errors_and_times_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.png");
    qrpos::scan::write_png("hello qrpos", &good).unwrap();
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let out = common::qrpos(&[
        "decode",
        good.to_str().unwrap(),
        blank.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "one file did not decode");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["texts"], json!(["hello qrpos"]));
    assert!(lines[0]["error"].is_null());
    // Reading a PNG and decoding it takes at least a microsecond: 0 would mean no timing.
    assert!(lines[0]["ms"].as_f64().unwrap() > 0.0, "{}", lines[0]);
    assert!(lines[1]["ms"].as_f64().unwrap() > 0.0, "{}", lines[1]);
    assert_eq!(lines[1]["texts"], json!([]));
    assert!(lines[1]["error"].as_str().unwrap().len() > 3);
}

#[test]
fn used_nonces_are_forgotten_once_their_codes_expire() {
    let sb = Sandbox::start();
    let t = Terminal::new(&sb.url);
    let now = chrono::Utc::now().timestamp();
    {
        let j = t.journal();
        let make = |id, btid| {
            qrpos::sale::Sale::new(
                id,
                btid,
                "20261121".into(),
                qrpos::sale::Won(1),
                "x".into(),
                qrpos::sale::Protocol::Openbanking,
                0,
            )
        };
        let mut expired = j
            .create_sale("T991000001", "T1", "20261121", 0, make)
            .unwrap();
        let mut live = j
            .create_sale("T991000001", "T1", "20261121", 0, make)
            .unwrap();
        expired.advance(Status::Cancelled, 1, "test").unwrap();
        live.advance(Status::Cancelled, 1, "test").unwrap();
        j.save_with_nonce(&expired, b"expired!", now - 60).unwrap();
        j.save_with_nonce(&live, b"live-one", now + 600).unwrap();
    }
    let r = t.resolve();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let j = t.journal();
    assert!(
        !j.nonce_seen(b"expired!").unwrap(),
        "an expired code's nonce is forgotten"
    );
    assert!(
        j.nonce_seen(b"live-one").unwrap(),
        "a code still valid stays unpayable twice"
    );
}
