//! The sale journal. Trees:
//! - `sales`: sale id → the whole `Sale` as JSON (history included);
//! - `open`: sale id → () for every sale the resolver still has work on (not final, or a
//!   decline due for its re-check), so the resolver needn't scan the past;
//! - `meta`: `ids` → the last id number used (u64, big endian; see [`IdNumber`]);
//!   journals from before it also hold `seq/YYYYMMDD` per-day sequences, no longer used;
//! - `nonces`: one-time code nonce → its expiry (i64 BE, unix s), kept until expiry;
//! - `damaged`: sale id → a record that could not be read, moved out of `sales` and `open`
//!   so that it never blocks the resolver or a new sale; it is on the attention list.
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
    #[error("this terminal has used up its transaction ids (the id space ends in the year 2205)")]
    IdsExhausted,
}

/// The number behind a `bank_tran_id`'s last 7 characters: never repeats for a terminal.
///
/// `next = max(last + 1, deciseconds since 2026-01-01 UTC)`. The `last + 1` half makes ids
/// strictly increasing while the journal lives, whatever the wall clock does (set back,
/// stuck at 1970 on a Pi without a real-time clock). The clock half makes a wiped journal,
/// or one restored from a backup, start beyond every id issued before, as long as the clock
/// is right: a terminal cannot make ten sales a second, so its ids never run ahead of it.
/// Written as a letter (the top digit, A–Z) and six base-36 digits, so an id can never equal
/// one of the old per-day sequence ids (`T1` + 7 decimal digits) an existing journal holds.
/// Capacity: 26 × 36⁶ deciseconds, about 179 years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdNumber(pub u64);

const ID_DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ID_LOW: u64 = 36u64.pow(6);
const ID_CAPACITY: u64 = 26 * ID_LOW;
/// 2026-01-01T00:00:00Z in unix milliseconds.
const ID_EPOCH_MS: i64 = 1_767_225_600_000;

impl IdNumber {
    /// The floor the wall clock gives (0 for a clock before 2026 or past the id space).
    pub fn floor_at(unix_ms: i64) -> u64 {
        let ds = (unix_ms.saturating_sub(ID_EPOCH_MS) / 100).max(0) as u64;
        if ds >= ID_CAPACITY {
            0
        } else {
            ds
        }
    }

    /// The next number after `last` at wall time `unix_ms`.
    pub fn next(last: Option<IdNumber>, unix_ms: i64) -> Result<IdNumber, StoreError> {
        if let Some(l) = last.filter(|l| l.0 >= ID_CAPACITY) {
            // Never written by `next`: a damaged counter must not wrap or restart ids.
            return Err(StoreError::Corrupt {
                key: "meta/ids".into(),
                detail: format!("{} is beyond the id space", l.0),
            });
        }
        let after_last = last.map_or(0, |l| l.0 + 1);
        let n = after_last.max(Self::floor_at(unix_ms));
        if n >= ID_CAPACITY {
            return Err(StoreError::IdsExhausted);
        }
        Ok(IdNumber(n))
    }

