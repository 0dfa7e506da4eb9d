//! The testbed's contract, table-driven and black-box: every case is a real HTTP request to a
//! sandbox on 127.0.0.1:0 whose bank clock is a [`ManualClock`] at 2026-01-01 12:00:00 KST.
//!
//! - Field tables: each endpoint accepts a valid request; then every field of the endpoint's
//!   tables in `fields.rs` (iterated, so a field added there is covered here without a change)
//!   is removed, emptied, given the wrong type and made one too long, each in an otherwise valid
//!   request, and must be refused with A0004 naming it ([`field_cases`], [`NAMED_RULES`]).
//! - Request rules across fields: the payer named once, `req_cnt` against the list, the result
//!   query's keys, one `bank_tran_id` a day.
//! - Scopes: every endpoint against every kind of token ([`SCOPES`]).
//! - OAuth: the authorize and token endpoints' refusals, single-use codes, refresh rotation,
//!   token expiry.
//! - One end-to-end run of the 3-legged flow through every endpoint.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use tokio::sync::OnceCell;

use super::fields::{self, Field, Kind, Need};
use super::state::{ALICE_FIN, BOB_FIN};
use super::{
    start, Sandbox, SandboxConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_INSTITUTION_CODE,
};
use crate::clock::ManualClock;
use crate::protocol::openbanking::{
    ACCOUNT_LIST_PATH, AUTHORIZE_PATH, BALANCE_PATH, DEPOSIT_PATH, REAL_NAME_PATH, RESULT_PATH,
    TOKEN_PATH, TRANSACTION_LIST_PATH, USER_ME_PATH, WITHDRAW_PATH,
};

const CALLBACK: &str = "http://127.0.0.1:9/callback";
const STATE: &str = "0123456789abcdef0123456789abcdef";
/// The bank's clock at start, as `tran_dtime` and as a business date.
const NOW: &str = "20260101120000";
const TODAY: &str = "20260101";
const ALICE_ACCOUNT: &str = "1002003000401";
const ALL_SCOPES: &str = "login inquiry transfer";
/// `expires_in` of every access token (docs §1.2).
const TOKEN_LIFETIME_S: u64 = 7_775_999;

// ---------------------------------------------------------------- the endpoints

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Withdraw,
    Deposit,
    Result,
    RealName,
    Balance,
    TransactionList,
    UserMe,
    AccountList,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Parameters in the query string.
    Get,
    /// A JSON body.
    Post,
}

/// Where a table applies: the request itself, or the one item of its `req_list`.
const TOP: &str = "";
const ITEM: &str = "req_list";

/// Every endpoint under contract: path, method, and its field tables with where each applies.
type Spec = (
    Api,
    &'static str,
    Method,
    &'static [(&'static str, &'static [Field])],
);
const APIS: &[Spec] = &[
    (
        Api::Withdraw,
        WITHDRAW_PATH,
        Method::Post,
        &[(TOP, fields::WITHDRAW)],
    ),
    (
        Api::Deposit,
        DEPOSIT_PATH,
        Method::Post,
        &[(TOP, fields::DEPOSIT), (ITEM, fields::DEPOSIT_ITEM)],
    ),
    (
        Api::Result,
        RESULT_PATH,
        Method::Post,
        &[(TOP, fields::RESULT), (ITEM, fields::RESULT_ITEM)],
    ),
    (
        Api::RealName,
        REAL_NAME_PATH,
        Method::Post,
        &[(TOP, fields::REAL_NAME)],
    ),
    (
        Api::Balance,
        BALANCE_PATH,
        Method::Get,
        &[(TOP, fields::BALANCE)],
    ),
    (
        Api::TransactionList,
        TRANSACTION_LIST_PATH,
        Method::Get,
        &[(TOP, fields::TRANSACTION_LIST)],
    ),
    (
        Api::UserMe,
        USER_ME_PATH,
        Method::Get,
        &[(TOP, fields::USER_ME)],
    ),
    (
        Api::AccountList,
        ACCOUNT_LIST_PATH,
        Method::Get,
        &[(TOP, fields::ACCOUNT_LIST)],
    ),
];

fn spec(api: Api) -> &'static Spec {
    APIS.iter()
        .find(|s| s.0 == api)
        .expect("every Api is in APIS")
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A `transfer/result` body asking for `(org_bank_tran_id, org_bank_tran_date, org_tran_amt)`.
fn result_request(check_type: &str, items: &[(&str, &str, &str)]) -> Map<String, Value> {
    let list: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (id, date, amt))| {
            json!({"tran_no": (i + 1).to_string(), "org_bank_tran_id": id,
                   "org_bank_tran_date": date, "org_tran_amt": amt})
        })
        .collect();
    obj(json!({"check_type": check_type, "tran_dtime": NOW,
               "req_cnt": items.len().to_string(), "req_list": list}))
}

/// One `req_list` item of a deposit (refund) crediting `fin`.
fn deposit_item(tran_no: &str, bank_tran_id: &str, fin: &str, amount: &str) -> Value {
    json!({"tran_no": tran_no, "bank_tran_id": bank_tran_id, "fintech_use_num": fin,
           "print_content": "refund", "tran_amt": amount, "req_client_name": "shop",
           "req_client_bank_code": "097", "req_client_account_num": "100000000001",
           "req_client_num": "M1", "transfer_purpose": "TR"})
}

fn deposit_request(req_cnt: &str, items: Vec<Value>) -> Map<String, Value> {
    obj(
        json!({"cntr_account_type": "N", "cntr_account_num": "100000000001",
               "wd_pass_phrase": "NONE", "wd_print_content": "refund", "tran_dtime": NOW,
               "req_cnt": req_cnt, "req_list": items}),
    )
}

// ---------------------------------------------------------------- the fixture

/// What the token endpoint gives a user at the end of the 3-legged flow.
#[derive(Debug, Default, Clone, serde::Deserialize)]
struct UserGrant {
    access_token: String,
    refresh_token: String,
    scope: String,
    user_seq_no: String,
}

/// A sandbox with the institution's `oob` token and alice's and bob's full user tokens.
struct Sb {
    sb: Sandbox,
    http: reqwest::Client,
    no_redirect: reqwest::Client,
    clock: Arc<ManualClock>,
    oob: String,
    alice: UserGrant,
    bob: UserGrant,
    ids: AtomicU32,
    /// A ₩1,000 withdrawal of alice's that valid `transfer/result` requests look up.
    target: OnceCell<String>,
}

type Answer = (StatusCode, Value);

