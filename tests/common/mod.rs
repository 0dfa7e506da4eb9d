//! Test harness: the real `qrpos` binary as the terminal and as the sandbox backend, real
//! HTTP on 127.0.0.1 (a free port), a real sled journal in a temp dir. Waiting is on events
//! (a line on a pipe, a process exit, a ledger entry) with a timeout, never a fixed sleep.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_qrpos");

pub fn qrpos(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("QRPOS_LOG", "warn")
        .output()
        .expect("run qrpos")
}

/// A `qrpos sandbox` process on a free loopback port, killed on drop.
pub struct Sandbox {
    child: Child,
    pub url: String,
    http: reqwest::blocking::Client,
}

impl Sandbox {
    pub fn start() -> Sandbox {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Sandbox {
        Self::start_on("127.0.0.1:0", extra)
    }

    /// A sandbox on a given address, e.g. to bring a "down" backend back on its old port.
    pub fn start_on(listen: &str, extra: &[&str]) -> Sandbox {
        let mut child = Command::new(BIN)
            .args(["sandbox", "--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sandbox");
        let rx = stdout_lines(&mut child);
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("sandbox printed nothing within 20 s");
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Sandbox {
            child,
            url,
            http: reqwest::blocking::Client::new(),
        }
    }

    /// Every withdrawal/payRequest the sandbox received.
    pub fn ledger(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/_sandbox/ledger", self.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["entries"].as_array().cloned().unwrap_or_default()
    }

    pub fn entries_for(&self, bank_tran_id: &str) -> Vec<Value> {
        self.ledger()
            .into_iter()
            .filter(|e| e["bank_tran_id"] == bank_tran_id)
            .collect()
    }

    /// How many times money moved for this id.
    pub fn committed(&self, bank_tran_id: &str) -> usize {
        self.entries_for(bank_tran_id)
            .iter()
            .filter(|e| e["committed"] == true)
            .count()
    }

    pub fn inject(&self, faults: Value) {
        let r = self
            .http
            .post(format!("{}/_sandbox/faults", self.url))
            .json(&serde_json::json!({ "faults": faults }))
            .send()
            .unwrap();
        assert!(
            r.status().is_success(),
            "fault injection refused: {}",
            r.text().unwrap_or_default()
        );
    }

    /// Waits (polling the ledger) until `pred` holds, or panics after `timeout`.
    pub fn wait_for_ledger(
        &self,
        timeout: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let l = self.ledger();
            if pred(&l) {
                return l;
            }
            assert!(
                start.elapsed() < timeout,
                "ledger condition not met within {timeout:?}: {l:?}"
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A terminal's world: a config file pointing at the sandbox, a journal dir, images.
pub struct Terminal {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Terminal {
    pub fn new(backend_url: &str) -> Terminal {
        Self::with(backend_url, "openbanking", "")
    }

    /// `extra` is appended to the config file (more TOML).
    pub fn with(backend_url: &str, protocol: &str, extra: &str) -> Terminal {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("qrpos.toml");
        let journal = dir.path().join("journal");
        std::fs::write(
            &config,
            format!(
                "[terminal]\ninstitution_code = \"T991000001\"\nterminal_prefix = \"T1\"\njournal_dir = {journal:?}\n\n\
                 [backend]\nurl = {backend_url:?}\nprotocol = {protocol:?}\n\
                 timeout_ms = 1500\nconnect_timeout_ms = 500\nquery_attempts = 5\nquery_backoff_ms = 100\n\
                 recheck_after_ms = 0\n\n\
                 [scan]\ntrust_sandbox_key = true\n{extra}"
            ),
        )
        .unwrap();
        Terminal { dir, config }
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.dir.path().join("journal")
    }

    /// A QR image for a sandbox customer (`qrpos qr issue`), with extra flags.
    pub fn code(&self, user: &str, flags: &[&str]) -> PathBuf {
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        let png = self.dir.path().join(format!("{user}-{n}.png"));
        let mut args = vec![
            "qr",
            "issue",
            "--user",
            user,
            "--out",
            png.to_str().unwrap(),
        ];
        args.extend_from_slice(flags);
        let out = qrpos(&args);
        assert!(
            out.status.success(),
            "qr issue failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        png
    }

    /// Runs `qrpos pay … --json`; returns the exit code and the printed object.
    pub fn pay(&self, amount: u64, image: &Path) -> (i32, Value) {
        let out = self
            .pay_command(amount, image)
            .env("QRPOS_LOG", "warn")
            .output()
            .expect("run qrpos pay");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "pay printed no JSON ({e}): stdout {stdout:?} stderr {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }

    /// The `qrpos pay … --json` command, to run or spawn (and kill) as a test needs.
    pub fn pay_command(&self, amount: u64, image: &Path) -> Command {
        let mut c = Command::new(BIN);
        c.args([
            "pay",
            "--amount",
            &amount.to_string(),
            "--qr-image",
            image.to_str().unwrap(),
            "--config",
            self.config.to_str().unwrap(),
            "--json",
        ]);
        c
    }

    /// Runs `qrpos <args…> --config C --json` and parses each stdout line as JSON.
    pub fn run_json(&self, args: &[&str]) -> (i32, Vec<Value>) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["--config", self.config.to_str().unwrap(), "--json"]);
        let out = qrpos(&all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let values = stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{args:?} printed non-JSON {l:?}: {e}"))
            })
            .collect();
        (out.status.code().unwrap_or(-1), values)
    }

    pub fn resolve(&self) -> Output {
        qrpos(&[
            "resolve",
            "--config",
            self.config.to_str().unwrap(),
            "--json",
        ])
    }

    /// Opens the journal (the terminal process must have exited: sled locks it).
    pub fn journal(&self) -> qrpos::store::Journal {
        qrpos::store::Journal::open(&self.journal_dir()).expect("open journal")
    }

    pub fn sale(&self, sale_id: &str) -> qrpos::sale::Sale {
        self.journal().get(sale_id).expect("sale in journal")
    }
}

/// A loopback port nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child's stdout as a channel of lines, drained on a thread so the child never blocks on a
/// full pipe; wait on it with `recv_timeout`.
pub fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}
