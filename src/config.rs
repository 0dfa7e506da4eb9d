//! The terminal's one TOML config, validated at start. With no file, [`Config::demo`] runs
//! the desktop demo against the embedded sandbox; a file is for a real installation and
//! trusts only the signing keys it lists.

use crate::sale::{Protocol, Won};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `backend.url` value that starts the sandbox backend inside the terminal process.
pub const EMBEDDED: &str = "embedded";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config value {field} = {value:?} is wrong: {why}")]
    Invalid {
        field: &'static str,
        value: String,
        why: String,
    },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub terminal: TerminalSection,
    pub backend: BackendSection,
    pub scan: ScanSection,
    pub offline: OfflineSection,
    pub camera: CameraSection,
    pub signal: crate::signal::SignalSettings,
    pub ui: UiSection,
    pub host: HostSection,
}

/// `qrpos host`: where it listens and keeps its records. The bank it talks to is
/// `[backend]` (openbanking or payrequest, with the institution's credentials), its
/// institution code `terminal.institution_code`, the keys of its codes `[scan]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostSection {
    pub listen: std::net::SocketAddr,
    /// `sqlite://PATH` (default: `host.db` in the data directory) or `postgres://…`.
    pub database: Option<String>,
    /// The host's code-signing key (32 bytes, made on first start; default:
    /// `host-signing.key` in the data directory). Terminals trust its public half
    /// (`qrpos host key`).
    pub signing_key_file: Option<PathBuf>,
    /// The key id the host's codes carry (terminals look the key up by it).
    pub signing_key_id: u8,
    /// The key the customers' tokens are encrypted with at rest (32 bytes, made on first
    /// start; default: `host-tokens.key` in the data directory). Back it up with the database.
    pub token_key_file: Option<PathBuf>,
    /// The host's URL as the bank sends customers back to it after their consent (default:
    /// `http://` + the address it listens on).
    pub public_url: Option<String>,
}

impl Default for HostSection {
    fn default() -> Self {
        HostSection {
            listen: ([127, 0, 0, 1], 8700).into(),
            database: None,
            signing_key_file: None,
            // 1 is the sandbox's development key.
            signing_key_id: 2,
            token_key_file: None,
            public_url: None,
        }
    }
}

/// The touchscreen (`qrpos run`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSection {
    /// `ko` (default) or `en`.
    pub language: String,
    /// The operator PIN for settings, 4–8 digits. Unset: the first opening of settings
    /// chooses one (kept hashed beside the journal). There is no default PIN.
    pub operator_pin: Option<String>,
    /// How long a sale's result stays on screen unless tapped away.
    pub result_timeout_s: u64,
    /// Settings lock again after this long without a touch.
    pub lock_after_s: u64,
    /// Products offered on the amount screen (optional; none: "QR payment").
    pub products: Vec<String>,
}

impl Default for UiSection {
    fn default() -> Self {
        UiSection {
            language: "ko".into(),
            operator_pin: None,
            result_timeout_s: 120,
            lock_after_s: 60,
            products: Vec::new(),
        }
    }
}

/// When the backend is unreachable: which sales may be queued and forwarded later.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineSection {
    pub enabled: bool,
    /// Largest single sale accepted offline, won.
    pub max_sale: u64,
    /// Largest total waiting in the queue, won.
    pub max_total: u64,
    /// Most sales waiting in the queue.
    pub max_count: usize,
    /// Oldest a queued sale may be; older ones are not sent and need the merchant's attention.
    pub max_age_s: u64,
    /// How often the forwarder and resolver look for work while running.
    pub retry_interval_ms: u64,
}