impl Sb {
    async fn new() -> Sb {
        let clock = Arc::new(ManualClock::at("2026-01-01 12:00:00").expect("time"));
        let sb = start(SandboxConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: None,
            accounts_file: None,
            clock: clock.clone(),
        })
        .await
        .expect("start");
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut s = Sb {
            sb,
            http: reqwest::Client::new(),
            no_redirect,
            clock,
            oob: String::new(),
            alice: UserGrant::default(),
            bob: UserGrant::default(),
            ids: AtomicU32::new(1),
            target: OnceCell::new(),
        };
        let (status, body) = s
            .token(&[
                ("grant_type", "client_credentials"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("scope", "oob"),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        s.oob = body["access_token"].as_str().expect("oob token").into();
        s.alice = s.enrol("alice", ALL_SCOPES).await;
        s.bob = s.enrol("bob", ALL_SCOPES).await;
        s
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.url())
    }

    fn fresh_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        format!("{DEMO_INSTITUTION_CODE}U{n:09}")
    }

    // --- OAuth

    async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.no_redirect
            .get(self.url(AUTHORIZE_PATH))
            .query(params)
            .send()
            .await
            .expect("authorize")
    }

    /// The authorization code `user` gets by consenting to `scope`.
    async fn code(&self, user: &str, scope: &str) -> String {
        let r = self.authorize(&consent_params(user, scope)).await;
        assert_eq!(r.status(), StatusCode::FOUND, "authorize {user} {scope}");
        let loc = r.headers()[LOCATION].to_str().expect("location");
        let url = reqwest::Url::parse(loc).expect("location url");
        assert!(url.as_str().starts_with(CALLBACK), "{url}");
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q.get("state").map(String::as_str), Some(STATE), "{url}");
        assert_eq!(q.get("scope").map(String::as_str), Some(scope), "{url}");
        q.get("code").cloned().expect("code")
    }

    async fn token(&self, form: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(self.url(TOKEN_PATH))
            .form(form)
            .send()
            .await
            .expect("token");
        let s = r.status();
        (s, r.json().await.expect("token json"))
    }

    async fn exchange(&self, code: &str, redirect_uri: &str) -> Answer {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("redirect_uri", redirect_uri),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str, scope: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", scope),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
        ])
        .await
    }

    /// The 3-legged flow for sandbox customer `user`.
    async fn enrol(&self, user: &str, scope: &str) -> UserGrant {
        let code = self.code(user, scope).await;
        let (s, body) = self.exchange(&code, CALLBACK).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let g: UserGrant = serde_json::from_value(body).expect("user grant");
        assert_eq!(g.scope, scope);
        g
    }

    // --- the APIs

    /// A withdrawal of `amount` from alice's account, with a fresh id.
    fn withdraw_request(&self, amount: &str) -> Map<String, Value> {
        obj(json!({
            "bank_tran_id": self.fresh_id(), "cntr_account_type": "N",
            "cntr_account_num": "100000000001", "dps_print_content": "qrpos",
            "fintech_use_num": ALICE_FIN, "tran_amt": amount, "tran_dtime": NOW,
            "req_client_name": "alice", "req_client_fintech_use_num": ALICE_FIN,
            "req_client_num": "C1", "transfer_purpose": "ST",
        }))
    }

    async fn target(&self) -> &str {
        self.target
            .get_or_init(|| async {
                let req = self.withdraw_request("1000");
                let got = self
                    .call(Api::Withdraw, Some(&self.alice.access_token), &req)
                    .await;
                answer_is(&got, 200, "A0000").expect("the withdrawal transfer/result looks up");
                req["bank_tran_id"].as_str().expect("id").to_string()
            })
            .await
    }

    /// A request `api` accepts (A0000) from [`Sb::good_token`], with fresh ids.
    async fn valid(&self, api: Api) -> Map<String, Value> {
        let id = self.fresh_id();
        let seq = self.alice.user_seq_no.as_str();
        match api {
            Api::Withdraw => self.withdraw_request("1000"),
            Api::Deposit => deposit_request("1", vec![deposit_item("1", &id, ALICE_FIN, "1000")]),
            Api::Result => result_request("1", &[(self.target().await, TODAY, "1000")]),
            Api::RealName => obj(json!({
                "bank_tran_id": id, "bank_code_std": "097", "account_num": ALICE_ACCOUNT,
                "account_holder_info_type": " ", "account_holder_info": "900101",
                "tran_dtime": NOW,
            })),
            Api::Balance => obj(json!({
                "bank_tran_id": id, "fintech_use_num": ALICE_FIN, "tran_dtime": NOW,
            })),
            Api::TransactionList => obj(json!({
                "bank_tran_id": id, "fintech_use_num": ALICE_FIN, "inquiry_type": "A",
                "inquiry_base": "D", "from_date": TODAY, "to_date": TODAY, "sort_order": "D",
                "tran_dtime": NOW,
            })),
            Api::UserMe => obj(json!({ "user_seq_no": seq })),
            Api::AccountList => obj(json!({ "user_seq_no": seq })),
        }
    }

    /// The token a valid request of `api` is sent with: alice's for hers, else the `oob` one.
    fn good_token(&self, api: Api) -> &str {
        match api {
            Api::Deposit | Api::Result | Api::RealName => &self.oob,
            _ => &self.alice.access_token,
        }
    }

    /// Sends `req` to `api` (query string or JSON body) with `token`; the status and JSON.
    async fn call(&self, api: Api, token: Option<&str>, req: &Map<String, Value>) -> Answer {
        let (_, path, method, _) = spec(api);
        let mut b = match method {
            Method::Get => {
                let q: Vec<(&str, &str)> = req
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str().expect("query values are strings")))
                    .collect();
                self.http.get(self.url(path)).query(&q)
            }
            Method::Post => self.http.post(self.url(path)).json(req),
        };
        if let Some(t) = token {
            b = b.bearer_auth(t);
        }
        let r = b.send().await.expect("send");
        let s = r.status();
        let text = r.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{api:?}: {s} {text:?}"));
        (s, v)
    }

    /// `call` that must answer HTTP 200 `code`; the body.
    async fn must(&self, api: Api, token: &str, req: &Map<String, Value>, code: &str) -> Value {
        let got = self.call(api, Some(token), req).await;
        if let Err(e) = answer_is(&got, 200, code) {
            panic!("{api:?} {}: {e}", Value::Object(req.clone()));
        }
        got.1
    }

    /// The customer's balance by the control API.
    async fn balance_of(&self, name: &str) -> u64 {
        let v: Value = self
            .http
            .get(self.url("/_sandbox/accounts"))
            .send()
            .await
            .expect("accounts")
            .json()
            .await
            .expect("json");
        v["accounts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["name"] == name))
            .and_then(|a| a["balance"].as_u64())
            .expect("balance")
    }
}

