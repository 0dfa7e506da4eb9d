//! Fault injection: the FIFO of [`FaultSpec`]s set through `/_sandbox/faults`, and the
//! per-connection kill switch that lets a handler close its TCP connection without sending a
//! single byte (what a crashed backend or a cut cable looks like to the terminal).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultOn {
    /// `POST /v2.0/transfer/withdraw/fin_num`
    #[default]
    Withdraw,
    /// `POST /v2.0/transfer/result`
    Result,
    /// `POST /api/payRequest`
    Pay,
    /// `GET /api/payRequest/{id}`
    PayStatus,
    /// `POST /oauth/2.0/token`
    Token,
    /// `POST /v2.0/transfer/deposit/fin_num` (refunds)
    Deposit,
}

/// What to do to the request. JSON: `{"on":"withdraw","kind":"drop","commit":true}` — `on` is
/// optional (default `withdraw`), the rest are the fields of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Process normally (money moves if the request is good), then wait `ms` before replying.
    Delay { ms: u64 },
    /// Process (if `commit`) or not, then close the connection with no HTTP response at all.
    Drop {
        #[serde(default)]
        commit: bool,
    },
    /// Process (if `commit`) or not, then reply HTTP 500 with a non-JSON body.
    Http500 {
        #[serde(default)]
        commit: bool,
    },
    /// Answer with these codes instead of the real ones. Open banking: `rsp_code` (+ optional
    /// `bank_rsp_code`), HTTP 200. payRequest: `code` (+ optional `message`), HTTP `status`
    /// (default 400). If `commit`, the request is processed normally first, so money moves
    /// when the customer could pay (e.g. A0007 whose `transfer/result` later says 000).
    Reply {
        #[serde(default)]
        rsp_code: Option<String>,
        #[serde(default)]
        bank_rsp_code: Option<String>,
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        status: Option<u16>,
        #[serde(default)]
        commit: bool,
    },
    /// Process (if `commit`) or not, then reply HTTP 200 with an unparsable body.
    Garbage {
        #[serde(default)]
        commit: bool,
    },
}

impl FaultKind {
    /// Whether the request is processed (and may move money) before the fault shows.
    pub(crate) fn processes(&self) -> bool {
        match self {
            FaultKind::Delay { .. } => true,
            FaultKind::Drop { commit }
            | FaultKind::Http500 { commit }
            | FaultKind::Reply { commit, .. }
            | FaultKind::Garbage { commit } => *commit,
        }
    }

    /// The ledger's `result` for a request this fault kept from being processed.
    pub(crate) fn unprocessed_result(fault: Option<&FaultKind>) -> String {
        match fault {
            Some(FaultKind::Drop { .. }) => "dropped-before-commit".to_string(),
            Some(f) => format!("fault:{} (not committed)", f.label()),
            None => "not processed".to_string(),
        }
    }

    /// Short label for the ledger, e.g. `drop`, `reply A0007/000`.
    pub(crate) fn label(&self) -> String {
        match self {
            FaultKind::Delay { ms } => format!("delay {ms}ms"),
            FaultKind::Drop { .. } => "drop".into(),
            FaultKind::Http500 { .. } => "http500".into(),
            FaultKind::Garbage { .. } => "garbage".into(),
            FaultKind::Reply {
                rsp_code,
                bank_rsp_code,
                code,
                ..
            } => {
                let mut s = String::from("reply");
                for c in [rsp_code, code].into_iter().flatten() {
                    s.push(' ');
                    s.push_str(c);
                }
                if let Some(b) = bank_rsp_code {
                    s.push('/');
                    s.push_str(b);
                }
                s
            }
        }
    }
}

/// One entry of the fault FIFO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(default)]
    pub on: FaultOn,
    #[serde(flatten)]
    pub kind: FaultKind,
}

/// Body of `POST /_sandbox/faults` and `GET /_sandbox/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultList {
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
}

/// Put into every request's extensions by the connection task; triggering it makes that task
/// drop the hyper connection (socket closed, nothing written).
#[derive(Clone, Default)]
pub(crate) struct KillSwitch(pub(crate) Arc<Notify>);

impl KillSwitch {
    /// Closes the connection and never resolves: the handler's future is dropped with the
    /// connection, so no response can be written even by accident.
    pub(crate) async fn kill<T>(&self) -> T {
        // notify_one stores a permit if the connection task is not waiting yet.
        self.0.notify_one();
        std::future::pending::<T>().await
    }
}
