//! The payment domain, pure: amounts in integer won, the means a customer pays with, the
//! `Sale` and its state machine, and the classification of backend answers into outcomes.
//! No I/O of any kind: time comes in as arguments.

mod amount;
mod means;
mod offline;
mod outcome;
mod state;

pub use amount::{parse_amount, AmountError, Won};
pub use means::{EmvData, PaymentMeans};
pub use offline::{offline_acceptance, too_old_to_forward, OfflinePolicy, QueuedSale};
pub use outcome::{
    classify_host_charge, classify_host_status, classify_pay_request, classify_pay_status,
    classify_transfer_result, classify_withdrawal, not_found_outcome, Answer, Outcome, QueryAnswer,
    RESULT_MISMATCH,
};
pub use state::{query_dates, IllegalTransition, Protocol, Sale, Status, Transition};