fn consent_params<'a>(user: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", DEMO_CLIENT_ID),
        ("redirect_uri", CALLBACK),
        ("scope", scope),
        ("state", STATE),
        ("auth_type", "0"),
        ("sandbox_user", user),
    ]
}

// ---------------------------------------------------------------- verdicts

/// `Ok` when the answer has HTTP `status` and `rsp_code`; an API's HTTP 200 answer must also
/// carry the header fields `api_tran_id` and `api_tran_dtm` (17 digits).
fn answer_is(got: &Answer, status: u16, code: &str) -> Result<(), String> {
    let (s, body) = got;
    let rsp = body["rsp_code"].as_str().unwrap_or("<none>");
    if s.as_u16() != status || rsp != code {
        return Err(format!(
            "want HTTP {status} {code}, got {s} {rsp}: {}",
            body["rsp_message"]
        ));
    }
    let id = body["api_tran_id"].as_str().unwrap_or_default();
    let dtm = body["api_tran_dtm"].as_str().unwrap_or_default();
    if status == 200 && (id.is_empty() || dtm.len() != 17 || dtm.parse::<u64>().is_err()) {
        return Err(format!(
            "{code} without its header: api_tran_id {id:?}, api_tran_dtm {dtm:?}"
        ));
    }
    Ok(())
}

/// HTTP 200, A0004, and a message that names `field`.
fn refused_naming(got: &Answer, field: &str) -> Result<(), String> {
    answer_is(got, 200, "A0004")?;
    let msg = got.1["rsp_message"].as_str().unwrap_or_default();
    if names(msg, field) {
        Ok(())
    } else {
        Err(format!(
            "A0004, but the message does not name {field}: {msg:?}"
        ))
    }
}

/// `field` appears in `msg` as a whole name (`fintech_use_num` is not named by
/// `req_client_fintech_use_num`).
fn names(msg: &str, field: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    msg.match_indices(field).any(|(i, _)| {
        !msg[..i].chars().next_back().is_some_and(word)
            && !msg[i + field.len()..].chars().next().is_some_and(word)
    })
}

/// An O0001 refusal of the OAuth endpoints with `error_code`, and no token in it.
fn oauth_refused(got: &Answer, status: u16, error_code: &str) -> Result<(), String> {
    let (s, body) = got;
    let ok = s.as_u16() == status
        && body["rsp_code"] == "O0001"
        && body["error_code"] == error_code
        && body.get("access_token").is_none();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "want HTTP {status} O0001/{error_code}, got {s} {body}"
        ))
    }
}

