//! Black-box tests of the sandbox over real HTTP on 127.0.0.1 (port 0).

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::state::{ALICE_FIN, BOB_FIN, CAROL_FIN, DAVE_FIN};
use super::*;
use crate::clock::ManualClock;
use crate::protocol::openbanking::{
    BalanceResponse, TokenResponse, TransferResultResponse, WithdrawRequest, WithdrawResponse,
    BALANCE_PATH, RESULT_PATH, TOKEN_PATH, WITHDRAW_PATH,
};
use crate::protocol::payrequest::{PayRequest, PayStatus, PAY_PATH, REQUEST_ID_HEADER};

const EMVCO_SAMPLE: &str = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==";

/// The bank's clock in these tests: the day the requests below are dated (`tran_dtime`
/// 20260101120000), whatever day the tests run.
fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at("2026-01-01 12:00:00").expect("time"))
}

fn cfg(data_dir: Option<&Path>, accounts: Option<&Path>) -> SandboxConfig {
    SandboxConfig {
        clock: clock(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data_dir.map(Path::to_path_buf),
        accounts_file: accounts.map(Path::to_path_buf),
    }
}

struct T {
    sb: Sandbox,
    http: reqwest::Client,
    /// The institution's `oob` token.
    token: String,
    /// fintech number → its customer's own token (`login inquiry transfer`).
    user_tokens: std::collections::HashMap<String, String>,
}

/// What the token endpoint gives a user at the end of the 3-legged flow.
#[derive(Debug, Clone, serde::Deserialize)]
struct UserGrant {
    access_token: String,
    refresh_token: String,
    scope: String,
    user_seq_no: String,
    expires_in: u64,
}

const CALLBACK: &str = "http://127.0.0.1:9/callback";

impl T {
    async fn new() -> T {
        T::with(cfg(None, None)).await
    }

    async fn with(c: SandboxConfig) -> T {
        let sb = start(c).await.expect("start");
        let http = reqwest::Client::new();
        let mut t = T {
            sb,
            http,
            token: String::new(),
            user_tokens: Default::default(),
        };
        t.token = t.get_token().await;
        for (name, fin) in [
            ("alice", ALICE_FIN),
            ("bob", BOB_FIN),
            ("carol", CAROL_FIN),
            ("dave", DAVE_FIN),
        ] {
            // An accounts file may not have them.
            if t.consent(name, "login").await.is_ok() {
                let g = t.enrol(name, "login inquiry transfer").await;
                t.user_tokens.insert(fin.to_string(), g.access_token);
            }
        }
        t
    }

    /// The consent redirect for `name` with `scope`: the `Location`, or the refusal.
    async fn consent(&self, name: &str, scope: &str) -> Result<reqwest::Url, (StatusCode, Value)> {
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let r = no_redirects
            .get(self.url(crate::protocol::openbanking::AUTHORIZE_PATH))
            .query(&[
                ("response_type", "code"),
                ("client_id", DEMO_CLIENT_ID),
                ("redirect_uri", CALLBACK),
                ("scope", scope),
                ("state", "0123456789abcdef0123456789abcdef"),
                ("auth_type", "0"),
                ("sandbox_user", name),
            ])
            .send()
            .await
            .expect("authorize");
        if r.status() != StatusCode::FOUND {
            let s = r.status();
            return Err((s, r.json().await.unwrap_or_default()));
        }
        let loc = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        Ok(reqwest::Url::parse(&loc).expect("location url"))
    }

    /// The token endpoint's answer to `form` (status, body).
    async fn token_form(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
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

    /// The 3-legged flow for sandbox customer `name`: consent, code, tokens.
    async fn enrol(&self, name: &str, scope: &str) -> UserGrant {
        let back = self.consent(name, scope).await.expect("consent redirects");
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.to_string())
            .expect("code");
        let (s, body) = self
            .token_form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("redirect_uri", CALLBACK),
            ])
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let g: UserGrant = serde_json::from_value(body).expect("user grant");
        assert_eq!(g.scope, scope);
        assert_eq!(g.expires_in, 7_775_999);
        assert!(
            g.user_seq_no.len() == 10 && !g.refresh_token.is_empty(),
            "{g:?}"
        );
        g
    }

    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.sb.url())
    }

    async fn get_token(&self) -> String {
        let r: TokenResponse = self
            .http
            .post(self.url(TOKEN_PATH))
            .form(&[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("scope", "oob"),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        r.access_token
    }

    fn wd(id: &str, fin: &str, amt: u64) -> WithdrawRequest {
        WithdrawRequest {
            bank_tran_id: id.into(),
            cntr_account_type: "N".into(),
            cntr_account_num: "100000000001".into(),
            dps_print_content: "qrpos".into(),
            fintech_use_num: fin.into(),
            tran_amt: amt.to_string(),
            tran_dtime: "20260101120000".into(),
            req_client_name: "customer".into(),
            req_client_fintech_use_num: fin.into(),
            req_client_num: "C1".into(),
            transfer_purpose: "ST".into(),
            ..Default::default()
        }
    }

    /// Sent with the token of the customer who owns the fintech number (alice's for an EMV
    /// code or an unknown number).
    async fn withdraw_req(&self, req: &WithdrawRequest) -> reqwest::Result<reqwest::Response> {
        let token = self
            .user_tokens
            .get(&req.fintech_use_num)
            .or_else(|| self.user_tokens.get(ALICE_FIN))
            .expect("alice's token");
        self.http
            .post(self.url(WITHDRAW_PATH))
            .bearer_auth(token)
            .json(req)
            .send()
            .await
    }

    async fn withdraw(&self, id: &str, fin: &str, amt: u64) -> (StatusCode, WithdrawResponse) {
        let r = self.withdraw_req(&T::wd(id, fin, amt)).await.expect("send");
        let s = r.status();
        (s, r.json().await.expect("withdraw json"))
    }

    /// `transfer/result` for `ids`, each with the day and amount it was sent with (the amount
    /// of its last ledger line; 1 for an id the bank never saw).
    async fn result(&self, ids: &[&str]) -> TransferResultResponse {
        let ledger = self.ledger().await;
        let amount = |id: &str| {
            ledger
                .iter()
                .rfind(|e| e.bank_tran_id == id)
                .map_or(1, |e| e.amount)
        };
        let asked: Vec<(&str, &str, u64)> =
            ids.iter().map(|id| (*id, "20260101", amount(id))).collect();
        self.result_of(&asked).await
    }

    /// `transfer/result` of withdrawals for `(id, org_bank_tran_date, org_tran_amt)` items.
    async fn result_of(&self, items: &[(&str, &str, u64)]) -> TransferResultResponse {
        self.result_checking("1", items).await
    }

    /// `transfer/result` with `check_type` (1 withdrawals, 2 deposits).
    async fn result_checking(
        &self,
        check_type: &str,
        items: &[(&str, &str, u64)],
    ) -> TransferResultResponse {
        let list: Vec<Value> = items
            .iter()
            .enumerate()
            .map(|(i, (id, date, amount))| {
                json!({"tran_no": (i + 1).to_string(), "org_bank_tran_id": id,
                       "org_bank_tran_date": date, "org_tran_amt": amount.to_string()})
            })
            .collect();
        self.http
            .post(self.url(RESULT_PATH))
            .bearer_auth(&self.token)
            .json(
                &json!({"check_type":check_type,"tran_dtime":"20260101120000",
                          "req_cnt": items.len().to_string(), "req_list": list}),
            )
            .send()
            .await
            .expect("result")
            .json()
            .await
            .expect("result json")
    }

    async fn ledger(&self) -> Vec<LedgerEntry> {
        let v: Value = self.get_json("/_sandbox/ledger").await;
        serde_json::from_value(v["entries"].clone()).expect("ledger")
    }

    async fn get_json(&self, p: &str) -> Value {
        self.http
            .get(self.url(p))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    async fn balance(&self, name: &str) -> u64 {
        let v = self.get_json("/_sandbox/accounts").await;
        v["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .find(|a| a["name"] == name)
            .and_then(|a| a["balance"].as_u64())
            .expect("balance")
    }

    async fn fault(&self, f: Value) {
        let r = self
            .http
            .post(self.url("/_sandbox/faults"))
            .json(&json!({ "faults": [f] }))
            .send()
            .await
            .expect("faults");
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn pay(&self, id: Option<&str>, req: &PayRequest) -> (StatusCode, Value) {
        let mut b = self.http.post(self.url(PAY_PATH)).json(req);
        if let Some(id) = id {
            b = b.header(REQUEST_ID_HEADER, id);
        }
        let r = b.send().await.expect("pay");
        let s = r.status();
        (s, r.json().await.expect("pay json"))
    }

    async fn pay_status(&self, id: &str) -> PayStatus {
        self.http
            .get(self.url(&format!("/api/payRequest/{id}")))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status json")
    }
}

fn id(n: u32) -> String {
    format!("{DEMO_INSTITUTION_CODE}U{n:09}")
}

fn pr(ci: &str, acct: &str, price: u64) -> PayRequest {
    PayRequest {
        identity_number: ci.into(),
        org_code: state::PAY_ORG_CODE.into(),
        account_number: acct.into(),
        product_id: "P1".into(),
        product_name: "coffee".into(),
        product_price: price,
    }
}

#[tokio::test]
async fn token_ok_and_bad() {
    let t = T::new().await;
    assert_eq!(t.token.len(), 64);
    let r = t
        .http
        .post(t.url(TOKEN_PATH))
        .form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", "wrong"),
            ("scope", "oob"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let b: TokenResponse = r.json().await.expect("json");
    assert_eq!(b.rsp_code.as_deref(), Some("O0001"));
    // Not even a form.
    let r = t
        .http
        .post(t.url(TOKEN_PATH))
        .body("{{{")
        .send()
        .await
        .expect("send");
    assert!(r.status().is_client_error());
    // Unknown token on withdraw.
    let r = t
        .http
        .post(t.url(WITHDRAW_PATH))
        .bearer_auth("nope")
        .json(&T::wd(&id(1), ALICE_FIN, 100))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let b: WithdrawResponse = r.json().await.expect("json");
    assert_eq!(b.rsp_code, "O0002");
    t.sb.shutdown().await;
}

#[tokio::test]
async fn approved_once_and_duplicate_refused() {
    let t = T::new().await;
    let (s, r) = t.withdraw(&id(1), ALICE_FIN, 5000).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (r.rsp_code.as_str(), r.bank_rsp_code.as_str()),
        ("A0000", "000")
    );
    assert_eq!(r.tran_amt, "5000");
    assert_eq!(r.bank_tran_date.len(), 8);
    assert_eq!(r.api_tran_dtm.len(), 17);
    assert_eq!(r.account_holder_name, "alice");
    assert_eq!(t.balance("alice").await, 4_995_000);
    // Same id again: A0326, not processed, no second debit.
    let (s, r) = t.withdraw(&id(1), ALICE_FIN, 5000).await;
    assert_eq!((s, r.rsp_code.as_str()), (StatusCode::OK, "A0326"));
    assert_eq!(t.balance("alice").await, 4_995_000);
    let l = t.ledger().await;
    assert_eq!(l.len(), 2);
    assert_eq!(l.iter().filter(|e| e.committed).count(), 1);
    assert_eq!(l[0].result, "A0000/000");
    assert_eq!(l[0].customer.as_deref(), Some("alice"));
    assert_eq!(l[1].result, "A0326");
    assert_eq!(l[1].seq, 2);
    // Result query finds the committed one; an unknown id is A0310.
    let q = t.result(&[&id(1)]).await;
    assert_eq!(q.rsp_code, "A0000");
    assert_eq!(q.res_list[0].bank_rsp_code, "000");
    assert_eq!(q.res_list[0].tran_amt, "5000");
    let q = t.result(&[&id(999)]).await;
    assert_eq!(q.rsp_code, "A0310");
    let q = t.result(&[&id(1), &id(999)]).await;
    assert_eq!(q.rsp_code, "A0009");
    assert_eq!(q.res_list.len(), 2);
    assert_eq!(q.res_list[1].bank_rsp_code, "");
    // Balance API.
    let b: BalanceResponse = t
        .http
        .get(t.url(BALANCE_PATH))
        .bearer_auth(&t.user_tokens[ALICE_FIN])
        .query(&[
            ("bank_tran_id", id(50).as_str()),
            ("fintech_use_num", ALICE_FIN),
            ("tran_dtime", "20260101120000"),
        ])
        .send()
        .await
        .expect("balance")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (b.rsp_code.as_str(), b.balance_amt.as_str()),
        ("A0000", "4995000")
    );
    t.sb.shutdown().await;
}

#[tokio::test]
async fn declines() {
    let t = T::new().await;
    let (_, r) = t.withdraw(&id(1), BOB_FIN, 20_000).await;
    assert_eq!(
        (r.rsp_code.as_str(), r.bank_rsp_code.as_str()),
        ("A0002", "453")
    );
    let q = t.result(&[&id(1)]).await;
    assert_eq!(q.res_list[0].bank_rsp_code, "453");
    let (_, r) = t.withdraw(&id(2), CAROL_FIN, 1000).await;
    assert_eq!(r.rsp_code, "A0319");
    let (_, r) = t.withdraw(&id(3), DAVE_FIN, 1000).await;
    assert_eq!(r.rsp_code, "A0316");
    let (_, r) = t.withdraw(&id(4), "199100000000000000000999", 1000).await;
    assert_eq!(r.rsp_code, "A0304");
    // Refused before the bank: the result query does not know it.
    assert_eq!(t.result(&[&id(2)]).await.rsp_code, "A0310");
    // Format errors.
    let (s, r) = t.withdraw("T991000001X000000001", ALICE_FIN, 1000).await;
    assert_eq!((s, r.rsp_code.as_str()), (StatusCode::OK, "A0004"));
    let (_, r) = t.withdraw(&id(5), ALICE_FIN, 0).await;
    assert_eq!(r.rsp_code, "A0004");
    // A business refusal is HTTP 200 with the code, malformed JSON included.
    let r = t
        .http
        .post(t.url(WITHDRAW_PATH))
        .bearer_auth(&t.user_tokens[ALICE_FIN])
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let b: WithdrawResponse = r.json().await.expect("json");
    assert_eq!(b.rsp_code, "A0004");
    let r = t
        .http
        .post(t.url(WITHDRAW_PATH))
        .bearer_auth(&t.user_tokens[ALICE_FIN])
        .json(&json!({"tran_amt": "100"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let b: WithdrawResponse = r.json().await.expect("json");
    assert_eq!(b.rsp_code, "A0004");
    assert!(
        b.rsp_message.contains("bank_tran_id is required"),
        "{}",
        b.rsp_message
    );
    // The institution's token cannot withdraw: only the customer's, scope `transfer`.
    let r = t
        .http
        .post(t.url(WITHDRAW_PATH))
        .bearer_auth(&t.token)
        .json(&T::wd(&id(6), ALICE_FIN, 100))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let b: WithdrawResponse = r.json().await.expect("json");
    assert_eq!(b.rsp_code, "O0005");
    let l = t.ledger().await;
    assert!(l.iter().all(|e| !e.committed));
    assert_eq!(t.balance("bob").await, 10_000);
    assert_eq!(t.balance("carol").await, 1_000_000);
    t.sb.shutdown().await;
}

#[tokio::test]
async fn limits_and_emv() {
    let t = T::new().await;
    let (_, r) = t.withdraw(&id(1), ALICE_FIN, 2_000_001).await;
    assert_eq!(r.rsp_code, "A0111");
    assert_eq!(
        t.withdraw(&id(2), ALICE_FIN, 2_000_000).await.1.rsp_code,
        "A0000"
    );
    assert_eq!(
        t.withdraw(&id(3), ALICE_FIN, 2_000_000).await.1.rsp_code,
        "A0000"
    );
    let (_, r) = t.withdraw(&id(4), ALICE_FIN, 1_000_001).await;
    assert_eq!(r.rsp_code, "A0112");
    // EMV CPM instead of a fintech number resolves to alice.
    let mut req = T::wd(&id(5), "", 1000);
    req.emv_cpm = Some(EMVCO_SAMPLE.into());
    let r: WithdrawResponse = t
        .withdraw_req(&req)
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (r.rsp_code.as_str(), r.fintech_use_num.as_str()),
        ("A0000", ALICE_FIN)
    );
    req.bank_tran_id = id(6);
    req.emv_cpm = Some("AAAA".into());
    let r: WithdrawResponse = t
        .withdraw_req(&req)
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(r.rsp_code, "A0304");
    assert_eq!(t.balance("alice").await, 5_000_000 - 4_001_000);
    t.sb.shutdown().await;
}

/// Writes a withdraw request on a raw socket and returns every byte the server sent back.
async fn raw_withdraw(t: &T, req: &WithdrawRequest) -> Vec<u8> {
    let body = serde_json::to_string(req).expect("body");
    let mut s = tokio::net::TcpStream::connect(t.sb.addr())
        .await
        .expect("connect");
    let head = format!(
        "POST {WITHDRAW_PATH} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        t.user_tokens[ALICE_FIN],
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    // EOF (or a reset) without a single byte is what "dropped" means.
    let _ = s.read_to_end(&mut buf).await;
    buf
}

#[tokio::test]
async fn fault_drop_closes_without_bytes() {
    let t = T::new().await;
    t.fault(json!({"kind": "drop", "commit": false})).await;
    let got = raw_withdraw(&t, &T::wd(&id(1), ALICE_FIN, 1000)).await;
    assert!(got.is_empty(), "got {:?}", String::from_utf8_lossy(&got));
    assert_eq!(t.balance("alice").await, 5_000_000);
    let l = t.ledger().await;
    assert_eq!(l[0].result, "dropped-before-commit");
    assert!(!l[0].committed);
    assert_eq!(t.result(&[&id(1)]).await.rsp_code, "A0310");
    // The request never reached the bank, so a retry with the same id goes through.
    assert_eq!(
        t.withdraw(&id(1), ALICE_FIN, 1000).await.1.rsp_code,
        "A0000"
    );
    assert_eq!(t.balance("alice").await, 4_999_000);

    // Drop after commit: no answer, but the money moved and the result query says so.
    t.fault(json!({"kind": "drop", "commit": true})).await;
    let got = raw_withdraw(&t, &T::wd(&id(2), ALICE_FIN, 2000)).await;
    assert!(got.is_empty());
    assert!(t.withdraw_req(&T::wd(&id(3), ALICE_FIN, 1)).await.is_ok());
    t.fault(json!({"kind": "drop", "commit": true})).await;
    assert!(t
        .withdraw_req(&T::wd(&id(4), ALICE_FIN, 3000))
        .await
        .is_err());
    assert_eq!(t.balance("alice").await, 4_999_000 - 2000 - 1 - 3000);
    let q = t.result(&[&id(2), &id(4)]).await;
    assert_eq!(q.rsp_code, "A0000");
    assert!(q.res_list.iter().all(|i| i.bank_rsp_code == "000"));
    let l = t.ledger().await;
    let e = l.iter().find(|e| e.bank_tran_id == id(2)).expect("entry");
    assert_eq!(
        (e.result.as_str(), e.committed),
        ("fault:drop (committed)", true)
    );
    // A resend of the dropped-after-commit id is a duplicate: money moved exactly once.
    assert_eq!(
        t.withdraw(&id(2), ALICE_FIN, 2000).await.1.rsp_code,
        "A0326"
    );
    assert_eq!(
        l.iter()
            .filter(|e| e.bank_tran_id == id(2) && e.committed)
            .count(),
        1
    );
    t.sb.shutdown().await;
}

#[tokio::test]
async fn fault_http500_garbage_reply_delay() {
    let t = T::new().await;
    // http500 without commit.
    t.fault(json!({"kind": "http500", "commit": false})).await;
    let r = t
        .withdraw_req(&T::wd(&id(1), ALICE_FIN, 1000))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = r.text().await.expect("text");
    assert!(serde_json::from_str::<Value>(&text).is_err());
    assert_eq!(t.balance("alice").await, 5_000_000);
    // garbage with commit: 200, unparsable, money moved.
    t.fault(json!({"kind": "garbage", "commit": true})).await;
    let r = t
        .withdraw_req(&T::wd(&id(2), ALICE_FIN, 1000))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("text");
    assert!(serde_json::from_str::<WithdrawResponse>(&text).is_err());
    assert_eq!(t.balance("alice").await, 4_999_000);
    // reply A0007 with commit: the answer says "timeout", the result query says 000.
    t.fault(json!({"kind": "reply", "rsp_code": "A0007", "commit": true}))
        .await;
    let (s, r) = t.withdraw(&id(3), ALICE_FIN, 1000).await;
    assert_eq!((s, r.rsp_code.as_str()), (StatusCode::OK, "A0007"));
    assert_eq!(t.result(&[&id(3)]).await.res_list[0].bank_rsp_code, "000");
    assert_eq!(t.balance("alice").await, 4_998_000);
    // reply A0017/311 without commit: refused by the bank, result shows 311.
    t.fault(json!({"kind": "reply", "rsp_code": "A0017", "bank_rsp_code": "311"}))
        .await;
    let (_, r) = t.withdraw(&id(4), ALICE_FIN, 1000).await;
    assert_eq!(
        (r.rsp_code.as_str(), r.bank_rsp_code.as_str()),
        ("A0017", "311")
    );
    assert_eq!(t.result(&[&id(4)]).await.res_list[0].bank_rsp_code, "311");
    assert_eq!(t.balance("alice").await, 4_998_000);
    // delay: committed, answered late.
    t.fault(json!({"kind": "delay", "ms": 150})).await;
    let t0 = std::time::Instant::now();
    let (_, r) = t.withdraw(&id(5), ALICE_FIN, 1000).await;
    assert!(t0.elapsed() >= std::time::Duration::from_millis(150));
    assert_eq!(r.rsp_code, "A0000");
    // A fault on `result` does not touch withdrawals.
    t.fault(json!({"on": "result", "kind": "http500"})).await;
    assert_eq!(
        t.withdraw(&id(6), ALICE_FIN, 1000).await.1.rsp_code,
        "A0000"
    );
    let pending = t.get_json("/_sandbox/faults").await;
    assert_eq!(pending["faults"][0]["on"], "result");
    let r = t
        .http
        .post(t.url(RESULT_PATH))
        .bearer_auth(&t.token)
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let l = t.ledger().await;
    let results: Vec<&str> = l.iter().map(|e| e.result.as_str()).collect();
    assert_eq!(
        results,
        [
            "fault:http500 (not committed)",
            "fault:garbage (committed)",
            "fault:reply A0007 (committed)",
            "fault:reply A0017/311 (not committed)",
            "fault:delay 150ms (committed)",
            "A0000/000",
        ]
    );
    // Bad fault specs are refused, and DELETE clears.
    let r = t
        .http
        .post(t.url("/_sandbox/faults"))
        .json(&json!({"faults": [{"kind": "explode"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    t.fault(json!({"kind": "drop"})).await;
    t.http
        .delete(t.url("/_sandbox/faults"))
        .send()
        .await
        .expect("delete");
    assert_eq!(t.get_json("/_sandbox/faults").await["faults"], json!([]));
    t.sb.shutdown().await;
}

#[tokio::test]
async fn payrequest_rules() {
    use state::*;
    let t = T::new().await;
    // erin: credit limit 300,000.
    let (s, v) = t.pay(Some("P1"), &pr(ERIN_CI, ERIN_ACCOUNT, 250_000)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["productPrice"], 250_000);
    assert_eq!(v["productTransDate"].as_str().map(str::len), Some(19));
    let (s, v) = t.pay(Some("P2"), &pr(ERIN_CI, ERIN_CARD, 60_000)).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("CREDIT_LIMIT_EXCEEDED"))
    );
    // frank: check card, linked balance 50,000.
    let (s, _) = t
        .pay(Some("P3"), &pr(FRANK_CI, FRANK_ACCOUNT, 40_000))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = t
        .pay(Some("P4"), &pr(FRANK_CI, FRANK_ACCOUNT, 20_000))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("INSUFFICIENT_BALANCE"))
    );
    assert_eq!(t.balance("frank").await, 10_000);
    // Duplicate id: 409, the first stands.
    let (s, v) = t.pay(Some("P3"), &pr(FRANK_CI, FRANK_ACCOUNT, 1_000)).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("DUPLICATE_REQUEST"))
    );
    assert_eq!(t.balance("frank").await, 10_000);
    let st = t.pay_status("P3").await;
    assert_eq!(st.status, "approved");
    assert_eq!(st.payment.map(|p| p.product_price), Some(40_000));
    assert_eq!(t.pay_status("P4").await.status, "declined");
    assert_eq!(t.pay_status("nope").await.status, "not_found");
    // Missing id, unknown customer, inactive card, bad JSON.
    let (s, v) = t.pay(None, &pr(FRANK_CI, FRANK_ACCOUNT, 1_000)).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BAD_REQUEST"))
    );
    let (s, v) = t.pay(Some("P5"), &pr(FRANK_CI, ERIN_ACCOUNT, 1_000)).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("UNKNOWN_CUSTOMER"))
    );
    let (s, v) = t.pay(Some("P6"), &pr(HEIDI_CI, HEIDI_ACCOUNT, 1_000)).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("CARD_INACTIVE"))
    );
    let (s, _) = t.pay(Some("P7"), &pr(GRACE_CI, GRACE_ACCOUNT, 1_000)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t.balance("grace").await, 99_000);
    let r = t
        .http
        .post(t.url(PAY_PATH))
        .header(REQUEST_ID_HEADER, "P8")
        .body("{\"productPrice\": \"x\"")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Fault on pay: reply with commit → the status query shows it was approved.
    t.fault(
        json!({"on": "pay", "kind": "reply", "code": "TIMEOUT", "status": 504, "commit": true}),
    )
    .await;
    let (s, v) = t.pay(Some("P9"), &pr(GRACE_CI, GRACE_ACCOUNT, 1_000)).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::GATEWAY_TIMEOUT, Some("TIMEOUT"))
    );
    assert_eq!(t.pay_status("P9").await.status, "approved");
    assert_eq!(t.balance("grace").await, 98_000);
    let l = t.ledger().await;
    assert_eq!(l.iter().filter(|e| e.committed).count(), 4);
    assert!(l.iter().all(|e| e.protocol == "payrequest"));
    t.sb.shutdown().await;
}

