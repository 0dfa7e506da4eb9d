//! The sale journal. Trees:
//! - `sales`: sale id → the whole `Sale` as JSON (history included);
//! - `open`: sale id → () for every sale the resolver still has work on (not final, or a
//!   decline due for its re-check), so the resolver needn't scan the past;
//! - `meta`: `seq/YYYYMMDD` → the last per-day sequence number used (u32, big endian);
//! - `nonces`: one-time code nonce → its expiry (i64 BE, unix s), kept until expiry.
//!
//! Why fsync by hand: sled 0.34's `flush()` ends with `sync_file_range` on Linux (sled issue
//! #1452), which neither flushes the drive's cache nor the file's metadata, so a power cut
//! after an acknowledged write could lose it. After each flush we `fdatasync` sled's log file
//! (`<dir>/db`), which makes everything flushed so far stable. The directory is synced once
//! at open so the file itself survives.

use crate::sale::Sale;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the journal at {0} is in use by another qrpos process (only one may hold it)")]
    Locked(PathBuf),
    #[error("cannot open the journal at {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("journal I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("journal storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("journal record {key} is corrupt: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("no sale {0} in the journal")]
    NoSuchSale(String),
    #[error("the per-day sequence for {0} is exhausted (9,999,999 sales)")]
    SequenceExhausted(String),
}

/// Whether a one-time code's nonce was fresh when the sale using it was journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceUse {
    Fresh,
    /// Seen before: the code already paid (or tried to) once.
    Replayed,
}

pub struct Journal {
    db: sled::Db,
    sales: sled::Tree,
    open: sled::Tree,
    meta: sled::Tree,
    nonces: sled::Tree,
    log_file: File,
}

const SEQ_DIGITS: usize = 7;
const SEQ_MAX: u32 = 9_999_999;

