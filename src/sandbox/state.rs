//! The sandbox's bank: customers (seeded or from the accounts file), balances, issued tokens,
//! the transfer/payment records used for de-duplication and status queries, the ledger, and
//! their persistence to `data_dir`.
//!
//! Persistence is a whole-state JSON snapshot written to a temp file, fsynced, then renamed
//! over `sandbox-state.json` (and the directory fsynced). Why not sled: the state is small
//! (a demo bank), the write must be atomic across balances + ledger + de-dup records (one
//! rename is), the file is human-readable for someone debugging a demo, and sled holds an
//! exclusive lock that would make "restart the sandbox in the same test process" awkward.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use super::SandboxError;

const SNAPSHOT_FILE: &str = "sandbox-state.json";
/// 2: transfers and payRequests keyed by business day and id (1: by id alone).
/// 3: tokens carry their scopes and user (`grants`); the institution-only `tokens` of
/// version 2 are dropped on load (a client renews on O0002).
const SNAPSHOT_VERSION: u32 = 3;

pub(crate) const DEFAULT_PER_TX_LIMIT: u64 = 2_000_000;
pub(crate) const DEFAULT_DAILY_LIMIT: u64 = 5_000_000;

/// The key of a transfer or payRequest record. KFTC's rule: a `bank_tran_id` is unique per
/// institution *per day* (the id starts with the institution code), so the same id on
/// another business day is another transfer, and a result query must name the day.
pub(crate) fn record_key(bank_tran_date: &str, id: &str) -> String {
    format!("{bank_tran_date}/{id}")
}

/// A card backing a payRequest customer (seed: 카드타입코드 1 credit, 2 check).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CardConfig {
    pub number: String,
    #[serde(rename = "type")]
    pub kind: CardKind,
    #[serde(default = "yes")]
    pub active: bool,
    /// Credit limit in won (credit cards only).
    #[serde(default)]
    pub limit: u64,
    /// Day of month (1–31) the credit card bill is paid from the linked account; on that day
    /// the linked account's balance is checked too (seed rule).
    #[serde(default)]
    pub billing_day: Option<u32>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CardKind {
    Credit,
    Check,
}

/// One customer, as written in the accounts file and as kept in the state (balances change).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomerConfig {
    pub name: String,
    /// Won in the (linked) bank account.
    #[serde(default)]
    pub balance: u64,
    // --- open banking ---
    #[serde(default)]
    pub fintech_use_num: Option<String>,
    /// PAN carried in tag 5A of an EMVCo consumer-presented QR that resolves to this customer.
    #[serde(default)]
    pub emv_pan: Option<String>,
    #[serde(default = "default_bank_code")]
    pub bank_code_std: String,
    #[serde(default = "default_bank_name")]
    pub bank_name: String,
    /// Account number, only shown masked.
    #[serde(default)]
    pub account_num: String,
    /// `yyyy-MM-dd` (KST), last valid day; absent = never expires. Past → A0319.
    #[serde(default)]
    pub withdraw_consent_until: Option<String>,
    /// `yyyy-MM-dd` (KST), last valid day; absent = never expires. Past → A0316.
    #[serde(default)]
    pub third_party_consent_until: Option<String>,
    #[serde(default)]
    pub per_tx_limit: Option<u64>,
    #[serde(default)]
    pub daily_limit: Option<u64>,
    // --- payRequest ---
    #[serde(default)]
    pub identity_number: Option<String>,
    #[serde(default)]
    pub org_code: Option<String>,
    /// The plain account, or the account linked to `card`.
    #[serde(default)]
    pub account_number: Option<String>,
    #[serde(default)]
    pub card: Option<CardConfig>,
    /// Credit already used on the card (won).
    #[serde(default)]
    pub credit_used: u64,
    // --- the open-banking user (3-legged flow) ---
    /// The user's serial number at KFTC (N(10)); default `1100000001` + the customer's place.
    #[serde(default)]
    pub user_seq_no: Option<String>,
    /// The holder's `YYMMDD` birth date, what `inquiry/real_name` checks; default `900101`.
    #[serde(default)]
    pub holder_birth_date: Option<String>,
}

fn default_bank_code() -> String {
    "097".into()
}
fn default_bank_name() -> String {
    "오픈은행".into()
}

