//! The host's records in SQLite (the embedded default) or PostgreSQL (chosen by URL; several
//! host processes may share one), through one sqlx data layer with migrations: terminals,
//! charges (one per terminal payment id) and the register of used one-time-code nonces.
//! Uniqueness lives in the database's constraints, never in a process's memory.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::protocol::host::ChargeReply;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the host database is unavailable: {0}")]
    Unavailable(String),
    #[error("database URL {0:?}: use sqlite://PATH or postgres://…")]
    BadUrl(String),
    #[error("a stored record is unreadable: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> DbError {
        // sqlx errors name the statement, never bound values: no secret can leak through.
        DbError::Unavailable(e.to_string())
    }
}

/// A registered terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRow {
    pub id: String,
    pub name: String,
    pub secret_hash: String,
    pub revoked: bool,
}

/// Where a charge stands at the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeState {
    /// Journaled before the withdrawal left: a crash from here on is settled by query.
    Sending,
    Approved,
    Declined,
    Unknown,
    /// The bank could not be reached: nothing was sent; the terminal may ask again.
    NotSent,
}

impl ChargeState {
    fn as_str(self) -> &'static str {
        match self {
            ChargeState::Sending => "sending",
            ChargeState::Approved => "approved",
            ChargeState::Declined => "declined",
            ChargeState::Unknown => "unknown",
            ChargeState::NotSent => "not_sent",
        }
    }

    fn parse(s: &str) -> Result<ChargeState, DbError> {
        Ok(match s {
            "sending" => ChargeState::Sending,
            "approved" => ChargeState::Approved,
            "declined" => ChargeState::Declined,
            "unknown" => ChargeState::Unknown,
            "not_sent" => ChargeState::NotSent,
            other => return Err(DbError::Corrupt(format!("charge state {other:?}"))),
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, ChargeState::Approved | ChargeState::Declined)
    }
}

/// One charge as stored.
#[derive(Debug, Clone)]
pub struct ChargeRow {
    pub seq: i64,
    pub terminal_id: String,
    pub payment_id: String,
    pub fingerprint: String,
    /// The request as the terminal sent it (JSON of `ChargeRequest`).
    pub request: String,
    pub state: ChargeState,
    pub reply: Option<ChargeReply>,
    /// Unix ms of the latest send to the bank.
    pub sent_at: i64,
    pub not_found_at: Option<i64>,
}

/// What [`Db::begin_charge`] found or did.
#[derive(Debug)]
pub enum Begun {
    /// A new charge, journaled as sending: send it.
    New(ChargeRow),
    /// The terminal asked for this payment id before.
    Existing(ChargeRow),
    /// The one-time code was used before (by any terminal): stored as declined.
    CodeUsed(ChargeRow),
}

/// A charge to journal: the nonce (hex) and until when it must be remembered, if the code
/// was a one-time one; `declined` is the reply stored if the nonce turns out used.
pub struct NewCharge<'a> {
    pub terminal_id: &'a str,
    pub payment_id: &'a str,
    pub fingerprint: &'a str,
    pub request: &'a str,
    pub nonce: Option<(&'a str, i64)>,
    pub code_used: &'a ChargeReply,
    pub now_ms: i64,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    sqlite: bool,
}

const CHARGE_COLUMNS: &str =
    "seq, terminal_id, payment_id, fingerprint, request, state, reply, sent_at, not_found_at";

