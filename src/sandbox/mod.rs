//! The sandbox backend: a local mock of the merchant's payment backend, the way payment
//! companies ship one to integrators. It speaks both protocols of `protocol/` on loopback with
//! seeded customers, balances, limits, consents, de-duplication and fault injection, so the
//! terminal's approved, declined and unknown paths are all real. It knows nothing of the
//! terminal's internals: only the wire contract in `crate::protocol`.
//!
//! # Seeded customers
//!
//! | name  | kind | identifiers | state |
//! |-------|------|-------------|-------|
//! | alice | openbanking | fintech `199100000000000000000001`, EMV PAN `1234567890123458` (the EMVCo sample CPM QR) | ₩5,000,000, consents valid |
//! | bob   | openbanking | fintech `199100000000000000000002` | ₩10,000 → larger amounts get A0002/453 |
//! | carol | openbanking | fintech `199100000000000000000003` | withdrawal consent expired → A0319 |
//! | dave  | openbanking | fintech `199100000000000000000004` | third-party consent expired → A0316 |
//! | erin  | payrequest-credit | identityNumber `800101200000005`, orgCode `HANAPAY001`, accountNumber `11122233344405` (or card `9410000000000005`) | credit limit ₩300,000, billing day = tomorrow's day of month; linked account ₩1,000,000 |
//! | frank | payrequest-check | identityNumber `800101100000006`, orgCode `HANAPAY001`, accountNumber `11122233344406` (or card `9420000000000006`) | linked account ₩50,000 |
//! | grace | payrequest-account | identityNumber `800101200000007`, orgCode `HANAPAY001`, accountNumber `11122233344407` | plain account ₩100,000 |
//! | heidi | payrequest-inactive-card | identityNumber `800101200000008`, orgCode `HANAPAY001`, accountNumber `11122233344408` | inactive credit card → CARD_INACTIVE |
//!
//! Open-banking limits: ₩2,000,000 per transaction (A0111), ₩5,000,000 per KST day (A0112).
//! Each open-banking customer is a user of the 3-legged flow (`user_seq_no` 1100000001 for
//! alice, …02 for bob, …) who consents on the consent page; carol's and dave's expired
//! consents stay expired whatever they grant there (they are the sandbox's refusal cases).
//! Client credentials: [`DEMO_CLIENT_ID`] / [`DEMO_CLIENT_SECRET`]; institution code
//! [`DEMO_INSTITUTION_CODE`], so `bank_tran_id` = `T991000001U` + 9 alphanumerics.
//!
//! # Accounts file (TOML)
//!
//! Replaces the seeded customers. Every field but `name` is optional:
//!
//! ```toml
//! [[customers]]
//! name = "alice"
//! balance = 5000000                      # won in the (linked) account
//! fintech_use_num = "199100000000000000000001"   # open banking
//! emv_pan = "1234567890123458"           # EMV CPM tag 5A that resolves to this customer
//! account_num = "1002003000401"          # shown masked
//! bank_code_std = "097"                  # default 097
//! bank_name = "오픈은행"
//! withdraw_consent_until = "2099-12-31"  # yyyy-MM-dd, KST; past → A0319; absent = valid
//! third_party_consent_until = "2099-12-31"  # past → A0316
//! per_tx_limit = 2000000                 # default 2,000,000 (A0111)
//! daily_limit = 5000000                  # default 5,000,000 (A0112)
//! user_seq_no = "1100000001"             # the open-banking user; default 1100000001 + place
//! holder_birth_date = "900101"           # YYMMDD, what inquiry/real_name checks; default 900101
//!
//! [[customers]]
//! name = "erin"
//! balance = 1000000
//! identity_number = "800101200000005"    # payRequest
//! org_code = "HANAPAY001"
//! account_number = "11122233344405"      # the plain account, or the account linked to the card
//! credit_used = 0
//! [customers.card]
//! number = "9410000000000005"            # also accepted as accountNumber
//! type = "credit"                        # credit | check
//! active = true
//! limit = 300000
//! billing_day = 25                       # day of month; on it the linked balance is checked too
//! ```
//!
//! # Endpoints
//!
//! Open banking (`crate::protocol::openbanking`), each behind the scope the real API asks
//! for (`oauth.rs`):
//!
//! | endpoint | token | module |
//! |---|---|---|
//! | `GET /oauth/2.0/authorize` | — (the consent page; `sandbox_user=NAME` approves) | `oauth` |
//! | `POST /oauth/2.0/token` | form: `authorization_code`, `client_credentials` (`oob`), `refresh_token` | `oauth` |
//! | `POST /v2.0/transfer/withdraw/fin_num` | the customer's, `transfer`, owning the account | `openbanking` |
//! | `GET /v2.0/account/balance/fin_num` | the customer's, `inquiry` | `openbanking` |
//! | `GET /v2.0/account/transaction_list/fin_num` | the customer's, `inquiry` | `inquiry` |
//! | `GET /v2.0/user/me`, `GET /v2.0/account/list` | the customer's, `login` | `inquiry` |
//! | `POST /v2.0/transfer/deposit/fin_num` (refunds) | the institution's, `oob` | `openbanking` |
//! | `POST /v2.0/transfer/result` | the institution's, `oob` | `openbanking` |
//! | `POST /v2.0/inquiry/real_name` | the institution's, `oob` | `inquiry` |
//!
//! Every request is read against the reference's field table (`fields.rs`): required
//! fields, types and lengths (AH in UTF-8 bytes), a real `tran_dtime` within a day of the
//! bank's clock, exactly one payer, `req_cnt` matching the list (deposit: 1), `check_type`
//! matching the original transfer. Business refusals are HTTP 200 with `rsp_code`; gate
//! refusals carry O-codes (`oauth.rs`). A `bank_tran_id` is unique per day (A0326), and
//! `transfer/result` finds a transfer only by its id, day, amount and kind.
//!
//! Sources: `shared/docs/openbanking.md` and the KFTC guide (seed 002); where they are
//! silent, public clients: the KFTC sample app (`com.kftc.openbankingsample2`:
//! transaction-list request, token classes), KISA-Fintech (authorize and token parameters,
//! `user/me`), the CGCII header (O-codes and `error_code` values), RFC 6749/8252 (one-use
//! codes, loopback callbacks). Each choice not backed by them says `[inferred]` where made.
//!
//! This project's extension: `emv_cpm` on the withdrawal, an EMVCo consumer-presented QR in
//! place of `fintech_use_num`, resolved by the bank to the customer whose PAN it carries.
//!
//! payRequest (`crate::protocol::payrequest`):
//! `POST /api/payRequest` (header `X-Request-Id`), `GET /api/payRequest/{request_id}`.
//!
//! Control: `GET /_sandbox/ledger` → `{"entries":[{"seq":1,"protocol":"openbanking",
//! "bank_tran_id":"…","amount":5000,"fintech_use_num":"…"|null,"customer":"alice"|null,
//! "result":"A0000/000","committed":true,"at":"2026-…+09:00"}]}` (one entry per withdrawal or
//! payRequest received, refused and duplicate ones included; `committed` iff money moved);
//! `GET /_sandbox/accounts`; `POST /_sandbox/reset`; `GET|POST|DELETE /_sandbox/faults`.
//!
//! Ledger `result` values: `A0000/000`, `A0002/453`, any A-/O-code (`A0004`, `A0304`, `A0316`,
//! `A0319`, `A0111`, `A0112`, `A0326`, `O0002`), payRequest `APPROVED` or its error code,
//! `dropped-before-commit`, `fault:<label> (not committed)`, `fault:<label> (committed)`,
//! `fault:<label> (<real result>, not committed)`. Deposit (refund) entries carry the same
//! results prefixed `deposit:` (their `committed` means money went back to the customer).
//!
//! # Faults
//!
//! `POST /_sandbox/faults` with `{"faults":[…]}` appends to a FIFO; each request on an endpoint
//! consumes the first pending fault whose `on` matches. `on` ∈ `withdraw` (default), `result`,
//! `pay`, `pay_status`, `token`, `deposit`. Kinds:
//!
//! ```json
//! {"on":"withdraw","kind":"delay","ms":3000}
//! {"kind":"drop","commit":true}
//! {"kind":"http500","commit":false}
//! {"kind":"reply","rsp_code":"A0007","bank_rsp_code":"","commit":true}
//! {"on":"pay","kind":"reply","code":"TIMEOUT","message":"…","status":504,"commit":true}
//! {"kind":"garbage","commit":false}
//! ```
//!
//! `commit: true` means the request is processed normally first (money moves if the customer
//! can pay); `false` means it never reaches the bank (for `reply`, the bank refused it: the id
//! is taken and `transfer/result` reports the given bank code, or A0310). `drop` closes the TCP
//! connection with no response bytes. `http500` answers 500 with an HTML body, `garbage` 200
//! with an unparsable body. `reply` answers with the given codes (open banking HTTP 200 unless
//! `status`; payRequest `PayError{code,message}` with HTTP `status`, default 400; token 401).
//!
//! Persistence (`data_dir`): see `state.rs`. A snapshot in `data_dir` wins over the seeds and
//! the accounts file; `POST /_sandbox/reset` goes back to them.