impl Default for OfflineSection {
    fn default() -> Self {
        OfflineSection {
            enabled: true,
            max_sale: 50_000,
            max_total: 300_000,
            max_count: 50,
            max_age_s: 24 * 3600,
            retry_interval_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TerminalSection {
    /// The open-banking institution code (이용기관코드), 10 characters: the first part of
    /// every `bank_tran_id`.
    pub institution_code: String,
    /// Two letters/digits that tell this terminal's `bank_tran_id`s from other terminals' of
    /// the same institution; followed by a 7-digit per-day sequence.
    pub terminal_prefix: String,
    /// The largest amount a cashier may charge, in won.
    pub max_amount: u64,
    /// Printed on the merchant's statement and sent as the recipient name.
    pub merchant_name: String,
    /// Where the journal lives. Default: `$QRPOS_DATA`, else `$XDG_DATA_HOME/qrpos`, else
    /// `~/.local/share/qrpos`.
    pub journal_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendSection {
    pub protocol: Protocol,
    /// Base URL of the payment backend, or `embedded` for the built-in sandbox.
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    /// The institution's contracted collection account: `N` bank account, `C` ledger.
    pub cntr_account_type: String,
    pub cntr_account_num: String,
    pub recv_client_bank_code: String,
    pub recv_client_account_num: String,
    /// Whole-request timeout. Also the grace period before "no such transfer" is believed.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// How many result queries a sale makes on the spot before it is parked as unknown.
    pub query_attempts: u32,
    /// First back-off between queries; doubles each time.
    pub query_backoff_ms: u64,
    /// How long after an A0017/311 decline the resolver re-checks it (once) by query.
    pub recheck_after_ms: u64,
    /// A sale whose outcome is still unknown this long after sending goes on the attention
    /// list (the resolver keeps asking).
    pub unknown_attention_after_s: u64,
    /// Where the customers' own open-banking tokens come from: `sandbox` (enrol the
    /// sandbox's customers on first use; demo and tests) or `none` (see
    /// `backend::enrolment`).
    pub enrolment: crate::backend::enrolment::Enrolment,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanSection {
    /// Accept the static 24-character fintech-number QR (online only).
    pub accept_static: bool,
    /// Trust the sandbox's development signing key. Only for the demo and tests.
    pub trust_sandbox_key: bool,
    /// Public keys of the backends that sign one-time codes.
    pub trusted_keys: Vec<TrustedKeyEntry>,
    /// The same code read again within this many ms of its last sighting is one read.
    pub dedup_ms: u64,
    /// Average decode time per camera frame: the first cascade step runs on every frame,
    /// further steps when the saved-up budget covers them (see `scan::live`).
    pub frame_budget_ms: u64,
    /// How long a customer has to show a code before the sale is cancelled.
    pub timeout_s: u64,
}

/// Where frames come from: a camera, or a folder of images replayed (simulator, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameSourceKind {
    Camera,
    Replay,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraSection {
    pub source: FrameSourceKind,
    /// V4L2 device: an index (`0` = `/dev/video0`) or a path like `/dev/video2`.
    pub device: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Image file or folder replayed when `source = "replay"`.
    pub replay_dir: Option<PathBuf>,
    pub replay_fps: u32,
    /// Start the replay over at its end (the simulator); else the source ends.
    #[serde(rename = "loop")]
    pub replay_loop: bool,
}

impl Default for CameraSection {
    fn default() -> Self {
        CameraSection {
            source: FrameSourceKind::Camera,
            device: "0".into(),
            width: 640,
            height: 480,
            fps: 30,
            replay_dir: None,
            replay_fps: 30,
            replay_loop: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKeyEntry {
    pub id: u8,
    /// Ed25519 public key, 32 bytes in standard Base64.
    pub public_key: String,
}

impl Default for TerminalSection {
    fn default() -> Self {
        TerminalSection {
            institution_code: "T991000001".into(),
            terminal_prefix: "T1".into(),
            max_amount: 1_000_000,
            merchant_name: "qrpos demo shop".into(),
            journal_dir: None,
        }
    }
}

impl Default for BackendSection {
    fn default() -> Self {
        BackendSection {
            protocol: Protocol::Openbanking,
            url: String::new(),
            client_id: "qrpos-demo".into(),
            client_secret: "qrpos-demo-secret".into(),
            cntr_account_type: "N".into(),
            cntr_account_num: "1002003004005".into(),
            recv_client_bank_code: "097".into(),
            recv_client_account_num: "1002003004005".into(),
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            query_attempts: 5,
            query_backoff_ms: 500,
            recheck_after_ms: 60_000,
            unknown_attention_after_s: 600,
            enrolment: Default::default(),
        }
    }
}

impl Default for ScanSection {
    fn default() -> Self {
        ScanSection {
            accept_static: true,
            trust_sandbox_key: false,
            trusted_keys: Vec::new(),
            dedup_ms: 2000,
            frame_budget_ms: 2,
            timeout_s: 60,
        }
    }
}

impl Config {
    /// The desktop demo: embedded sandbox, its development key trusted.
    pub fn demo() -> Config {
        let mut c = Config::default();
        c.backend.url = EMBEDDED.into();
        c.scan.trust_sandbox_key = true;
        c.ui.products = vec!["아메리카노".into(), "카페라테".into(), "케이크".into()];
        c
    }

    /// Reads and validates a config file. Fields left out take the defaults above, except
    /// `backend.url`, `terminal.institution_code` and `terminal.terminal_prefix`, which a
    /// file must give: a terminal that silently took the demo's institution or prefix would
    /// share its transaction ids with every other terminal that did.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        };
        let config: Config = toml::from_str(&text).map_err(parse_error)?;
        let table: toml::Table = toml::from_str(&text).map_err(parse_error)?;
        for (key, field, what) in [
            (
                "institution_code",
                "terminal.institution_code",
                "your open-banking institution code (10 characters)",
            ),
            (
                "terminal_prefix",
                "terminal.terminal_prefix",
                "2 letters or digits, different on every terminal of the institution",
            ),
        ] {
            if table.get("terminal").and_then(|t| t.get(key)).is_none() {
                return Err(ConfigError::Invalid {
                    field,
                    value: String::new(),
                    why: format!("is required in a config file: {what}"),
                });
            }
        }
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.terminal;
        let b = &self.backend;
        let invalid = |field: &'static str, value: &str, why: &str| {
            Err(ConfigError::Invalid {
                field,
                value: value.to_string(),
                why: why.to_string(),
            })
        };
        if t.institution_code.len() != 10
            || !t
                .institution_code
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            return invalid(
                "terminal.institution_code",
                &t.institution_code,
                "must be 10 letters or digits",
            );
        }
        if t.terminal_prefix.len() != 2
            || !t.terminal_prefix.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return invalid(
                "terminal.terminal_prefix",
                &t.terminal_prefix,
                "must be 2 letters or digits",
            );
        }
        if t.max_amount == 0 || t.max_amount > 999_999_999_999 {
            return invalid(
                "terminal.max_amount",
                &t.max_amount.to_string(),
                "must be 1 ..= 999,999,999,999 won",
            );
        }
        if t.merchant_name.trim().is_empty() {
            return invalid(
                "terminal.merchant_name",
                &t.merchant_name,
                "must not be empty",
            );
        }
        if b.url.is_empty() {
            return invalid(
                "backend.url",
                &b.url,
                "is required: the backend's base URL, or \"embedded\"",
            );
        }
        if b.url != EMBEDDED {
            match reqwest::Url::parse(&b.url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => {
                    return invalid(
                        "backend.url",
                        &b.url,
                        "must be an http(s):// URL or \"embedded\"",
                    )
                }
            }
        }
        if b.client_id.is_empty() {
            return invalid("backend.client_id", "", "must not be empty");
        }
        if !matches!(b.cntr_account_type.as_str(), "N" | "C") {
            return invalid(
                "backend.cntr_account_type",
                &b.cntr_account_type,
                "must be \"N\" (bank account) or \"C\" (ledger account)",
            );
        }
        if b.timeout_ms == 0 || b.connect_timeout_ms == 0 {
            return invalid(
                "backend.timeout_ms",
                &b.timeout_ms.to_string(),
                "timeouts must be above 0 ms",
            );
        }
        if b.connect_timeout_ms > b.timeout_ms {
            return invalid(
                "backend.connect_timeout_ms",
                &b.connect_timeout_ms.to_string(),
                "must not exceed backend.timeout_ms",
            );
        }
        let o = &self.offline;
        if o.max_sale > o.max_total {
            return invalid(
                "offline.max_sale",
                &o.max_sale.to_string(),
                "must not exceed offline.max_total",
            );
        }
        if o.max_age_s == 0 || o.max_age_s > 7 * 24 * 3600 {
            return invalid(
                "offline.max_age_s",
                &o.max_age_s.to_string(),
                "must be 1 s ..= 7 days",
            );
        }
        if o.retry_interval_ms == 0 {
            return invalid("offline.retry_interval_ms", "0", "must be above 0 ms");
        }
        self.validate_scanner()?;
        self.validate_signal()?;
        self.validate_ui()?;
        for key in &self.scan.trusted_keys {
            if crate::scan::TrustedKeys::new()
                .add_base64(key.id, &key.public_key)
                .is_err()
            {
                return invalid(
                    "scan.trusted_keys.public_key",
                    &key.public_key,
                    "must be a 32-byte Ed25519 key in Base64",
                );
            }
        }
        Ok(())
    }

    fn validate_ui(&self) -> Result<(), ConfigError> {
        let u = &self.ui;
        let invalid = |field: &'static str, value: &str, why: &str| {
            Err(ConfigError::Invalid {
                field,
                value: value.to_string(),
                why: why.to_string(),
            })
        };
        if !matches!(u.language.as_str(), "ko" | "en") {
            return invalid("ui.language", &u.language, "must be \"ko\" or \"en\"");
        }
        if let Some(pin) = &u.operator_pin {
            if !(4..=8).contains(&pin.len()) || !pin.chars().all(|c| c.is_ascii_digit()) {
                // The PIN itself is a secret: never repeated in a message.
                return invalid("ui.operator_pin", "…", "must be 4 to 8 digits");
            }
        }
        if u.result_timeout_s == 0 {
            return invalid("ui.result_timeout_s", "0", "must be at least 1 s");
        }
        if u.lock_after_s == 0 {
            return invalid("ui.lock_after_s", "0", "must be at least 1 s");
        }
        if let Some(p) = u
            .products
            .iter()
            .find(|p| p.trim().is_empty() || p.chars().count() > 20)
        {
            return invalid("ui.products", p, "each product needs 1 to 20 characters");
        }
        // One row of touch targets beside the keypad at 800×480.
        if u.products.len() > 3 {
            return invalid(
                "ui.products",
                &u.products.join(", "),
                "at most 3 products fit the amount screen",
            );
        }
        Ok(())
    }

    pub fn offline_policy(&self) -> crate::sale::OfflinePolicy {
        let o = &self.offline;
        crate::sale::OfflinePolicy {
            enabled: o.enabled,
            max_sale: Won(o.max_sale),
            max_total: Won(o.max_total),
            max_count: o.max_count,
            max_age: Duration::from_secs(o.max_age_s),
        }
    }

    fn validate_scanner(&self) -> Result<(), ConfigError> {
        let (s, c) = (&self.scan, &self.camera);
        let invalid = |field: &'static str, value: String, why: &str| {
            Err(ConfigError::Invalid {
                field,
                value,
                why: why.to_string(),
            })
        };
        if s.dedup_ms > 60_000 {
            return invalid(
                "scan.dedup_ms",
                s.dedup_ms.to_string(),
                "must be 0 ..= 60000 ms",
            );
        }
        if s.frame_budget_ms == 0 || s.frame_budget_ms > 1000 {
            return invalid(
                "scan.frame_budget_ms",
                s.frame_budget_ms.to_string(),
                "must be 1 ..= 1000 ms",
            );
        }
        if !(5..=600).contains(&s.timeout_s) {
            return invalid(
                "scan.timeout_s",
                s.timeout_s.to_string(),
                "must be 5 ..= 600 seconds",
            );
        }
        let device_ok = c.device.parse::<u32>().is_ok() || c.device.starts_with("/dev/");
        if !device_ok {
            return invalid(
                "camera.device",
                c.device.clone(),
                "must be an index like 0 or a path like /dev/video0",
            );
        }
        if !(16..=4096).contains(&c.width) || !(16..=4096).contains(&c.height) {
            return invalid(
                "camera.width",
                format!("{}x{}", c.width, c.height),
                "width and height must be 16 ..= 4096 pixels",
            );
        }
        if !(1..=120).contains(&c.fps) {
            return invalid("camera.fps", c.fps.to_string(), "must be 1 ..= 120");
        }
        if !(1..=1000).contains(&c.replay_fps) {
            return invalid(
                "camera.replay_fps",
                c.replay_fps.to_string(),
                "must be 1 ..= 1000",
            );
        }
        if c.source == FrameSourceKind::Replay && c.replay_dir.is_none() {
            return invalid(
                "camera.replay_dir",
                String::new(),
                "is required when camera.source = \"replay\": an image file or folder",
            );
        }
        Ok(())
    }

    fn validate_signal(&self) -> Result<(), ConfigError> {
        let s = &self.signal;
        let invalid = |field: &'static str, value: String, why: &str| {
            Err(ConfigError::Invalid {
                field,
                value,
                why: why.to_string(),
            })
        };
        let pins = [
            ("signal.green_pin", s.green_pin),
            ("signal.red_pin", s.red_pin),
            ("signal.buzzer_pin", s.buzzer_pin),
        ];
        for (field, pin) in pins {
            if pin > 27 {
                return invalid(field, pin.to_string(), "a BCM GPIO number is 0 ..= 27");
            }
        }
        if s.green_pin == s.red_pin || s.green_pin == s.buzzer_pin || s.red_pin == s.buzzer_pin {
            return invalid(
                "signal.buzzer_pin",
                format!("{}/{}/{}", s.green_pin, s.red_pin, s.buzzer_pin),
                "the green, red and buzzer pins must be three different pins",
            );
        }
        if s.buzzer == crate::signal::BuzzerKind::HardwarePwm
            && ![12, 13, 18, 19].contains(&s.buzzer_pin)
        {
            return invalid(
                "signal.buzzer_pin",
                s.buzzer_pin.to_string(),
                "hardware PWM is on BCM 12, 13, 18 or 19",
            );
        }
        if s.volume > 100 {
            return invalid("signal.volume", s.volume.to_string(), "must be 0 ..= 100");
        }
        Ok(())
    }

    /// `[scan] frame_budget_ms` as a duration.
    pub fn frame_budget(&self) -> Duration {
        Duration::from_millis(self.scan.frame_budget_ms)
    }

    /// `[scan] timeout_s` as a duration.
    pub fn scan_timeout(&self) -> Duration {
        Duration::from_secs(self.scan.timeout_s)
    }

    /// `[scan] dedup_ms` as a duration.
    pub fn dedup_window(&self) -> Duration {
        Duration::from_millis(self.scan.dedup_ms)
    }

    pub fn max_amount(&self) -> Won {
        Won(self.terminal.max_amount)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.backend.timeout_ms)
    }