    /// Seven characters: `[A-Z][0-9A-Z]{6}`.
    pub fn encode(self) -> String {
        let mut out = vec![b'A' + (self.0 / ID_LOW) as u8];
        let mut low = [b'0'; 6];
        let mut rest = self.0 % ID_LOW;
        for slot in low.iter_mut().rev() {
            *slot = ID_DIGITS[(rest % 36) as usize];
            rest /= 36;
        }
        out.extend_from_slice(&low);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A journal record that could not be read, kept aside for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRecord {
    pub sale_id: String,
    pub detail: String,
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
    damaged: sled::Tree,
    log_file: File,
}

const IDS_KEY: &[u8] = b"ids";

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
            damaged: db.open_tree("damaged")?,
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

    /// Allocates the next [`IdNumber`] and journals the sale that `make` builds from
    /// `(sale_id, bank_tran_id)`, in one transaction, durably. `bank_tran_id` = institution
    /// code + `U` + terminal prefix (2) + the id number (7); the sale id is the business
    /// `date` + `-` + the same 9 characters. `unix_ms` is the wall clock now.
    pub fn create_sale(
        &self,
        institution_code: &str,
        terminal_prefix: &str,
        date: &str,
        unix_ms: i64,
        make: impl Fn(String, String) -> Sale,
    ) -> Result<Sale, StoreError> {
        let result = (&self.meta, &self.sales, &self.open).transaction(|(meta, sales, open)| {
            // An unreadable counter must not silently restart ids at the clock's floor.
            let last = match meta.get(IDS_KEY)? {
                Some(v) => Some(IdNumber(u64::from_be_bytes(
                    v.as_ref().try_into().map_err(|_| {
                        ConflictableTransactionError::Abort(StoreError::Corrupt {
                            key: "meta/ids".into(),
                            detail: format!("{} bytes, not 8", v.len()),
                        })
                    })?,
                ))),
                None => None,
            };
            let n = IdNumber::next(last, unix_ms).map_err(ConflictableTransactionError::Abort)?;
            let tail = format!("{terminal_prefix}{}", n.encode());
            let sale = make(
                format!("{date}-{tail}"),
                format!("{institution_code}U{tail}"),
            );
            meta.insert(IDS_KEY, &n.0.to_be_bytes())?;
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
    /// An unreadable record is set aside (see [`Journal::damaged`]), never an error.
    pub fn open_sales(&self) -> Result<Vec<Sale>, StoreError> {
        let mut out = Vec::new();
        for key in self.open.iter().keys() {
            let key = key?;
            match self.sales.get(&key)? {
                Some(bytes) => out.extend(self.read_or_set_aside(&key, &bytes)?),
                None => {
                    // An open mark without its sale: nothing to resolve, nothing to keep.
                    self.open.remove(&key)?;
                }
            }
        }
        Ok(out)
    }

    /// Every sale, oldest first (ids sort by date, then terminal prefix and id number).
    pub fn all_sales(&self) -> Result<Vec<Sale>, StoreError> {
        self.read_all(self.sales.iter())
    }

    /// The sales of one business day (`yyyyMMdd`), oldest first.
    pub fn sales_on(&self, date: &str) -> Result<Vec<Sale>, StoreError> {
        self.read_all(self.sales.scan_prefix(format!("{date}-").as_bytes()))
    }

    /// Records that could not be read, set aside for a human (the attention list).
    pub fn damaged(&self) -> Result<Vec<DamagedRecord>, StoreError> {
        self.damaged
            .iter()
            .map(|item| {
                let (k, v) = item?;
                let detail = serde_json::from_slice::<serde_json::Value>(&v)
                    .ok()
                    .and_then(|d| d["detail"].as_str().map(str::to_string))
                    .unwrap_or_default();
                Ok(DamagedRecord {
                    sale_id: String::from_utf8_lossy(&k).into_owned(),
                    detail,
                })
            })
            .collect()
    }

    fn read_all(
        &self,
        items: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    ) -> Result<Vec<Sale>, StoreError> {
        let mut out = Vec::new();
        for item in items {
            let (k, v) = item?;
            out.extend(self.read_or_set_aside(&k, &v)?);
        }
        Ok(out)
    }

    /// Decodes a sale record; one that cannot be read is moved, bytes and all, to `damaged`
    /// (durably, in one transaction) and logged, so that it stops blocking anything.
    fn read_or_set_aside(&self, key: &[u8], bytes: &[u8]) -> Result<Option<Sale>, StoreError> {
        let id = String::from_utf8_lossy(key).into_owned();
        let detail = match decode(&id, bytes) {
            Ok(sale) => return Ok(Some(sale)),
            Err(StoreError::Corrupt { detail, .. }) => detail,
            Err(other) => return Err(other),
        };
        tracing::error!(sale = %id, %detail, "unreadable journal record set aside for attention");
        let kept = serde_json::json!({
            "detail": detail,
            "raw": String::from_utf8_lossy(bytes),
        });
        let kept = serde_json::to_vec(&kept).unwrap_or_default();
        let result =
            (&self.sales, &self.open, &self.damaged).transaction(|(sales, open, damaged)| {
                damaged.insert(key, kept.as_slice())?;
                sales.remove(key)?;
                open.remove(key)?;
                Ok(())
            });
        unwrap_tx(result)?;
        self.durable()?;
        Ok(None)
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
pub(crate) mod tests {
    use super::*;
    use crate::sale::{Protocol, Status, Won};

    /// 2026-11-21 12:00:00 KST in unix ms.
    const T0: i64 = 1_795_230_000_000;
    const HOUR: i64 = 3_600_000;

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

    /// Opens a journal this test process just closed. sled's flusher thread may still hold
    /// the lock for a moment after the drop (longer under faketime, whose clock stretches
    /// sled's timed waits), so a `Locked` is waited out, for a few seconds at most.
    pub(crate) fn reopen(dir: &Path) -> Journal {
        let started = std::time::Instant::now();
        loop {
            match Journal::open(dir) {
                Err(StoreError::Locked(_)) if started.elapsed().as_secs() < 10 => {
                    std::thread::yield_now()
                }
                other => return other.unwrap(),
            }
        }
    }

    fn new_sale(j: &Journal, date: &str, at_ms: i64) -> Sale {
        j.create_sale("T991000001", "T1", date, at_ms, make(4500))
            .unwrap()
    }

    #[test]
    fn id_numbers_encode_in_order_and_end_where_the_space_ends() {
        assert_eq!(IdNumber(0).encode(), "A000000");
        assert_eq!(IdNumber(ID_LOW - 1).encode(), "AZZZZZZ");
        assert_eq!(IdNumber(ID_LOW).encode(), "B000000");
        assert_eq!(IdNumber(ID_CAPACITY - 1).encode(), "ZZZZZZZ");
        let mut prev = IdNumber(0).encode();
        for n in [1, 35, 36, 1_295, 1_296, ID_LOW - 1, ID_LOW, 3 * ID_LOW + 7] {
            let e = IdNumber(n).encode();
            assert!(e > prev, "{e} after {prev}: text order is number order");
            prev = e;
        }
        // 2026-11-21 is ~28 million deciseconds into the id epoch.
        assert_eq!(IdNumber::next(None, T0).unwrap().0, 280_044_000);
        assert_eq!(IdNumber::floor_at(0), 0, "a clock at 1970 gives no floor");
        assert_eq!(
            IdNumber::next(Some(IdNumber(7)), 0).unwrap(),
            IdNumber(8),
            "but the journal's count still goes on"
        );
        assert!(matches!(
            IdNumber::next(Some(IdNumber(ID_CAPACITY - 1)), T0),
            Err(StoreError::IdsExhausted)
        ));
        assert!(matches!(
            IdNumber::next(Some(IdNumber(u64::MAX)), T0),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn ids_never_repeat_across_days_restarts_and_a_clock_set_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids = Vec::new();
        {
            let j = Journal::open(dir.path()).unwrap();
            ids.push(new_sale(&j, "20261121", T0).bank_tran_id);
            ids.push(new_sale(&j, "20261121", T0).bank_tran_id);
            ids.push(new_sale(&j, "20261122", T0 + 24 * HOUR).bank_tran_id);
            // The clock is set back two days: ids go on from the last one.
            ids.push(new_sale(&j, "20261120", T0 - 48 * HOUR).bank_tran_id);
        }
        let j = reopen(dir.path());
        let after_restart = new_sale(&j, "20261120", T0 - 48 * HOUR);
        ids.push(after_restart.bank_tran_id.clone());
        for id in &ids {
            assert_eq!(id.len(), 20, "{id}");
            assert!(id.starts_with("T991000001UT1"), "{id}");
            assert!(
                id.as_bytes()[13].is_ascii_uppercase(),
                "{id}: a letter after the prefix"
            );
        }
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing: {ids:?}"
        );
        assert_eq!(after_restart.id, format!("20261120-{}", &ids[4][11..]));
        assert_eq!(j.sales_on("20261121").unwrap().len(), 2);
        assert_eq!(j.open_sales().unwrap().len(), 5);
    }

    #[test]
    fn a_wiped_or_restored_journal_starts_beyond_every_id_issued_before() {
        let dir = tempfile::tempdir().unwrap();
        let backup = tempfile::tempdir().unwrap();
        let mut issued = Vec::new();
        {
            let j = Journal::open(dir.path()).unwrap();
            issued.push(new_sale(&j, "20261121", T0).bank_tran_id);
        }
        copy_dir(dir.path(), backup.path());
        {
            // A busy afternoon after the backup, faster than one sale a second.
            let j = reopen(dir.path());
            for k in 0..50 {
                issued.push(new_sale(&j, "20261121", T0 + k * 100).bank_tran_id);
            }
        }
        // Restored from the backup, the next morning.
        let restored = Journal::open(backup.path()).unwrap();
        let next = new_sale(&restored, "20261122", T0 + 20 * HOUR).bank_tran_id;
        assert!(
            issued.iter().all(|old| *old < next),
            "{next} repeats or precedes one of {issued:?}"
        );
        // Wiped: an empty journal, a minute later.
        let wiped = tempfile::tempdir().unwrap();
        let j = Journal::open(wiped.path()).unwrap();
        let fresh = new_sale(&j, "20261122", T0 + 20 * HOUR + 60_000).bank_tran_id;
        assert!(issued.iter().chain([&next]).all(|old| *old < fresh));
    }

    fn copy_dir(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn a_journal_with_the_old_per_day_ids_keeps_working() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        // What the per-day scheme wrote: the id, its sequence, and a record without the
        // fields added since (`reply_date`, `not_found_at_ms`) but with `bank_tran_date`.
        let old = serde_json::json!({
            "id": "20261121-T10000001", "bank_tran_id": "T991000001UT10000001",
            "date": "20261121", "bank_tran_date": "20261121", "amount": 4500,
            "product": "tea", "protocol": "openbanking", "created_at_ms": T0,
            "status": "submitted", "means": null, "one_time_code": false,
            "tran_dtime": "20261121120000", "code": null, "message": null,
            "attention": null, "recheck_due": false, "history": []
        });
        j.meta.insert("seq/20261121", &1u32.to_be_bytes()).unwrap();
        j.sales
            .insert("20261121-T10000001", serde_json::to_vec(&old).unwrap())
            .unwrap();
        j.open.insert("20261121-T10000001", &[]).unwrap();
        let read = j.get("20261121-T10000001").unwrap();
        assert_eq!(read.status, Status::Submitted);
        assert_eq!(read.reply_date, None);
        assert_eq!(read.query_dates(), ["20261121", "20261122", "20261120"]);
        let new = new_sale(&j, "20261121", T0);
        assert_ne!(new.bank_tran_id, "T991000001UT10000002");
        assert!(new.bank_tran_id.as_bytes()[13].is_ascii_uppercase());
        let ids: Vec<String> = j
            .sales_on("20261121")
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(
            ids,
            ["20261121-T10000001".to_string(), new.id],
            "oldest first"
        );
    }

    #[test]
    fn an_unreadable_record_is_set_aside_for_attention_and_blocks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let good = new_sale(&j, "20261121", T0);
        j.sales
            .insert("20261121-T1AAAAAAA", &b"{\"id\": tru"[..])
            .unwrap();
        j.open.insert("20261121-T1AAAAAAA", &[]).unwrap();
        let open = j.open_sales().unwrap();
        assert_eq!(open, vec![good.clone()]);
        let damaged = j.damaged().unwrap();
        assert_eq!(damaged.len(), 1);
        assert_eq!(damaged[0].sale_id, "20261121-T1AAAAAAA");
        assert!(damaged[0].detail.contains("EOF"), "{}", damaged[0].detail);
        assert_eq!(j.all_sales().unwrap(), vec![good]);
        drop(j);
        let j = reopen(dir.path());
        assert_eq!(j.damaged().unwrap().len(), 1, "set aside durably");
        assert!(new_sale(&j, "20261121", T0).bank_tran_id.len() == 20);
    }

    #[test]
    fn final_sales_leave_the_open_set() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let mut s = new_sale(&j, "20261121", T0);
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
        let mut s1 = new_sale(&j, "20261121", T0);
        let mut s2 = new_sale(&j, "20261121", T0);
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
