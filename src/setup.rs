//! Builds a working terminal from a [`Config`]: opens the journal, connects the backend
//! client, loads the trusted signing keys, and — for `backend.url = "embedded"` — starts the
//! sandbox backend inside this process, keeping its state beside the journal.

use crate::backend::{self, BackendSettings, Secret};
use crate::clock::SystemClock;
use crate::config::{Config, EMBEDDED};
use crate::scan::TrustedKeys;
use crate::store::Journal;
use crate::terminal::{SalePolicy, Terminal};
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
    #[error("backend.url is \"embedded\" but this build has no sandbox (built without the `sandbox` feature)")]
    NoSandbox,
}

/// A terminal plus whatever must stay alive with it (the embedded sandbox).
pub struct Running {
    pub terminal: Terminal,
    pub backend_url: String,
    #[cfg(feature = "sandbox")]
    pub embedded: Option<crate::sandbox::Sandbox>,
}

impl Running {
    pub async fn stop(self) {
        #[cfg(feature = "sandbox")]
        if let Some(s) = self.embedded {
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

    #[cfg(feature = "sandbox")]
    let mut embedded = None;
    let url = if config.backend.url == EMBEDDED {
        #[cfg(feature = "sandbox")]
        {
            let sandbox = crate::sandbox::start(crate::sandbox::SandboxConfig {
                data_dir: Some(journal_dir.join("sandbox")),
                ..crate::sandbox::SandboxConfig::new(([127, 0, 0, 1], 0).into())
            })
            .await
            .map_err(|e| SetupError::Sandbox(e.to_string()))?;
            let url = sandbox.url();
            embedded = Some(sandbox);
            url
        }
        #[cfg(not(feature = "sandbox"))]
        return Err(SetupError::NoSandbox);
    } else {
        config.backend.url.clone()
    };

    let gateway = gateway(config, &url)?;

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
    let terminal = Terminal::new(
        journal,
        gateway,
        trusted_keys(config)?,
        policy,
        Arc::new(SystemClock),
    );
    Ok(Running {
        terminal,
        backend_url: url,
        #[cfg(feature = "sandbox")]
        embedded,
    })
}

/// The backend client `[backend]` describes, for the backend at `url`.
pub fn gateway(config: &Config, url: &str) -> Result<Arc<dyn backend::Gateway>, SetupError> {
    let b = &config.backend;
    backend::connect(BackendSettings {
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
    })
    .map_err(|e| SetupError::Backend(e.to_string()))
}