impl CustomerConfig {
    pub(crate) fn per_tx_limit(&self) -> u64 {
        self.per_tx_limit.unwrap_or(DEFAULT_PER_TX_LIMIT)
    }
    pub(crate) fn daily_limit(&self) -> u64 {
        self.daily_limit.unwrap_or(DEFAULT_DAILY_LIMIT)
    }
    pub(crate) fn kind(&self) -> String {
        match (&self.fintech_use_num, &self.card, &self.identity_number) {
            (Some(_), _, _) => "openbanking".into(),
            (None, Some(c), _) if !c.active => "payrequest-inactive-card".into(),
            (None, Some(c), _) if c.kind == CardKind::Credit => "payrequest-credit".into(),
            (None, Some(_), _) => "payrequest-check".into(),
            (None, None, Some(_)) => "payrequest-account".into(),
            _ => "none".into(),
        }
    }
    pub(crate) fn masked_account(&self) -> String {
        mask(&self.account_num)
    }
    pub(crate) fn birth_date(&self) -> &str {
        self.holder_birth_date.as_deref().unwrap_or("900101")
    }
}

/// `1234567890` → `123456***0`-ish: keep the ends, hide the middle, as the real API does.
pub(crate) fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i + 4 >= chars.len() && i + 1 != chars.len() {
                '*'
            } else {
                *c
            }
        })
        .collect()
}

/// True when a `yyyy-MM-dd` "valid until" date lies before `today`. An unparsable date counts
/// as expired: a broken accounts file should fail loudly in the demo, not pay silently.
pub(crate) fn expired(until: &Option<String>, today: NaiveDate) -> bool {
    match until {
        None => false,
        Some(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => d < today,
            Err(_) => true,
        },
    }
}

/// The accounts file: `[[customers]]` tables of [`CustomerConfig`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default)]
    customers: Vec<CustomerConfig>,
}

pub(crate) fn load_accounts_file(path: &Path) -> Result<Vec<CustomerConfig>, SandboxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SandboxError::Accounts(format!("{}: {e}", path.display())))?;
    let file: AccountsFile = toml::from_str(&text)
        .map_err(|e| SandboxError::Accounts(format!("{}: {e}", path.display())))?;
    let mut seen = std::collections::HashSet::new();
    for c in &file.customers {
        if !seen.insert(c.name.clone()) {
            return Err(SandboxError::Accounts(format!(
                "{}: customer {:?} appears twice",
                path.display(),
                c.name
            )));
        }
    }
    Ok(file.customers)
}

// Seeded identifiers (fixed; the README copies them).
pub(crate) const ALICE_FIN: &str = "199100000000000000000001";
pub(crate) const BOB_FIN: &str = "199100000000000000000002";
pub(crate) const CAROL_FIN: &str = "199100000000000000000003";
pub(crate) const DAVE_FIN: &str = "199100000000000000000004";
pub(crate) const ALICE_PAN: &str = "1234567890123458";
pub(crate) const PAY_ORG_CODE: &str = "HANAPAY001";
pub(crate) const ERIN_CI: &str = "800101200000005";
pub(crate) const ERIN_ACCOUNT: &str = "11122233344405";
pub(crate) const ERIN_CARD: &str = "9410000000000005";
pub(crate) const FRANK_CI: &str = "800101100000006";
pub(crate) const FRANK_ACCOUNT: &str = "11122233344406";
pub(crate) const FRANK_CARD: &str = "9420000000000006";
pub(crate) const GRACE_CI: &str = "800101200000007";
pub(crate) const GRACE_ACCOUNT: &str = "11122233344407";
pub(crate) const HEIDI_CI: &str = "800101200000008";
pub(crate) const HEIDI_ACCOUNT: &str = "11122233344408";
pub(crate) const HEIDI_CARD: &str = "9410000000000008";

fn ob(name: &str, fin: &str, balance: u64, acct: &str) -> CustomerConfig {
    CustomerConfig {
        name: name.into(),
        balance,
        fintech_use_num: Some(fin.into()),
        emv_pan: None,
        bank_code_std: default_bank_code(),
        bank_name: default_bank_name(),
        account_num: acct.into(),
        withdraw_consent_until: None,
        third_party_consent_until: None,
        per_tx_limit: None,
        daily_limit: None,
        identity_number: None,
        org_code: None,
        account_number: None,
        card: None,
        credit_used: 0,
        user_seq_no: None,
        holder_birth_date: None,
    }
}

fn pr(name: &str, ci: &str, acct: &str, balance: u64, card: Option<CardConfig>) -> CustomerConfig {
    CustomerConfig {
        identity_number: Some(ci.into()),
        org_code: Some(PAY_ORG_CODE.into()),
        account_number: Some(acct.into()),
        card,
        fintech_use_num: None,
        ..ob(name, "", balance, acct)
    }
}

