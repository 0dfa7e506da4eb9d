//! `qrpos run` as a desktop user starts it: a real winit window on an X server (Xvfb), the
//! camera replayed from a folder, taps sent as X pointer events (xdotool), the real sandbox
//! on loopback. Proves the desktop path, not only the software renderer of the snapshots.
//! Needs Xvfb and xdotool (`scripts/install-deps.sh` installs them).

mod common;

use common::{Sandbox, Terminal};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is missing: run scripts/install-deps.sh");
}

/// An X server of its own. `-displayfd` lets Xvfb pick a free display and print its number
/// once it accepts connections: no race with another test's server or with a socket file
/// that exists a moment before the server listens (a loaded CI machine once lost that race,
/// and the window fell back to the console backend).
fn xvfb() -> (Killed, String) {
    use std::io::BufRead as _;
    need("Xvfb");
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1024x768x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let stdout = child.stdout.take().expect("Xvfb stdout");
    let server = Killed(child);
    // Xvfb writes the number when ready, or ends (EOF); a hung one fails the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("Xvfb neither started nor failed within 30 s");
    let n: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Xvfb did not start (it printed {line:?})"));
    (server, format!(":{n}"))
}

fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .expect("run xdotool");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn tap(display: &str, window: &str, x: u32, y: u32) {
    xdotool(
        display,
        &[
            "mousemove",
            "--window",
            window,
            &x.to_string(),
            &y.to_string(),
            "click",
            "1",
        ],
    );
}

#[test]
fn a_sale_in_the_real_window() {
    need("xdotool");
    let (_x, display) = xvfb();
    let sandbox = Sandbox::start();
    let frames = tempfile::tempdir().unwrap();
    let terminal = Terminal::with(
        &sandbox.url,
        "openbanking",
        "\n[signal]\nindicator = \"simulated\"\n\n[ui]\nlanguage = \"en\"\n",
    );
    std::fs::copy(terminal.code("alice", &[]), frames.path().join("code.png")).unwrap();
    let replay = format!("replay:{}", frames.path().display());
    // systemd's notify socket: the window says ready, and its event loop pings the watchdog.
    let notify_path = frames.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut run = Killed(
        Command::new(common::BIN)
            .args(["run", "--camera", &replay, "--config"])
            .arg(&terminal.config)
            .env("DISPLAY", &display)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "400000")
            .env("QRPOS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start qrpos run"),
    );

    let start = Instant::now();
    let window = loop {
        let found = xdotool(&display, &["search", "--onlyvisible", "--name", "^qrpos"]);
        if let Some(id) = found.lines().next().filter(|l| !l.is_empty()) {
            break id.to_string();
        }
        assert!(
            run.0.try_wait().unwrap().is_none(),
            "qrpos run exited before its window opened"
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no window within 30 s"
        );
        std::thread::park_timeout(Duration::from_millis(50));
    };
    // The window at its preferred 800×480 (positions as in the 800x480 snapshots): "New
    // sale", 4, 5, 00, "Charge". After each tap the test waits for the window title, which
    // follows the amount, so no tap lands on a screen not yet drawn.
    let taps = [
        ((400, 228), "qrpos · ₩0"),
        ((428, 208), "qrpos · ₩4"),
        ((574, 208), "qrpos · ₩45"),
        ((428, 419), "qrpos · ₩4,500"),
    ];
    for ((x, y), title) in taps {
        tap(&display, &window, x, y);
        let start = Instant::now();
        while xdotool(&display, &["getwindowname", &window]) != title {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the title never became {title:?}"
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
    tap(&display, &window, 180, 432);
    // The approved screen (its title), before anything else is looked at.
    let start = Instant::now();
    while xdotool(&display, &["getwindowname", &window]) != "qrpos · ₩4,500 · Approved" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no approved screen: the title is {:?}",
            xdotool(&display, &["getwindowname", &window])
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
    let mut said = Vec::new();
    let mut buf = [0u8; 256];
    while !(said.iter().any(|m: &String| m.contains("READY=1"))
        && said.iter().any(|m| m.contains("WATCHDOG=1")))
    {
        let n = notify
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("systemd was told only {said:?}: {e}"));
        said.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    let ledger = sandbox.wait_for_ledger(Duration::from_secs(30), |l| {
        l.iter().any(|e| e["committed"] == true)
    });
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0]["amount"], 4500);
    assert_eq!(ledger[0]["customer"], "alice");

    // SIGTERM (systemd's stop) closes the window and ends the process cleanly.
    let pid = run.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "qrpos run did not stop on SIGTERM"
        );
        std::thread::park_timeout(Duration::from_millis(50));
    };
    assert!(status.success(), "qrpos run exited with {status}");
    let sales = terminal.journal().all_sales().unwrap();
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].status, qrpos::sale::Status::Approved);
}