#[tokio::test]
async fn credit_card_billing_day_checks_linked_balance() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The bank's clock is fixed, so "today is the billing day" holds at any real time.
    let clock = Arc::new(ManualClock::at("2026-11-21 12:00:00").expect("time"));
    let day = 21;
    let toml = format!(
        "[[customers]]\nname = \"ivan\"\nbalance = 1000\nidentity_number = \"CI1\"\n\
         org_code = \"ORG\"\naccount_number = \"ACC1\"\n[customers.card]\nnumber = \"C1\"\n\
         type = \"credit\"\nlimit = 100000\nbilling_day = {day}\n"
    );
    let path = dir.path().join("accounts.toml");
    std::fs::write(&path, toml).expect("write");
    let t = T::with(SandboxConfig {
        clock,
        ..cfg(None, Some(&path))
    })
    .await;
    let mut req = pr("CI1", "ACC1", 5_000);
    req.org_code = "ORG".into();
    let (s, v) = t.pay(Some("B1"), &req).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("INSUFFICIENT_BALANCE"))
    );
    req.product_price = 500;
    assert_eq!(t.pay(Some("B2"), &req).await.0, StatusCode::OK);
    // The seeded customers are gone.
    // Alice is not a customer of this bank: she cannot even consent.
    let (status, body) = t.consent("alice", "transfer").await.expect_err("no alice");
    assert_eq!(
        (status, body["rsp_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("O0001"))
    );
    t.sb.shutdown().await;

    std::fs::write(&path, "[[customers]]\nname = 1\n").expect("write");
    assert!(matches!(
        start(cfg(None, Some(&path))).await,
        Err(SandboxError::Accounts(_))
    ));
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = T::with(cfg(Some(dir.path()), None)).await;
    assert_eq!(
        t.withdraw(&id(1), ALICE_FIN, 7000).await.1.rsp_code,
        "A0000"
    );
    assert_eq!(
        t.pay(
            Some("P1"),
            &pr(state::FRANK_CI, state::FRANK_ACCOUNT, 5_000)
        )
        .await
        .0,
        StatusCode::OK
    );
    let token = t.token.clone();
    t.sb.shutdown().await;

    let mut t = T::with(cfg(Some(dir.path()), None)).await;
    assert_eq!(t.balance("alice").await, 4_993_000);
    assert_eq!(t.balance("frank").await, 45_000);
    assert_eq!(t.ledger().await.len(), 2);
    // The old token still works, and the de-duplication remembers both ids.
    t.token = token;
    assert_eq!(
        t.withdraw(&id(1), ALICE_FIN, 7000).await.1.rsp_code,
        "A0326"
    );
    assert_eq!(t.result(&[&id(1)]).await.res_list[0].bank_rsp_code, "000");
    assert_eq!(
        t.pay(
            Some("P1"),
            &pr(state::FRANK_CI, state::FRANK_ACCOUNT, 5_000)
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    assert_eq!(t.balance("alice").await, 4_993_000);
    // Reset goes back to the seeds, and that is persisted too.
    t.http
        .post(t.url("/_sandbox/reset"))
        .send()
        .await
        .expect("reset");
    assert_eq!(t.balance("alice").await, 5_000_000);
    assert!(t.ledger().await.is_empty());
    t.sb.shutdown().await;
    let t = T::with(cfg(Some(dir.path()), None)).await;
    assert!(t.ledger().await.is_empty());
    t.sb.shutdown().await;
}

#[tokio::test]
async fn garbage_never_breaks_it() {
    let t = T::new().await;
    let bodies: [&[u8]; 6] = [
        b"",
        b"null",
        b"[]",
        b"\xff\xfe",
        b"{\"bank_tran_id\":5}",
        b"{}",
    ];
    for p in [
        WITHDRAW_PATH,
        RESULT_PATH,
        PAY_PATH,
        TOKEN_PATH,
        "/_sandbox/faults",
        "/nope",
    ] {
        for b in bodies {
            let r = t
                .http
                .post(t.url(p))
                .bearer_auth(&t.token)
                .header(REQUEST_ID_HEADER, "G")
                .header("content-type", "application/json")
                .body(b.to_vec())
                .send()
                .await
                .expect("send");
            assert!(
                r.status().is_client_error() || r.status().is_success(),
                "{p} {:?}: {}",
                b,
                r.status()
            );
        }
    }
    let r = t
        .http
        .get(t.url(BALANCE_PATH))
        .bearer_auth(&t.user_tokens[ALICE_FIN])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let b: BalanceResponse = r.json().await.expect("json");
    assert_eq!(b.rsp_code, "A0004");
    // Still serving and nothing moved.
    assert_eq!(t.balance("alice").await, 5_000_000);
    assert!(t.ledger().await.iter().all(|e| !e.committed));
    t.sb.shutdown().await;
}

#[test]
fn dev_key_and_seeds() {
    use base64::Engine as _;
    let pk = base64::engine::general_purpose::STANDARD
        .decode(dev_public_key_base64())
        .expect("b64");
    assert_eq!(pk.len(), 32);
    assert_eq!(dev_public_key_base64(), dev_public_key_base64());
    let seeds = seeded_customers();
    let names: Vec<_> = seeds.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    );
    assert!(seeds
        .iter()
        .filter_map(|c| c.fintech_use_num.as_ref())
        .all(|f| f.len() == 24 && f.bytes().all(|b| b.is_ascii_digit())));
    assert_eq!(seeds[4].kind, "payrequest-credit");
    assert_eq!(seeds[5].kind, "payrequest-check");
    let fault: FaultSpec =
        serde_json::from_str(r#"{"kind":"reply","rsp_code":"A0007","commit":true}"#)
            .expect("fault");
    assert_eq!(fault.on, FaultOn::Withdraw);
}

#[tokio::test]
async fn deposit_refunds() {
    let t = T::new().await;
    assert_eq!(
        t.withdraw(&id(1), ALICE_FIN, 5000).await.1.rsp_code,
        "A0000"
    );
    let refund = |bid: String, fin: &str| {
        json!({"cntr_account_type":"N","cntr_account_num":"100000000001","wd_pass_phrase":"NONE",
               "wd_print_content":"refund","name_check_option":"off","tran_dtime":"20260101120000",
               "req_cnt":"1","req_list":[{"tran_no":"1","bank_tran_id":bid,"fintech_use_num":fin,
               "print_content":"refund","tran_amt":"5000","req_client_name":"shop",
               "req_client_bank_code":"097","req_client_account_num":"100000000001",
               "req_client_num":"M1","transfer_purpose":"TR"}]})
    };
    let post = |b: Value| {
        t.http
            .post(t.url("/v2.0/transfer/deposit/fin_num"))
            .bearer_auth(&t.token)
            .json(&b)
            .send()
    };
    let v: Value = post(refund(id(2), ALICE_FIN))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v["rsp_code"], "A0000");
    assert_eq!(v["res_list"][0]["bank_rsp_code"], "000");
    assert_eq!(t.balance("alice").await, 5_000_000);
    // Same id again: refused, no second credit; the result query knows the first.
    let v: Value = post(refund(id(2), ALICE_FIN))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v["rsp_code"], "A0326");
    assert_eq!(t.balance("alice").await, 5_000_000);
    // Found as a deposit (check_type 2), never as a withdrawal.
    let q = t.result_checking("2", &[(&id(2), "20260101", 5000)]).await;
    assert_eq!(
        (q.rsp_code.as_str(), q.res_list[0].bank_rsp_code.as_str()),
        ("A0000", "000")
    );
    assert_eq!(q.res_list[0].dps_fintech_use_num, ALICE_FIN);
    assert_eq!(t.result(&[&id(2)]).await.rsp_code, "A0310");
    let v: Value = post(refund(id(3), "199100000000000000000999"))
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v["rsp_code"], "A0304");
    // Faults apply to deposits too.
    t.fault(json!({"on": "deposit", "kind": "http500", "commit": true}))
        .await;
    let r = post(refund(id(4), BOB_FIN)).await.expect("send");
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(t.balance("bob").await, 15_000);
    let l = t.ledger().await;
    let results: Vec<&str> = l.iter().map(|e| e.result.as_str()).collect();
    assert_eq!(
        results,
        [
            "A0000/000",
            "deposit:A0000/000",
            "deposit:A0326",
            "deposit:A0304",
            "deposit:fault:http500 (committed)"
        ]
    );
    let r = t
        .http
        .post(t.url("/v2.0/transfer/deposit/fin_num"))
        .bearer_auth(&t.token)
        .body("x")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json")["rsp_code"], "A0004");
    t.sb.shutdown().await;
}

