//! Builds a working terminal from a [`Config`]: opens the journal, connects the backend
//! client, loads the trusted signing keys, and — for `backend.url = "embedded"` — starts the
//! sandbox backend inside this process, keeping its state beside the journal.

use crate::backend::{self, BackendSettings, Secret};
use crate::clock::SystemClock;
use crate::config::{Config, EMBEDDED};
use crate::scan::TrustedKeys;
use crate::store::Journal;
use crate::terminal::{SalePolicy, Terminal};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Journal(#[from] crate::store::StoreError),
    #[error("backend: {0}")]
    Backend(String),
    #[error("the embedded sandbox could not start: {0}")]
    Sandbox(String),
    #[error("payment host: {0}")]
    Host(String),
    #[error("backend.url is \"embedded\" but this build has no sandbox (built without the `sandbox` feature)")]
    NoSandbox,
}

/// A terminal plus whatever must stay alive with it (the embedded backend).
pub struct Running {
    pub terminal: Terminal,
    pub backend_url: String,
    pub embedded: Embedded,
}

impl Running {
    pub async fn stop(self) {
        self.embedded.stop().await;
    }
}

/// What runs inside this process for `backend.url = "embedded"`: the sandbox, or (protocol
/// `host`) the sandbox as the bank behind a payment host. Stopped with the terminal.
#[derive(Default)]
pub struct Embedded {
    #[cfg(feature = "sandbox")]
    sandbox: Option<crate::sandbox::Sandbox>,
    #[cfg(feature = "host")]
    host: Option<RunningHost>,
}

impl Embedded {
    pub async fn stop(self) {
        #[cfg(feature = "host")]
        if let Some(h) = self.host {
            h.stop().await;
        }
        #[cfg(feature = "sandbox")]
        if let Some(s) = self.sandbox {
            s.shutdown().await;
        }
    }
}

pub fn trusted_keys(config: &Config) -> Result<TrustedKeys, SetupError> {
    let mut keys = TrustedKeys::new();
    if config.scan.trust_sandbox_key {
        #[cfg(feature = "sandbox")]
        keys.add(
            crate::sandbox::DEV_KEY_ID,
            crate::sandbox::dev_signing_key().verifying_key(),
        );
    }
    for entry in &config.scan.trusted_keys {
        keys.add_base64(entry.id, &entry.public_key)
            .map_err(|e| SetupError::Backend(format!("scan.trusted_keys id {}: {e}", entry.id)))?;
    }
    Ok(keys)
}

/// Opens everything a sale needs. Must run inside a tokio runtime.
pub async fn start(config: &Config) -> Result<Running, SetupError> {
    config.validate()?;
    let journal_dir = config.journal_dir();
    let journal = Journal::open(&journal_dir)?;

    #[cfg(feature = "host")]
    if config.backend.protocol == crate::sale::Protocol::Host && config.backend.url == EMBEDDED {
        return start_demo_stack(config, journal).await;
    }
    let (url, sandbox) = backend_url(config, &journal_dir).await?;
    let gateway = gateway(config, &url)?;
    let keys = trusted_keys(config)?;
    #[cfg(not(feature = "sandbox"))]
    let () = sandbox;
    // Which fields `Embedded` has depends on the build's features.
    #[allow(clippy::needless_update)]
    let embedded = Embedded {
        #[cfg(feature = "sandbox")]
        sandbox,
        ..Default::default()
    };
    Ok(Running {
        terminal: terminal(config, journal, gateway, keys),
        backend_url: url,
        embedded,
    })
}

/// The terminal over `journal`, charging through `gateway`.
fn terminal(
    config: &Config,
    journal: Journal,
    gateway: Arc<dyn backend::Gateway>,
    keys: TrustedKeys,
) -> Terminal {
    let b = &config.backend;
    let policy = SalePolicy {
        institution_code: config.terminal.institution_code.clone(),
        terminal_prefix: config.terminal.terminal_prefix.clone(),
        max_amount: config.max_amount(),
        accept_static: config.scan.accept_static,
        protocol: b.protocol,
        grace: config.timeout(),
        query_attempts: b.query_attempts,
        query_backoff: Duration::from_millis(b.query_backoff_ms),
        offline: config.offline_policy(),
        recheck_after: Duration::from_millis(b.recheck_after_ms),
        unknown_attention_after: Duration::from_secs(b.unknown_attention_after_s),
    };
    Terminal::new(journal, gateway, keys, policy, Arc::new(SystemClock))
}

