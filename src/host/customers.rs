//! The customers at the host: their open-banking grants (from the real 3-legged flow, kept
//! encrypted at rest and renewed before they expire), the credential their app signs in
//! with, and the one-time codes the host signs for them with its own key.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::db::{Db, DbError};
use crate::backend::enrolment::{CustomerGrant, GrantStore};
use crate::backend::Secret;

/// Renew a customer's grant when it has less than this left (KFTC user tokens live 90 days).
pub const RENEW_AHEAD_S: i64 = 7 * 24 * 3600;
/// A consent under way must come back within this.
const ENROL_STATE_LIFETIME_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {path}: {why}")]
    Bad { path: String, why: String },
}

/// Reads a 32-byte key file, or makes one (readable by its owner only) if there is none: the
/// host's code-signing seed, or the key its customers' tokens are encrypted with.
pub fn key_file(path: &Path) -> Result<[u8; 32], KeyFileError> {
    let bad = |why: String| KeyFileError::Bad {
        path: path.display().to_string(),
        why,
    };
    match std::fs::read(path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|b: Vec<u8>| bad(format!("{} bytes, expected 32", b.len()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let key: [u8; 32] = rand::random();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| bad(e.to_string()))?;
            f.write_all(&key)
                .and_then(|()| f.sync_all())
                .map_err(|e| bad(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// The host's code-signing key.
pub fn signing_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    key_file(path).map(|seed| SigningKey::from_bytes(&seed))
}

/// The customers' grants in the host's database, their tokens sealed with `cipher`.
pub struct Customers {
    db: Db,
    cipher: XChaCha20Poly1305,
}

/// A customer whose grant is due for renewal.
pub struct Due {
    pub user_seq_no: String,
    pub refresh_token: Secret,
}

impl Customers {
    pub fn new(db: Db, token_key: &[u8; 32]) -> Arc<Customers> {
        Arc::new(Customers {
            db,
            cipher: XChaCha20Poly1305::new(token_key.into()),
        })
    }

    fn seal(&self, secret: &Secret) -> String {
        let nonce: [u8; 24] = rand::random();
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), secret.expose().as_bytes())
            .unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode([nonce.as_slice(), &sealed].concat())
    }

    fn open(&self, stored: &str) -> Result<Secret, DbError> {
        let corrupt =
            || DbError::Corrupt("a sealed token does not open with host.token_key_file".into());
        let raw = base64::engine::general_purpose::STANDARD
            .decode(stored)
            .map_err(|_| corrupt())?;
        if raw.len() < 24 {
            return Err(corrupt());
        }
        let (nonce, sealed) = raw.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| corrupt())?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| corrupt())
    }

    /// Keeps a grant, and the accounts it covers (`extra_key`: the key it was found by);
    /// `credential_hash` is set when the customer's app enrolled.
    pub async fn keep_grant(
        &self,
        grant: &CustomerGrant,
        extra_key: Option<&str>,
        credential_hash: Option<&str>,
        now_unix: i64,
    ) -> Result<(), DbError> {
        let expires_at = now_unix + grant.expires_in as i64;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO customers (user_seq_no, credential_hash, access_token, refresh_token, scope, expires_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_seq_no) DO UPDATE SET access_token = excluded.access_token, \
             refresh_token = excluded.refresh_token, scope = excluded.scope, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at, \
             credential_hash = COALESCE(excluded.credential_hash, customers.credential_hash)",
        )
        .bind(&grant.user_seq_no)
        .bind(credential_hash)
        .bind(self.seal(&grant.access_token))
        .bind(self.seal(&grant.refresh_token))
        .bind(&grant.scope)
        .bind(expires_at)
        .bind(now_unix)
        .execute(&mut *tx)
        .await?;
        for key in grant
            .fintech_use_nums
            .iter()
            .map(String::as_str)
            .chain(extra_key)
        {
            sqlx::query(
                "INSERT INTO customer_accounts (account_key, user_seq_no) VALUES ($1, $2) \
                 ON CONFLICT (account_key) DO UPDATE SET user_seq_no = excluded.user_seq_no",
            )
            .bind(key)
            .bind(&grant.user_seq_no)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The access token of the customer who owns `key`, and its expiry.
    pub async fn token_for(&self, key: &str) -> Result<Option<(Secret, i64)>, DbError> {
        let row = sqlx::query(
            "SELECT c.access_token, c.expires_at FROM customers c \
             JOIN customer_accounts a ON a.user_seq_no = c.user_seq_no WHERE a.account_key = $1",
        )
        .bind(key)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get("access_token")?;
        Ok(Some((self.open(&sealed)?, row.try_get("expires_at")?)))
    }

    /// The customers whose grants expire before `horizon_unix`.
    pub async fn due(&self, horizon_unix: i64) -> Result<Vec<Due>, DbError> {
        let rows =
            sqlx::query("SELECT user_seq_no, refresh_token FROM customers WHERE expires_at < $1")
                .bind(horizon_unix)
                .fetch_all(self.db.pool())
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Due {
                    user_seq_no: r.try_get("user_seq_no")?,
                    refresh_token: self.open(&r.try_get::<String, _>("refresh_token")?)?,
                })
            })
            .collect()
    }

    /// The customer's accounts, if `credential` is the one their app was given.
    pub async fn sign_in(
        &self,
        user_seq_no: &str,
        credential: &str,
    ) -> Result<Option<Vec<String>>, DbError> {
        use subtle::ConstantTimeEq;
        let row = sqlx::query("SELECT credential_hash FROM customers WHERE user_seq_no = $1")
            .bind(user_seq_no)
            .fetch_optional(self.db.pool())
            .await?;
        let stored: Option<String> = match row {
            Some(r) => r.try_get("credential_hash")?,
            None => None,
        };
        let given = credential_hash(credential);
        let known = stored.unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(known.as_bytes())) {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT account_key FROM customer_accounts WHERE user_seq_no = $1 ORDER BY account_key",
        )
        .bind(user_seq_no)
        .fetch_all(self.db.pool())
        .await?;
        let keys: Result<Vec<String>, _> = rows.iter().map(|r| r.try_get("account_key")).collect();
        Ok(Some(
            keys?
                .into_iter()
                .filter(|k| !k.starts_with("pan:"))
                .collect(),
        ))
    }

    /// Remembers a consent under way (`state`), so the callback can prove it is ours.
    pub async fn start_enrolment(&self, state: &str, now_ms: i64) -> Result<(), DbError> {
        sqlx::query("DELETE FROM enrol_states WHERE created_at < $1")
            .bind(now_ms - ENROL_STATE_LIFETIME_MS)
            .execute(self.db.pool())
            .await?;
        sqlx::query("INSERT INTO enrol_states (state, created_at) VALUES ($1, $2)")
            .bind(state)
            .bind(now_ms)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Uses up a consent's `state`: true once, if it is ours and recent.
    pub async fn finish_enrolment(&self, state: &str, now_ms: i64) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM enrol_states WHERE state = $1 AND created_at >= $2")
            .bind(state)
            .bind(now_ms - ENROL_STATE_LIFETIME_MS)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

pub fn credential_hash(credential: &str) -> String {
    format!("{:x}", Sha256::digest(credential.as_bytes()))
}

/// The gateway's lasting store of customer tokens: this host's database.
#[async_trait::async_trait]
impl GrantStore for Customers {
    async fn token(&self, key: &str) -> Option<(Secret, i64)> {
        match self.token_for(key).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "customer token unreadable");
                None
            }
        }
    }

    async fn keep(&self, key: &str, grant: &CustomerGrant) {
        let now = chrono::Utc::now().timestamp();
        if let Err(e) = self.keep_grant(grant, Some(key), None, now).await {
            tracing::error!(error = %e, "customer grant not kept");
        }
    }
}
