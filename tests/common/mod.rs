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

    /// A sandbox on a given address, e.g. to bring a "down" backend back on its old port;
    /// tried a few times, in case the port is held for a moment by someone else.
    pub fn start_on(listen: &str, extra: &[&str]) -> Sandbox {
        (0..5)
            .find_map(|_| Self::try_start_on(listen, extra))
            .unwrap_or_else(|| panic!("no sandbox could listen on {listen}"))
    }

    /// A sandbox on `listen`, or `None` if it exited first (the address was taken).
    pub fn try_start_on(listen: &str, extra: &[&str]) -> Option<Sandbox> {
        let mut cmd = Command::new(BIN);
        cmd.args(["sandbox", "--listen", listen]).args(extra);
        Self::spawn(cmd)
    }

    /// Runs `cmd` (a `qrpos sandbox …` command line, perhaps behind `faketime`) and waits
    /// for it to listen; `None` if it exited first.
    pub fn spawn(mut cmd: Command) -> Option<Sandbox> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sandbox");
        let rx = stdout_lines(&mut child);
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                return None;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("sandbox printed nothing within 20 s")
            }
        };
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Some(Sandbox {
            child,
            url,
            http: reqwest::blocking::Client::new(),
        })
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

    /// The backend comes back: a sandbox on the port of the config's URL (see
    /// [`free_port`]); should another process have taken that port meanwhile, on a new free
    /// port, with the config following it.
    pub fn backend_returns(&self, extra: &[&str]) -> Sandbox {
        for _ in 0..5 {
            let text = std::fs::read_to_string(&self.config).unwrap();
            let url = text
                .lines()
                .find_map(|l| l.strip_prefix("url = "))
                .map(|u| u.trim_matches('"').to_string())
                .expect("a url in the config");
            let addr = url.trim_start_matches("http://").to_string();
            if let Some(sb) = Sandbox::try_start_on(&addr, extra) {
                return sb;
            }
            self.point_at(&format!("http://127.0.0.1:{}", free_port()));
        }
        panic!("no free port for the sandbox")
    }

    /// Points the config at another backend URL (the journal stays).
    pub fn point_at(&self, url: &str) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("url = ") {
                    format!("url = {url:?}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(&self.config, text.join("\n") + "\n").unwrap();
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

/// A URL where nothing can ever listen (port 0): connecting is refused at once, so the
/// backend is down for good, with no port another process could take.
pub const UNREACHABLE: &str = "http://127.0.0.1:0";

/// A loopback port nobody listens on now (bound, then released), for a backend that is down
/// and comes back. Another process may take the port in between:
/// [`Terminal::backend_returns`] then moves to another.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `qrpos <args>` whose wall clock starts at `utc` (`yyyy-MM-dd HH:mm:ss`, UTC) and runs on,
/// through Debian's libfaketime (`scripts/install-deps.sh` installs it). Preloaded into
/// `qrpos` itself rather than through the `faketime` wrapper, so the child a test kills is
/// the process it started. The monotonic clock stays real, as on a device whose wall clock
/// is set.
pub fn at_time(utc: &str, args: &[&str]) -> Command {
    let lib = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
        .expect(
            "this test needs Debian's libfaketime: run scripts/install-deps.sh (make test does)",
        );
    let mut c = Command::new(BIN);
    c.args(args)
        .env("LD_PRELOAD", lib)
        .env("FAKETIME", format!("@{utc}"))
        .env("TZ", "UTC")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        // Under `scripts/test-midnight.sh` the suite itself runs faked: this clock is its own.
        .env_remove("FAKETIME_SHARED")
        .env_remove("FAKETIME_DONT_RESET")
        .env("QRPOS_LOG", "warn");
    c
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