/// The default customers (see the module doc). Erin's billing day is "tomorrow's day of
/// month", so it is never today unless an accounts file says otherwise.
pub(crate) fn seed_customers(today: NaiveDate) -> Vec<CustomerConfig> {
    let not_today = today.succ_opt().map(|d| d.day()).unwrap_or(1);
    let mut alice = ob("alice", ALICE_FIN, 5_000_000, "1002003000401");
    alice.emv_pan = Some(ALICE_PAN.into());
    let bob = ob("bob", BOB_FIN, 10_000, "1002003000402");
    let mut carol = ob("carol", CAROL_FIN, 1_000_000, "1002003000403");
    carol.withdraw_consent_until = Some("2024-01-31".into());
    let mut dave = ob("dave", DAVE_FIN, 1_000_000, "1002003000404");
    dave.third_party_consent_until = Some("2024-01-31".into());
    let erin = pr(
        "erin",
        ERIN_CI,
        ERIN_ACCOUNT,
        1_000_000,
        Some(CardConfig {
            number: ERIN_CARD.into(),
            kind: CardKind::Credit,
            active: true,
            limit: 300_000,
            billing_day: Some(not_today),
        }),
    );
    let frank = pr(
        "frank",
        FRANK_CI,
        FRANK_ACCOUNT,
        50_000,
        Some(CardConfig {
            number: FRANK_CARD.into(),
            kind: CardKind::Check,
            active: true,
            limit: 0,
            billing_day: None,
        }),
    );
    let grace = pr("grace", GRACE_CI, GRACE_ACCOUNT, 100_000, None);
    let heidi = pr(
        "heidi",
        HEIDI_CI,
        HEIDI_ACCOUNT,
        1_000_000,
        Some(CardConfig {
            number: HEIDI_CARD.into(),
            kind: CardKind::Credit,
            active: false,
            limit: 300_000,
            billing_day: None,
        }),
    );
    vec![alice, bob, carol, dave, erin, frank, grace, heidi]
}

/// What became of an open-banking withdrawal the bank side received.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum TransferState {
    /// Money moved; `transfer/result` says 000.
    Committed,
    /// The participant bank refused (e.g. 453); `transfer/result` reports that code.
    BankRefused { bank_rsp_code: String },
    /// Refused before reaching the bank (A-code); `transfer/result` says A0310.
    Refused { rsp_code: String },
}

/// Which way a transfer moved money: `transfer/result` finds it only under its own
/// `check_type` (1 withdrawals, 2 deposits).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TransferKind {
    #[default]
    Withdraw,
    Deposit,
}

impl TransferKind {
    pub(crate) fn check_type(self) -> &'static str {
        match self {
            TransferKind::Withdraw => "1",
            TransferKind::Deposit => "2",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Transfer {
    pub amount: u64,
    pub customer: Option<String>,
    pub fintech_use_num: String,
    pub bank_tran_date: String,
    pub state: TransferState,
    #[serde(default)]
    pub kind: TransferKind,
    /// `HHmmss` (KST) it was processed, for `transaction_list`.
    #[serde(default)]
    pub time: String,
    /// What the customer's statement shows.
    #[serde(default)]
    pub print_content: String,
    /// The customer's balance after it (committed ones).
    #[serde(default)]
    pub after_balance: u64,
}

/// What an access token may do. `user_seq_no` is `None` for the institution's 2-legged
/// (`oob`) token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Grant {
    pub client_use_code: String,
    pub user_seq_no: Option<String>,
    pub scopes: Vec<String>,
    /// Unix seconds (the bank's clock).
    pub expires_at: i64,
}

impl Grant {
    pub(crate) fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// A refresh token: renews a user's access token with the same (or fewer) scopes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct RefreshGrant {
    pub user_seq_no: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
}

/// An authorization code from the consent page: one use, short-lived, bound to the client
/// and the redirect URI it was issued for (RFC 6749 §4.1.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct AuthCode {
    pub user_seq_no: String,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub redirect_uri: String,
    pub expires_at: i64,
}

/// What became of a payRequest (keyed by business day and `X-Request-Id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PayRecord {
    /// The business day (`yyyyMMdd`, KST) it was received.
    #[serde(default)]
    pub date: String,
    pub approved: bool,
    pub code: String,
    pub message: String,
    pub payment: Option<crate::protocol::payrequest::PayResponse>,
}

