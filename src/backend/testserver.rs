//! A tiny real HTTP/1.1 server on 127.0.0.1 for the gateway tests: it plays a script of
//! canned behaviours, one connection per step (the client never reuses connections), and
//! records every request it read. When the script ends it stops listening, so any further
//! request is refused.
//!
//! It also plays the sandbox's side of a customer's enrolment (see `enrolment`): the
//! customers list, the consent page's redirect (which echoes the request's `state`), the
//! customer's token and their account list; [`enrolment`] is the whole of it.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The fintech number of sandbox customer `alice`.
pub const FINTECH: &str = "199003328057724253012100";
/// Another account of `alice`'s: only her account list names it, `/_sandbox/accounts` not.
pub const FINTECH_2: &str = "199003328057724253012155";
/// The fintech number of sandbox customer `bob`, who also pays with an EMV code.
pub const FINTECH_BOB: &str = "199003328057724253012177";
/// The PAN (EMV tag 5A) that resolves to `bob`.
pub const EMV_PAN: &str = "5413330089020011";
/// The authorization code the consent page hands out.
pub const CODE: &str = "code-1";
/// The `user_seq_no` of every customer token here.
pub const USER_SEQ_NO: &str = "1100000001";

#[derive(Debug, Clone)]
pub enum Step {
    /// Answer with this status, content type and body.
    Reply {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// The consent page approving at once: a 302 to the request's `redirect_uri` with
    /// `code` ([`CODE`]), `scope` and the request's own `state`.
    Consent,
    /// A 302 to this `Location`, whatever was asked.
    Redirect(String),
    /// Read the request, then close without a byte of reply.
    Close,
    /// Read the request and never answer (keeps the connection open).
    Hang,
}

pub fn json(status: u16, body: serde_json::Value) -> Step {
    Step::Reply {
        status,
        content_type: "application/json; charset=UTF-8",
        body: body.to_string(),
    }
}

pub fn html(status: u16, body: &str) -> Step {
    Step::Reply {
        status,
        content_type: "text/html",
        body: body.to_string(),
    }
}

/// The institution's (2-legged, `oob`) token.
pub fn token(access_token: &str, expires_in: u64) -> Step {
    json(
        200,
        serde_json::json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": "oob",
            "client_use_code": "M202300440"
        }),
    )
}

/// `GET /_sandbox/accounts`: `alice` pays with [`FINTECH`], `bob` with [`FINTECH_BOB`] or
/// the EMV code of [`EMV_PAN`].
pub fn accounts() -> Step {
    json(
        200,
        serde_json::json!({"accounts": [
            {"name": "alice", "kind": "bank", "balance": 1_000_000,
             "fintech_use_num": FINTECH, "emv_pan": null},
            {"name": "bob", "kind": "bank", "balance": 500_000,
             "fintech_use_num": FINTECH_BOB, "emv_pan": EMV_PAN},
        ]}),
    )
}

/// A customer's (3-legged, `authorization_code`) token.
pub fn user_token(access_token: &str, expires_in: u64) -> Step {
    json(
        200,
        serde_json::json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": format!("refresh-{access_token}"),
            "scope": "login inquiry transfer",
            "user_seq_no": USER_SEQ_NO
        }),
    )
}

/// `GET /v2.0/account/list`: these accounts, all agreed for withdrawals.
pub fn account_list(fintech_use_nums: &[&str]) -> Step {
    let list: Vec<_> = fintech_use_nums
        .iter()
        .map(|f| {
            serde_json::json!({"fintech_use_num": f, "account_alias": "main",
                               "bank_code_std": "097", "transfer_agree_yn": "Y"})
        })
        .collect();
    json(
        200,
        serde_json::json!({
            "api_tran_id": "2ffd133a-d17a-431d-a6a5", "api_tran_dtm": "20261121143005123",
            "rsp_code": "A0000", "rsp_message": "", "user_seq_no": USER_SEQ_NO,
            "user_name": "alice", "res_cnt": list.len().to_string(), "res_list": list
        }),
    )
}

/// A whole enrolment of `alice` (accounts, consent, token, account list), after which the
/// customer's token is `access_token`.
pub fn enrolment(access_token: &str) -> Vec<Step> {
    vec![
        accounts(),
        Step::Consent,
        user_token(access_token, 7_775_999),
        account_list(&[FINTECH]),
    ]
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The request target: path and query, as sent.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("request body is JSON")
    }

    /// The path without its query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }

    /// The query's parameters, decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let query = self.path.split_once('?').map_or("", |(_, q)| q);
        decode_pairs(query)
    }

    /// The decoded value of query parameter `key`.
    pub fn query(&self, key: &str) -> Option<String> {
        find(&self.query_pairs(), key)
    }

    /// The form body's fields, decoded, in order.
    pub fn form_pairs(&self) -> Vec<(String, String)> {
        decode_pairs(&self.body)
    }

    /// The decoded value of form field `key`.
    pub fn form(&self, key: &str) -> Option<String> {
        find(&self.form_pairs(), key)
    }
}

fn decode_pairs(encoded: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://decode.invalid/?{encoded}"))
        .expect("a query or form body parses");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn find(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

pub struct TestServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl TestServer {
    pub async fn start(script: Vec<Step>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        tokio::spawn(async move {
            for step in script {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let request = read_request(&mut stream).await;
                log.lock().expect("log").push(request.clone());
                match step {
                    Step::Reply {
                        status,
                        content_type,
                        body,
                    } => {
                        let head = vec![("Content-Type", content_type.to_string())];
                        respond(&mut stream, status, head, &body).await;
                    }
                    Step::Consent => {
                        let location = consent_redirect(&request);
                        respond(&mut stream, 302, vec![("Location", location)], "").await;
                    }
                    Step::Redirect(location) => {
                        respond(&mut stream, 302, vec![("Location", location)], "").await;
                    }
                    Step::Close => drop(stream),
                    Step::Hang => {
                        let _held = stream;
                        std::future::pending::<()>().await;
                    }
                }
            }
        });
        TestServer { url, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("log").clone()
    }

    /// The paths (without queries) of the requests so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.path_only().to_string())
            .collect()
    }
}

/// Where the consent page sends the customer back: the request's `redirect_uri` with the
/// code, the granted scope and the request's `state`.
fn consent_redirect(request: &Recorded) -> String {
    let redirect_uri = request.query("redirect_uri").unwrap_or_default();
    let mut back = reqwest::Url::parse(&redirect_uri).expect("the request's redirect_uri");
    back.query_pairs_mut()
        .append_pair("code", CODE)
        .append_pair("scope", "login inquiry transfer")
        .append_pair("state", &request.query("state").unwrap_or_default());
    back.to_string()
}

async fn respond(stream: &mut TcpStream, status: u16, headers: Vec<(&str, String)>, body: &str) {
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Recorded {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break buf.len(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    Recorded {
        method,
        path,
        headers,
        body,
    }
}