/// The demo's whole stack in this process (`protocol = "host"`, `url = "embedded"`): the
/// testbed as the bank, a payment host in front of it (its records and keys in the data
/// directory), and this terminal registered there, holding only its own credentials.
#[cfg(feature = "host")]
async fn start_demo_stack(config: &Config, journal: Journal) -> Result<Running, SetupError> {
    let data_dir = config.journal_dir();
    let mut host_config = config.clone();
    host_config.backend.protocol = crate::sale::Protocol::Openbanking;
    host_config.host.listen = ([127, 0, 0, 1], 0).into();
    let host = start_host(&host_config).await?;
    let (id, secret) = demo_terminal(host.host.db(), &data_dir).await?;
    let url = host.host.url();
    let gateway = backend::connect(BackendSettings {
        protocol: crate::sale::Protocol::Host,
        client_id: id,
        client_secret: secret,
        ..backend_settings(config, &url)
    })
    .map_err(|e| SetupError::Backend(e.to_string()))?;
    let mut keys = trusted_keys(config)?;
    let signing_key = crate::host::signing_key(&host_signing_key_path(config))
        .map_err(|e| SetupError::Host(e.to_string()))?;
    keys.add(config.host.signing_key_id, signing_key.verifying_key());
    Ok(Running {
        terminal: terminal(config, journal, gateway, keys),
        backend_url: url,
        embedded: Embedded {
            host: Some(host),
            ..Default::default()
        },
    })
}

/// The demo terminal's credentials at the embedded host: kept in the data directory (the
/// host keeps only the secret's hash), registered anew if the host does not know them.
#[cfg(feature = "host")]
async fn demo_terminal(
    db: &crate::host::Db,
    data_dir: &Path,
) -> Result<(String, Secret), SetupError> {
    let file = data_dir.join("demo-terminal.json");
    let fail = |e: String| SetupError::Host(format!("demo terminal: {e}"));
    if let Ok(text) = std::fs::read_to_string(&file) {
        if let Ok((id, secret)) = serde_json::from_str::<(String, String)>(&text) {
            if db
                .terminal(&id)
                .await
                .map_err(|e| fail(e.to_string()))?
                .is_some()
            {
                return Ok((id, Secret::new(secret)));
            }
        }
    }
    let name = format!("demo-{:08x}", rand::random::<u32>());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let t = crate::host::add_terminal(db, &name, now_ms)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let text = serde_json::to_string(&(&t.id, t.secret.expose())).unwrap_or_default();
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&file)
            .map_err(|e| fail(e.to_string()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok((t.id, t.secret))
}

/// The embedded sandbox, when the config asks for one.
#[cfg(feature = "sandbox")]
type EmbeddedSandbox = Option<crate::sandbox::Sandbox>;
#[cfg(not(feature = "sandbox"))]
type EmbeddedSandbox = ();

/// The backend URL `[backend]` names; for `embedded`, the sandbox started in this process
/// with its state in `data_dir`.
async fn backend_url(
    config: &Config,
    data_dir: &Path,
) -> Result<(String, EmbeddedSandbox), SetupError> {
    if config.backend.url != EMBEDDED {
        return Ok((config.backend.url.clone(), Default::default()));
    }
    #[cfg(feature = "sandbox")]
    {
        let sandbox = crate::sandbox::start(crate::sandbox::SandboxConfig {
            data_dir: Some(data_dir.join("sandbox")),
            ..crate::sandbox::SandboxConfig::new(([127, 0, 0, 1], 0).into())
        })
        .await
        .map_err(|e| SetupError::Sandbox(e.to_string()))?;
        Ok((sandbox.url(), Some(sandbox)))
    }
    #[cfg(not(feature = "sandbox"))]
    {
        let _ = data_dir;
        Err(SetupError::NoSandbox)
    }
}

/// A payment host plus whatever must stay alive with it (the embedded sandbox as its bank).
#[cfg(feature = "host")]
pub struct RunningHost {
    pub host: crate::host::Host,
    pub bank_url: String,
    #[cfg(feature = "sandbox")]
    pub embedded: Option<crate::sandbox::Sandbox>,
}

#[cfg(feature = "host")]
impl RunningHost {
    pub async fn stop(self) {
        self.host.shutdown().await;
        #[cfg(feature = "sandbox")]
        if let Some(s) = self.embedded {
            s.shutdown().await;
        }
    }
}

/// The host's key files in the data directory, unless `[host]` names them.
#[cfg(feature = "host")]
pub const HOST_SIGNING_KEY: &str = "host-signing.key";
#[cfg(feature = "host")]
pub const HOST_TOKEN_KEY: &str = "host-tokens.key";

/// The public half of the host's code-signing key (made on first use), as the
/// `[[scan.trusted_keys]]` entry a terminal's config needs.
#[cfg(feature = "host")]
pub fn host_trusted_key(config: &Config) -> Result<String, SetupError> {
    use base64::Engine;
    let key = crate::host::signing_key(&host_signing_key_path(config))
        .map_err(|e| SetupError::Host(e.to_string()))?;
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    Ok(format!(
        "[[scan.trusted_keys]]\nid = {}\npublic_key = \"{public}\"",
        config.host.signing_key_id
    ))
}

#[cfg(feature = "host")]
fn host_signing_key_path(config: &Config) -> std::path::PathBuf {
    config
        .host
        .signing_key_file
        .clone()
        .unwrap_or_else(|| config.journal_dir().join(HOST_SIGNING_KEY))
}

/// Where the host keeps its records: `host.database`, else SQLite in the data directory.
#[cfg(feature = "host")]
pub fn host_database(config: &Config) -> String {
    config.host.database.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            config.journal_dir().join("host.db").display()
        )
    })
}

