//! The HTTP plumbing: shared [`App`] state, the axum router, and our own accept loop.
//!
//! We serve connections ourselves (hyper `http1` per connection) instead of `axum::serve`
//! because a `drop` fault must close the TCP connection with no response bytes at all, and
//! only the task that owns the connection future can do that: each connection gets a
//! [`KillSwitch`] in its requests' extensions; triggering it makes the task drop the
//! connection future, which closes the socket mid-request.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::faults::{FaultKind, FaultOn, FaultSpec, KillSwitch};
use super::state::{save_snapshot, CustomerConfig, State};
use super::{control, inquiry, oauth, openbanking, payrequest};
use crate::clock::Clock;
use crate::protocol::openbanking::{
    ACCOUNT_LIST_PATH, AUTHORIZE_PATH, BALANCE_PATH, DEPOSIT_PATH, REAL_NAME_PATH, RESULT_PATH,
    TOKEN_PATH, TRANSACTION_LIST_PATH, USER_ME_PATH, WITHDRAW_PATH,
};
use crate::protocol::payrequest::PAY_PATH;
use chrono::{DateTime, FixedOffset};

/// Everything the handlers share.
pub(crate) struct App {
    state: Mutex<State>,
    faults: Mutex<VecDeque<FaultSpec>>,
    data_dir: Option<PathBuf>,
    /// What `/_sandbox/reset` restores (seeds or the accounts file).
    pub(crate) initial: Vec<CustomerConfig>,
    clock: Arc<dyn Clock>,
}

impl App {
    pub(crate) fn new(
        state: State,
        data_dir: Option<PathBuf>,
        initial: Vec<CustomerConfig>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        App {
            state: Mutex::new(state),
            faults: Mutex::new(VecDeque::new()),
            data_dir,
            initial,
            clock,
        }
    }

    /// The sandbox's wall clock (KST).
    pub(crate) fn now(&self) -> DateTime<FixedOffset> {
        self.clock.now()
    }

    /// The state, with `now` set to this moment, so every rule of one request sees one
    /// instant (and tests can move the bank's clock across a midnight).
    ///
    /// A handler that panicked while holding the lock must not take the sandbox down with it:
    /// the state is only ever mutated by plain assignments, so the inner value is usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.now = self.clock.now();
        st
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, VecDeque<FaultSpec>> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a mutation and persists the result before anyone can observe it (the lock is
    /// held across the write). Writing synchronously inside the async handler is deliberate:
    /// the snapshot is small, and "the reply is sent only after the state is durable" is the
    /// property a crash test of the terminal relies on.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = self.lock();
        let r = f(&mut st);
        self.persist(&st);
        r
    }

    pub(crate) fn persist(&self, st: &State) {
        if let Some(dir) = &self.data_dir {
            if let Err(e) = save_snapshot(dir, st) {
                tracing::error!(dir = %dir.display(), error = %e, "sandbox: cannot persist state");
            }
        }
    }

    /// Removes and returns the first pending fault for this endpoint.
    pub(crate) fn take_fault(&self, on: FaultOn) -> Option<FaultKind> {
        let mut q = self.faults();
        let i = q.iter().position(|f| f.on == on)?;
        q.remove(i).map(|f| f.kind)
    }
}

/// Delivers a response through a fault. `reply` is what a `reply` fault answers with.
pub(crate) async fn deliver(
    fault: Option<&FaultKind>,
    kill: &KillSwitch,
    normal: impl FnOnce() -> Response,
    reply: impl FnOnce() -> Response,
) -> Response {
    match fault {
        None => normal(),
        Some(FaultKind::Delay { ms }) => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            normal()
        }
        Some(FaultKind::Drop { .. }) => kill.kill().await,
        Some(FaultKind::Http500 { .. }) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/html")],
            "<html><body><h1>500 Internal Server Error</h1>sandbox fault</body></html>",
        )
            .into_response(),
        Some(FaultKind::Garbage { .. }) => (
            StatusCode::OK,
            [("content-type", "application/json; charset=UTF-8")],
            "{\"rsp_code\":\"A00\u{0}\u{7f}<<garbage",
        )
            .into_response(),
        Some(FaultKind::Reply { .. }) => reply(),
    }
}

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(AUTHORIZE_PATH, get(oauth::authorize))
        .route(TOKEN_PATH, post(oauth::token))
        .route(WITHDRAW_PATH, post(openbanking::withdraw))
        .route(RESULT_PATH, post(openbanking::result))
        .route(BALANCE_PATH, get(openbanking::balance))
        .route(DEPOSIT_PATH, post(openbanking::deposit))
        .route(USER_ME_PATH, get(inquiry::user_me))
        .route(ACCOUNT_LIST_PATH, get(inquiry::account_list))
        .route(TRANSACTION_LIST_PATH, get(inquiry::transaction_list))
        .route(REAL_NAME_PATH, post(inquiry::real_name))
        .route(PAY_PATH, post(payrequest::pay))
        .route("/api/payRequest/{request_id}", get(payrequest::status))
        .route("/_sandbox/ledger", get(control::ledger))
        .route("/_sandbox/accounts", get(control::accounts))
        .route("/_sandbox/reset", post(control::reset))
        .route(
            "/_sandbox/faults",
            get(control::list_faults)
                .post(control::add_faults)
                .delete(control::clear_faults),
        )
        .fallback(control::not_found)
        .method_not_allowed_fallback(control::method_not_allowed)
        .with_state(app)
}

/// Accepts until `shutdown` fires (or its sender is dropped), then lets in-flight requests
/// finish for a few seconds before cutting what is left.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    conns.spawn(serve_conn(stream, router.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    tracing::warn!(error = %e, "sandbox: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
    }
}

async fn serve_conn(
    stream: tokio::net::TcpStream,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let kill = KillSwitch::default();
    let switch = kill.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(switch.clone());
        let mut r = router.clone();
        async move { tower::Service::call(&mut r, req).await }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            // Dropping `conn` (by returning) closes the socket; nothing was written.
            _ = kill.0.notified() => return,
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "sandbox: connection ended with error");
                }
                return;
            }
            _ = shutdown.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
