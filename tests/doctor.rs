//! `qrpos doctor` against a real sandbox on loopback: a good installation passes every check;
//! an unreachable backend, refused credentials and a clock ten minutes fast each fail with
//! the fix, and the exit code says so. The secret never appears in what it prints.

mod common;

use common::{Sandbox, Terminal};
use serde_json::Value;
use std::process::Command;

fn doctor(terminal: &Terminal, wrap: Option<&[&str]>) -> (i32, Vec<Value>, String) {
    let mut cmd = match wrap {
        Some(prefix) => {
            let mut c = Command::new(prefix[0]);
            c.args(&prefix[1..]).arg(common::BIN);
            c
        }
        None => Command::new(common::BIN),
    };
    let out = cmd
        .args(["doctor", "--json", "--config"])
        .arg(&terminal.config)
        .env("DISPLAY", ":0")
        .env("QRPOS_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let checks: Vec<Value> = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {stdout}"));
    (out.status.code().unwrap_or(-1), checks, stdout)
}

fn level<'a>(checks: &'a [Value], name: &str) -> &'a str {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["level"].as_str())
        .unwrap_or_else(|| panic!("no {name} check in {checks:?}"))
}

fn world(url: &str, extra: &str) -> Terminal {
    let frames = "[camera]\nsource = \"replay\"\n";
    let terminal = Terminal::with(
        url,
        "openbanking",
        &format!(
            "\n[signal]\nindicator = \"simulated\"\n\n{frames}replay_dir = \"IMAGES\"\n{extra}"
        ),
    );
    let images = terminal.dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(terminal.code("alice", &[]), images.join("code.png")).unwrap();
    let text = std::fs::read_to_string(&terminal.config)
        .unwrap()
        .replace("IMAGES", images.to_str().unwrap());
    std::fs::write(&terminal.config, text).unwrap();
    terminal
}

#[test]
fn a_good_installation_passes_every_check() {
    let sandbox = Sandbox::start();
    let terminal = world(&sandbox.url, "");
    let (code, checks, _) = doctor(&terminal, None);
    for name in [
        "camera", "gpio", "display", "backend", "clock", "disk", "journal",
    ] {
        assert_eq!(level(&checks, name), "ok", "{name}: {checks:?}");
    }
    assert_eq!(code, 0, "{checks:?}");
}

#[test]
fn an_unreachable_backend_fails_with_the_fix() {
    let terminal = world(common::UNREACHABLE, "");
    let (code, checks, _) = doctor(&terminal, None);
    assert_eq!(level(&checks, "backend"), "fail");
    assert_eq!(
        level(&checks, "clock"),
        "warn",
        "not compared without a backend"
    );
    assert_eq!(code, 1);
}

#[test]
fn refused_credentials_fail_and_the_secret_is_not_printed() {
    let sandbox = Sandbox::start();
    let terminal = world(&sandbox.url, "");
    let text = std::fs::read_to_string(&terminal.config).unwrap().replace(
        "[backend]\n",
        "[backend]\nclient_secret = \"s3cr3t-not-the-demo\"\n",
    );
    std::fs::write(&terminal.config, text).unwrap();
    let (code, checks, printed) = doctor(&terminal, None);
    assert_eq!(level(&checks, "backend"), "fail", "{checks:?}");
    assert!(!printed.contains("s3cr3t"), "{printed}");
    assert_eq!(code, 1);
}

#[test]
fn a_clock_ten_minutes_fast_fails() {
    let sandbox = Sandbox::start();
    let terminal = world(&sandbox.url, "");
    let (code, checks, _) = doctor(&terminal, Some(&["faketime", "-f", "+600s"]));
    assert_eq!(level(&checks, "clock"), "fail", "{checks:?}");
    let detail = checks.iter().find(|c| c["name"] == "clock").unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    // Under scripts/test-midnight.sh the sandbox runs on faketime's other timeline (hours
    // away from "+600 s" of the real one): off either way, ahead only here.
    if std::env::var_os("FAKETIME").is_none() {
        let seconds: i64 = detail
            .strip_prefix("this clock is ")
            .and_then(|d| d.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{detail}"));
        assert!(detail.contains("s ahead of"), "{detail}");
        // The Date header has whole seconds, and the request takes a moment.
        assert!((598..=603).contains(&seconds), "{detail}");
    }
    assert_eq!(code, 1);
}