impl Db {
    /// Connects and brings the schema up to date. `sqlite://PATH` creates the file if needed.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let (url, sqlite) = if let Some(path) = url.strip_prefix("sqlite://") {
            if let Some(dir) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DbError::Unavailable(format!("{}: {e}", dir.display())))?;
            }
            (format!("sqlite://{path}?mode=rwc"), true)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (url.to_string(), false)
        } else {
            return Err(DbError::BadUrl(url.to_string()));
        };
        // SQLite has one writer at a time: one connection makes the host's writes queue
        // instead of failing as busy. PostgreSQL takes several.
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 1 } else { 8 })
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(&url)
            .await?;
        let migrated = if sqlite {
            sqlx::migrate!("migrations/host/sqlite").run(&pool).await
        } else {
            sqlx::migrate!("migrations/host/postgres").run(&pool).await
        };
        migrated.map_err(|e| DbError::Unavailable(format!("migrations: {e}")))?;
        Ok(Db { pool, sqlite })
    }

    pub async fn add_terminal(
        &self,
        id: &str,
        name: &str,
        secret_hash: &str,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO terminals (id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(name)
        .bind(secret_hash)
        .bind(now_ms)
        .execute(&self.pool)
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes the terminal of that name; false if there is none (or it was revoked).
    pub async fn revoke_terminal(&self, name: &str, now_ms: i64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE terminals SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn terminal(&self, id: &str) -> Result<Option<TerminalRow>, DbError> {
        let row =
            sqlx::query("SELECT id, name, secret_hash, revoked_at FROM terminals WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| terminal_row(&r)).transpose()
    }

    pub async fn terminals(&self) -> Result<Vec<TerminalRow>, DbError> {
        let rows =
            sqlx::query("SELECT id, name, secret_hash, revoked_at FROM terminals ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(terminal_row).collect()
    }

    pub async fn charge(
        &self,
        terminal_id: &str,
        payment_id: &str,
    ) -> Result<Option<ChargeRow>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {CHARGE_COLUMNS} FROM charges WHERE terminal_id = $1 AND payment_id = $2"
        ))
        .bind(terminal_id)
        .bind(payment_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| charge_row(&r)).transpose()
    }

    /// Journals a charge before anything is sent, in one transaction with the use of its
    /// one-time code's nonce. Two terminals racing with one code, or one payment id sent
    /// twice at once (through one host or two): the database's unique keys pick one winner,
    /// and the loser reads what the winner wrote.
    pub async fn begin_charge(&self, new: &NewCharge<'_>) -> Result<Begun, DbError> {
        let mut last = None;
        for _ in 0..3 {
            match self.try_begin_charge(new).await {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    last = Some(e.to_string());
                }
                other => return other.map_err(DbError::from)?,
            }
        }
        Err(DbError::Unavailable(format!(
            "the charge could not be journaled: {}",
            last.unwrap_or_default()
        )))
    }

    async fn try_begin_charge(
        &self,
        new: &NewCharge<'_>,
    ) -> Result<Result<Begun, DbError>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(&format!(
            "SELECT {CHARGE_COLUMNS} FROM charges WHERE terminal_id = $1 AND payment_id = $2"
        ))
        .bind(new.terminal_id)
        .bind(new.payment_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            tx.commit().await?;
            return Ok(charge_row(&row).map(Begun::Existing));
        }
        let mut used = false;
        if let Some((nonce, keep_until)) = new.nonce {
            // Nonces of codes long expired can no longer be replayed: forget them here, in
            // the one place that adds them.
            sqlx::query("DELETE FROM code_nonces WHERE keep_until < $1")
                .bind(new.now_ms / 1000)
                .execute(&mut *tx)
                .await?;
            used = sqlx::query("SELECT nonce FROM code_nonces WHERE nonce = $1")
                .bind(nonce)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !used {
                sqlx::query(
                    "INSERT INTO code_nonces (nonce, terminal_id, payment_id, keep_until) VALUES ($1, $2, $3, $4)",
                )
                .bind(nonce)
                .bind(new.terminal_id)
                .bind(new.payment_id)
                .bind(keep_until)
                .execute(&mut *tx)
                .await?;
            }
        }
        let (state, reply) = if used {
            let reply = serde_json::to_string(new.code_used).unwrap_or_default();
            (ChargeState::Declined, Some(reply))
        } else {
            (ChargeState::Sending, None)
        };
        let row = sqlx::query(&format!(
            "INSERT INTO charges (terminal_id, payment_id, fingerprint, request, state, reply, sent_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {CHARGE_COLUMNS}"
        ))
        .bind(new.terminal_id)
        .bind(new.payment_id)
        .bind(new.fingerprint)
        .bind(new.request)
        .bind(state.as_str())
        .bind(reply)
        .bind(new.now_ms)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(charge_row(&row).map(|r| {
            if used {
                Begun::CodeUsed(r)
            } else {
                Begun::New(r)
            }
        }))
    }

    /// Records what became of a charge (and when it was last sent, for a re-send).
    pub async fn record(
        &self,
        seq: i64,
        state: ChargeState,
        reply: &ChargeReply,
        now_ms: i64,
    ) -> Result<(), DbError> {
        sqlx::query("UPDATE charges SET state = $1, reply = $2, updated_at = $3 WHERE seq = $4")
            .bind(state.as_str())
            .bind(serde_json::to_string(reply).unwrap_or_default())
            .bind(now_ms)
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A charge the bank could not be reached for is about to be sent again.
    pub async fn resend(&self, seq: i64, now_ms: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE charges SET state = $1, sent_at = $2, updated_at = $2 WHERE seq = $3")
            .bind(ChargeState::Sending.as_str())
            .bind(now_ms)
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The first "no such transfer" the bank gave for this charge (kept, never moved).
    pub async fn note_not_found(&self, seq: i64, now_ms: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE charges SET not_found_at = $1 WHERE seq = $2 AND not_found_at IS NULL")
            .bind(now_ms)
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A transaction that will write. SQLite: it takes the write lock at the start; a
    /// deferred transaction that reads and then writes fails at once as "busy" when another
    /// host process wrote meanwhile, instead of waiting its turn.
    pub(super) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        }
    }

    pub(super) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn terminal_row(r: &AnyRow) -> Result<TerminalRow, DbError> {
    Ok(TerminalRow {
        id: r.try_get("id").map_err(corrupt)?,
        name: r.try_get("name").map_err(corrupt)?,
        secret_hash: r.try_get("secret_hash").map_err(corrupt)?,
        revoked: r
            .try_get::<Option<i64>, _>("revoked_at")
            .map_err(corrupt)?
            .is_some(),
    })
}

fn charge_row(r: &AnyRow) -> Result<ChargeRow, DbError> {
    let reply: Option<String> = r.try_get("reply").map_err(corrupt)?;
    let state: String = r.try_get("state").map_err(corrupt)?;
    Ok(ChargeRow {
        seq: r.try_get("seq").map_err(corrupt)?,
        terminal_id: r.try_get("terminal_id").map_err(corrupt)?,
        payment_id: r.try_get("payment_id").map_err(corrupt)?,
        fingerprint: r.try_get("fingerprint").map_err(corrupt)?,
        request: r.try_get("request").map_err(corrupt)?,
        state: ChargeState::parse(&state)?,
        reply: reply
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| DbError::Corrupt(format!("charge reply: {e}")))?,
        sent_at: r.try_get("sent_at").map_err(corrupt)?,
        not_found_at: r.try_get("not_found_at").map_err(corrupt)?,
    })
}

fn corrupt(e: sqlx::Error) -> DbError {
    DbError::Corrupt(e.to_string())
}