fn all_pass(what: &str, n: usize, failures: &[String]) {
    eprintln!("{what}: {n} cases, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{what}: {} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------- field tables

/// What a variant of a valid request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A0000, as the valid request.
    Accepted,
    /// A0004 naming the field.
    Refused,
}

/// One-character values that break each kind (one character, so the length never does).
const BAD_CHARS: &[(Kind, &[&str])] = &[
    (Kind::N, &["x", "-", "１"]),
    (Kind::A, &["1", "가", "-"]),
    (Kind::AN, &["-", "가", " "]),
    (Kind::ANS, &["가", "\t"]),
    (Kind::AH, &["\u{7}"]),
];

/// A character each kind allows, to build a value one longer than the maximum.
const FILLER: &[(Kind, &str)] = &[
    (Kind::N, "1"),
    (Kind::A, "A"),
    (Kind::AN, "A"),
    (Kind::ANS, "A"),
    (Kind::AH, "a"),
];

/// Rules beyond type and length, by field name wherever the field appears:
/// (field, value, want, why).
const NAMED_RULES: &[(&str, &str, Want, &str)] = &[
    (
        "tran_dtime",
        "20231399996161",
        Want::Refused,
        "no such date-time",
    ),
    ("tran_dtime", "20260230120000", Want::Refused, "30 February"),
    (
        "tran_dtime",
        "20260103120000",
        Want::Refused,
        "two days ahead",
    ),
    (
        "tran_dtime",
        "20251230120000",
        Want::Refused,
        "two days behind",
    ),
    ("tran_dtime", "20260102110000", Want::Accepted, "23 h ahead"),
    (
        "tran_dtime",
        "20251231130000",
        Want::Accepted,
        "23 h behind",
    ),
    (
        "bank_tran_id",
        "T991000001X000000001",
        Want::Refused,
        "no U after the institution code",
    ),
    (
        "bank_tran_id",
        "F123456789U4BC34239Z",
        Want::Refused,
        "another institution's code",
    ),
    ("tran_amt", "0", Want::Refused, "nothing to move"),
    ("check_type", "3", Want::Refused, "neither 1 nor 2"),
    ("inquiry_type", "X", Want::Refused, "not A, I or O"),
    ("inquiry_base", "X", Want::Refused, "not D or T"),
];

/// The variants of one field: (what, the new value or `None` to remove it, want).
fn field_cases(f: &Field, method: Method) -> Vec<(String, Option<Value>, Want)> {
    let s = |v: &str| Some(Value::String(v.to_string()));
    let mut cases = Vec::new();
    if f.need == Need::Required {
        cases.push(("removed".to_string(), None, Want::Refused));
        cases.push(("empty".to_string(), s(""), Want::Refused));
    }
    if method == Method::Post {
        cases.push(("a JSON number".to_string(), Some(json!(1)), Want::Refused));
        if f.need == Need::Required {
            cases.push(("null".to_string(), Some(Value::Null), Want::Refused));
        }
    }
    let bad = BAD_CHARS
        .iter()
        .find(|(k, _)| *k == f.kind)
        .map(|(_, b)| *b);
    for v in bad.expect("every kind has bad characters") {
        cases.push((format!("{v:?}, not {:?}", f.kind), s(v), Want::Refused));
    }
    let fill = FILLER.iter().find(|(k, _)| *k == f.kind).map(|(_, c)| *c);
    let long = fill.expect("every kind has a filler").repeat(f.max + 1);
    cases.push((format!("{} long", f.max + 1), s(&long), Want::Refused));
    if f.kind == Kind::AH {
        // Bytes, not characters: max/3 + 1 syllables are over, max/3 plus ASCII up to max fit.
        let syllables = f.max / 3 + 1;
        let over = "가".repeat(syllables);
        cases.push((
            format!("{syllables} Hangul = {} bytes", over.len()),
            s(&over),
            Want::Refused,
        ));
        let exact = format!("{}{}", "가".repeat(f.max / 3), "a".repeat(f.max % 3));
        cases.push((
            format!("exactly {} bytes", f.max),
            s(&exact),
            Want::Accepted,
        ));
    }
    for (name, v, want, why) in NAMED_RULES {
        if *name == f.name {
            cases.push((format!("{v:?} ({why})"), s(v), *want));
        }
    }
    cases
}

/// Sets (or with `None` removes) `field` in the request or in its first `req_list` item.
fn edit(req: &mut Map<String, Value>, at: &str, field: &str, value: Option<Value>) {
    let target = if at == TOP {
        req
    } else {
        req.get_mut(at)
            .and_then(|l| l.get_mut(0))
            .and_then(Value::as_object_mut)
            .expect("the request's first item")
    };
    match value {
        None => {
            target.remove(field);
        }
        Some(v) => {
            target.insert(field.to_string(), v);
        }
    }
}

/// Judges an answer to a variant of the request that changed the named field.
type Verdict = fn(&Answer, &str) -> Result<(), String>;

/// The valid request is accepted; every variant of every field of `api`'s tables gets what it
/// must; a field no table lists is ignored.
async fn field_contract(api: Api) {
    let sb = Sb::new().await;
    let (_, _, method, tables) = spec(api);
    let token = sb.good_token(api);
    let accepted: Verdict = |got, _| answer_is(got, 200, "A0000");
    // (what, verdict)
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();

    let got = sb.call(api, Some(token), &sb.valid(api).await).await;
    results.push(("the valid request".into(), accepted(&got, "")));
    let mut req = sb.valid(api).await;
    req.insert("x_not_in_any_table".into(), json!("ignored"));
    let got = sb.call(api, Some(token), &req).await;
    results.push(("an unlisted field".into(), accepted(&got, "")));

    for (at, table) in tables.iter() {
        for f in table.iter() {
            for (what, value, want) in field_cases(f, *method) {
                let mut req = sb.valid(api).await;
                edit(&mut req, at, f.name, value);
                let got = sb.call(api, Some(token), &req).await;
                let verdict: Verdict = match want {
                    Want::Accepted => accepted,
                    Want::Refused => refused_naming,
                };
                let place = if at.is_empty() { "" } else { "req_list[0]." };
                results.push((format!("{place}{} {what}", f.name), verdict(&got, f.name)));
            }
        }
    }
    let n = results.len();
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(what, r)| r.err().map(|e| format!("{api:?} {what}: {e}")))
        .collect();
    all_pass(&format!("{api:?} field tables"), n, &failures);
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn fields_of_withdraw() {
    field_contract(Api::Withdraw).await;
}

#[tokio::test]
async fn fields_of_deposit() {
    field_contract(Api::Deposit).await;
}

#[tokio::test]
async fn fields_of_transfer_result() {
    field_contract(Api::Result).await;
}

#[tokio::test]
async fn fields_of_real_name() {
    field_contract(Api::RealName).await;
}

#[tokio::test]
async fn fields_of_balance() {
    field_contract(Api::Balance).await;
}

#[tokio::test]
async fn fields_of_transaction_list() {
    field_contract(Api::TransactionList).await;
}

#[tokio::test]
async fn fields_of_user_me() {
    field_contract(Api::UserMe).await;
}

#[tokio::test]
async fn fields_of_account_list() {
    field_contract(Api::AccountList).await;
}

/// Each optional field of the POST tables (those `only` selects) set to JSON `null` must get the
/// answer the same request gets with the field left out: `check` in `fields.rs` reads `null` as
/// absent. The number of cases and the mismatches.
async fn null_is_absent(sb: &Sb, only: impl Fn(&str) -> bool) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut n = 0;
    for (api, _, method, tables) in APIS {
        if *method != Method::Post {
            continue;
        }
        for (at, table) in tables.iter() {
            for f in table
                .iter()
                .filter(|f| f.need == Need::Optional && only(f.name))
            {
                let mut absent = sb.valid(*api).await;
                edit(&mut absent, at, f.name, None);
                let absent = sb.call(*api, Some(sb.good_token(*api)), &absent).await;
                let mut null = sb.valid(*api).await;
                edit(&mut null, at, f.name, Some(Value::Null));
                let null = sb.call(*api, Some(sb.good_token(*api)), &null).await;
                n += 1;
                let code = absent.1["rsp_code"].as_str().unwrap_or_default();
                if let Err(e) = answer_is(&null, absent.0.as_u16(), code) {
                    failures.push(format!("{api:?} {} null (as when omitted): {e}", f.name));
                }
            }
        }
    }
    (n, failures)
}

#[tokio::test]
async fn a_null_optional_field_counts_as_absent() {
    let sb = Sb::new().await;
    let (n, failures) = null_is_absent(&sb, |_| true).await;
    assert!(n >= 19, "only {n} optional fields were tried");
    all_pass("null optional fields", n, &failures);
    sb.sb.shutdown().await;
}

/// POST APIs take a JSON object, `Content-Type: application/json; charset=UTF-8`.
#[tokio::test]
async fn post_apis_take_a_json_object_only() {
    let sb = Sb::new().await;
    // (content type, body: the valid request or something else, want)
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("application/json", None, "A0000"),
        ("application/json; charset=UTF-8", None, "A0000"),
        ("text/plain", None, "A0004"),
        (
            "application/x-www-form-urlencoded",
            Some("tran_amt=1000"),
            "A0004",
        ),
        ("application/json", Some("[]"), "A0004"),
        ("application/json", Some("{not json"), "A0004"),
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for (api, path, method, _) in APIS {
        if *method != Method::Post {
            continue;
        }
        for (content_type, body, want) in cases {
            let valid = Value::Object(sb.valid(*api).await).to_string();
            let r = sb
                .http
                .post(sb.url(path))
                .bearer_auth(sb.good_token(*api))
                .header(CONTENT_TYPE, *content_type)
                .body(body.map_or(valid, str::to_string))
                .send()
                .await
                .expect("send");
            let s = r.status();
            let got = (s, r.json().await.unwrap_or_default());
            n += 1;
            if let Err(e) = answer_is(&got, 200, want) {
                failures.push(format!("{api:?} {content_type} {body:?}: {e}"));
            }
        }
    }
    all_pass("content types", n, &failures);
    sb.sb.shutdown().await;
}

// ---------------------------------------------------------------- rules across fields