mod codes;
#[cfg(test)]
mod contract_tests;
mod control;
mod emv;
mod faults;
mod fields;
mod inquiry;
mod oauth;
mod openbanking;
mod payrequest;
mod server;
mod state;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use base64::Engine as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use codes::{issue_code, IssueError};
pub use faults::{FaultKind, FaultList, FaultOn, FaultSpec};
pub use state::{CardConfig, CardKind, CustomerConfig, LedgerEntry};

pub const DEMO_CLIENT_ID: &str = "qrpos-demo";
pub const DEMO_CLIENT_SECRET: &str = "qrpos-demo-secret";
pub const DEMO_INSTITUTION_CODE: &str = "T991000001";
pub const DEV_KEY_ID: u8 = 1;

/// DEVELOPMENT ONLY. The seed of the sandbox's QR-signing key: public, in the source, so
/// anyone can forge codes with it. A terminal configured with this public key in production
/// accepts forged payments.
const DEV_SIGNING_SEED: [u8; 32] = *b"qrpos-sandbox-DEV-ONLY-key-seed!";

/// The fixed development Ed25519 key (key id [`DEV_KEY_ID`]) that the sandbox issuer signs
/// one-time QR codes with. Never use it outside a demo or a test.
pub fn dev_signing_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&DEV_SIGNING_SEED)
}

