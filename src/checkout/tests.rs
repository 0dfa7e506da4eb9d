//! Checkouts against the real sandbox (loopback HTTP) and a real journal, on a manual clock.

use super::*;
use crate::clock::Clock;
use crate::terminal::tests::World;
use serde_json::Value;

fn order(amount: u64) -> Order {
    Order {
        amount: Won(amount),
        product: "coffee".into(),
        scan_timeout: Duration::from_secs(30),
    }
}

/// The steps as short words, to compare sequences.
fn words(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match s {
            Step::Opened(_) => "opened".to_string(),
            Step::Refused(r) => format!("refused:{}", r.code),
            Step::CodeRead { .. } => "code".to_string(),
            Step::Finished(sale) => format!("finished:{}", sale.status.as_str()),
            Step::Signal(p) => format!("signal:{p:?}"),
        })
        .collect()
}

/// Runs a checkout of `amount` with `inputs` already sent (the channel stays open).
async fn checkout(
    t: &Terminal,
    amount: u64,
    inputs: Vec<Input>,
) -> (Result<Sale, Failure>, Vec<String>, mpsc::Sender<Input>) {
    let (tx, mut rx) = mpsc::channel(8);
    for input in inputs {
        tx.send(input).await.expect("send");
    }
    let mut steps = Vec::new();
    let result = run(t, &order(amount), &mut rx, &mut |s| steps.push(s)).await;
    (result, words(&steps), tx)
}

#[tokio::test]
async fn a_bad_code_beeps_and_scanning_goes_on_until_a_payable_one_pays() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    let inputs = vec![
        Input::Read(vec!["hello, not a payment".into()]),
        Input::Read(vec![w.code_text("alice")]),
    ];
    let (result, steps, _tx) = checkout(&t, 4500, inputs).await;
    let sale = result.expect("checkout");
    assert_eq!(sale.status, Status::Approved);
    assert_eq!(
        steps,
        [
            "opened",
            "signal:Error",
            "refused:QR_UNKNOWN_FORMAT",
            "signal:GoodRead",
            "code",
            "finished:approved",
            "signal:Approved"
        ]
    );
    assert_eq!(w.committed(&sale.bank_tran_id).await, 1);
    assert_eq!(t.journal().get(&sale.id).expect("journaled"), sale);
}

#[tokio::test]
async fn a_decline_says_why_and_signals_it() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    let (result, steps, _tx) =
        checkout(&t, 20_000, vec![Input::Read(vec![w.code_text("bob")])]).await;
    let sale = result.expect("checkout");
    assert_eq!(sale.status, Status::Declined);
    assert!(
        sale.message
            .as_deref()
            .is_some_and(|m| m.contains("insufficient balance")),
        "{:?}",
        sale.message
    );
    assert_eq!(steps.last().map(String::as_str), Some("signal:Declined"));
    assert_eq!(w.committed(&sale.bank_tran_id).await, 0);
}

#[tokio::test]
async fn the_cashiers_cancel_ends_it_and_nothing_is_sent() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    let (result, steps, _tx) = checkout(&t, 800, vec![Input::Cancel]).await;
    let sale = result.expect("checkout");
    assert_eq!(
        (sale.status, sale.code.as_deref()),
        (Status::Cancelled, Some("CANCELLED"))
    );
    assert_eq!(steps, ["opened", "finished:cancelled"]);
    assert_eq!(
        w.ledger().await,
        Vec::<Value>::new(),
        "nothing reached the bank"
    );
}

#[tokio::test(start_paused = true)]
async fn no_code_within_the_scan_timeout_cancels_the_sale() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(false);
    // Nothing is read and the source stays open: only the timeout can end it.
    let (result, steps, _tx) = checkout(&t, 800, vec![]).await;
    let sale = result.expect("checkout");
    assert_eq!(
        (sale.status, sale.code.as_deref()),
        (Status::Cancelled, Some("SCAN_TIMEOUT"))
    );
    assert_eq!(steps, ["opened", "finished:cancelled", "signal:Error"]);
}

#[tokio::test]
async fn a_source_that_ends_after_bad_codes_is_answered_with_the_first_refusal() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    let expired = crate::sandbox::issue_code("alice", w.clock.now().timestamp() - 600, 180, false)
        .expect("issue");
    let inputs = vec![
        Input::Read(vec![expired, "hello".into()]),
        Input::SourceEnded {
            why: "no QR code in the image".into(),
        },
    ];
    let (result, _, _tx) = checkout(&t, 800, inputs).await;
    let sale = result.expect("checkout");
    assert_eq!(
        (sale.status, sale.code.as_deref()),
        (Status::Cancelled, Some("QR_EXPIRED"))
    );
}

