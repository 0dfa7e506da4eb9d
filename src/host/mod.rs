//! `qrpos host`: the merchant's payment server between the terminals and the bank (feature
//! `host`). Terminals sign in with their own id and secret and ask for charges by their own
//! payment id (`protocol::host`); the host keeps the one register of used one-time codes,
//! holds the institution's credentials, and talks to open banking (withdrawals with the
//! customer's own token, result queries with `oob`) or to the payRequest provider.
//!
//! - `db`: SQLite or PostgreSQL through sqlx: terminals, charges, used nonces;
//! - `charge`: one charge from request to bank and back, and its status;
//! - `customers`: the customers' grants (3-legged flow, encrypted at rest, renewed), their
//!   app's credential, and the codes the host signs for them;
//! - `api`: the `/v1` routes, sign-in, rate limiting, the OpenAPI document.

mod api;
mod charge;
mod customers;
mod db;
#[cfg(all(test, feature = "sandbox"))]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::{BackendSettings, Secret};
use crate::clock::Clock;
use crate::scan::TrustedKeys;

pub use api::ApiDoc;
pub use charge::bank_tran_id;
pub use customers::{key_file, signing_key, KeyFileError, RENEW_AHEAD_S};
pub use db::{Db, DbError, TerminalRow};

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("terminal name {0:?}: use 1 to 40 letters, digits, '-' or '_'")]
    BadName(String),
    #[error("a terminal named {0:?} already exists")]
    NameTaken(String),
    #[error("the bank behind a host speaks openbanking or payrequest, not {0:?}")]
    BankProtocol(&'static str),
    #[error("the bank's settings: {0}")]
    Bank(String),
    #[error("host.signing_key_id {0} is the id of another trusted key: choose another")]
    KeyId(u8),
}

/// Everything a running host needs.
pub struct HostSettings {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// How to reach the bank, with the institution's credentials.
    pub bank: BackendSettings,
    /// Keys of other issuers whose codes this host also accepts (its own is added).
    pub keys: TrustedKeys,
    /// The key the host signs its customers' codes with, and its id in the codes.
    pub signing_key: ed25519_dalek::SigningKey,
    pub signing_key_id: u8,
    /// The key the customers' tokens are encrypted with at rest.
    pub token_key: [u8; 32],
    /// The host's URL as the bank sends customers back to it (the 3-legged flow's
    /// callback); `None`: the address it listens on.
    pub public_url: Option<String>,
    pub institution_code: String,
    pub clock: Arc<dyn Clock>,
    /// The bank request timeout: also how long "no such transfer" must hold to be believed.
    pub grace: Duration,
}

/// A running host; dropped or shut down, it stops accepting.
pub struct Host {
    addr: SocketAddr,
    db: Db,
    api: Arc<api::Api>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Host {
    pub fn url(&self) -> String {
        let mut a = self.addr;
        if a.ip().is_unspecified() {
            a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{a}")
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Renews the grants that expire before `horizon_unix`; how many were renewed. A
    /// background task does this hourly for grants with under [`RENEW_AHEAD_S`] left.
    pub async fn renew_grants(&self, horizon_unix: i64) -> Result<usize, DbError> {
        self.api.renew_grants(horizon_unix).await
    }

    /// Stops accepting, lets requests under way finish, and closes the database.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.db.close().await;
    }
}

/// Opens the database (migrating it), binds and serves on the current tokio runtime.
pub async fn start(s: HostSettings) -> Result<Host, HostError> {
    if s.bank.protocol == crate::sale::Protocol::Host {
        return Err(HostError::BankProtocol("host"));
    }
    let db = Db::open(&s.database).await?;
    let customers = customers::Customers::new(db.clone(), &s.token_key);
    let bank = crate::backend::connect_with(s.bank.clone(), Some(customers.clone()))
        .map_err(|e| HostError::Bank(e.to_string()))?;
    let listener = TcpListener::bind(s.listen)
        .await
        .map_err(|source| HostError::Listen {
            addr: s.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| HostError::Listen {
        addr: s.listen,
        source,
    })?;
    let mut keys = s.keys;
    let own = s.signing_key.verifying_key();
    if keys.get(s.signing_key_id).is_some_and(|k| *k != own) {
        return Err(HostError::KeyId(s.signing_key_id));
    }
    keys.add(s.signing_key_id, own);
    let public_url = s
        .public_url
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    let api = Arc::new(api::Api::new(
        charge::Charges {
            db: db.clone(),
            bank,
            keys,
            institution_code: s.institution_code,
            clock: s.clock.clone(),
            grace: s.grace,
        },
        api::Issuer {
            customers,
            bank: s.bank,
            public_url,
            signing_key: s.signing_key,
            signing_key_id: s.signing_key_id,
        },
    ));
    let (stop, mut stopped) = watch::channel(false);
    // Grants are renewed well before they expire: hourly, those with a week or less left.
    let renewer = api.clone();
    let mut renew_stop = stop.subscribe();
    let clock = s.clock;
    tokio::spawn(async move {
        loop {
            let horizon = clock.now().timestamp() + RENEW_AHEAD_S;
            if let Err(e) = renewer.renew_grants(horizon).await {
                tracing::error!(error = %e, "renewing customer grants");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = renew_stop.wait_for(|s| *s) => return,
            }
        }
    });
    let app = api::router(api.clone());
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "host server ended");
        }
    });
    tracing::info!(%addr, "payment host listening");
    Ok(Host {
        addr,
        db,
        api,
        stop,
        task,
    })
}

/// A terminal's credentials, shown once at registration: only the secret's hash is kept.
pub struct NewTerminal {
    pub id: String,
    pub secret: Secret,
}

/// Registers a terminal under `name` and makes its id and secret (256 random bits).
pub async fn add_terminal(db: &Db, name: &str, now_ms: i64) -> Result<NewTerminal, HostError> {
    let fits = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 40 || !name.chars().all(fits) {
        return Err(HostError::BadName(name.into()));
    }
    let id = format!("term-{:016x}", rand::random::<u64>());
    let secret =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = format!("{:x}", Sha256::digest(secret.as_bytes()));
    if !db.add_terminal(&id, name, &hash, now_ms).await? {
        return Err(HostError::NameTaken(name.into()));
    }
    Ok(NewTerminal {
        id,
        secret: Secret::new(secret),
    })
}