    pub fn journal_dir(&self) -> PathBuf {
        if let Some(d) = &self.terminal.journal_dir {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("QRPOS_DATA") {
            return PathBuf::from(d);
        }
        if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
            return PathBuf::from(d).join("qrpos");
        }
        match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".local/share/qrpos"),
            None => PathBuf::from("qrpos-data"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &str = "institution_code = \"M202600001\"\nterminal_prefix = \"A1\"\n";

    /// Loads `text` as a file that names its terminal (the two keys every file must set).
    fn load_str(text: &str) -> Result<Config, ConfigError> {
        let text = match text.find("[terminal]\n") {
            _ if text.contains("institution_code") => text.to_string(),
            Some(i) => format!("{}{IDENTITY}{}", &text[..i + 11], &text[i + 11..]),
            None => format!("[terminal]\n{IDENTITY}{text}"),
        };
        load_raw(&text)
    }

    fn load_raw(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("qrpos.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(&p)
    }

    #[test]
    fn a_file_must_name_its_institution_and_terminal_prefix() {
        let url = "[backend]\nurl = \"https://pay.example.com\"\n";
        let err = load_raw(url).unwrap_err().to_string();
        assert!(err.contains("terminal.institution_code"), "{err}");
        let err = load_raw(&format!(
            "[terminal]\ninstitution_code = \"M202600001\"\n{url}"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("terminal.terminal_prefix"), "{err}");
        assert!(err.contains("different on every terminal"), "{err}");
        let c = load_str(url).unwrap();
        assert_eq!(
            (
                c.terminal.institution_code.as_str(),
                c.terminal.terminal_prefix.as_str()
            ),
            ("M202600001", "A1")
        );
        // Only the built-in demo config has them by default.
        assert_eq!(Config::demo().terminal.terminal_prefix, "T1");
    }

    #[test]
    fn demo_defaults_are_valid_and_embedded() {
        let c = Config::demo();
        c.validate().unwrap();
        assert_eq!(c.backend.url, EMBEDDED);
        assert!(c.scan.trust_sandbox_key);
    }

    #[test]
    fn a_file_needs_a_url_and_does_not_trust_the_sandbox_key_by_default() {
        let err = load_str("[terminal]\nmax_amount = 5000\n").unwrap_err();
        assert!(err.to_string().contains("backend.url"), "{err}");
        let c =
            load_str("[backend]\nurl = \"https://pay.example.com\"\nprotocol = \"payrequest\"\n")
                .unwrap();
        assert!(!c.scan.trust_sandbox_key);
        assert_eq!(c.backend.protocol, Protocol::Payrequest);
    }

    #[test]
    fn wrong_values_say_which_field_and_why() {
        let cases = [
            ("[backend]\nurl = \"ftp://x\"\n", "backend.url"),
            ("[backend]\nurl = \"embedded\"\nprotocol = \"swift\"\n", "unknown variant `swift`"),
            ("[backend]\nurl = \"embedded\"\n[terminal]\ninstitution_code = \"SHORT\"\nterminal_prefix = \"A1\"\n", "terminal.institution_code"),
            ("[backend]\nurl = \"embedded\"\n[terminal]\nmax_amount = 0\n", "terminal.max_amount"),
            ("[backend]\nurl = \"embedded\"\ntimeout_ms = 0\n", "backend.timeout_ms"),
            ("[backend]\nurl = \"embedded\"\n[terminal]\nmax_amont = 5\n", "unknown field"),
            ("[backend]\nurl = \"embedded\"\n[[scan.trusted_keys]]\nid = 2\npublic_key = \"nope\"\n", "scan.trusted_keys"),
            ("[backend]\nurl = \"embedded\"\n[terminal]\nmax_amount = -5\n", "max_amount"),
            ("[backend]\nurl = \"embedded\"\n[offline]\nmax_sale = 500000\n", "offline.max_sale"),
            ("[backend]\nurl = \"embedded\"\n[offline]\nmax_age_s = 0\n", "offline.max_age_s"),
            ("[backend]\nurl = \"embedded\"\n[signal]\nred_pin = 17\n", "three different pins"),
            ("[backend]\nurl = \"embedded\"\n[signal]\ngreen_pin = 40\n", "signal.green_pin"),
            ("[backend]\nurl = \"embedded\"\n[signal]\nbuzzer = \"hardware-pwm\"\nbuzzer_pin = 5\n", "BCM 12, 13, 18 or 19"),
            ("[backend]\nurl = \"embedded\"\n[signal]\nindicator = \"lamp\"\n", "unknown variant `lamp`"),
        ];
        for (text, needle) in cases {
            let err = load_str(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn the_shipped_installation_config_is_valid_and_strict() {
        let c = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/qrpos.toml"))
            .unwrap();
        assert!(!c.scan.trust_sandbox_key);
        assert!(!c.scan.accept_static);
        assert_ne!(c.backend.url, EMBEDDED);
    }

    #[test]
    fn a_secret_in_a_bad_file_is_not_echoed() {
        let err = load_str("[backend]\nurl = \"embedded\"\nclient_secret = \"hunter2\"\ncntr_account_type = \"X\"\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
