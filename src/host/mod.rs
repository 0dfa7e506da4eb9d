//! `qrpos host`: the merchant's payment server between the terminals and the bank (feature
//! `host`). Terminals sign in with their own id and secret and ask for charges by their own
//! payment id (`protocol::host`); the host keeps the one register of used one-time codes,
//! holds the institution's credentials, and talks to open banking (withdrawals with the
//! customer's own token, result queries with `oob`) or to the payRequest provider.
//!
//! - `db`: SQLite or PostgreSQL through sqlx: terminals, charges, used nonces;
//! - `charge`: one charge from request to bank and back, and its status;
//! - `api`: the `/v1` routes, sign-in, rate limiting, the OpenAPI document.

mod api;
mod charge;
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

use crate::backend::{Gateway, Secret};
use crate::clock::Clock;
use crate::scan::TrustedKeys;

pub use api::ApiDoc;
pub use charge::bank_tran_id;
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
}

/// Everything a running host needs.
pub struct HostSettings {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// The bank's client, with the institution's credentials.
    pub bank: Arc<dyn Gateway>,
    /// The keys of the codes this host accepts (its own signing key's public half).
    pub keys: TrustedKeys,
    pub institution_code: String,
    pub clock: Arc<dyn Clock>,
    /// The bank request timeout: also how long "no such transfer" must hold to be believed.
    pub grace: Duration,
}

/// A running host; dropped or shut down, it stops accepting.
pub struct Host {
    addr: SocketAddr,
    db: Db,
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

    /// Stops accepting, lets requests under way finish, and closes the database.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.db.close().await;
    }
}

/// Opens the database (migrating it), binds and serves on the current tokio runtime.
pub async fn start(s: HostSettings) -> Result<Host, HostError> {
    if s.bank.protocol() == crate::sale::Protocol::Host {
        return Err(HostError::BankProtocol("host"));
    }
    let db = Db::open(&s.database).await?;
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
    let api = Arc::new(api::Api::new(charge::Charges {
        db: db.clone(),
        bank: s.bank,
        keys: s.keys,
        institution_code: s.institution_code,
        clock: s.clock,
        grace: s.grace,
    }));
    let (stop, mut stopped) = watch::channel(false);
    let app = api::router(api);
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