#[tokio::test]
async fn withdraw_names_the_payer_exactly_once() {
    let sb = Sb::new().await;
    let pair = [
        ("req_client_bank_code", "097"),
        ("req_client_account_num", ALICE_ACCOUNT),
    ];
    // (what, fields removed, fields added, want)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("by fintech number", &[], &[], "A0000"),
        (
            "by bank + account",
            &["req_client_fintech_use_num"],
            &pair,
            "A0000",
        ),
        ("both", &[], &pair, "A0004"),
        ("neither", &["req_client_fintech_use_num"], &[], "A0004"),
        (
            "bank code alone",
            &["req_client_fintech_use_num"],
            &pair[..1],
            "A0004",
        ),
        (
            "account alone",
            &["req_client_fintech_use_num"],
            &pair[1..],
            "A0004",
        ),
        ("no account to debit", &["fintech_use_num"], &[], "A0004"),
    ];
    let mut failures = Vec::new();
    for (what, removed, added, want) in cases {
        let mut req = sb.withdraw_request("1000");
        for k in *removed {
            req.remove(*k);
        }
        for (k, v) in *added {
            req.insert(k.to_string(), json!(v));
        }
        let got = sb
            .call(Api::Withdraw, Some(&sb.alice.access_token), &req)
            .await;
        if let Err(e) = answer_is(&got, 200, want) {
            failures.push(format!("{what}: {e}"));
        }
    }
    all_pass("payer", cases.len(), &failures);
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn a_deposit_is_one_item_counted_by_req_cnt() {
    let sb = Sb::new().await;
    let item = |fin| deposit_item("1", &sb.fresh_id(), fin, "1000");
    let mut second = item(BOB_FIN);
    second["tran_no"] = json!("2");
    let cases: Vec<(&str, Map<String, Value>)> = vec![
        (
            "req_cnt 2, two items",
            deposit_request("2", vec![item(ALICE_FIN), second.clone()]),
        ),
        (
            "req_cnt 1, two items",
            deposit_request("1", vec![item(ALICE_FIN), second]),
        ),
        (
            "req_cnt 2, one item",
            deposit_request("2", vec![item(ALICE_FIN)]),
        ),
        ("req_cnt 0, no items", deposit_request("0", vec![])),
        ("req_cnt 1, no items", deposit_request("1", vec![])),
    ];
    let mut failures = Vec::new();
    for (what, req) in &cases {
        let got = sb.call(Api::Deposit, Some(&sb.oob), req).await;
        if let Err(e) = answer_is(&got, 200, "A0004") {
            failures.push(format!("{what}: {e}"));
        }
    }
    all_pass("deposit req_cnt", cases.len(), &failures);
    // Nothing was credited.
    assert_eq!(sb.balance_of("alice").await, 5_000_000);
    assert_eq!(sb.balance_of("bob").await, 10_000);
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn a_result_query_counts_its_list() {
    let sb = Sb::new().await;
    let a = sb.target().await.to_string();
    let b = sb.withdraw_request("2000");
    sb.must(Api::Withdraw, &sb.alice.access_token, &b, "A0000")
        .await;
    let b = b["bank_tran_id"].as_str().expect("id").to_string();
    let one = (a.as_str(), TODAY, "1000");
    let two = (b.as_str(), TODAY, "2000");
    let with_cnt = |cnt: &str, items: &[(&str, &str, &str)]| {
        let mut r = result_request("1", items);
        r.insert("req_cnt".into(), json!(cnt));
        r
    };
    let mut many = result_request("1", &[one; 26]);
    many.insert("req_cnt".into(), json!("26"));
    let mut no_list = result_request("1", &[one]);
    no_list.remove("req_list");
    let cases: Vec<(&str, Map<String, Value>, &str)> = vec![
        ("req_cnt 2, two items", with_cnt("2", &[one, two]), "A0000"),
        ("req_cnt 2, one item", with_cnt("2", &[one]), "A0004"),
        ("req_cnt 1, two items", with_cnt("1", &[one, two]), "A0004"),
        ("req_cnt 3, two items", with_cnt("3", &[one, two]), "A0004"),
        ("req_cnt 0, no items", with_cnt("0", &[]), "A0004"),
        ("no req_list", no_list, "A0004"),
        ("26 items (at most 25)", many, "A0004"),
    ];
    let mut failures = Vec::new();
    for (what, req, want) in &cases {
        let got = sb.call(Api::Result, Some(&sb.oob), req).await;
        if let Err(e) = answer_is(&got, 200, want) {
            failures.push(format!("{what}: {e}"));
        }
        if *want == "A0000" && got.1["res_cnt"] != "2" {
            failures.push(format!("{what}: res_cnt {}", got.1["res_cnt"]));
        }
    }
    all_pass("result req_cnt", cases.len(), &failures);
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn a_transfer_is_found_only_by_its_day_amount_and_kind() {
    let sb = Sb::new().await;
    let w = sb.withdraw_request("4500");
    sb.must(Api::Withdraw, &sb.alice.access_token, &w, "A0000")
        .await;
    let w = w["bank_tran_id"].as_str().expect("id").to_string();
    let d = sb.fresh_id();
    let dep = deposit_request("1", vec![deposit_item("1", &d, ALICE_FIN, "700")]);
    sb.must(Api::Deposit, &sb.oob, &dep, "A0000").await;
    // Bob cannot pay ₩20,000: the bank refused it (453), and says so.
    let mut refused = sb.withdraw_request("20000");
    refused.insert("fintech_use_num".into(), json!(BOB_FIN));
    refused.insert("req_client_fintech_use_num".into(), json!(BOB_FIN));
    sb.must(Api::Withdraw, &sb.bob.access_token, &refused, "A0002")
        .await;
    let r = refused["bank_tran_id"].as_str().expect("id").to_string();
    let unknown = sb.fresh_id();

    // (what, check_type, id, org_bank_tran_date, org_tran_amt, rsp_code, item bank_rsp_code)
    let cases: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
        ("the withdrawal", "1", &w, TODAY, "4500", "A0000", "000"),
        ("wrong day", "1", &w, "20251231", "4500", "A0310", ""),
        ("wrong amount", "1", &w, TODAY, "4501", "A0310", ""),
        ("as a deposit", "2", &w, TODAY, "4500", "A0310", ""),
        ("the deposit", "2", &d, TODAY, "700", "A0000", "000"),
        (
            "the deposit as a withdrawal",
            "1",
            &d,
            TODAY,
            "700",
            "A0310",
            "",
        ),
        (
            "the deposit, wrong amount",
            "2",
            &d,
            TODAY,
            "701",
            "A0310",
            "",
        ),
        (
            "refused by the bank",
            "1",
            &r,
            TODAY,
            "20000",
            "A0000",
            "453",
        ),
        ("never sent", "1", &unknown, TODAY, "4500", "A0310", ""),
    ];
    let mut failures = Vec::new();
    for (what, check_type, id, date, amt, code, bank) in cases {
        let req = result_request(check_type, &[(*id, *date, *amt)]);
        let got = sb.call(Api::Result, Some(&sb.oob), &req).await;
        let item = &got.1["res_list"][0];
        let verdict = answer_is(&got, 200, code).and_then(|()| {
            let ok =
                code != &"A0000" || (item["bank_rsp_code"] == *bank && item["bank_tran_id"] == *id);
            ok.then_some(()).ok_or(format!("item {item}"))
        });
        if let Err(e) = verdict {
            failures.push(format!("{what}: {e}"));
        }
    }
    all_pass("result keys", cases.len(), &failures);
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn a_bank_tran_id_is_used_once_a_day() {
    let sb = Sb::new().await;
    let alice = sb.alice.access_token.clone();
    let first = sb.withdraw_request("1000");
    sb.must(Api::Withdraw, &alice, &first, "A0000").await;
    let id = first["bank_tran_id"].as_str().expect("id").to_string();
    // The same id the same day: A0326, nothing moves; deposits share the id space.
    sb.must(Api::Withdraw, &alice, &first, "A0326").await;
    let dep = deposit_request("1", vec![deposit_item("1", &id, ALICE_FIN, "1000")]);
    sb.must(Api::Deposit, &sb.oob, &dep, "A0326").await;
    assert_eq!(sb.balance_of("alice").await, 4_999_000);
    // A malformed request never reaches the bank: its id stays free.
    let mut bad = sb.withdraw_request("0");
    sb.must(Api::Withdraw, &alice, &bad, "A0004").await;
    bad.insert("tran_amt".into(), json!("1000"));
    sb.must(Api::Withdraw, &alice, &bad, "A0000").await;
    assert_eq!(sb.balance_of("alice").await, 4_998_000);
    sb.sb.shutdown().await;
}

// ---------------------------------------------------------------- scopes

#[derive(Debug, Clone, Copy)]
enum Tok {
    None,
    Unknown,
    Oob,
    /// Alice's, with only that scope.
    Login,
    Inquiry,
    Transfer,
    /// Alice's, `login inquiry transfer`.
    Full,
    /// Bob's full token, on alice's resources.
    Bobs,
}

const TOKS: [Tok; 8] = [
    Tok::None,
    Tok::Unknown,
    Tok::Oob,
    Tok::Login,
    Tok::Inquiry,
    Tok::Transfer,
    Tok::Full,
    Tok::Bobs,
];

const NO_TOKEN: (u16, &str) = (401, "O0002");
const NO_SCOPE: (u16, &str) = (403, "O0005");
const OK: (u16, &str) = (200, "A0000");
const NOT_THEIRS: (u16, &str) = (200, "A0304");
const NOT_THE_USER: (u16, &str) = (200, "A0313");

/// What each endpoint answers to a valid request (about alice) with each kind of token, in
/// the order of [`TOKS`]: none, unknown, oob, login-only, inquiry-only, transfer-only, full,
/// bob's.
const SCOPES: &[(Api, [(u16, &str); 8])] = &[
    (
        Api::Withdraw,
        [
            NO_TOKEN, NO_TOKEN, NO_SCOPE, NO_SCOPE, NO_SCOPE, OK, OK, NOT_THEIRS,
        ],
    ),
    (
        Api::Balance,
        [
            NO_TOKEN, NO_TOKEN, NO_SCOPE, NO_SCOPE, OK, NO_SCOPE, OK, NOT_THEIRS,
        ],
    ),
    (
        Api::TransactionList,
        [
            NO_TOKEN, NO_TOKEN, NO_SCOPE, NO_SCOPE, OK, NO_SCOPE, OK, NOT_THEIRS,
        ],
    ),
    (
        Api::UserMe,
        [
            NO_TOKEN,
            NO_TOKEN,
            NO_SCOPE,
            OK,
            NO_SCOPE,
            NO_SCOPE,
            OK,
            NOT_THE_USER,
        ],
    ),
    (
        Api::AccountList,
        [
            NO_TOKEN,
            NO_TOKEN,
            NO_SCOPE,
            OK,
            NO_SCOPE,
            NO_SCOPE,
            OK,
            NOT_THE_USER,
        ],
    ),
    (
        Api::Deposit,
        [
            NO_TOKEN, NO_TOKEN, OK, NO_SCOPE, NO_SCOPE, NO_SCOPE, NO_SCOPE, NO_SCOPE,
        ],
    ),
    (
        Api::Result,
        [
            NO_TOKEN, NO_TOKEN, OK, NO_SCOPE, NO_SCOPE, NO_SCOPE, NO_SCOPE, NO_SCOPE,
        ],
    ),
    (
        Api::RealName,
        [
            NO_TOKEN, NO_TOKEN, OK, NO_SCOPE, NO_SCOPE, NO_SCOPE, NO_SCOPE, NO_SCOPE,
        ],
    ),
];

#[tokio::test]
async fn every_endpoint_against_every_kind_of_token() {
    let sb = Sb::new().await;
    let login = sb.enrol("alice", "login").await.access_token;
    let inquiry = sb.enrol("alice", "inquiry").await.access_token;
    let transfer = sb.enrol("alice", "transfer").await.access_token;
    let token = |t: Tok| -> Option<&str> {
        match t {
            Tok::None => None,
            Tok::Unknown => Some("not-a-token-this-bank-issued"),
            Tok::Oob => Some(&sb.oob),
            Tok::Login => Some(&login),
            Tok::Inquiry => Some(&inquiry),
            Tok::Transfer => Some(&transfer),
            Tok::Full => Some(&sb.alice.access_token),
            Tok::Bobs => Some(&sb.bob.access_token),
        }
    };
    for (api, ..) in APIS {
        assert!(SCOPES.iter().any(|(a, _)| a == api), "{api:?} has no row");
    }
    let mut failures = Vec::new();
    let mut n = 0;
    for (api, row) in SCOPES {
        for (tok, (status, code)) in TOKS.iter().zip(row) {
            let req = sb.valid(*api).await;
            let got = sb.call(*api, token(*tok), &req).await;
            n += 1;
            if let Err(e) = answer_is(&got, *status, code) {
                failures.push(format!("{api:?} with {tok:?}: {e}"));
            }
        }
    }
    all_pass("scopes", n, &failures);
    sb.sb.shutdown().await;
}

// ---------------------------------------------------------------- OAuth

/// Authorize requests refused: (param, its value or `None` to leave it out, status,
/// error_code).
const AUTHORIZE_REFUSALS: &[(&str, Option<&str>, u16, &str)] = &[
    ("response_type", None, 400, "3000103"),
    ("client_id", None, 400, "3000103"),
    ("redirect_uri", None, 400, "3000103"),
    ("scope", None, 400, "3000103"),
    ("state", None, 400, "3000103"),
    ("state", Some(""), 400, "3000103"),
    ("response_type", Some("token"), 400, "3000116"),
    ("client_id", Some("someone-else"), 401, "3000201"),
    (
        "redirect_uri",
        Some("https://example.com/callback"),
        400,
        "3000114",
    ),
    (
        "redirect_uri",
        Some("http://example.com/callback"),
        400,
        "3000114",
    ),
    (
        "redirect_uri",
        Some("http://127.0.0.1.example.com/cb"),
        400,
        "3000114",
    ),
    (
        "redirect_uri",
        Some("http://localhost@example.com/cb"),
        400,
        "3000114",
    ),
    ("redirect_uri", Some("callback"), 400, "3000114"),
    ("scope", Some("oob"), 400, "3000115"),
    ("scope", Some("payments"), 400, "3000115"),
    ("scope", Some("login oob"), 400, "3000115"),
    ("auth_type", Some("9"), 400, "3000103"),
    ("sandbox_user", Some("zed"), 400, "3000103"),
    // A payRequest customer has no open-banking account to consent with.
    ("sandbox_user", Some("erin"), 400, "3000103"),
];

#[tokio::test]
async fn authorize_refusals() {
    let sb = Sb::new().await;
    let mut failures = Vec::new();
    for (param, value, status, error_code) in AUTHORIZE_REFUSALS {
        let mut params = consent_params("alice", ALL_SCOPES);
        params.retain(|(k, _)| k != param);
        if let Some(v) = value {
            params.push((*param, *v));
        }
        let r = sb.authorize(&params).await;
        let s = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        if let Err(e) = oauth_refused(&(s, body), *status, error_code) {
            failures.push(format!("{param}={value:?}: {e}"));
        }
    }
    all_pass("authorize", AUTHORIZE_REFUSALS.len(), &failures);
    // auth_type is optional.
    let mut params = consent_params("alice", ALL_SCOPES);
    params.retain(|(k, _)| *k != "auth_type");
    assert_eq!(sb.authorize(&params).await.status(), StatusCode::FOUND);
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn the_consent_page_lists_the_customers() {
    let sb = Sb::new().await;
    let mut params = consent_params("alice", "login inquiry");
    params.retain(|(k, _)| *k != "sandbox_user");
    let r = sb.authorize(&params).await;
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()[CONTENT_TYPE].to_str().expect("content-type");
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = r.text().await.expect("html");
    for name in ["alice", "bob", "carol", "dave", "login inquiry"] {
        assert!(html.contains(name), "{name} not on the page: {html}");
    }
    assert!(!html.contains("erin"), "a payRequest customer is listed");
    assert!(!html.contains("code="), "no code before consent");
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn token_refusals() {
    let sb = Sb::new().await;
    let (id, secret) = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET);
    let cc = |client_id, client_secret, scope| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("scope", scope),
        ]
    };
    let without = |k: &str| {
        let mut f = cc(id, secret, "oob");
        f.retain(|(x, _)| *x != k);
        f
    };
    let with = |k, v| {
        let mut f = cc(id, secret, "oob");
        f.retain(|(x, _)| *x != k);
        f.push((k, v));
        f
    };
    let code_grant = |code: &'static str| {
        let mut f = with("grant_type", "authorization_code");
        f.push(("code", code));
        f.push(("redirect_uri", CALLBACK));
        f
    };
    // (what, form, status, error_code)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("wrong secret", cc(id, "wrong", "oob"), 401, "3000201"),
        (
            "unknown client",
            cc("someone-else", secret, "oob"),
            401,
            "3000201",
        ),
        ("no secret", without("client_secret"), 400, "3000103"),
        ("no client_id", without("client_id"), 400, "3000103"),
        ("no grant_type", without("grant_type"), 400, "3000103"),
        (
            "grant_type password",
            with("grant_type", "password"),
            400,
            "3000116",
        ),
        (
            "client_credentials for login",
            cc(id, secret, "login"),
            400,
            "3000115",
        ),
        (
            "client_credentials, no scope",
            without("scope"),
            400,
            "3000115",
        ),
        (
            "client_credentials, oob login",
            cc(id, secret, "oob login"),
            400,
            "3000115",
        ),
        ("unknown code", code_grant("no-such-code"), 400, "3000117"),
        ("empty code", code_grant(""), 400, "3000103"),
        (
            "unknown refresh token",
            {
                let mut f = with("grant_type", "refresh_token");
                f.push(("refresh_token", "no-such-token"));
                f
            },
            400,
            "3000118",
        ),
    ];
    let mut failures = Vec::new();
    for (what, form, status, error_code) in &cases {
        let got = sb.token(form).await;
        if let Err(e) = oauth_refused(&got, *status, error_code) {
            failures.push(format!("{what}: {e}"));
        }
    }
    // JSON instead of a form.
    let r = sb
        .http
        .post(sb.url(TOKEN_PATH))
        .json(&json!({"grant_type": "client_credentials", "client_id": id,
                      "client_secret": secret, "scope": "oob"}))
        .send()
        .await
        .expect("token");
    let s = r.status();
    let got = (s, r.json().await.unwrap_or_default());
    if let Err(e) = oauth_refused(&got, 400, "3000103") {
        failures.push(format!("a JSON body: {e}"));
    }
    all_pass("token", cases.len() + 1, &failures);
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn a_code_is_used_once_for_its_redirect_uri_within_ten_minutes() {
    let sb = Sb::new().await;
    let code = sb.code("alice", "login").await;
    assert_eq!(sb.exchange(&code, CALLBACK).await.0, StatusCode::OK);
    let again = sb.exchange(&code, CALLBACK).await;
    oauth_refused(&again, 400, "3000117").expect("a code used twice");

    let code = sb.code("alice", "login").await;
    let elsewhere = sb.exchange(&code, "http://127.0.0.1:9/other").await;
    oauth_refused(&elsewhere, 400, "3000114").expect("another redirect_uri");

    let code = sb.code("alice", "login").await;
    sb.clock.advance(Duration::from_secs(601));
    let late = sb.exchange(&code, CALLBACK).await;
    oauth_refused(&late, 400, "3000117").expect("an expired code");
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn a_refresh_token_rotates_and_never_widens() {
    let sb = Sb::new().await;
    let me = obj(json!({ "user_seq_no": sb.alice.user_seq_no }));
    let old = sb.enrol("alice", ALL_SCOPES).await;
    let (s, body) = sb.refresh(&old.refresh_token, "").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let new: UserGrant = serde_json::from_value(body).expect("grant");
    assert_ne!(new.access_token, old.access_token);
    assert_ne!(new.refresh_token, old.refresh_token);
    assert_eq!(
        (new.scope.as_str(), new.user_seq_no.as_str()),
        (ALL_SCOPES, old.user_seq_no.as_str())
    );
    sb.must(Api::UserMe, &new.access_token, &me, "A0000").await;
    // The old refresh token is spent.
    let spent = sb.refresh(&old.refresh_token, "").await;
    oauth_refused(&spent, 400, "3000118").expect("a spent refresh token");

    // Never wider than granted; narrower is fine.
    let login = sb.enrol("alice", "login").await;
    let wider = sb.refresh(&login.refresh_token, "login transfer").await;
    oauth_refused(&wider, 400, "3000115").expect("a wider scope");
    let (s, body) = sb.refresh(&new.refresh_token, "inquiry").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "inquiry");
    let narrow = body["access_token"].as_str().expect("token");
    let got = sb.call(Api::UserMe, Some(narrow), &me).await;
    answer_is(&got, 403, "O0005").expect("an inquiry-only token on user/me");
    sb.sb.shutdown().await;
}