/// Standard Base64 of the 32-byte public half of [`dev_signing_key`].
pub fn dev_public_key_base64() -> String {
    base64::engine::general_purpose::STANDARD.encode(dev_signing_key().verifying_key().as_bytes())
}

#[derive(Clone)]
pub struct SandboxConfig {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Where the state snapshot lives; `None` = in memory only.
    pub data_dir: Option<PathBuf>,
    /// TOML customers replacing the seeds (format in the module doc).
    pub accounts_file: Option<PathBuf>,
    /// The bank's clock: business dates, de-duplication days, daily limits.
    pub clock: Arc<dyn Clock>,
}

impl SandboxConfig {
    /// Listening on `listen` with the machine's clock, in memory, with the seeded customers.
    pub fn new(listen: SocketAddr) -> SandboxConfig {
        SandboxConfig {
            listen,
            data_dir: None,
            accounts_file: None,
            clock: Arc::new(SystemClock),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("accounts file: {0}")]
    Accounts(String),
    #[error("sandbox state snapshot: {0}")]
    Snapshot(String),
    #[error("sandbox I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A seeded customer, for the README and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CustomerInfo {
    pub name: String,
    /// `openbanking`, `payrequest-credit`, `payrequest-check`, `payrequest-account`,
    /// `payrequest-inactive-card`.
    pub kind: String,
    pub fintech_use_num: Option<String>,
    pub emv_pan: Option<String>,
    pub identity_number: Option<String>,
    pub org_code: Option<String>,
    pub account_number: Option<String>,
    pub card_number: Option<String>,
    /// Won in the (linked) account at start.
    pub balance: u64,
    /// What the customer is for, in a few words.
    pub note: String,
}

/// The seeded customers (see the module doc).
pub fn seeded_customers() -> Vec<CustomerInfo> {
    state::seed_customers(SystemClock.now().date_naive())
        .into_iter()
        .map(|c| {
            let note = match c.name.as_str() {
                "alice" => "approves; ample balance; the EMVCo sample CPM QR maps to her",
                "bob" => "balance 10,000: larger amounts → A0002/453 insufficient",
                "carol" => "withdrawal consent expired → A0319",
                "dave" => "third-party consent expired → A0316",
                "erin" => "credit card, limit 300,000 → CREDIT_LIMIT_EXCEEDED",
                "frank" => "check card, linked balance 50,000 → INSUFFICIENT_BALANCE",
                "grace" => "plain account, balance 100,000",
                "heidi" => "inactive credit card → CARD_INACTIVE",
                _ => "",
            };
            CustomerInfo {
                kind: c.kind(),
                name: c.name,
                fintech_use_num: c.fintech_use_num,
                emv_pan: c.emv_pan,
                identity_number: c.identity_number,
                org_code: c.org_code,
                account_number: c.account_number,
                card_number: c.card.map(|k| k.number),
                balance: c.balance,
                note: note.into(),
            }
        })
        .collect()
}

/// A running sandbox. Dropping it stops the server too (the shutdown channel closes).
pub struct Sandbox {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (a wildcard listen address is shown as loopback).
    pub fn url(&self) -> String {
        let mut a = self.addr;
        if a.ip().is_unspecified() {
            a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{a}")
    }

    /// Stops accepting, lets in-flight requests finish (at most ~5 s), and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Binds (port 0 allowed), loads state, spawns the server on the current tokio runtime and
/// returns once it accepts connections.
pub async fn start(cfg: SandboxConfig) -> Result<Sandbox, SandboxError> {
    let initial = match &cfg.accounts_file {
        Some(p) => state::load_accounts_file(p)?,
        None => state::seed_customers(cfg.clock.now().date_naive()),
    };
    let st = match &cfg.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            state::load_snapshot(dir)?.unwrap_or_else(|| state::State::new(initial.clone()))
        }
        None => state::State::new(initial.clone()),
    };
    let app = Arc::new(server::App::new(
        st,
        cfg.data_dir.clone(),
        initial,
        cfg.clock.clone(),
    ));
    // Write the first snapshot now so a bad data_dir fails at start, not at the first sale.
    if let Some(dir) = &cfg.data_dir {
        state::save_snapshot(dir, &app.lock())?;
    }
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| SandboxError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, server::router(app), stopped));
    tracing::info!(%addr, "sandbox listening");
    Ok(Sandbox { addr, stop, task })
}

/// `qrpos sandbox`: starts, prints `listening on http://ADDR` once ready, serves until Ctrl-C
/// or SIGTERM, then shuts down gracefully.
pub async fn run_cli(cfg: SandboxConfig) -> Result<(), SandboxError> {
    use std::io::Write as _;
    let sb = start(cfg).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", sb.url())?;
        out.flush()?;
    }
    wait_for_signal().await?;
    sb.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