/// One line of `GET /_sandbox/ledger`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LedgerEntry {
    pub seq: u64,
    /// `openbanking` or `payrequest`.
    pub protocol: String,
    pub bank_tran_id: String,
    pub amount: u64,
    pub fintech_use_num: Option<String>,
    pub customer: Option<String>,
    pub result: String,
    /// True iff money moved (balance debited or credit used).
    pub committed: bool,
    /// RFC 3339, KST.
    pub at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    #[serde(default)]
    pub version: u32,
    pub customers: Vec<CustomerConfig>,
    /// access token → what it may do.
    #[serde(default)]
    pub grants: BTreeMap<String, Grant>,
    #[serde(default)]
    pub refresh_tokens: BTreeMap<String, RefreshGrant>,
    #[serde(default)]
    pub auth_codes: BTreeMap<String, AuthCode>,
    /// [`record_key`] (day + `bank_tran_id`) → the transfer.
    #[serde(default)]
    pub transfers: BTreeMap<String, Transfer>,
    /// [`record_key`] (day + `X-Request-Id`) → the payRequest.
    #[serde(default)]
    pub pays: BTreeMap<String, PayRecord>,
    /// `customer|yyyyMMdd` → won withdrawn that KST day (for the daily limit).
    #[serde(default)]
    pub daily_used: BTreeMap<String, u64>,
    #[serde(default)]
    pub ledger: Vec<LedgerEntry>,
    /// The bank's clock at the request being handled (set by `App::lock`), not persisted.
    #[serde(skip)]
    pub now: DateTime<FixedOffset>,
}

impl State {
    pub(crate) fn new(customers: Vec<CustomerConfig>) -> Self {
        State {
            version: SNAPSHOT_VERSION,
            customers,
            ..State::default()
        }
    }

    pub(crate) fn record(&mut self, mut e: LedgerEntry) {
        e.seq = self.ledger.last().map(|l| l.seq + 1).unwrap_or(1);
        e.at = self.now.to_rfc3339();
        self.ledger.push(e);
    }

    /// The customer's open-banking user serial number (see [`CustomerConfig::user_seq_no`]).
    pub(crate) fn user_seq_no(&self, idx: usize) -> String {
        self.customers[idx]
            .user_seq_no
            .clone()
            .unwrap_or_else(|| (1_100_000_001 + idx as u64).to_string())
    }

    /// The open-banking customer who is user `user_seq_no`.
    pub(crate) fn user_idx(&self, user_seq_no: &str) -> Option<usize> {
        (0..self.customers.len()).find(|&i| {
            self.customers[i].fintech_use_num.is_some() && self.user_seq_no(i) == user_seq_no
        })
    }

    /// Today's business day at the bank (`yyyyMMdd`, KST).
    pub(crate) fn today(&self) -> String {
        self.now.format("%Y%m%d").to_string()
    }

    /// A version-1 snapshot keyed records by id alone; each moves to its day: a transfer's
    /// own `bank_tran_date`, a payRequest's the day of its last ledger line.
    fn upgrade(&mut self) {
        if self.version == 2 {
            self.version = SNAPSHOT_VERSION;
        }
        if self.version >= 2 {
            return;
        }
        let transfers = std::mem::take(&mut self.transfers);
        for (id, t) in transfers {
            self.transfers.insert(record_key(&t.bank_tran_date, &id), t);
        }
        let pays = std::mem::take(&mut self.pays);
        for (id, mut p) in pays {
            if p.date.is_empty() {
                p.date = self
                    .ledger
                    .iter()
                    .rfind(|e| e.bank_tran_id == id)
                    .and_then(|e| DateTime::parse_from_rfc3339(&e.at).ok())
                    .map(|at| at.format("%Y%m%d").to_string())
                    .unwrap_or_default();
            }
            self.pays.insert(record_key(&p.date, &id), p);
        }
        self.version = SNAPSHOT_VERSION;
    }

    pub(crate) fn customer_idx(&self, pred: impl Fn(&CustomerConfig) -> bool) -> Option<usize> {
        self.customers.iter().position(pred)
    }
}

pub(crate) fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOT_FILE)
}

/// Loads the snapshot if there is one. A corrupt snapshot is an error, not a silent reset:
/// losing the ledger would hide exactly the double-charge bugs the sandbox exists to expose.
pub(crate) fn load_snapshot(dir: &Path) -> Result<Option<State>, SandboxError> {
    let path = snapshot_path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<State>(&bytes)
            .map(|mut st| {
                st.upgrade();
                Some(st)
            })
            .map_err(|e| SandboxError::Snapshot(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SandboxError::Snapshot(format!("{}: {e}", path.display()))),
    }
}

/// temp file → fsync → rename → fsync dir: after a crash the snapshot is the old or the new
/// one, never half of each.
pub(crate) fn save_snapshot(dir: &Path, state: &State) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, snapshot_path(dir))?;
    // Directory fsync makes the rename itself durable (Linux); ignore where unsupported.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
