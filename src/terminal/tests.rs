//! The terminal and the forwarder on a [`ManualClock`], against the real sandbox (its bank
//! runs on the same clock, or on one set a little apart) over HTTP on 127.0.0.1 and a real
//! journal in a temp dir: day rollovers, midnight, and wall-clock jumps, at no real wait.

use super::*;
use crate::backend::{self, BackendSettings, Secret};
use crate::clock::ManualClock;
use crate::forwarder;
use crate::sandbox::{self, Sandbox, SandboxConfig};
use serde_json::{json, Value};

const GRACE: Duration = Duration::from_secs(10);
const RECHECK_AFTER: Duration = Duration::from_secs(60);
const UNKNOWN_ATTENTION: Duration = Duration::from_secs(600);

/// A terminal's world: a clock, the bank (the sandbox), a journal directory.
pub(crate) struct World {
    pub(crate) clock: Arc<ManualClock>,
    bank: Sandbox,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl World {
    /// Terminal and bank on one clock, at a KST time `yyyy-MM-dd HH:mm:ss`.
    pub(crate) async fn at(kst: &str) -> World {
        let clock = Arc::new(ManualClock::at(kst).expect("time"));
        World::with_clocks(clock.clone(), clock).await
    }

    /// The terminal's clock at `terminal_kst` and the bank's at `bank_kst`: they run apart.
    pub(crate) async fn apart(terminal_kst: &str, bank_kst: &str) -> World {
        let clock = |kst| Arc::new(ManualClock::at(kst).expect("time"));
        World::with_clocks(clock(terminal_kst), clock(bank_kst)).await
    }

    async fn with_clocks(clock: Arc<ManualClock>, bank_clock: Arc<ManualClock>) -> World {
        let bank = sandbox::start(SandboxConfig {
            clock: bank_clock,
            ..SandboxConfig::new(([127, 0, 0, 1], 0).into())
        })
        .await
        .expect("sandbox");
        World {
            clock,
            bank,
            dir: tempfile::tempdir().expect("tempdir"),
            http: reqwest::Client::new(),
        }
    }

    /// The terminal, reaching the bank (`online`) or a port where nothing listens. Only one
    /// may be open at a time: it holds the journal.
    pub(crate) fn terminal(&self, online: bool) -> Terminal {
        let url = if online {
            self.bank.url()
        } else {
            "http://127.0.0.1:0".into()
        };
        let gateway = backend::connect(BackendSettings {
            url,
            protocol: Protocol::Openbanking,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            client_id: sandbox::DEMO_CLIENT_ID.into(),
            client_secret: Secret::new(sandbox::DEMO_CLIENT_SECRET.into()),
            cntr_account_type: "N".into(),
            cntr_account_num: "1002003004005".into(),
            merchant_name: "test shop".into(),
            recv_client_bank_code: "097".into(),
            recv_client_account_num: "1002003004005".into(),
            institution_code: sandbox::DEMO_INSTITUTION_CODE.into(),
            enrolment: backend::enrolment::Enrolment::Sandbox,
        })
        .expect("gateway");
        let mut keys = TrustedKeys::new();
        keys.add(
            sandbox::DEV_KEY_ID,
            sandbox::dev_signing_key().verifying_key(),
        );
        let policy = SalePolicy {
            institution_code: sandbox::DEMO_INSTITUTION_CODE.into(),
            terminal_prefix: "T1".into(),
            max_amount: Won(1_000_000),
            accept_static: true,
            protocol: Protocol::Openbanking,
            grace: GRACE,
            query_attempts: 1,
            query_backoff: Duration::from_millis(1),
            offline: sale::OfflinePolicy {
                enabled: true,
                max_sale: Won(50_000),
                max_total: Won(300_000),
                max_count: 50,
                max_age: Duration::from_secs(24 * 3600),
            },
            recheck_after: RECHECK_AFTER,
            unknown_attention_after: UNKNOWN_ATTENTION,
        };
        // The previous terminal of this world may have closed the journal just now.
        let journal = crate::store::journal::tests::reopen(&self.dir.path().join("journal"));
        Terminal::new(journal, gateway, keys, policy, self.clock.clone())
    }

    /// A one-time code for alice, issued now on the terminal's clock.
    pub(crate) fn code(&self, t: &Terminal) -> Payload {
        t.read_payload(&self.code_text("alice")).expect("payable")
    }

    /// The text of a one-time code for a sandbox customer, issued now.
    pub(crate) fn code_text(&self, user: &str) -> String {
        sandbox::issue_code(user, self.clock.now().timestamp(), 180, false).expect("issue")
    }

    pub(crate) async fn pay(&self, t: &Terminal, amount: u64) -> Sale {
        let sale = t.open_sale(Won(amount), "coffee").expect("open");
        let payload = self.code(t);
        t.charge(sale, &payload).await.expect("charge")
    }

    pub(crate) async fn inject(&self, faults: Value) {
        let r = self
            .http
            .post(format!("{}/_sandbox/faults", self.bank.url()))
            .json(&json!({ "faults": faults }))
            .send()
            .await
            .expect("inject");
        assert!(r.status().is_success());
    }

    /// Every withdrawal the bank received.
    pub(crate) async fn ledger(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_sandbox/ledger", self.bank.url()))
            .send()
            .await
            .expect("ledger")
            .json()
            .await
            .expect("ledger json");
        v["entries"].as_array().expect("entries").clone()
    }

    /// Withdrawals that moved money for `bank_tran_id`.
    pub(crate) async fn committed(&self, bank_tran_id: &str) -> usize {
        self.ledger()
            .await
            .iter()
            .filter(|e| e["bank_tran_id"] == bank_tran_id && e["committed"] == true)
            .count()
    }

    pub(crate) async fn alice_balance(&self) -> u64 {
        let v: Value = self
            .http
            .get(format!("{}/_sandbox/accounts", self.bank.url()))
            .send()
            .await
            .expect("accounts")
            .json()
            .await
            .expect("accounts json");
        v["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .find(|a| a["name"] == "alice")
            .and_then(|a| a["balance"].as_u64())
            .expect("alice")
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

#[tokio::test]
async fn a_sale_on_day_two_is_its_own_withdrawal_and_really_charged() {
    let w = World::at("2026-11-21 12:00:00").await;
    let before = w.alice_balance().await;
    let t = w.terminal(true);
    let day1 = w.pay(&t, 4500).await;
    w.clock.advance(DAY);
    let day2 = w.pay(&t, 4500).await;
    assert_eq!(
        (day1.status, day2.status),
        (Status::Approved, Status::Approved)
    );
    assert_ne!(day1.bank_tran_id, day2.bank_tran_id);
    assert_eq!(day1.reply_date.as_deref(), Some("20261121"));
    assert_eq!(day2.reply_date.as_deref(), Some("20261122"));
    assert_eq!(day2.id, format!("20261122-{}", &day2.bank_tran_id[11..]));
    // Every sale reported approved has exactly one withdrawal that moved money.
    assert_eq!(w.committed(&day1.bank_tran_id).await, 1);
    assert_eq!(w.committed(&day2.bank_tran_id).await, 1);
    assert_eq!(w.alice_balance().await, before - 9000);
}

#[tokio::test]
async fn an_offline_sale_from_2359_is_forwarded_after_midnight_and_found_on_its_new_day() {
    let w = World::at("2026-11-21 23:59:00").await;
    let queued = {
        let t = w.terminal(false);
        w.pay(&t, 3000).await
    };
    assert_eq!(queued.status, Status::Queued);
    assert_eq!(queued.date, "20261121");

    w.clock.advance(Duration::from_secs(120)); // 00:01 on the 22nd
    let t = w.terminal(true);
    // The bank commits the forwarded withdrawal, and the reply is lost.
    w.inject(json!([{"kind": "drop", "commit": true}])).await;
    let report = forwarder::forward_queued(&t).await.expect("forward");
    assert!(!report.offline);
    let sale = t.journal().get(&queued.id).expect("sale");
    assert_eq!(
        sale.status,
        Status::Approved,
        "found by query on the 22nd: {:?}",
        sale.history
    );
    assert_eq!(sale.tran_dtime.as_deref(), Some("20261122000100"));
    assert_eq!(sale.reply_date.as_deref(), Some("20261122"));
    assert_eq!(w.committed(&sale.bank_tran_id).await, 1);
}

#[tokio::test]
async fn a_reply_lost_across_midnight_is_found_on_the_banks_day() {
    // The terminal's clock is 2 s behind the bank's: sent at 23:59:59, filed on the 22nd.
    let w = World::apart("2026-11-21 23:59:59", "2026-11-22 00:00:01").await;
    let t = w.terminal(true);
    w.inject(json!([{"kind": "drop", "commit": true}])).await;
    let sale = w.pay(&t, 2500).await;
    assert_eq!(sale.tran_dtime.as_deref(), Some("20261121235959"));
    assert_eq!(
        sale.status,
        Status::Approved,
        "asked on the 21st, then the 22nd: {:?}",
        sale.history
    );
    assert_eq!(sale.reply_date.as_deref(), Some("20261122"));
    assert_eq!(w.committed(&sale.bank_tran_id).await, 1);
}

#[tokio::test]
async fn a_sale_opened_at_235959_and_answered_after_midnight_is_queried_on_the_answers_day() {
    let w = World::at("2026-11-21 23:59:59").await;
    let t = w.terminal(true);
    let sale = t.open_sale(Won(1800), "coffee").expect("open");
    assert_eq!(sale.date, "20261121");
    w.clock.advance(Duration::from_secs(2)); // the code is read after midnight
                                             // "Still in progress" (A0001): the bank does finish it, and the first check fails.
    w.inject(json!([
        {"kind": "reply", "rsp_code": "A0001", "commit": true},
        {"on": "result", "kind": "http500", "commit": false},
    ]))
    .await;
    let payload = w.code(&t);
    let sale = t.charge(sale, &payload).await.expect("charge");
    assert_eq!(sale.status, Status::Unknown);
    assert_eq!(
        sale.reply_date.as_deref(),
        Some("20261122"),
        "the day the answer gave is kept, not the day the sale was opened"
    );
    w.clock.advance(Duration::from_secs(3600));
    let touched = t.resolve_open().await.expect("resolve");
    let sale = touched
        .into_iter()
        .find(|s| s.id == sale.id)
        .expect("looked at");
    assert_eq!(sale.status, Status::Approved, "{:?}", sale.history);
}

#[tokio::test]
async fn a_clock_set_forward_an_hour_does_not_shorten_the_wait_for_a_missing_transfer() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    w.inject(json!([{"kind": "drop", "commit": false}])).await;
    let sale = w.pay(&t, 1200).await;
    assert_eq!(sale.status, Status::Unknown);
    assert_eq!(
        sale.code.as_deref(),
        Some("NOT_FOUND_YET"),
        "a first 'not found'"
    );

    w.clock.jump(3600);
    let sale = t.resolve_open().await.expect("resolve").remove(0);
    assert_eq!(
        sale.status,
        Status::Unknown,
        "an hour on the wall clock, but no time has passed"
    );

    w.clock.advance(GRACE);
    let sale = t.resolve_open().await.expect("resolve").remove(0);
    assert_eq!(sale.status, Status::Declined, "{:?}", sale.history);
    assert_eq!(sale.code.as_deref(), Some("NOT_RECEIVED"));
    assert_eq!(w.committed(&sale.bank_tran_id).await, 0);
}

#[tokio::test]
async fn a_clock_set_back_an_hour_neither_repeats_ids_nor_stalls_the_decline() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    let first = w.pay(&t, 700).await;
    w.clock.jump(-3600);
    w.inject(json!([{"kind": "drop", "commit": false}])).await;
    let second = w.pay(&t, 700).await;
    assert!(second.bank_tran_id > first.bank_tran_id, "ids only go up");
    assert_eq!(second.code.as_deref(), Some("NOT_FOUND_YET"));
    w.clock.advance(GRACE);
    let second = t.resolve_open().await.expect("resolve").remove(0);
    assert_eq!(
        second.code.as_deref(),
        Some("NOT_RECEIVED"),
        "the wall clock is an hour behind the send, but the grace has passed: {:?}",
        second.history
    );
}

#[tokio::test]
async fn the_a0017_recheck_waits_its_minimum_then_raises_a_mismatch() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    w.inject(json!([{"kind": "reply", "rsp_code": "A0017", "commit": true}]))
        .await;
    let sale = w.pay(&t, 900).await;
    assert_eq!((sale.status, sale.recheck_due), (Status::Declined, true));

    t.resolve_open().await.expect("resolve");
    let early = t.journal().get(&sale.id).expect("sale");
    assert!(
        early.recheck_due && early.attention.is_none(),
        "not yet due"
    );

    w.clock.advance(RECHECK_AFTER);
    t.resolve_open().await.expect("resolve");
    let later = t.journal().get(&sale.id).expect("sale");
    assert!(!later.recheck_due);
    assert!(
        later
            .attention
            .as_deref()
            .is_some_and(|a| a.contains("MISMATCH")),
        "{:?}",
        later.attention
    );
}

#[tokio::test]
async fn a_sale_unknown_too_long_goes_on_the_attention_list_until_it_settles() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    // Committed, reply lost, and the result queries fail for a while.
    w.inject(json!([
        {"kind": "drop", "commit": true},
        {"on": "result", "kind": "http500", "commit": false},
        {"on": "result", "kind": "http500", "commit": false},
    ]))
    .await;
    let sale = w.pay(&t, 3300).await;
    assert_eq!(sale.status, Status::Unknown);
    w.clock.advance(UNKNOWN_ATTENTION);
    let flagged = t.resolve_open().await.expect("resolve").remove(0);
    assert_eq!(flagged.status, Status::Unknown);
    assert!(
        flagged
            .attention
            .as_deref()
            .is_some_and(|a| a.starts_with(STILL_UNKNOWN) && a.contains(&sale.bank_tran_id)),
        "{:?}",
        flagged.attention
    );
    let settled = t.resolve_open().await.expect("resolve").remove(0);
    assert_eq!(settled.status, Status::Approved);
    assert_eq!(settled.attention, None, "settled: nothing left to check");
}