impl Journal {
    pub fn open(dir: &Path) -> Result<Journal, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            // Our explicit flushes are what count; the background flush is only a bonus.
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    StoreError::Locked(dir.to_path_buf())
                }
                source => StoreError::Open {
                    path: dir.to_path_buf(),
                    source,
                },
            })?;
        let log_file = File::open(dir.join("db"))?;
        File::open(dir)?.sync_all()?;
        Ok(Journal {
            sales: db.open_tree("sales")?,
            open: db.open_tree("open")?,
            meta: db.open_tree("meta")?,
            nonces: db.open_tree("nonces")?,
            db,
            log_file,
        })
    }

    /// Flushes sled and makes the log stable on disk (fdatasync), surviving power loss.
    pub fn durable(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.log_file.sync_data()?;
        Ok(())
    }

    /// Allocates the next per-day sequence number for `date` and journals the sale that
    /// `make` builds from `(sale_id, bank_tran_id)`, in one transaction, durably.
    /// `bank_tran_id` = institution code + `U` + terminal prefix + 7-digit sequence.
    pub fn create_sale(
        &self,
        institution_code: &str,
        terminal_prefix: &str,
        date: &str,
        make: impl Fn(String, String) -> Sale,
    ) -> Result<Sale, StoreError> {
        let seq_key = format!("seq/{date}");
        let result = (&self.meta, &self.sales, &self.open).transaction(|(meta, sales, open)| {
            let last = match meta.get(seq_key.as_bytes())? {
                Some(v) => u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0xff; 4])),
                None => 0,
            };
            if last >= SEQ_MAX {
                return Err(ConflictableTransactionError::Abort(
                    StoreError::SequenceExhausted(date.to_string()),
                ));
            }
            let seq = last + 1;
            let tail = format!("{terminal_prefix}{seq:0width$}", width = SEQ_DIGITS);
            let sale = make(
                format!("{date}-{tail}"),
                format!("{institution_code}U{tail}"),
            );
            meta.insert(seq_key.as_bytes(), &seq.to_be_bytes())?;
            sales.insert(sale.id.as_bytes(), encode(&sale))?;
            open.insert(sale.id.as_bytes(), &[])?;
            Ok(sale)
        });
        let sale = unwrap_tx(result)?;
        self.durable()?;
        Ok(sale)
    }

    /// Journals a sale's new state durably. Must be called before the state is shown,
    /// signalled or acted upon.
    pub fn save(&self, sale: &Sale) -> Result<(), StoreError> {
        let result = (&self.sales, &self.open).transaction(|(sales, open)| {
            sales.insert(sale.id.as_bytes(), encode(sale))?;
            if !sale.needs_resolver() {
                open.remove(sale.id.as_bytes())?;
            } else {
                open.insert(sale.id.as_bytes(), &[])?;
            }
            Ok(())
        });
        unwrap_tx(result)?;
        self.durable()
    }

    /// Journals `sale` and consumes the one-time code `nonce` (remembered until `expires_at`)
    /// in one transaction: a code can never pay twice, even across a crash in between.
    /// Returns `Replayed` (and writes nothing) if the nonce was already used.
    pub fn save_with_nonce(
        &self,
        sale: &Sale,
        nonce: &[u8],
        expires_at: i64,
    ) -> Result<NonceUse, StoreError> {
        let result =
            (&self.sales, &self.open, &self.nonces).transaction(|(sales, open, nonces)| {
                if nonces.get(nonce)?.is_some() {
                    return Ok(NonceUse::Replayed);
                }
                nonces.insert(nonce, &expires_at.to_be_bytes())?;
                sales.insert(sale.id.as_bytes(), encode(sale))?;
                if !sale.needs_resolver() {
                    open.remove(sale.id.as_bytes())?;
                } else {
                    open.insert(sale.id.as_bytes(), &[])?;
                }
                Ok(NonceUse::Fresh)
            });
        let used = unwrap_tx(result)?;
        if used == NonceUse::Fresh {
            self.durable()?;
        }
        Ok(used)
    }

    /// Whether a nonce was already used (a read-only early check for the scan screen).
    pub fn nonce_seen(&self, nonce: &[u8]) -> Result<bool, StoreError> {
        Ok(self.nonces.contains_key(nonce)?)
    }

    /// Forgets nonces whose codes expired before `now_unix`: they can no longer be replayed.
    pub fn prune_nonces(&self, now_unix: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.nonces.iter() {
            let (k, v) = item?;
            let expires = v
                .as_ref()
                .try_into()
                .map(i64::from_be_bytes)
                .unwrap_or(i64::MAX);
            if expires < now_unix {
                self.nonces.remove(k)?;
                removed += 1;
            }
        }
        if removed > 0 {
            self.durable()?;
        }
        Ok(removed)
    }

    pub fn get(&self, sale_id: &str) -> Result<Sale, StoreError> {
        match self.sales.get(sale_id.as_bytes())? {
            Some(v) => decode(sale_id, &v),
            None => Err(StoreError::NoSuchSale(sale_id.to_string())),
        }
    }

    /// Every sale the resolver has work on (not final, or due a re-check), oldest first.
    pub fn open_sales(&self) -> Result<Vec<Sale>, StoreError> {
        let mut out = Vec::new();
        for key in self.open.iter().keys() {
            let key = key?;
            let id = String::from_utf8_lossy(&key).into_owned();
            out.push(self.get(&id)?);
        }
        Ok(out)
    }

    /// Every sale, oldest first (ids sort by date then sequence).
    pub fn all_sales(&self) -> Result<Vec<Sale>, StoreError> {
        self.sales
            .iter()
            .map(|item| {
                let (k, v) = item?;
                decode(&String::from_utf8_lossy(&k), &v)
            })
            .collect()
    }

    /// The sales of one business day (`yyyyMMdd`), oldest first.
    pub fn sales_on(&self, date: &str) -> Result<Vec<Sale>, StoreError> {
        self.sales
            .scan_prefix(format!("{date}-").as_bytes())
            .map(|item| {
                let (k, v) = item?;
                decode(&String::from_utf8_lossy(&k), &v)
            })
            .collect()
    }
}