#[tokio::test]
async fn an_access_token_expires_after_expires_in_seconds() {
    let sb = Sb::new().await;
    let me = obj(json!({ "user_seq_no": sb.alice.user_seq_no }));
    let alice = sb.alice.access_token.clone();
    sb.clock.advance(Duration::from_secs(TOKEN_LIFETIME_S - 1));
    sb.must(Api::UserMe, &alice, &me, "A0000").await;
    sb.clock.advance(Duration::from_secs(2));
    let got = sb.call(Api::UserMe, Some(&alice), &me).await;
    answer_is(&got, 401, "O0003").expect("alice's expired token");
    let req = sb.valid(Api::RealName).await;
    let got = sb.call(Api::RealName, Some(&sb.oob), &req).await;
    answer_is(&got, 401, "O0003").expect("the expired oob token");
    // The refresh token outlives the access token.
    let (s, body) = sb.refresh(&sb.alice.refresh_token, "").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let renewed = body["access_token"].as_str().expect("token");
    sb.must(Api::UserMe, renewed, &me, "A0000").await;
    sb.sb.shutdown().await;
}

// ---------------------------------------------------------------- end to end

#[tokio::test]
async fn the_three_legged_flow_end_to_end() {
    let sb = Sb::new().await;
    // authorize → code
    let r = sb.authorize(&consent_params("alice", ALL_SCOPES)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let back = reqwest::Url::parse(r.headers()[LOCATION].to_str().expect("location"))
        .expect("location url");
    let q: HashMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], STATE);
    assert_eq!(q["scope"], ALL_SCOPES);
    // code → tokens (no rsp_code when it works)
    let (s, t) = sb.exchange(&q["code"], CALLBACK).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t.get("rsp_code").is_none(), "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], TOKEN_LIFETIME_S);
    assert_eq!(t["scope"], ALL_SCOPES);
    let token = t["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    let seq = t["user_seq_no"].as_str().expect("user_seq_no").to_string();
    assert!(t["refresh_token"].as_str().is_some_and(|r| !r.is_empty()));
    let who = obj(json!({ "user_seq_no": &seq }));

    let me = sb.must(Api::UserMe, &token, &who, "A0000").await;
    assert_eq!(
        (&me["user_name"], &me["user_seq_no"]),
        (&json!("alice"), &json!(&seq))
    );
    assert_eq!(me["res_cnt"], "1");
    let acct = &me["res_list"][0];
    assert_eq!(
        (&acct["fintech_use_num"], &acct["transfer_agree_yn"]),
        (&json!(ALICE_FIN), &json!("Y"))
    );

    let list = sb.must(Api::AccountList, &token, &who, "A0000").await;
    let acct = &list["res_list"][0];
    assert_eq!(acct["fintech_use_num"], ALICE_FIN);
    assert_eq!(acct["account_state"], "01");

    let wd = sb.withdraw_request("5000");
    let id = wd["bank_tran_id"].as_str().expect("id").to_string();
    let r = sb.must(Api::Withdraw, &token, &wd, "A0000").await;
    assert_eq!(
        (&r["bank_rsp_code"], &r["tran_amt"]),
        (&json!("000"), &json!("5000"))
    );
    assert_eq!(r["bank_tran_date"], TODAY);

    let q = result_request("1", &[(&id, TODAY, "5000")]);
    let found = sb.must(Api::Result, &sb.oob, &q, "A0000").await;
    let item = &found["res_list"][0];
    assert_eq!(item["bank_rsp_code"], "000");
    assert_eq!(item["tran_amt"], "5000");
    assert_eq!(item["wd_fintech_use_num"], ALICE_FIN);

    let bal = obj(
        json!({"bank_tran_id": sb.fresh_id(), "fintech_use_num": ALICE_FIN, "tran_dtime": NOW}),
    );
    let b = sb.must(Api::Balance, &token, &bal, "A0000").await;
    assert_eq!(b["balance_amt"], "4995000");

    let mut tl = sb.valid(Api::TransactionList).await;
    tl.insert("bank_tran_id".into(), json!(sb.fresh_id()));
    let txs = sb.must(Api::TransactionList, &token, &tl, "A0000").await;
    let rows = txs["res_list"].as_array().expect("res_list");
    assert_eq!(rows.len(), 1, "{txs}");
    assert_eq!(
        (
            &rows[0]["inout_type"],
            &rows[0]["tran_amt"],
            &rows[0]["after_balance_amt"]
        ),
        (&json!("출금"), &json!("5000"), &json!("4995000"))
    );

    let mut rn = sb.valid(Api::RealName).await;
    let named = sb.must(Api::RealName, &sb.oob, &rn, "A0000").await;
    assert_eq!(named["account_holder_name"], "alice");
    rn.insert("bank_tran_id".into(), json!(sb.fresh_id()));
    rn.insert("account_holder_info".into(), json!("900102"));
    let wrong = sb.must(Api::RealName, &sb.oob, &rn, "A0002").await;
    assert_eq!(wrong["bank_rsp_code"], "815");
    assert_eq!(wrong["account_holder_name"], "");
    sb.sb.shutdown().await;
}
