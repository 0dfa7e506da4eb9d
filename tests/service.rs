//! The terminal as a systemd service: the unit file verifies clean, and a long-running
//! command tells systemd it is ready, pings the watchdog and says when it stops (through a
//! real notify socket, as systemd would listen).

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_unit_file_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/qrpos.service"
    ))
    .unwrap()
    // verify checks that ExecStart's program exists: point it at the one just built.
    .replace("/usr/bin/qrpos", common::BIN);
    let path = dir.path().join("qrpos.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (package systemd) is needed");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "verify said: {said}"
    );
}

/// The messages on a notify socket until `want` has arrived, or all of them at `timeout`.
fn until(socket: &UnixDatagram, want: &str, timeout: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while start.elapsed() < timeout {
        socket
            .set_read_timeout(Some(
                timeout
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_millis(1)),
            ))
            .unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                let done = msg.lines().any(|l| l == want);
                seen.push(msg);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    seen
}

#[test]
fn queue_watch_says_ready_pings_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let mut child = Command::new(common::BIN)
        .args(["queue", "watch", "--backend", "embedded", "--journal"])
        .arg(dir.path().join("journal"))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .env("QRPOS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let seen = until(&socket, "READY=1", Duration::from_secs(30));
    assert!(seen.iter().any(|m| m.contains("READY=1")), "{seen:?}");
    let seen = until(&socket, "WATCHDOG=1", Duration::from_secs(10));
    assert!(seen.iter().any(|m| m.contains("WATCHDOG=1")), "{seen:?}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let seen = until(&socket, "STOPPING=1", Duration::from_secs(10));
    assert!(seen.iter().any(|m| m.contains("STOPPING=1")), "{seen:?}");
    let status = child.wait().unwrap();
    assert!(status.success(), "queue watch ended with {status}");
}