fn encode(sale: &Sale) -> Vec<u8> {
    // A Sale is plain data; serialising it cannot fail.
    serde_json::to_vec(sale).unwrap_or_default()
}

fn decode(key: &str, bytes: &[u8]) -> Result<Sale, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

fn unwrap_tx<T>(r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sale::{Protocol, Status, Won};

    fn make(amount: u64) -> impl Fn(String, String) -> Sale {
        move |id, btid| {
            Sale::new(
                id,
                btid,
                "20261121".into(),
                Won(amount),
                "tea".into(),
                Protocol::Openbanking,
                1,
            )
        }
    }

    #[test]
    fn ids_follow_the_daily_sequence_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let j = Journal::open(dir.path()).unwrap();
            let a = j
                .create_sale("T991000001", "T1", "20261121", make(100))
                .unwrap();
            let b = j
                .create_sale("T991000001", "T1", "20261121", make(200))
                .unwrap();
            assert_eq!(a.bank_tran_id, "T991000001UT10000001");
            assert_eq!(b.bank_tran_id, "T991000001UT10000002");
            assert_eq!(b.id, "20261121-T10000002");
            assert_eq!(a.bank_tran_id.len(), 20);
            a
        };
        let j = Journal::open(dir.path()).unwrap();
        let c = j
            .create_sale("T991000001", "T1", "20261121", make(300))
            .unwrap();
        assert_eq!(
            c.bank_tran_id, "T991000001UT10000003",
            "sequence continues after a restart"
        );
        let d = j
            .create_sale("T991000001", "T1", "20261122", make(300))
            .unwrap();
        assert_eq!(
            d.bank_tran_id, "T991000001UT10000001",
            "a new day starts at 1"
        );
        assert_eq!(j.get(&first.id).unwrap(), first);
        assert_eq!(j.sales_on("20261121").unwrap().len(), 3);
        assert_eq!(j.open_sales().unwrap().len(), 4);
    }

    #[test]
    fn final_sales_leave_the_open_set() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let mut s = j
            .create_sale("T991000001", "T1", "20261121", make(100))
            .unwrap();
        s.advance(Status::Submitted, 2, "sent").unwrap();
        j.save(&s).unwrap();
        assert_eq!(j.open_sales().unwrap()[0].status, Status::Submitted);
        s.advance(Status::Approved, 3, "ok").unwrap();
        j.save(&s).unwrap();
        assert!(j.open_sales().unwrap().is_empty());
        assert_eq!(j.get(&s.id).unwrap().status, Status::Approved);
    }

    #[test]
    fn a_nonce_pays_once_and_is_forgotten_after_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let mut s1 = j
            .create_sale("T991000001", "T1", "20261121", make(100))
            .unwrap();
        let mut s2 = j
            .create_sale("T991000001", "T1", "20261121", make(100))
            .unwrap();
        s1.advance(Status::Submitted, 2, "sent").unwrap();
        s2.advance(Status::Submitted, 2, "sent").unwrap();
        assert_eq!(
            j.save_with_nonce(&s1, b"nonce-01", 1000).unwrap(),
            NonceUse::Fresh
        );
        assert_eq!(
            j.save_with_nonce(&s2, b"nonce-01", 1000).unwrap(),
            NonceUse::Replayed
        );
        assert_eq!(
            j.get(&s2.id).unwrap().status,
            Status::Created,
            "a replayed code writes nothing"
        );
        assert!(j.nonce_seen(b"nonce-01").unwrap());
        assert_eq!(j.prune_nonces(999).unwrap(), 0);
        assert_eq!(j.prune_nonces(1001).unwrap(), 1);
        assert!(!j.nonce_seen(b"nonce-01").unwrap());
    }

    #[test]
    fn a_second_open_of_the_same_dir_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _j = Journal::open(dir.path()).unwrap();
        match Journal::open(dir.path()) {
            Err(StoreError::Locked(_)) => {}
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("a second open must fail"),
        }
    }
}
