//! `qrpos host` as an installer runs it: a config file, `host terminal add`, the host serving
//! on loopback in front of the sandbox bank, and two terminals (`qrpos pay`, each with its own
//! journal and only its own credentials) showing one customer's one-time code.

mod common;

use common::{qrpos, stdout_lines, Sandbox, Terminal, BIN};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct HostProcess {
    child: Child,
    url: String,
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn host_config(dir: &std::path::Path, bank_url: &str) -> std::path::PathBuf {
    let config = dir.join("host.toml");
    let db = dir.join("host.db");
    std::fs::write(
        &config,
        format!(
            "[terminal]\ninstitution_code = \"T991000001\"\nterminal_prefix = \"H1\"\njournal_dir = {dir:?}\n\n\
             [backend]\nurl = {bank_url:?}\nprotocol = \"openbanking\"\n\n\
             [scan]\ntrust_sandbox_key = true\n\n\
             [host]\nlisten = \"127.0.0.1:0\"\ndatabase = \"sqlite://{}\"\n",
            db.display()
        ),
    )
    .unwrap();
    config
}

fn serve(config: &std::path::Path) -> HostProcess {
    let mut child = Command::new(BIN)
        .args(["host", "--config", config.to_str().unwrap()])
        .env("QRPOS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn host");
    let line = stdout_lines(&mut child)
        .recv_timeout(Duration::from_secs(20))
        .expect("the host says where it listens");
    let url = line
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    HostProcess { child, url }
}

/// `qrpos host terminal add NAME`: the id and secret it prints for the terminal's config,
/// and the host's key entry.
fn add_terminal(config: &std::path::Path, name: &str) -> (String, String, String) {
    let out = qrpos(&[
        "host",
        "--config",
        config.to_str().unwrap(),
        "terminal",
        "add",
        name,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    let trusted = text[text.find("[[scan.trusted_keys]]").expect("the host's key")..].to_string();
    (value("client_id"), value("client_secret"), trusted)
}

/// A terminal whose config holds only the host's URL, its own credentials and the host's
/// public key.
fn till(host_url: &str, id: &str, secret: &str, trusted: &str) -> Terminal {
    let t = Terminal::with(host_url, "host", trusted);
    let text = std::fs::read_to_string(&t.config).unwrap().replace(
        "protocol = \"host\"\n",
        &format!("protocol = \"host\"\nclient_id = {id:?}\nclient_secret = {secret:?}\n"),
    );
    assert!(!text.contains("client_secret = \"qrpos-demo-secret\""));
    std::fs::write(&t.config, text).unwrap();
    t
}

#[test]
fn a_code_shown_at_two_tills_pays_once_and_a_revoked_till_is_refused() {
    let bank = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let config = host_config(dir.path(), &bank.url);
    let (id1, secret1, trusted) = add_terminal(&config, "till-1");
    let (id2, secret2, _) = add_terminal(&config, "till-2");
    assert_ne!(id1, id2);
    // The secret is shown once and kept only as a hash.
    let db = std::fs::read(dir.path().join("host.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(&secret1));
    let host = serve(&config);
    let (t1, t2) = (
        till(&host.url, &id1, &secret1, &trusted),
        till(&host.url, &id2, &secret2, &trusted),
    );

    // The customer's app enrols alice at the host (the bank's consent) and gets a code the
    // host signed.
    let code = dir.path().join("alice.png");
    let wallet = dir.path().join("wallet");
    let out = qrpos(&[
        "qr",
        "issue",
        "--user",
        "alice",
        "--host",
        &host.url,
        "--wallet",
        wallet.to_str().unwrap(),
        "--out",
        code.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wallet.join("wallet-alice.json").exists());
    let (exit, first) = t1.pay(3000, &code);
    assert_eq!(exit, 0, "{first}");
    assert_eq!(first["status"], "approved", "{first}");
    let (exit, second) = t2.pay(3000, &code);
    assert_eq!(exit, 1, "{second}");
    assert_eq!(second["code"], "CODE_USED", "{second}");
    let committed: Vec<_> = bank
        .ledger()
        .into_iter()
        .filter(|e| e["committed"] == true)
        .collect();
    assert_eq!(committed.len(), 1, "{committed:?}");

    let out = qrpos(&[
        "host",
        "--config",
        config.to_str().unwrap(),
        "terminal",
        "revoke",
        "till-1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (exit, refused) = t1.pay(1000, &t1.code("alice", &[]));
    assert_eq!(exit, 1, "{refused}");
    assert_eq!(refused["code"], "TERMINAL_REVOKED", "{refused}");
    let out = qrpos(&[
        "host",
        "--config",
        config.to_str().unwrap(),
        "terminal",
        "list",
    ]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("till-1") && listed.contains("revoked") && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&secret2));
}

#[test]
fn a_terminal_refuses_plain_http_to_a_host_elsewhere() {
    let t = till("http://192.0.2.1:8700", "term-1", "s3cret-value", "");
    let code = t.code("alice", &[]);
    let out = t.pay_command(1000, &code).output().expect("run pay");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("over https unless it is on this machine"),
        "{said}"
    );
    assert!(!said.contains("s3cret-value"), "{said}");
}