#[tokio::test]
async fn faults_on_token_and_pay_status() {
    let t = T::new().await;
    t.fault(json!({"on": "token", "kind": "reply", "rsp_code": "O0003"}))
        .await;
    let r = t
        .http
        .post(t.url(TOKEN_PATH))
        .form(&[
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            ("scope", "oob"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let b: TokenResponse = r.json().await.expect("json");
    assert_eq!(b.rsp_code.as_deref(), Some("O0003"));
    assert_eq!(t.get_token().await.len(), 64);
    t.fault(json!({"on": "pay_status", "kind": "drop"})).await;
    assert!(t.http.get(t.url("/api/payRequest/X")).send().await.is_err());
    assert_eq!(t.pay_status("X").await.status, "not_found");
    t.sb.shutdown().await;
}

/// KFTC's rule: an id is unique per institution per business day. The same id the next day
/// is another transfer, and a result is found only by the day and amount it was made with.
#[tokio::test]
async fn an_id_is_unique_within_its_day_and_found_only_by_its_day_and_amount() {
    let clock = clock();
    let t = T::with(SandboxConfig {
        clock: clock.clone(),
        ..cfg(None, None)
    })
    .await;
    assert_eq!(
        t.withdraw(&id(1), ALICE_FIN, 4500).await.1.rsp_code,
        "A0000"
    );
    assert_eq!(
        t.withdraw(&id(1), ALICE_FIN, 4500).await.1.rsp_code,
        "A0326",
        "the same day: a duplicate"
    );
    let found = |q: TransferResultResponse| {
        (
            q.rsp_code,
            q.res_list.first().map(|i| i.bank_rsp_code.clone()),
        )
    };
    assert_eq!(
        found(t.result_of(&[(&id(1), "20251231", 4500)]).await).0,
        "A0310",
        "wrong day"
    );
    assert_eq!(
        found(t.result_of(&[(&id(1), "20260101", 4501)]).await).0,
        "A0310",
        "wrong amount"
    );
    assert_eq!(
        found(t.result_of(&[(&id(1), "20260101", 4500)]).await),
        ("A0000".into(), Some("000".into()))
    );

    clock.advance(std::time::Duration::from_secs(24 * 3600));
    let (_, r) = t.withdraw(&id(1), ALICE_FIN, 4500).await;
    assert_eq!(
        (r.rsp_code.as_str(), r.bank_tran_date.as_str()),
        ("A0000", "20260102"),
        "the next day: a new transfer"
    );
    assert_eq!(t.balance("alice").await, 5_000_000 - 9000);
    for day in ["20260101", "20260102"] {
        assert_eq!(
            found(t.result_of(&[(&id(1), day, 4500)]).await)
                .1
                .as_deref(),
            Some("000"),
            "{day}"
        );
    }
    t.sb.shutdown().await;
}

#[tokio::test]
async fn a_payrequest_id_is_unique_within_its_day_and_its_status_names_the_day() {
    let clock = clock();
    let t = T::with(SandboxConfig {
        clock: clock.clone(),
        ..cfg(None, None)
    })
    .await;
    let req = pr(state::GRACE_CI, state::GRACE_ACCOUNT, 1000);
    assert_eq!(t.pay(Some("R1"), &req).await.0, StatusCode::OK);
    assert_eq!(t.pay(Some("R1"), &req).await.0, StatusCode::CONFLICT);
    clock.advance(std::time::Duration::from_secs(24 * 3600));
    assert_eq!(
        t.pay(Some("R1"), &req).await.0,
        StatusCode::OK,
        "the next day: a new payment"
    );
    let on = |day: &str| {
        t.http
            .get(t.url(&format!("/api/payRequest/R1?date={day}")))
            .send()
    };
    let status =
        |r: reqwest::Response| async move { r.json::<PayStatus>().await.expect("json").status };
    assert_eq!(status(on("20260101").await.expect("get")).await, "approved");
    assert_eq!(status(on("20260102").await.expect("get")).await, "approved");
    assert_eq!(
        status(on("20251231").await.expect("get")).await,
        "not_found"
    );
    assert_eq!(
        t.pay_status("R1").await.status,
        "approved",
        "no day: today's"
    );
    t.sb.shutdown().await;
}

/// A data directory written before records were keyed by day still answers for them.
#[tokio::test]
async fn a_version_1_snapshot_is_read_with_its_records_on_their_days() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = json!({
        "version": 1,
        "customers": state::seed_customers(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("day")),
        "transfers": {
            id(7): {"amount": 3000, "customer": "alice", "fintech_use_num": ALICE_FIN,
                    "bank_tran_date": "20251230", "state": {"state": "committed"}}
        },
        "pays": {
            "R7": {"approved": true, "code": "", "message": "", "payment": null}
        },
        "ledger": [{"seq": 1, "protocol": "payrequest", "bank_tran_id": "R7", "amount": 1000,
                    "fintech_use_num": null, "customer": "grace", "result": "APPROVED",
                    "committed": true, "at": "2025-12-29T10:00:00+09:00"}]
    });
    std::fs::write(
        dir.path().join("sandbox-state.json"),
        serde_json::to_vec(&v1).expect("json"),
    )
    .expect("write");
    let t = T::with(cfg(Some(dir.path()), None)).await;
    let q = t.result_of(&[(&id(7), "20251230", 3000)]).await;
    assert_eq!(q.res_list[0].bank_rsp_code, "000");
    let r = t
        .http
        .get(t.url("/api/payRequest/R7?date=20251229"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.json::<PayStatus>().await.expect("json").status,
        "approved"
    );
    assert_eq!(
        t.withdraw(&id(7), ALICE_FIN, 3000).await.1.rsp_code,
        "A0000",
        "another day's id is free today"
    );
    t.sb.shutdown().await;
}

/// A version-2 data directory (institution-only tokens) loads: its tokens no longer open any
/// door (a client renews on O0002), its transfers still answer.
#[tokio::test]
async fn a_version_2_snapshot_loads_and_its_old_tokens_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v2 = json!({
        "version": 2,
        "customers": state::seed_customers(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("day")),
        "tokens": {"old-institution-token": DEMO_INSTITUTION_CODE},
        "transfers": {
            format!("20260101/{}", id(8)): {"amount": 4000, "customer": "alice",
                "fintech_use_num": ALICE_FIN, "bank_tran_date": "20260101",
                "state": {"state": "committed"}}
        },
    });
    std::fs::write(
        dir.path().join("sandbox-state.json"),
        serde_json::to_vec(&v2).expect("json"),
    )
    .expect("write");
    let t = T::with(cfg(Some(dir.path()), None)).await;
    let q = t.result_of(&[(&id(8), "20260101", 4000)]).await;
    assert_eq!(
        (q.rsp_code.as_str(), q.res_list[0].bank_rsp_code.as_str()),
        ("A0000", "000")
    );
    let r = t
        .http
        .post(t.url(RESULT_PATH))
        .bearer_auth("old-institution-token")
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.expect("json")["rsp_code"], "O0002");
    let saved: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("sandbox-state.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(saved["version"], 3);
    t.sb.shutdown().await;
}

/// The wrong method on a known path is the gateway's O0010, in JSON like every refusal.
#[tokio::test]
async fn the_wrong_method_is_o0010() {
    let t = T::new().await;
    for (method, path) in [
        (reqwest::Method::GET, WITHDRAW_PATH),
        (reqwest::Method::POST, BALANCE_PATH),
        (reqwest::Method::GET, TOKEN_PATH),
    ] {
        let r = t
            .http
            .request(method.clone(), t.url(path))
            .send()
            .await
            .expect("send");
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["rsp_code"], "O0010", "{method} {path}");
    }
    t.sb.shutdown().await;
}
