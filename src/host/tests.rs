//! The host between real parts: the sandbox bank over HTTP on 127.0.0.1, the host over HTTP
//! with its database (SQLite in a temp dir, and PostgreSQL when `QRPOS_TEST_POSTGRES` names
//! a server: `scripts/with-postgres.sh` starts a throwaway one for `make test`), and
//! terminals with their own journals charging through it.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::backend::{self, BackendSettings, Withdrawal};
use crate::clock::SystemClock;
use crate::protocol::host::{ChargeReply, ChargeStatus, CHARGES_PATH, OPENAPI_PATH};
use crate::sale::{self, Answer, Outcome, PaymentMeans, Protocol, Status, Won};
use crate::sandbox::{self, Sandbox, SandboxConfig};
use crate::store::Journal;
use crate::terminal::{SalePolicy, Terminal};

const GRACE: Duration = Duration::from_secs(10);

/// The databases every test runs against: SQLite always, PostgreSQL when one is given.
async fn databases(dir: &std::path::Path) -> Vec<String> {
    let mut urls = vec![format!("sqlite://{}", dir.join("host.db").display())];
    match std::env::var("QRPOS_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => urls.push(fresh_postgres(&server).await),
        _ => eprintln!("PostgreSQL skipped: QRPOS_TEST_POSTGRES is not set (make test sets it when PostgreSQL is installed)"),
    }
    urls
}

/// A new, empty database on the PostgreSQL server at `server` (a URL ending in `/postgres`).
async fn fresh_postgres(server: &str) -> String {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let name = format!("qrpos_test_{:016x}", rand::random::<u64>());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(server)
        .await
        .expect("connect to QRPOS_TEST_POSTGRES");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create database");
    let base = server.rsplit_once('/').expect("a URL with a database").0;
    format!("{base}/{name}")
}

/// A bank, and a host in front of it.
struct World {
    bank: Sandbox,
    host: Host,
    database: String,
    dir: tempfile::TempDir,
}

impl World {
    async fn on(database: &str) -> World {
        let bank = sandbox::start(SandboxConfig::new(([127, 0, 0, 1], 0).into()))
            .await
            .expect("sandbox");
        let dir = tempfile::tempdir().expect("tempdir");
        let host = start_host(&bank.url(), database).await;
        World {
            bank,
            host,
            database: database.to_string(),
            dir,
        }
    }

    async fn terminal(&self, name: &str, prefix: &str) -> Terminal {
        let t = add_terminal(self.host.db(), name, 0).await.expect("add");
        self.terminal_with(prefix, &t.id, t.secret.expose(), &self.host.url())
    }

    fn terminal_with(&self, prefix: &str, id: &str, secret: &str, url: &str) -> Terminal {
        let gateway = backend::connect(settings(url, Protocol::Host, id, secret)).expect("gateway");
        let policy = SalePolicy {
            institution_code: sandbox::DEMO_INSTITUTION_CODE.into(),
            terminal_prefix: prefix.into(),
            max_amount: Won(1_000_000),
            accept_static: true,
            protocol: Protocol::Host,
            grace: GRACE,
            query_attempts: 2,
            query_backoff: Duration::from_millis(1),
            offline: sale::OfflinePolicy {
                enabled: true,
                max_sale: Won(50_000),
                max_total: Won(300_000),
                max_count: 50,
                max_age: Duration::from_secs(24 * 3600),
            },
            recheck_after: Duration::from_secs(60),
            unknown_attention_after: Duration::from_secs(600),
        };
        let journal =
            Journal::open(&self.dir.path().join(format!("journal-{prefix}"))).expect("journal");
        Terminal::new(journal, gateway, keys(), policy, Arc::new(SystemClock))
    }

    /// The withdrawals that moved money.
    async fn ledger(&self) -> Vec<Value> {
        let v: Value = reqwest::get(format!("{}/_sandbox/ledger", self.bank.url()))
            .await
            .expect("ledger")
            .json()
            .await
            .expect("ledger json");
        let entries = v["entries"].as_array().expect("entries");
        entries
            .iter()
            .filter(|e| e["committed"] == true)
            .cloned()
            .collect()
    }

