//! The touchscreen driven as a cashier drives it, through accessible labels, with Slint's
//! testing backend and mock time: the real counter, the real checkout, frames replayed from
//! a folder by the real camera feed and decoder, and the real sandbox over HTTP on loopback.
//! Asserts on what the screen shows and on the sandbox's ledger.
//!
//! The testing backend with an event loop can be set up once per process, so this file has
//! one test that walks through every case in turn: approved, declined, cancel, scan timeout,
//! a refused code, offline then forwarded, the result's timeout, and the operator PIN.

mod common;

use common::{Sandbox, Terminal};
use i_slint_backend_testing::{self as testing, ElementHandle};
use qrpos::ui::{App, Counter, Deps, Screen};
use slint::{ComponentHandle, Model};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

thread_local! {
    static COUNTER: RefCell<Option<Counter>> = const { RefCell::new(None) };
}

/// Runs `f` on the UI thread with the app, and returns what it returns.
fn ui<T: Send + 'static>(f: impl FnOnce(&App) -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    slint::invoke_from_event_loop(move || {
        COUNTER.with(|c| {
            let c = c.borrow();
            let _ = tx.send(f(c.as_ref().expect("a counter").app()));
        })
    })
    .expect("the event loop runs");
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the UI thread answered")
}

/// Waits until `f` holds on the UI thread, or fails after `timeout` saying what it saw.
fn eventually(what: &str, timeout: Duration, f: impl Fn(&App) -> bool + Send + Sync + 'static) {
    let f = Arc::new(f);
    let start = Instant::now();
    loop {
        let g = Arc::clone(&f);
        if ui(move |app| g(app)) {
            return;
        }
        if start.elapsed() > timeout {
            let screen = ui(|app| format!("{:?}", app.global::<qrpos::ui::Pos>().get_screen()));
            panic!("{what}: not within {timeout:?} (screen {screen})");
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

fn buttons(app: &App, label: &str) -> Vec<ElementHandle> {
    ElementHandle::find_by_accessible_label(app, label)
        .filter(|e| e.accessible_role() == Some(testing::AccessibleRole::Button))
        .collect()
}

/// Taps the one button labelled `label` on the screen.
fn tap(label: &'static str) {
    let found = ui(move |app| {
        let b = buttons(app, label);
        if let Some(b) = b.first() {
            b.invoke_accessible_default_action();
        }
        b.len()
    });
    assert_eq!(found, 1, "one button {label:?} on the screen");
}

fn key_in(amount: &str) {
    for d in amount.chars() {
        let label: &'static str = match d {
            '0' => "0",
            '1' => "1",
            '2' => "2",
            '3' => "3",
            '4' => "4",
            '5' => "5",
            '6' => "6",
            '7' => "7",
            '8' => "8",
            _ => "9",
        };
        tap(label);
    }
}

/// The accessible value of the element labelled `label` (a text's own label is its text, so
/// the one with a value is the one meant).
fn value(label: &'static str) -> Option<String> {
    ui(move |app| {
        ElementHandle::find_by_accessible_label(app, label)
            .find_map(|e| e.accessible_value())
            .map(|v| v.to_string())
    })
}

fn screen() -> Screen {
    ui(|app| app.global::<qrpos::ui::Pos>().get_screen())
}

/// The sale the result screen is about.
fn shown_sale_id() -> String {
    ui(|app| {
        app.global::<qrpos::ui::Pos>()
            .get_result()
            .sale_id
            .to_string()
    })
}

fn result_shown(outcome: &'static str) {
    eventually(
        &format!("the result {outcome:?}"),
        Duration::from_secs(30),
        move |app| {
            app.global::<qrpos::ui::Pos>().get_screen() == Screen::Result
                && ElementHandle::find_by_accessible_label(app, "outcome")
                    .find_map(|e| e.accessible_value())
                    .is_some_and(|v| v == outcome)
        },
    );
}

/// What the camera sees next: a fresh one-time code of `user`, or nothing payable.
fn camera_shows(frames: &Path, what: Frame) {
    for old in std::fs::read_dir(frames).unwrap() {
        std::fs::remove_file(old.unwrap().path()).unwrap();
    }
    let file = frames.join("frame.png");
    match what {
        Frame::CodeOf(user) => {
            let now = chrono::Utc::now().timestamp();
            let text = qrpos::sandbox::issue_code(user, now, 180, false).unwrap();
            qrpos::scan::write_png(&text, &file).unwrap();
        }
        Frame::Text(text) => qrpos::scan::write_png(text, &file).unwrap(),
        Frame::Nothing => image::GrayImage::from_pixel(640, 480, image::Luma([128]))
            .save(&file)
            .unwrap(),
    }
}

enum Frame {
    CodeOf(&'static str),
    Text(&'static str),
    Nothing,
}

fn sell(amount: &str) {
    assert_eq!(screen(), Screen::Idle);
    tap("New sale");
    key_in(amount);
    assert_eq!(value("amount").as_deref(), Some(&*won(amount)));
    tap("Charge");
}

fn won(digits: &str) -> String {
    qrpos::sale::Won(digits.parse().unwrap()).to_string()
}

struct World {
    terminal: Terminal,
    frames: PathBuf,
    sandbox: Option<Sandbox>,
}

fn scenarios(w: &mut World) {
    let sandbox = w.sandbox.as_ref().unwrap();

    // Approved: keypad → charge → alice's fresh code → the green screen, and the money moved.
    camera_shows(&w.frames, Frame::CodeOf("alice"));
    // Each sale: its id, and how Today's list must class it at the end.
    let mut sales: Vec<(String, &str, u64)> = Vec::new();
    sell("4500");
    result_shown("Approved");
    sales.push((shown_sale_id(), "Approved", 4500));
    let approval = value("Approval").expect("an approval id");
    assert_eq!(
        sandbox.committed(&approval),
        1,
        "one withdrawal in the ledger"
    );
    assert!(value("Account").is_some_and(|a| a.starts_with("fintech …")));
    // The bank, as the withdraw reply named it.
    let bank = value("Bank").unwrap_or_default();
    assert!(
        !bank.is_empty(),
        "the approved screen names the payer's bank"
    );
    tap("Done");
    assert_eq!(screen(), Screen::Idle);

    // Declined: bob has ₩10,000.
    camera_shows(&w.frames, Frame::CodeOf("bob"));
    sell("25000");
    result_shown("Declined");
    sales.push((shown_sale_id(), "Declined", 25000));
    assert_eq!(
        value("reason").as_deref(),
        Some("Insufficient funds in the customer's account.")
    );
    tap("Done");

    // A code that is not a payment code: an error on the scan screen, scanning goes on;
    // then the cashier cancels: nothing charged.
    camera_shows(&w.frames, Frame::Text("https://example.com/menu"));
    let ledger_before = sandbox.ledger().len();
    sell("1000");
    eventually("the refused code's note", Duration::from_secs(20), |app| {
        ElementHandle::find_by_accessible_label(app, "scan note")
            .find_map(|e| e.accessible_value())
            .is_some_and(|v| v.contains("not a payment code"))
    });
    assert_eq!(
        screen(),
        Screen::Scan,
        "scanning goes on after a refused code"
    );
    tap("Cancel");
    result_shown("Cancelled");
    sales.push((shown_sale_id(), "Cancelled", 1000));
    assert_eq!(
        value("reason").as_deref(),
        Some("Cancelled. Nothing was charged.")
    );
    tap("Done");

    // Scan timeout (5 s in this config): nothing in view.
    camera_shows(&w.frames, Frame::Nothing);
    sell("1200");
    result_shown("Cancelled");
    sales.push((shown_sale_id(), "Cancelled", 1200));
    assert_eq!(
        value("reason").as_deref(),
        Some("No payment code was shown in time. Nothing was charged.")
    );
    assert_eq!(sandbox.ledger().len(), ledger_before, "nothing was charged");

    // The result stays until tapped, or until its (long) timeout.
    ui(|_| testing::mock_elapsed_time(Duration::from_secs(119)));
    assert_eq!(screen(), Screen::Result, "still shown before the timeout");
    ui(|_| testing::mock_elapsed_time(Duration::from_secs(2)));
    assert_eq!(screen(), Screen::Idle, "gone after the timeout");

    // Offline: the backend goes away; the sale is accepted offline and queued…
    drop(w.sandbox.take());
    eventually(
        "the status bar says offline",
        Duration::from_secs(20),
        |app| !app.global::<qrpos::ui::Pos>().get_online(),
    );
    camera_shows(&w.frames, Frame::CodeOf("alice"));
    sell("3000");
    result_shown("Accepted offline");
    // Approved once forwarded (below).
    sales.push((shown_sale_id(), "Approved", 3000));
    eventually(
        "the queue in the status bar",
        Duration::from_secs(20),
        |app| app.global::<qrpos::ui::Pos>().get_queued_count() == 1,
    );
    tap("Done");
    // …and forwarded when it returns.
    let sandbox = w.terminal.backend_returns(&[]);
    // (A first try may meet the new sandbox's "unknown token" and is retried: one commit.)
    let ledger = sandbox.wait_for_ledger(Duration::from_secs(30), |l| {
        l.iter().any(|e| e["committed"] == true)
    });
    let committed: Vec<_> = ledger.iter().filter(|e| e["committed"] == true).collect();
    assert_eq!(committed.len(), 1, "{ledger:?}");
    assert_eq!(committed[0]["amount"], 3000);
    eventually("the queue emptied", Duration::from_secs(30), |app| {
        app.global::<qrpos::ui::Pos>().get_queued_count() == 0
    });
    w.sandbox = Some(sandbox);

    // Today's sales: the sales above made today (the suite also runs across a midnight),
    // each with its status, the totals by status; a sale's detail on tap.
    tap("Today's sales");
    eventually("today's list", Duration::from_secs(10), |app| {
        !app.global::<qrpos::ui::Pos>().get_today_date().is_empty()
    });
    let day = ui(|app| {
        app.global::<qrpos::ui::Pos>()
            .get_today_date()
            .replace('-', "")
    });
    let todays: Vec<&(String, &str, u64)> = sales
        .iter()
        .filter(|(id, _, _)| id.starts_with(&format!("{day}-")))
        .collect();
    let mut listed = ui(|app| {
        app.global::<qrpos::ui::Pos>()
            .get_today_rows()
            .iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
    });
    listed.sort();
    let mut expected: Vec<String> = todays.iter().map(|(id, _, _)| id.clone()).collect();
    expected.sort();
    assert_eq!(listed, expected, "today's list is today's sales");
    let mut totals = ui(|app| {
        ElementHandle::find_by_accessible_label(app, "total")
            .filter_map(|e| e.accessible_value())
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
    });
    totals.sort();
    totals.dedup();
    let mut expected_totals: Vec<String> = ["Approved", "Declined", "Cancelled"]
        .into_iter()
        .filter_map(|word| {
            let of: Vec<_> = todays.iter().filter(|(_, w, _)| *w == word).collect();
            (!of.is_empty()).then(|| {
                let sum = qrpos::sale::Won(of.iter().map(|(_, _, a)| a).sum());
                format!("{word}: {} · {sum}", of.len())
            })
        })
        .collect();
    expected_totals.sort();
    assert_eq!(totals, expected_totals);
    if todays.is_empty() {
        tap("Back");
        return settings();
    }
    let first = ui(|app| {
        app.global::<qrpos::ui::Pos>()
            .get_today_rows()
            .iter()
            .next()
            .map(|r| r.id.to_string())
            .unwrap()
    });
    ui(move |app| {
        ElementHandle::find_by_accessible_label(app, &first)
            .next()
            .expect("the row")
            .invoke_accessible_default_action();
    });
    eventually("the sale's detail", Duration::from_secs(10), |app| {
        app.global::<qrpos::ui::Pos>().get_show_detail()
    });
    tap("Close");
    tap("Back");
    settings();
}

/// Settings: a wrong PIN is refused, the right one opens them; they lock after a while.
fn settings() {
    tap("Settings");
    for d in ["1", "1", "1", "1"] {
        tap(d);
    }
    tap("OK");
    assert_eq!(value("pin error").as_deref(), Some("Wrong PIN"));
    assert!(value("Version").is_none(), "settings stay locked");
    key_in("2468");
    tap("OK");
    assert_eq!(value("Version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    ui(|_| testing::mock_elapsed_time(Duration::from_secs(61)));
    assert_eq!(
        screen(),
        Screen::Idle,
        "locked again after a minute untouched"
    );
    assert!(!ui(|app| app.global::<qrpos::ui::Pos>().get_unlocked()));
}

#[test]
fn sales_at_the_touchscreen() {
    testing::init_integration_test_with_mock_time();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let sandbox = Sandbox::start();
    let frames_dir = tempfile::tempdir().unwrap();
    let frames = frames_dir.path().to_path_buf();
    let terminal = Terminal::with(
        &sandbox.url,
        "openbanking",
        &format!(
            "timeout_s = 5\n\n[camera]\nsource = \"replay\"\nreplay_dir = {frames:?}\nreplay_fps = 20\n\n\
             [signal]\nindicator = \"simulated\"\n\n[offline]\nretry_interval_ms = 200\n\n\
             [ui]\nlanguage = \"en\"\noperator_pin = \"2468\"\n"
        ),
    );
    let config = qrpos::config::Config::load(&terminal.config).unwrap();
    let running = runtime.block_on(qrpos::setup::start(&config)).unwrap();
    let (indicator, simulated) = qrpos::signal::open(&config.signal).unwrap();
    let app = App::new().unwrap();
    let counter = Counter::start(
        app,
        Deps {
            terminal: Arc::new(running.terminal),
            backend_url: running.backend_url,
            config,
            indicator: Arc::new(indicator),
            simulated,
            runtime: runtime.handle().clone(),
            demo_customer: None,
        },
    );
    counter.app().show().unwrap();
    COUNTER.with(|c| *c.borrow_mut() = Some(counter));

    let mut world = World {
        terminal,
        frames,
        sandbox: Some(sandbox),
    };
    let driver = std::thread::spawn(move || {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenarios(&mut world)));
        let _ = slint::quit_event_loop();
        outcome
    });
    slint::run_event_loop().unwrap();
    COUNTER.with(|c| c.borrow_mut().take());
    let outcome = driver.join().unwrap();
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