/// Starts `qrpos host` as `config` describes it: `[host]` where it listens and keeps its
/// records, `[backend]` the bank it charges through. Must run inside a tokio runtime.
#[cfg(feature = "host")]
pub async fn start_host(config: &Config) -> Result<RunningHost, SetupError> {
    config.validate()?;
    let data_dir = config.journal_dir();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| SetupError::Host(format!("data directory {}: {e}", data_dir.display())))?;
    let h = &config.host;
    let key_path = |file: &Option<std::path::PathBuf>, default: &str| {
        file.clone().unwrap_or_else(|| data_dir.join(default))
    };
    let key_error = |e: crate::host::KeyFileError| SetupError::Host(e.to_string());
    let signing_key =
        crate::host::signing_key(&host_signing_key_path(config)).map_err(key_error)?;
    let token_key =
        crate::host::key_file(&key_path(&h.token_key_file, HOST_TOKEN_KEY)).map_err(key_error)?;
    let (bank_url, embedded) = backend_url(config, &data_dir).await?;
    let host = crate::host::start(crate::host::HostSettings {
        listen: h.listen,
        database: host_database(config),
        bank: backend_settings(config, &bank_url),
        keys: trusted_keys(config)?,
        signing_key,
        signing_key_id: h.signing_key_id,
        token_key,
        public_url: h.public_url.clone(),
        institution_code: config.terminal.institution_code.clone(),
        clock: Arc::new(SystemClock),
        grace: config.timeout(),
    })
    .await
    .map_err(|e| SetupError::Host(e.to_string()))?;
    #[cfg(not(feature = "sandbox"))]
    let () = embedded;
    Ok(RunningHost {
        host,
        bank_url,
        #[cfg(feature = "sandbox")]
        embedded,
    })
}

/// The backend client `[backend]` describes, for the backend at `url`.
pub fn gateway(config: &Config, url: &str) -> Result<Arc<dyn backend::Gateway>, SetupError> {
    backend::connect(backend_settings(config, url)).map_err(|e| SetupError::Backend(e.to_string()))
}

/// `[backend]` as the settings of a client of the backend at `url`.
pub fn backend_settings(config: &Config, url: &str) -> BackendSettings {
    let b = &config.backend;
    BackendSettings {
        url: url.to_string(),
        protocol: b.protocol,
        timeout: Duration::from_millis(b.timeout_ms),
        connect_timeout: Duration::from_millis(b.connect_timeout_ms),
        client_id: b.client_id.clone(),
        client_secret: Secret::new(b.client_secret.clone()),
        cntr_account_type: b.cntr_account_type.clone(),
        cntr_account_num: b.cntr_account_num.clone(),
        merchant_name: config.terminal.merchant_name.clone(),
        recv_client_bank_code: b.recv_client_bank_code.clone(),
        recv_client_account_num: b.recv_client_account_num.clone(),
        institution_code: config.terminal.institution_code.clone(),
        enrolment: b.enrolment,
    }
}