    async fn inject(&self, faults: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/_sandbox/faults", self.bank.url()))
            .json(&json!({ "faults": faults }))
            .send()
            .await
            .expect("inject");
        assert!(r.status().is_success());
    }
}

/// The host's own code-signing key in these tests (id [`HOST_KEY_ID`]).
fn host_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7; 32])
}
const HOST_KEY_ID: u8 = 2;
/// Every host of one database seals the customers' tokens with the same key.
const TOKEN_KEY: [u8; 32] = [9; 32];

async fn start_host(bank_url: &str, database: &str) -> Host {
    start(HostSettings {
        listen: ([127, 0, 0, 1], 0).into(),
        database: database.into(),
        bank: settings(
            bank_url,
            Protocol::Openbanking,
            sandbox::DEMO_CLIENT_ID,
            sandbox::DEMO_CLIENT_SECRET,
        ),
        keys: keys(),
        signing_key: host_key(),
        signing_key_id: HOST_KEY_ID,
        token_key: TOKEN_KEY,
        public_url: None,
        institution_code: sandbox::DEMO_INSTITUTION_CODE.into(),
        clock: Arc::new(SystemClock),
        grace: GRACE,
    })
    .await
    .expect("host")
}

fn settings(url: &str, protocol: Protocol, id: &str, secret: &str) -> BackendSettings {
    BackendSettings {
        url: url.into(),
        protocol,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        client_id: id.into(),
        client_secret: Secret::new(secret.into()),
        cntr_account_type: "N".into(),
        cntr_account_num: "1002003004005".into(),
        merchant_name: "test shop".into(),
        recv_client_bank_code: "097".into(),
        recv_client_account_num: "1002003004005".into(),
        institution_code: sandbox::DEMO_INSTITUTION_CODE.into(),
        enrolment: backend::enrolment::Enrolment::Sandbox,
    }
}

/// The sandbox's development key (the tests' customers' codes) and the host's own.
fn keys() -> TrustedKeys {
    let mut keys = TrustedKeys::new();
    keys.add(
        sandbox::DEV_KEY_ID,
        sandbox::dev_signing_key().verifying_key(),
    );
    keys.add(HOST_KEY_ID, host_key().verifying_key());
    keys
}

fn code(user: &str) -> String {
    sandbox::issue_code(user, chrono::Utc::now().timestamp(), 180, false).expect("issue")
}

async fn pay(t: &Terminal, text: &str, amount: u64) -> crate::sale::Sale {
    let sale = t.open_sale(Won(amount), "coffee").expect("open");
    let payload = t.read_payload(text).expect("payable");
    t.charge(sale, &payload).await.expect("charge")
}

fn now_dtime() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("KST"))
        .format("%Y%m%d%H%M%S")
        .to_string()
}

fn withdrawal(id: &str, amount: u64) -> Withdrawal {
    Withdrawal {
        bank_tran_id: id.into(),
        tran_dtime: now_dtime(),
        amount: Won(amount),
        means: PaymentMeans::FintechNumber {
            fintech_use_num: sandbox::seeded_customers()[0]
                .fintech_use_num
                .clone()
                .expect("alice's number"),
        },
        product: "coffee".into(),
        signed_code: None,
    }
}

fn error_code(answer: &Answer) -> &str {
    match answer {
        Answer::Reply {
            code, bank_code, ..
        } if code == "error" => bank_code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn one_code_pays_once_across_terminals_and_databases() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path()).await {
        let w = World::on(&db).await;
        let (t1, t2) = (
            w.terminal("till-1", "T1").await,
            w.terminal("till-2", "T2").await,
        );
        let text = code("alice");
        let first = pay(&t1, &text, 3000).await;
        assert_eq!(first.status, Status::Approved, "{db}: {first:?}");
        // The second terminal's own journal has never seen the code: only the host's
        // register can refuse it.
        let second = pay(&t2, &text, 3000).await;
        assert_eq!(second.status, Status::Declined, "{db}: {second:?}");
        assert_eq!(second.code.as_deref(), Some("CODE_USED"), "{db}");
        let ledger = w.ledger().await;
        assert_eq!(ledger.len(), 1, "{db}: charged once: {ledger:?}");
        assert_eq!(ledger[0]["amount"], 3000);
        assert_eq!(ledger[0]["customer"], "alice");
        // A fresh code pays at the second terminal.
        let third = pay(&t2, &code("alice"), 1500).await;
        assert_eq!(third.status, Status::Approved, "{db}: {third:?}");
        assert_eq!(w.ledger().await.len(), 2);
    }
}