#[tokio::test]
async fn a_reply_lost_while_the_terminals_clock_is_an_hour_behind_is_still_found() {
    // The bank is at 00:20 on the 22nd; the terminal thinks it is 23:20 on the 21st.
    let w = World::apart("2026-11-21 23:20:00", "2026-11-22 00:20:00").await;
    let t = w.terminal(true);
    w.inject(json!([{"kind": "drop", "commit": true}])).await;
    let sale = w.pay(&t, 5100).await;
    assert_eq!(
        sale.status,
        Status::Approved,
        "found on the day beside tran_dtime's: {:?}",
        sale.history
    );
    assert_eq!(sale.reply_date.as_deref(), Some("20261122"));
}

#[tokio::test]
async fn a_sale_back_in_the_queue_is_looked_for_on_its_old_day_before_it_is_sent_again() {
    let w = World::at("2026-11-21 23:57:00").await;
    let queued = {
        let t = w.terminal(false);
        w.pay(&t, 2700).await
    };
    assert_eq!(queued.status, Status::Queued);
    let t = w.terminal(true);
    // Forwarded at 23:57: the bank takes the money, the reply is lost, and for a while its
    // results do not show the transfer (three days asked, twice).
    let not_yet = json!({"on": "result", "kind": "reply", "rsp_code": "A0310", "commit": false});
    let mut faults = vec![json!({"kind": "drop", "commit": true})];
    faults.extend(std::iter::repeat_n(not_yet, 6));
    w.inject(Value::Array(faults)).await;
    forwarder::forward_queued(&t).await.expect("forward");
    w.clock.advance(GRACE);
    t.resolve_open().await.expect("resolve");
    let back = t.journal().get(&queued.id).expect("sale");
    assert_eq!(
        back.status,
        Status::Queued,
        "judged never received, back in the queue: {:?}",
        back.history
    );

    // After midnight a send would be a new transfer: the earlier one is looked for first.
    w.clock.advance(Duration::from_secs(240));
    forwarder::forward_queued(&t).await.expect("forward");
    let sale = t.journal().get(&queued.id).expect("sale");
    assert_eq!(sale.status, Status::Approved, "{:?}", sale.history);
    assert_eq!(
        w.committed(&sale.bank_tran_id).await,
        1,
        "charged once, on the 21st"
    );
}