#[tokio::test]
async fn offline_a_one_time_code_is_accepted_and_signalled_amber() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(false);
    let (result, steps, _tx) =
        checkout(&t, 3000, vec![Input::Read(vec![w.code_text("alice")])]).await;
    assert_eq!(result.expect("checkout").status, Status::Queued);
    assert_eq!(
        steps.last().map(String::as_str),
        Some("signal:AcceptedOffline")
    );
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_scanning_goes_on() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    let code = w.code_text("alice");
    let (first, _, _tx) = checkout(&t, 1000, vec![Input::Read(vec![code.clone()])]).await;
    assert_eq!(first.expect("checkout").status, Status::Approved);
    let inputs = vec![
        Input::Read(vec![code]),
        Input::Read(vec![w.code_text("alice")]),
    ];
    let (second, steps, _tx) = checkout(&t, 1000, inputs).await;
    assert_eq!(second.expect("checkout").status, Status::Approved);
    assert!(
        steps.contains(&"refused:QR_REPLAYED".to_string()),
        "{steps:?}"
    );
}

#[tokio::test]
async fn the_background_resolver_leaves_a_sale_the_checkout_holds_alone() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    let (tx, mut rx) = mpsc::channel(8);
    let mut opened = None;
    let mut report = |s| {
        if let Step::Opened(sale) = s {
            opened = Some(sale.id);
        }
    };
    let the_order = order(4500);
    let checkout = run(&t, &the_order, &mut rx, &mut report);
    // While the checkout waits for a code, a resolver pass (the touchscreen runs one every
    // few seconds) must not cancel the waiting sale as abandoned.
    let resolver = async {
        tokio::task::yield_now().await;
        let touched = t.resolve_open().await.expect("resolve");
        tx.send(Input::Read(vec![w.code_text("alice")]))
            .await
            .unwrap();
        touched
    };
    let (sale, touched) = tokio::join!(checkout, resolver);
    assert!(touched.is_empty(), "the resolver took {touched:?}");
    let sale = sale.expect("checkout");
    assert_eq!(Some(sale.id.clone()), opened);
    assert_eq!(sale.status, Status::Approved);
    // Released once the checkout is over: an old open sale is the resolver's again.
    assert!(!t.is_held(&sale.id));
}

/// Found in review: the resolver lists the open sales, then works through them one by one;
/// a sale held when listed may have been charged and released by the time the resolver
/// reaches it. Working from the stale copy would cancel an approved, charged sale.
#[tokio::test]
async fn the_resolver_never_acts_on_a_stale_copy_of_a_sale_a_checkout_finished() {
    let w = World::at("2026-11-21 12:00:00").await;
    let t = w.terminal(true);
    // An older sale left Submitted (as after a crash): the resolver queries it, slowly.
    let mut older = t.open_sale(Won(1000), "old").expect("open");
    older.means = Some(w.code(&t).means());
    older.tran_dtime = Some("20261121115900".into());
    older.advance(Status::Submitted, 1, "sent").unwrap();
    t.journal().save(&older).unwrap();
    w.inject(serde_json::json!([{"on": "result", "kind": "delay", "ms": 1500}]))
        .await;

    let (tx, mut rx) = mpsc::channel(8);
    // `join!` polls in order: the checkout opens (and holds) its sale and waits for a code;
    // the resolver lists the open sales (that one still `Created`) and starts on the older
    // sale's slow query; only then does the customer show the code, so the sale is charged
    // and released while the resolver still holds its `Created` copy.
    let the_order = order(4500);
    let mut report = |_| {};
    let checkout = run(&t, &the_order, &mut rx, &mut report);
    let resolver = async { t.resolve_open().await.expect("resolve") };
    let customer = async {
        tx.send(Input::Read(vec![w.code_text("alice")]))
            .await
            .unwrap();
    };
    let (sale, _, ()) = tokio::join!(checkout, resolver, customer);
    let sale = sale.expect("checkout");
    assert_eq!(sale.status, Status::Approved);
    assert_eq!(w.committed(&sale.bank_tran_id).await, 1, "the bank charged");
    let journaled = t.journal().get(&sale.id).unwrap();
    assert_eq!(
        journaled.status,
        Status::Approved,
        "journal: {:?}",
        journaled.history
    );
}