#[tokio::test]
async fn a_charge_asked_again_is_answered_never_repeated() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path()).await {
        let w = World::on(&db).await;
        let t = add_terminal(w.host.db(), "till", 0).await.expect("add");
        let gw = backend::connect(settings(
            &w.host.url(),
            Protocol::Host,
            &t.id,
            t.secret.expose(),
        ))
        .expect("gateway");
        let wd = withdrawal("PAY0001", 2200);
        let first = gw.withdraw(&wd).await;
        assert!(
            matches!(
                sale::classify_host_charge(&first, Won(2200)),
                Outcome::Approved { .. }
            ),
            "{first:?}"
        );
        let again = gw.withdraw(&wd).await;
        assert_eq!(again, first, "{db}");
        assert_eq!(w.ledger().await.len(), 1, "{db}");
        // The same id for another amount is refused, and charges nothing.
        let other = gw.withdraw(&withdrawal("PAY0001", 9900)).await;
        assert_eq!(error_code(&other), "PAYMENT_ID_REUSED");
        assert!(matches!(
            sale::classify_host_charge(&other, Won(9900)),
            Outcome::Unknown { .. }
        ));
        assert_eq!(w.ledger().await.len(), 1);
        // Status by id, and an id the host never saw.
        let status = gw.query(&wd, "", "").await;
        assert!(
            matches!(
                sale::classify_host_status(&status, Won(2200)),
                Outcome::Approved { .. }
            ),
            "{status:?}"
        );
        let none = gw.query(&withdrawal("PAY0404", 100), "", "").await;
        assert_eq!(
            sale::classify_host_status(&none, Won(100)),
            Outcome::NotFound
        );
    }
}

#[tokio::test]
async fn terminals_sign_in_with_their_own_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = World::on(&format!("sqlite://{}", dir.path().join("h.db").display())).await;
    let t = add_terminal(w.host.db(), "till", 0).await.expect("add");
    let connect = |secret: &str| {
        backend::connect(settings(&w.host.url(), Protocol::Host, &t.id, secret)).expect("gateway")
    };
    let right = connect(t.secret.expose());
    assert!(right.sign_in().await.is_ok());

    let wrong = connect("not-the-secret");
    let refused = wrong.withdraw(&withdrawal("PAY1", 1000)).await;
    assert_eq!(error_code(&refused), "UNAUTHORIZED");
    match sale::classify_host_charge(&refused, Won(1000)) {
        Outcome::Declined { code, .. } => assert_eq!(code, "UNAUTHORIZED"),
        other => panic!("{other:?}"),
    }
    let said = format!("{refused:?}");
    assert!(!said.contains(t.secret.expose()) && !said.contains("not-the-secret"));
    // Five failures lock the terminal out for a while, even with the right secret.
    for _ in 0..4 {
        let _ = wrong.withdraw(&withdrawal("PAY1", 1000)).await;
    }
    let locked = right.withdraw(&withdrawal("PAY2", 1000)).await;
    assert_eq!(error_code(&locked), "RATE_LIMITED");
    assert!(w.ledger().await.is_empty());
    // Another terminal is not locked out by this one's failures.
    let t2 = add_terminal(w.host.db(), "till-2", 0).await.expect("add");
    let other = backend::connect(settings(
        &w.host.url(),
        Protocol::Host,
        &t2.id,
        t2.secret.expose(),
    ))
    .expect("gateway");
    let paid = other.withdraw(&withdrawal("PAY3", 1000)).await;
    assert!(
        matches!(
            sale::classify_host_charge(&paid, Won(1000)),
            Outcome::Approved { .. }
        ),
        "{paid:?}"
    );

    // Revoked: charges are refused, but a status query of a charge it made stays unknown,
    // never a decline: the money moved whatever the terminal's credentials are now.
    assert!(w
        .host
        .db()
        .revoke_terminal("till-2", 1)
        .await
        .expect("revoke"));
    let refused = other.withdraw(&withdrawal("PAY4", 1000)).await;
    assert_eq!(error_code(&refused), "TERMINAL_REVOKED");
    let status = other.query(&withdrawal("PAY3", 1000), "", "").await;
    assert!(
        matches!(
            sale::classify_host_status(&status, Won(1000)),
            Outcome::Unknown { .. }
        ),
        "{status:?}"
    );
    assert_eq!(
        add_terminal(w.host.db(), "till-2", 2)
            .await
            .err()
            .map(|e| e.to_string()),
        Some("a terminal named \"till-2\" already exists".into())
    );
}

