//! Gateway tests against real sockets on 127.0.0.1 (see `testserver`): exact wire fields,
//! token caching and renewal, and the transport split between NotSent and NoReply.

use std::time::Duration;

use serde_json::json;

use super::testserver::{html, json, token, Step, TestServer};
use super::*;
use crate::sale::EmvData;

const SECRET: &str = "s3cr3t-CLIENT-value";
const FINTECH: &str = "199003328057724253012100";
const TRAN_ID: &str = "M202300440U000000042";

fn settings(url: &str, protocol: Protocol) -> BackendSettings {
    BackendSettings {
        url: url.to_string(),
        protocol,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        client_id: "client-id-1".into(),
        client_secret: Secret::new(SECRET.into()),
        cntr_account_type: "N".into(),
        cntr_account_num: "100000000001".into(),
        merchant_name: "Corner Café".into(),
        recv_client_bank_code: "097".into(),
        recv_client_account_num: "2000000002".into(),
        institution_code: "M202300440".into(),
        enrolment: crate::backend::enrolment::Enrolment::Sandbox,
    }
}

fn ob(url: &str) -> Arc<dyn Gateway> {
    connect(settings(url, Protocol::Openbanking)).expect("gateway")
}

fn pr(url: &str) -> Arc<dyn Gateway> {
    connect(settings(url, Protocol::Payrequest)).expect("gateway")
}

fn withdrawal(means: PaymentMeans) -> Withdrawal {
    Withdrawal {
        bank_tran_id: TRAN_ID.into(),
        tran_dtime: "20261121143005".into(),
        amount: Won(15_000),
        means,
        product: "Americano".into(),
    }
}

fn fintech() -> Withdrawal {
    withdrawal(PaymentMeans::FintechNumber {
        fintech_use_num: FINTECH.into(),
    })
}

fn card() -> Withdrawal {
    withdrawal(PaymentMeans::PayRequest {
        identity_number: "CI0000000000001".into(),
        org_code: "HANA".into(),
        account_number: "11122233344".into(),
    })
}

fn approved_withdraw(amount: &str) -> Step {
    json(
        200,
        json!({
            "api_tran_id": "2ffd133a-d17a-431d-a6a5",
            "api_tran_dtm": "20261121143005123",
            "rsp_code": "A0000",
            "rsp_message": "",
            "bank_tran_id": TRAN_ID,
            "bank_tran_date": "20261121",
            "bank_code_tran": "097",
            "bank_rsp_code": "000",
            "bank_rsp_message": "",
            "tran_amt": amount,
        }),
    )
}

fn ob_code(status: u16, code: &str, message: &str) -> Step {
    json(status, json!({"rsp_code": code, "rsp_message": message}))
}

fn form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A port on which nothing listens.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

fn reply(code: &str, bank_code: &str, amount: Option<u64>) -> Answer {
    Answer::Reply {
        http_status: 200,
        code: code.into(),
        bank_code: bank_code.into(),
        message: String::new(),
        amount,
        bank_tran_date: Some("20261121".into()),
        bank_name: None,
    }
}

