//! The terminal's durable memory, on sled: the sale journal (every sale with its full
//! history), the per-day `bank_tran_id` sequence, and the nonces of one-time QR codes already
//! used. Every write is made power-loss durable before the call returns (see
//! [`Journal::durable`] and `ARCHITECTURE.md` § Durability).

mod export;
pub(crate) mod journal;

pub use export::{DayExport, ExportRow, Totals};
pub use journal::{DamagedRecord, IdNumber, Journal, NonceUse, StoreError};