#[tokio::test]
async fn malformed_requests_get_stable_codes_and_charge_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = World::on(&format!("sqlite://{}", dir.path().join("h.db").display())).await;
    let t = add_terminal(w.host.db(), "till", 0).await.expect("add");
    let http = reqwest::Client::new();
    let url = format!("{}{CHARGES_PATH}", w.host.url());
    let post = |body: String| {
        http.post(&url)
            .basic_auth(&t.id, Some(t.secret.expose()))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let good = serde_json::to_value(crate::protocol::host::ChargeRequest {
        payment_id: "PAY1".into(),
        amount: 1000,
        tran_dtime: now_dtime(),
        product: String::new(),
        means: withdrawal("x", 1).means,
        one_time_code: None,
    })
    .expect("json");
    let mut cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "BAD_REQUEST"),
        ("{}".into(), 400, "BAD_REQUEST"),
    ];
    for (field, value) in [
        ("payment_id", json!("has spaces")),
        ("payment_id", json!("")),
        ("amount", json!(0)),
        ("amount", json!("1000")),
        ("tran_dtime", json!("20261399996161")),
        ("means", json!({"kind": "swift"})),
    ] {
        let mut body = good.clone();
        body[field] = value;
        cases.push((body.to_string(), 400, "BAD_REQUEST"));
    }
    for (body, status, code) in cases {
        let r = post(body.clone()).await.expect("post");
        assert_eq!(r.status().as_u16(), status, "{body}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"], code, "{body}: {v}");
        assert!(!v["message"].as_str().unwrap_or("").is_empty());
    }
    // A one-time code that is not one, or names another account, is declined.
    let mut forged = good.clone();
    forged["one_time_code"] = json!("QP1NOTACODE");
    let v: Value = post(forged.to_string())
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (v["status"].as_str(), v["code"].as_str()),
        (Some("declined"), Some("CODE_INVALID")),
        "{v}"
    );
    let mut elsewhere = good.clone();
    elsewhere["payment_id"] = json!("PAY2");
    elsewhere["one_time_code"] = json!(code("bob"));
    let v: Value = post(elsewhere.to_string())
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(v["code"], "CODE_INVALID", "{v}");
    assert!(w.ledger().await.is_empty());
}

#[tokio::test]
async fn an_unknown_is_settled_by_status_and_survives_a_host_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path()).await {
        let mut w = World::on(&db).await;
        let t = w.terminal("till", "T1").await;
        // The bank takes the withdrawal but the answer never comes back.
        w.inject(json!([{"kind": "drop", "commit": true}])).await;
        let sale = pay(&t, &code("alice"), 4100).await;
        // The terminal confirms on the spot by asking the host, which asks the bank.
        assert_eq!(sale.status, Status::Approved, "{db}: {sale:?}");
        assert_eq!(w.ledger().await.len(), 1);

        // A new host process on the same database tells the same truth.
        let url = w.host.url();
        let old = std::mem::replace(&mut w.host, start_host(&w.bank.url(), &w.database).await);
        old.shutdown().await;
        assert_ne!(w.host.url(), url);
        let row = w
            .host
            .db()
            .charge(
                &w.host.db().terminals().await.expect("list")[0].id,
                &sale.bank_tran_id,
            )
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.reply.map(|r| r.status), Some(ChargeStatus::Approved));
    }
}