#[tokio::test]
async fn ob_withdraw_sends_the_exact_fields_and_reports_the_reply() {
    let server =
        TestServer::start(vec![token("tok-1", 7_775_999), approved_withdraw("15000")]).await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    assert_eq!(answer, reply("A0000", "000", Some(15_000)));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let t = &reqs[0];
    assert_eq!(
        (t.method.as_str(), t.path.as_str()),
        ("POST", "/oauth/2.0/token")
    );
    assert!(t
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")));
    let f = form(&t.body);
    for (k, v) in [
        ("client_id", "client-id-1"),
        ("client_secret", SECRET),
        ("scope", "oob"),
        ("grant_type", "client_credentials"),
    ] {
        assert!(f.contains(&(k.into(), v.into())), "{k} in {:?}", t.body);
    }

    let w = &reqs[1];
    assert_eq!(
        (w.method.as_str(), w.path.as_str()),
        ("POST", "/v2.0/transfer/withdraw/fin_num")
    );
    assert_eq!(w.header("authorization"), Some("Bearer tok-1"));
    assert!(w
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let b = w.json();
    assert_eq!(b["bank_tran_id"], TRAN_ID);
    assert_eq!(b["cntr_account_type"], "N");
    assert_eq!(b["cntr_account_num"], "100000000001");
    assert_eq!(b["dps_print_content"], "Corner Café");
    assert_eq!(b["fintech_use_num"], FINTECH);
    assert_eq!(b["req_client_fintech_use_num"], FINTECH);
    assert_eq!(b["tran_amt"], "15000", "amounts travel as strings");
    let dtime = b["tran_dtime"].as_str().expect("tran_dtime string");
    assert_eq!(dtime, "20261121143005");
    assert!(dtime.len() == 14 && dtime.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(b["req_client_name"], "QR customer");
    assert_eq!(b["req_client_num"], TRAN_ID);
    assert_eq!(b["transfer_purpose"], "ST");
    assert_eq!(b["recv_client_name"], "Corner Café");
    assert_eq!(b["recv_client_bank_code"], "097");
    assert_eq!(b["recv_client_account_num"], "2000000002");
    assert_eq!(b["wd_print_content"], "Americano");
    assert!(b.get("emv_cpm").is_none());
}

#[tokio::test]
async fn ob_messages_are_joined_and_odd_amounts_are_none() {
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        json(
            200,
            json!({"rsp_code": "A0002", "rsp_message": "bank error", "bank_rsp_code": "453",
                   "bank_rsp_message": "insufficient", "tran_amt": "", "bank_tran_date": ""}),
        ),
        json(
            200,
            json!({"rsp_code": "A0000", "bank_rsp_code": "000", "tran_amt": "1.5e3"}),
        ),
    ])
    .await;
    let gw = ob(&server.url);
    assert_eq!(
        gw.withdraw(&fintech()).await,
        Answer::Reply {
            http_status: 200,
            code: "A0002".into(),
            bank_code: "453".into(),
            message: "bank error; insufficient".into(),
            amount: None,
            bank_tran_date: None,
            bank_name: None,
        }
    );
    assert!(matches!(
        gw.withdraw(&fintech()).await,
        Answer::Reply { amount: None, .. }
    ));
}

#[tokio::test]
async fn ob_print_fields_are_cut_to_20_characters_not_bytes() {
    let server = TestServer::start(vec![token("tok-1", 3600), approved_withdraw("15000")]).await;
    let mut s = settings(&server.url, Protocol::Openbanking);
    s.merchant_name = "가나다라마바사아자차카타파하가나다라마바사아".into();
    let mut w = fintech();
    w.product = "아메리카노 아이스 그란데 사이즈 두 잔".into();
    let _ = connect(s).expect("gateway").withdraw(&w).await;
    let b = server.requests()[1].json();
    assert_eq!(
        b["dps_print_content"],
        "가나다라마바사아자차카타파하가나다라마바"
    );
    assert_eq!(
        b["recv_client_name"],
        "가나다라마바사아자차카타파하가나다라마바"
    );
    assert_eq!(
        b["wd_print_content"].as_str().map(|s| s.chars().count()),
        Some(20)
    );
}

#[tokio::test]
async fn ob_emv_means_travel_as_emv_cpm_with_an_empty_fintech_number() {
    let server = TestServer::start(vec![token("tok-1", 3600), approved_withdraw("15000")]).await;
    let w = withdrawal(PaymentMeans::Emv(EmvData {
        qr_text: "hQVDUFYwMWFNTwegAAAAAQQQ".into(),
        pan: Some("5413330089020011".into()),
        labels: vec!["MASTERCARD".into()],
    }));
    let _ = ob(&server.url).withdraw(&w).await;
    let b = server.requests()[1].json();
    assert_eq!(b["emv_cpm"], "hQVDUFYwMWFNTwegAAAAAQQQ");
    assert_eq!(b["fintech_use_num"], "");
    assert_eq!(b["req_client_fintech_use_num"], "");
}

#[tokio::test]
async fn ob_token_is_cached_across_withdrawals() {
    let server = TestServer::start(vec![
        token("tok-1", 7_775_999),
        approved_withdraw("15000"),
        approved_withdraw("15000"),
    ])
    .await;
    let gw = ob(&server.url);
    assert_eq!(
        gw.withdraw(&fintech()).await,
        reply("A0000", "000", Some(15_000))
    );
    assert_eq!(
        gw.withdraw(&fintech()).await,
        reply("A0000", "000", Some(15_000))
    );
    let reqs = server.requests();
    let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/oauth/2.0/token",
            "/v2.0/transfer/withdraw/fin_num",
            "/v2.0/transfer/withdraw/fin_num"
        ]
    );
    assert_eq!(reqs[2].header("authorization"), Some("Bearer tok-1"));
}