#[tokio::test]
async fn an_offline_sale_forwarded_after_its_code_paid_elsewhere_goes_to_attention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = World::on(&format!("sqlite://{}", dir.path().join("h.db").display())).await;
    let creds = add_terminal(w.host.db(), "till-1", 0).await.expect("add");
    // Till 1 cannot reach the host: it accepts the code offline.
    let offline = w.terminal_with("T1", &creds.id, creds.secret.expose(), "http://127.0.0.1:9");
    let text = code("alice");
    let queued = pay(&offline, &text, 2000).await;
    assert_eq!(queued.status, Status::Queued, "{queued:?}");
    drop(offline);
    // Meanwhile the customer pays with the same code at till 2.
    let t2 = w.terminal("till-2", "T2").await;
    assert_eq!(pay(&t2, &text, 2000).await.status, Status::Approved);
    // Till 1 comes back and forwards: the host refuses the used code.
    let t1 = w.terminal_with("T1", &creds.id, creds.secret.expose(), &w.host.url());
    crate::forwarder::forward_queued(&t1)
        .await
        .expect("forward");
    let sale = t1.journal().get(&queued.id).expect("sale");
    assert_eq!(sale.status, Status::Declined, "{sale:?}");
    assert_eq!(sale.code.as_deref(), Some("CODE_USED"));
    assert!(
        sale.attention.is_some(),
        "a decline after forwarding needs a human: {sale:?}"
    );
    assert_eq!(w.ledger().await.len(), 1);
}

#[tokio::test]
async fn the_bank_out_of_reach_is_not_sent_and_the_openapi_document_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("h.db").display());
    let host = start_host("http://127.0.0.1:9", &db).await;
    let t = add_terminal(host.db(), "till", 0).await.expect("add");
    let gw = backend::connect(settings(
        &host.url(),
        Protocol::Host,
        &t.id,
        t.secret.expose(),
    ))
    .expect("gateway");
    let answer = gw.withdraw(&withdrawal("PAY1", 1000)).await;
    assert!(
        matches!(
            sale::classify_host_charge(&answer, Won(1000)),
            Outcome::NotSent { .. }
        ),
        "{answer:?}"
    );
    // Nothing reached the bank: the status says so, and the same request may go again.
    let status = gw.query(&withdrawal("PAY1", 1000), "", "").await;
    assert_eq!(
        sale::classify_host_status(&status, Won(1000)),
        Outcome::NotFound
    );

    let doc: Value = reqwest::get(format!("{}{OPENAPI_PATH}", host.url()))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    for path in ["/v1/charges", "/v1/charges/{payment_id}", "/v1/terminal"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["components"]["schemas"].get("ChargeReply").is_some());
    assert!(!doc.to_string().contains(t.secret.expose()));
    let _: ChargeReply = serde_json::from_value(json!({"payment_id": "x", "status": "approved"}))
        .expect("lenient reply");
    host.shutdown().await;
}

#[tokio::test]
async fn two_hosts_on_one_database_share_the_register_and_the_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path()).await {
        let w = World::on(&db).await;
        let second = start_host(&w.bank.url(), &db).await;
        let c1 = add_terminal(w.host.db(), "till-1", 0).await.expect("add");
        let c2 = add_terminal(second.db(), "till-2", 0).await.expect("add");
        let t1 = w.terminal_with("T1", &c1.id, c1.secret.expose(), &w.host.url());
        let t2 = w.terminal_with("T2", &c2.id, c2.secret.expose(), &second.url());
        // One code shown at both tills at the same moment, each through its own host.
        for round in 0..5 {
            let text = code("alice");
            let (a, b) = tokio::join!(pay(&t1, &text, 1000 + round), pay(&t2, &text, 1000 + round));
            let approved = [&a, &b]
                .iter()
                .filter(|s| s.status == Status::Approved)
                .count();
            assert_eq!(approved, 1, "{db} round {round}: {a:?} {b:?}");
            let loser = if a.status == Status::Approved { &b } else { &a };
            assert_eq!(loser.code.as_deref(), Some("CODE_USED"), "{db}: {loser:?}");
        }
        let ledger = w.ledger().await;
        assert_eq!(ledger.len(), 5, "{db}");
        // The hosts' bank_tran_ids come from one sequence: never the same twice.
        let mut ids: Vec<_> = ledger
            .iter()
            .map(|e| e["bank_tran_id"].to_string())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5);
        second.shutdown().await;
    }
}

/// The customer's app: the 3-legged flow through the host (redirects followed, as a browser
/// would), then a code from the host.
async fn enrol_app(host: &Host, user: &str) -> crate::protocol::host::EnrolReply {
    let r = reqwest::get(format!("{}/v1/enrol?sandbox_user={user}", host.url()))
        .await
        .expect("enrol");
    assert_eq!(r.status(), 200);
    r.json().await.expect("enrol reply")
}

async fn app_code(host: &Host, who: &crate::protocol::host::EnrolReply) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/codes", host.url()))
        .basic_auth(&who.customer_id, Some(&who.credential))
        .json(&json!({}))
        .send()
        .await
        .expect("code")
}

#[tokio::test]
async fn a_customer_enrols_through_the_bank_and_pays_with_a_code_the_host_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in databases(dir.path()).await {
        let mut w = World::on(&db).await;
        let alice = enrol_app(&w.host, "alice").await;
        let fintech = sandbox::seeded_customers()[0]
            .fintech_use_num
            .clone()
            .expect("fintech");
        assert_eq!(alice.accounts, vec![fintech.clone()], "{db}");
        // The tokens are sealed at rest: what the database holds is not what the bank gave.
        let grants = customers::Customers::new(w.host.db().clone(), &TOKEN_KEY);
        let (token, expires_at) = grants
            .token_for(&fintech)
            .await
            .expect("read")
            .expect("kept");
        let raw: String = sqlx::Row::get(
            &sqlx::query("SELECT access_token FROM customers")
                .fetch_one(w.host.db().pool())
                .await
                .expect("row"),
            "access_token",
        );
        assert!(!raw.contains(token.expose()));
        assert!(expires_at > chrono::Utc::now().timestamp() + 80 * 24 * 3600);
        assert!(
            customers::Customers::new(w.host.db().clone(), &[1; 32])
                .token_for(&fintech)
                .await
                .is_err(),
            "another key opens nothing"
        );

        let reply: crate::protocol::host::CodeReply =
            app_code(&w.host, &alice).await.json().await.expect("code");
        let t = w.terminal("till", "T1").await;
        match t.read_payload(&reply.code).expect("payable") {
            crate::scan::Payload::OneTime { code, .. } => assert_eq!(code.key_id, HOST_KEY_ID),
            other => panic!("{other:?}"),
        }
        let sale = pay(&t, &reply.code, 2500).await;
        assert_eq!(sale.status, Status::Approved, "{db}: {sale:?}");
        // A static fintech-number code still pays online.
        let sale = pay(&t, &fintech, 700).await;
        assert_eq!(sale.status, Status::Approved, "{db}: {sale:?}");
        assert_eq!(w.ledger().await.len(), 2);

        // A wrong credential gets no code.
        let wrong = crate::protocol::host::EnrolReply {
            credential: "guess".into(),
            ..alice.clone()
        };
        assert_eq!(app_code(&w.host, &wrong).await.status(), 401);

        // Renewal: the grant is replaced with a new one before it expires, and a new host
        // process (nothing in memory) pays with it.
        assert_eq!(
            w.host.renew_grants(i64::MAX).await.expect("renew"),
            1,
            "{db}"
        );
        let (renewed, later) = grants
            .token_for(&fintech)
            .await
            .expect("read")
            .expect("kept");
        assert_ne!(renewed, token);
        assert!(later >= expires_at);
        let old = std::mem::replace(&mut w.host, start_host(&w.bank.url(), &w.database).await);
        old.shutdown().await;
        let t = w.terminal("till-2", "T2").await;
        let reply: crate::protocol::host::CodeReply =
            app_code(&w.host, &alice).await.json().await.expect("code");
        assert_eq!(pay(&t, &reply.code, 900).await.status, Status::Approved);
    }
}

#[tokio::test]
async fn a_consent_the_host_did_not_start_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = World::on(&format!("sqlite://{}", dir.path().join("h.db").display())).await;
    let r = reqwest::get(format!(
        "{}/v1/enrol/callback?code=abc&state=not-ours",
        w.host.url()
    ))
    .await
    .expect("callback");
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "BAD_REQUEST");
    let r = reqwest::get(format!("{}/v1/enrol/callback", w.host.url()))
        .await
        .expect("callback");
    assert_eq!(r.status(), 400);
}