#[tokio::test]
async fn ob_a_token_with_no_lifetime_left_is_not_reused() {
    let server = TestServer::start(vec![
        token("tok-1", 0),
        approved_withdraw("15000"),
        token("tok-2", 0),
        approved_withdraw("15000"),
    ])
    .await;
    let gw = ob(&server.url);
    let _ = gw.withdraw(&fintech()).await;
    let _ = gw.withdraw(&fintech()).await;
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[3].header("authorization"), Some("Bearer tok-2"));
}

#[tokio::test]
async fn ob_an_expired_token_is_renewed_and_the_call_sent_once_more() {
    let server = TestServer::start(vec![
        token("tok-1", 7_775_999),
        ob_code(401, "O0003", "access token expired"),
        token("tok-2", 7_775_999),
        approved_withdraw("15000"),
    ])
    .await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    assert_eq!(answer, reply("A0000", "000", Some(15_000)));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[1].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(reqs[2].path, "/oauth/2.0/token");
    assert_eq!(reqs[3].header("authorization"), Some("Bearer tok-2"));
    assert_eq!(
        reqs[1].body, reqs[3].body,
        "the very same request is re-sent"
    );
}

#[tokio::test]
async fn ob_a_token_rejected_twice_is_reported_without_a_third_try() {
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        ob_code(401, "O0002", "token rejected"),
        token("tok-2", 3600),
        ob_code(401, "O0002", "token rejected"),
    ])
    .await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    assert!(
        matches!(&answer, Answer::Reply { http_status: 401, code, .. } if code == "O0002"),
        "{answer:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn ob_a_refused_token_is_a_reply_and_the_withdrawal_is_not_sent() {
    let server = TestServer::start(vec![ob_code(401, "O0001", "bad client credentials")]).await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    match &answer {
        Answer::Reply {
            http_status,
            code,
            message,
            ..
        } => {
            assert_eq!((*http_status, code.as_str()), (401, "O0001"));
            assert!(message.contains("bad client credentials"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{answer:?}").contains(SECRET));
    assert_eq!(server.requests().len(), 1, "only the token request");
}

#[tokio::test]
async fn ob_an_unreadable_token_reply_means_not_sent() {
    let server = TestServer::start(vec![html(502, "<html>bad gateway</html>")]).await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    assert!(matches!(answer, Answer::NotSent { .. }), "{answer:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn ob_closed_without_a_reply_is_no_reply() {
    let server = TestServer::start(vec![token("tok-1", 3600), Step::Close]).await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    match answer {
        Answer::NoReply { reason } => {
            assert!(!reason.contains("tok-1"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.requests().len(),
        2,
        "the withdrawal did reach the server"
    );
}

#[tokio::test]
async fn ob_an_html_500_is_garbage() {
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        html(500, "<html><body>Internal Server Error</body></html>"),
    ])
    .await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    match answer {
        Answer::Garbage {
            http_status,
            detail,
        } => {
            assert_eq!(http_status, 500);
            assert!(
                detail.contains("not JSON") && detail.contains("text/html"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ob_json_of_the_wrong_shape_is_garbage() {
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        json(200, json!(["A0000"])),
        json(200, json!({"rsp_code": "A0000", "res_list": "none"})),
    ])
    .await;
    let gw = ob(&server.url);
    let answers = [
        gw.withdraw(&fintech()).await,
        gw.query(&fintech(), "20261121", "20261121150000").await,
    ];
    for answer in answers {
        assert!(
            matches!(
                answer,
                Answer::Garbage {
                    http_status: 200,
                    ..
                }
            ),
            "{answer:?}"
        );
    }
}

/// Real replies carry `null`s, numbers where the reference says strings, and fields nobody
/// asked for: read them. What decides the outcome is still compared exactly.
#[tokio::test]
async fn ob_replies_with_nulls_numbers_and_unknown_fields_are_read() {
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        json(
            200,
            json!({"rsp_code": "A0000", "rsp_message": null, "bank_tran_id": TRAN_ID,
                   "bank_tran_date": 20261121, "bank_rsp_code": "000", "tran_amt": 15000,
                   "account_alias": null, "wd_limit_remain_amt": 985000, "new_field": {"x": 1}}),
        ),
        json(
            200,
            json!({"rsp_code": "A0000", "res_cnt": 1, "res_list": [
                {"tran_no": 1, "bank_tran_id": TRAN_ID, "bank_tran_date": "20261121",
                 "bank_rsp_code": "000", "tran_amt": 15000, "wd_fintech_use_num": FINTECH,
                 "wd_account_holder_name": null}]}),
        ),
        // An approval that does not name our id is not an answer about our sale…
        json(
            200,
            json!({"rsp_code": "A0000", "bank_rsp_code": "000", "tran_amt": "15000"}),
        ),
        // …nor is a refusal that names another sale's.
        json(
            200,
            json!({"rsp_code": "A0002", "bank_rsp_code": "453", "bank_tran_id": "M202300440U999999999"}),
        ),
    ])
    .await;
    let gw = ob(&server.url);
    let approved = Answer::Reply {
        http_status: 200,
        code: "A0000".into(),
        bank_code: "000".into(),
        message: String::new(),
        amount: Some(15_000),
        bank_tran_date: Some("20261121".into()),
        bank_name: None,
    };
    assert_eq!(gw.withdraw(&fintech()).await, approved);
    assert_eq!(
        gw.query(&fintech(), "20261121", "20261121150000").await,
        approved
    );
    for _ in 0..2 {
        match gw.withdraw(&fintech()).await {
            Answer::Reply { code, .. } => assert_eq!(code, crate::sale::RESULT_MISMATCH),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        server.requests()[1].header("content-type"),
        Some("application/json; charset=UTF-8")
    );
}

#[tokio::test]
async fn ob_nothing_listening_is_not_sent() {
    let answer = ob(&dead_url().await).withdraw(&fintech()).await;
    match answer {
        Answer::NotSent { reason } => {
            assert!(
                reason.starts_with("no access token: could not connect"),
                "{reason}"
            );
            assert!(!reason.contains(SECRET));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ob_a_token_endpoint_that_never_answers_means_not_sent() {
    let server = TestServer::start(vec![Step::Hang]).await;
    let mut s = settings(&server.url, Protocol::Openbanking);
    s.timeout = Duration::from_millis(300);
    s.connect_timeout = Duration::from_millis(200);
    let answer = connect(s).expect("gateway").withdraw(&fintech()).await;
    assert!(matches!(answer, Answer::NotSent { .. }), "{answer:?}");
    assert_eq!(server.requests().len(), 1, "only the token request");
}

#[tokio::test]
async fn ob_concurrent_calls_share_one_token_fetch() {
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        approved_withdraw("15000"),
        approved_withdraw("15000"),
    ])
    .await;
    let gw = ob(&server.url);
    let (w1, w2) = (fintech(), fintech());
    let (a, b) = tokio::join!(
        gw.withdraw(&w1),
        gw.query(&w2, "20261121", "20261121150000")
    );
    assert!(matches!(a, Answer::Reply { .. }), "{a:?}");
    assert!(matches!(b, Answer::Reply { .. }), "{b:?}");
    let reqs = server.requests();
    assert_eq!(
        reqs.iter().filter(|r| r.path == "/oauth/2.0/token").count(),
        1
    );
    assert_eq!(reqs.len(), 3);
}

#[tokio::test]
async fn ob_a_withdrawal_left_unanswered_times_out_as_no_reply() {
    let server = TestServer::start(vec![token("tok-1", 3600), Step::Hang]).await;
    let mut s = settings(&server.url, Protocol::Openbanking);
    s.timeout = Duration::from_millis(300);
    s.connect_timeout = Duration::from_millis(200);
    let answer = connect(s).expect("gateway").withdraw(&fintech()).await;
    match answer {
        Answer::NoReply { reason } => {
            assert!(reason.contains("timed out"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ob_a_payrequest_card_is_refused_locally_and_nothing_is_sent() {
    let server = TestServer::start(vec![token("tok-1", 3600)]).await;
    let answer = ob(&server.url).withdraw(&card()).await;
    assert!(
        matches!(&answer, Answer::Reply { http_status: 0, code, .. } if code == MEANS_UNSUPPORTED),
        "{answer:?}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ob_query_asks_for_the_original_and_reports_its_item() {
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        json(
            200,
            json!({
                "rsp_code": "A0000", "rsp_message": "", "res_cnt": "1",
                "res_list": [
                    {"tran_no": "1", "bank_tran_id": "M202300440U999999999",
                     "bank_rsp_code": "453", "tran_amt": "1"},
                    {"tran_no": "1", "bank_tran_id": TRAN_ID, "bank_tran_date": "20261121",
                     "bank_rsp_code": "000", "bank_rsp_message": "ok", "tran_amt": "15000",
                     "wd_fintech_use_num": FINTECH}
                ]
            }),
        ),
        json(
            200,
            json!({"rsp_code": "A0310", "rsp_message": "no such transfer", "res_list": []}),
        ),
    ])
    .await;
    let gw = ob(&server.url);
    let answer = gw.query(&fintech(), "20261121", "20261121150000").await;
    assert_eq!(
        answer,
        Answer::Reply {
            http_status: 200,
            code: "A0000".into(),
            bank_code: "000".into(),
            message: "ok".into(),
            amount: Some(15_000),
            bank_tran_date: Some("20261121".into()),
            bank_name: None,
        }
    );
    let q = server.requests()[1].clone();
    assert_eq!(q.path, "/v2.0/transfer/result");
    assert_eq!(q.header("authorization"), Some("Bearer tok-1"));
    assert_eq!(
        q.json(),
        json!({
            "check_type": "1", "tran_dtime": "20261121150000", "req_cnt": "1",
            "req_list": [{"tran_no": "1", "org_bank_tran_id": TRAN_ID,
                          "org_bank_tran_date": "20261121", "org_tran_amt": "15000"}]
        })
    );

    let none = gw.query(&fintech(), "20261121", "20261121150100").await;
    assert_eq!(
        none,
        Answer::Reply {
            http_status: 200,
            code: "A0310".into(),
            bank_code: String::new(),
            message: "no such transfer".into(),
            amount: None,
            bank_tran_date: None,
            bank_name: None,
        }
    );
}

#[tokio::test]
async fn ob_query_renews_a_rejected_token_too() {
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        ob_code(401, "O0003", "expired"),
        token("tok-2", 3600),
        json(200, json!({"rsp_code": "A0000", "res_list": []})),
    ])
    .await;
    let answer = ob(&server.url)
        .query(&fintech(), "20261121", "20261121150000")
        .await;
    assert!(matches!(&answer, Answer::Reply { code, .. } if code == "A0000"));
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn pr_pay_sends_the_request_id_and_reports_success() {
    let server = TestServer::start(vec![json(
        200,
        json!({"identityNumber": "CI0000000000001", "orgCode": "HANA",
               "accountNumber": "11122233344", "productId": TRAN_ID,
               "productName": "Americano", "productPrice": 15000,
               "productTransDate": "2026-11-21 14:30:05"}),
    )])
    .await;
    let answer = pr(&server.url).withdraw(&card()).await;
    assert_eq!(
        answer,
        Answer::Reply {
            http_status: 200,
            code: "OK".into(),
            bank_code: String::new(),
            message: "paid at 2026-11-21 14:30:05".into(),
            amount: Some(15_000),
            bank_tran_date: Some("20261121".into()),
            bank_name: None,
        }
    );
    let r = &server.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/api/payRequest")
    );
    assert_eq!(r.header("x-request-id"), Some(TRAN_ID));
    assert_eq!(
        r.json(),
        json!({"identityNumber": "CI0000000000001", "orgCode": "HANA",
               "accountNumber": "11122233344", "productId": TRAN_ID,
               "productName": "Americano", "productPrice": 15000})
    );
}

#[tokio::test]
async fn pr_failures_are_replies_or_garbage() {
    let server = TestServer::start(vec![
        json(
            402,
            json!({"code": "INSUFFICIENT_BALANCE", "message": "balance 1000"}),
        ),
        html(404, "<html>not here</html>"),
        json(200, json!({"code": "X"})),
        html(503, "<html>down</html>"),
    ])
    .await;
    let gw = pr(&server.url);
    assert_eq!(
        gw.withdraw(&card()).await,
        Answer::Reply {
            http_status: 402,
            code: "INSUFFICIENT_BALANCE".into(),
            bank_code: String::new(),
            message: "balance 1000".into(),
            amount: None,
            bank_tran_date: None,
            bank_name: None,
        }
    );
    for status in [404, 200, 503] {
        let answer = gw.withdraw(&card()).await;
        assert!(
            matches!(answer, Answer::Garbage { http_status, .. } if http_status == status),
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn pr_transport_failures_split_into_not_sent_and_no_reply() {
    assert!(matches!(
        pr(&dead_url().await).withdraw(&card()).await,
        Answer::NotSent { .. }
    ));

    // Bound but never accepting: the kernel completes the handshake, the request is
    // written, and no answer ever comes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut s = settings(
        &format!("http://{}", silent.local_addr().expect("addr")),
        Protocol::Payrequest,
    );
    s.timeout = Duration::from_millis(300);
    s.connect_timeout = Duration::from_millis(200);
    let answer = connect(s).expect("gateway").withdraw(&card()).await;
    assert!(matches!(answer, Answer::NoReply { .. }), "{answer:?}");

    let server = TestServer::start(vec![Step::Close]).await;
    let answer = pr(&server.url).withdraw(&card()).await;
    assert!(matches!(answer, Answer::NoReply { .. }), "{answer:?}");
}

#[tokio::test]
async fn pr_query_reports_the_status() {
    let server = TestServer::start(vec![
        json(
            200,
            json!({"requestId": TRAN_ID, "status": "approved", "code": "", "message": "",
                   "payment": {"productPrice": 15000, "productId": TRAN_ID,
                               "productName": "Americano",
                               "productTransDate": "2026-11-21 14:30:05"}}),
        ),
        json(
            200,
            json!({"requestId": TRAN_ID, "status": "declined",
                   "code": "CARD_INACTIVE", "message": "card stopped", "payment": null}),
        ),
    ])
    .await;
    let gw = pr(&server.url);
    assert_eq!(
        gw.query(&card(), "20261121", "20261121150000").await,
        Answer::Reply {
            http_status: 200,
            code: "approved".into(),
            bank_code: String::new(),
            message: String::new(),
            amount: Some(15_000),
            bank_tran_date: Some("20261121".into()),
            bank_name: None,
        }
    );
    assert_eq!(
        gw.query(&card(), "20261121", "20261121150000").await,
        Answer::Reply {
            http_status: 200,
            code: "declined".into(),
            bank_code: "CARD_INACTIVE".into(),
            message: "card stopped".into(),
            amount: None,
            bank_tran_date: None,
            bank_name: None,
        }
    );
    let r = &server.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/api/payRequest/M202300440U000000042?date=20261121")
    );
}

#[tokio::test]
async fn pr_query_reports_another_sales_payment_as_a_mismatch() {
    let other = |product: &str, price: u64| {
        json(
            200,
            json!({"requestId": TRAN_ID, "status": "approved", "code": "", "message": "",
                   "payment": {"productPrice": price, "productId": TRAN_ID,
                               "productName": product}}),
        )
    };
    let server = TestServer::start(vec![other("Latte", 15000), other("Americano", 4500)]).await;
    let gw = pr(&server.url);
    for differs in ["productName", "productPrice"] {
        match gw.query(&card(), "20261121", "20261121150000").await {
            Answer::Reply { code, message, .. } => {
                assert_eq!(code, crate::sale::RESULT_MISMATCH);
                assert!(message.contains(differs), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn ob_query_reports_an_item_for_another_day_amount_or_payer_as_a_mismatch() {
    let item = |date: &str, amount: &str, fin: &str| {
        json(
            200,
            json!({"rsp_code": "A0000", "rsp_message": "", "res_cnt": "1",
                   "res_list": [{"tran_no": "1", "bank_tran_id": TRAN_ID, "bank_tran_date": date,
                                 "bank_rsp_code": "000", "tran_amt": amount,
                                 "wd_fintech_use_num": fin}]}),
        )
    };
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        item("20261120", "15000", FINTECH),
        item("20261121", "4500", FINTECH),
        item("20261121", "15000", "199003328057724253012199"),
        item("20261121", "15000", FINTECH),
    ])
    .await;
    let gw = ob(&server.url);
    for differs in ["bank_tran_date", "tran_amt", "wd_fintech_use_num"] {
        match gw.query(&fintech(), "20261121", "20261121150000").await {
            Answer::Reply { code, message, .. } => {
                assert_eq!(code, crate::sale::RESULT_MISMATCH);
                assert!(message.contains(differs), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        matches!(
            gw.query(&fintech(), "20261121", "20261121150000").await,
            Answer::Reply { code, bank_code, .. } if code == "A0000" && bank_code == "000"
        ),
        "the item that matches in full settles"
    );
}

#[tokio::test]
async fn pr_a_fintech_number_is_refused_locally_and_nothing_is_sent() {
    let server = TestServer::start(vec![json(200, json!({}))]).await;
    let answer = pr(&server.url).withdraw(&fintech()).await;
    assert!(
        matches!(&answer, Answer::Reply { http_status: 0, code, .. } if code == MEANS_UNSUPPORTED),
        "{answer:?}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_base_url_path_prefix_is_kept() {
    let server = TestServer::start(vec![json(
        200,
        json!({"status": "not_found", "requestId": TRAN_ID}),
    )])
    .await;
    let gw = pr(&format!("{}/pay/", server.url));
    let _ = gw.query(&card(), "20261121", "20261121150000").await;
    assert_eq!(
        server.requests()[0].path,
        "/pay/api/payRequest/M202300440U000000042?date=20261121"
    );
}

#[test]
fn secrets_never_show() {
    let s = settings("http://127.0.0.1:1", Protocol::Openbanking);
    let shown = format!("{s:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("Secret(***)"));
    assert_eq!(s.client_secret.to_string(), "***");
    assert_eq!(s.client_secret.expose(), SECRET);

    let mut bad = settings(
        &format!("http://user:{SECRET}@127.0.0.1:1"),
        Protocol::Openbanking,
    );
    let err = connect(bad.clone())
        .err()
        .expect("credentials in URL refused");
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
    bad.url = "not a url".into();
    let err = connect(bad).err().expect("bad URL refused");
    assert!(!err.to_string().contains(SECRET), "{err}");
}

#[test]
fn connect_refuses_unusable_settings_clearly() {
    let ok = settings("http://127.0.0.1:1", Protocol::Payrequest);
    assert!(connect(ok.clone()).is_ok());
    for url in ["", "127.0.0.1:8080", "ftp://host", "http://h/?a=1"] {
        let mut s = ok.clone();
        s.url = url.into();
        assert!(
            matches!(connect(s), Err(BackendError::BadUrl { .. })),
            "{url}"
        );
    }
    let mut s = ok.clone();
    s.timeout = Duration::ZERO;
    assert!(matches!(
        connect(s),
        Err(BackendError::BadSetting {
            setting: "timeout",
            ..
        })
    ));
    let mut s = ok;
    s.connect_timeout = Duration::from_secs(60);
    let err = connect(s).err().expect("refused");
    assert!(err.to_string().contains("connect_timeout"), "{err}");
}
