//! Gateway tests against real sockets on 127.0.0.1 (see `testserver`): exact wire fields,
//! the customers' enrolment and their tokens (withdrawals), the institution's token (result
//! queries), caching and renewal, and the transport split between NotSent and NoReply.

use std::time::Duration;

use serde_json::json;

use super::enrolment::{Enrolment, CALLBACK};
use super::testserver::{
    account_list, accounts, enrolment, html, json, token, user_token, Step, TestServer, CODE,
    EMV_PAN, FINTECH, FINTECH_2, FINTECH_BOB, USER_SEQ_NO,
};
use super::*;
use crate::sale::EmvData;

const SECRET: &str = "s3cr3t-CLIENT-value";
const TRAN_ID: &str = "M202300440U000000042";

const ACCOUNTS_PATH: &str = "/_sandbox/accounts";
const AUTHORIZE: &str = "/oauth/2.0/authorize";
const TOKEN: &str = "/oauth/2.0/token";
const ACCOUNT_LIST: &str = "/v2.0/account/list";
const WITHDRAW: &str = "/v2.0/transfer/withdraw/fin_num";
const RESULT: &str = "/v2.0/transfer/result";
/// The requests of one enrolment, in order.
const ENROL: [&str; 4] = [ACCOUNTS_PATH, AUTHORIZE, TOKEN, ACCOUNT_LIST];

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
        enrolment: Enrolment::Sandbox,
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
        signed_code: None,
    }
}

fn paying_with(fintech_use_num: &str) -> Withdrawal {
    withdrawal(PaymentMeans::FintechNumber {
        fintech_use_num: fintech_use_num.into(),
    })
}

fn fintech() -> Withdrawal {
    paying_with(FINTECH)
}

fn emv(pan: &str) -> Withdrawal {
    withdrawal(PaymentMeans::Emv(EmvData {
        qr_text: "hQVDUFYwMWFNTwegAAAAAQQQ".into(),
        pan: Some(pan.into()),
        labels: vec!["MASTERCARD".into()],
    }))
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

/// A `transfer/result` reply that found nothing (the query worked).
fn result_empty() -> Step {
    json(200, json!({"rsp_code": "A0000", "res_list": []}))
}

fn ob_code(status: u16, code: &str, message: &str) -> Step {
    json(status, json!({"rsp_code": code, "rsp_message": message}))
}

/// An enrolment of `alice` with customer token `access_token`, then `rest`.
fn enrolled(access_token: &str, rest: Vec<Step>) -> Vec<Step> {
    let mut script = enrolment(access_token);
    script.extend(rest);
    script
}

/// The paths of one enrolment followed by `then`.
fn enrol_then(then: &[&'static str]) -> Vec<&'static str> {
    ENROL.iter().chain(then).copied().collect()
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

/// The decline of a withdrawal the customer has not consented to here: A0306, nothing sent.
fn assert_no_consent(answer: &Answer) {
    match answer {
        Answer::Reply {
            http_status: 0,
            code,
            message,
            amount: None,
            ..
        } if code == "A0306" => {
            assert!(message.contains("출금동의 미완료"), "{message}");
            assert!(!message.contains(SECRET), "{message}");
        }
        other => panic!("expected a local A0306, got {other:?}"),
    }
}

// ------------------------------------------------------------------ withdrawals

#[tokio::test]
async fn ob_withdraw_sends_the_exact_fields_and_reports_the_reply() {
    let server = TestServer::start(enrolled("cust-1", vec![approved_withdraw("15000")])).await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    assert_eq!(answer, reply("A0000", "000", Some(15_000)));

    assert_eq!(server.paths(), enrol_then(&[WITHDRAW]));
    let reqs = server.requests();
    let w = &reqs[4];
    assert_eq!(
        (w.method.as_str(), w.path.as_str()),
        ("POST", "/v2.0/transfer/withdraw/fin_num")
    );
    assert_eq!(w.header("authorization"), Some("Bearer cust-1"));
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
async fn ob_enrolment_runs_the_three_legged_flow_on_the_wire() {
    let server = TestServer::start(enrolled("cust-1", vec![approved_withdraw("15000")])).await;
    let _ = ob(&server.url).withdraw(&fintech()).await;
    let reqs = server.requests();
    assert_eq!(reqs.len(), 5);

    let list = &reqs[0];
    assert_eq!(
        (list.method.as_str(), list.path.as_str()),
        ("GET", ACCOUNTS_PATH)
    );
    assert_eq!(list.header("authorization"), None);

    let consent = &reqs[1];
    assert_eq!(
        (consent.method.as_str(), consent.path_only()),
        ("GET", AUTHORIZE)
    );
    let state = consent.query("state").expect("state");
    assert!(
        state.len() == 32 && state.chars().all(|c| c.is_ascii_hexdigit()),
        "{state}"
    );
    assert_eq!(
        consent.query_pairs(),
        [
            ("response_type", "code"),
            ("client_id", "client-id-1"),
            ("redirect_uri", CALLBACK),
            ("scope", "login inquiry transfer"),
            ("state", state.as_str()),
            ("auth_type", "0"),
            ("sandbox_user", "alice"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert!(
        consent.path.contains("scope=login+inquiry+transfer"),
        "{}",
        consent.path
    );
    assert!(
        !consent.path.contains(SECRET),
        "the secret never goes in a URL"
    );

    let code = &reqs[2];
    assert_eq!((code.method.as_str(), code.path.as_str()), ("POST", TOKEN));
    assert!(code
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")));
    assert_eq!(
        code.form("grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(code.form("code").as_deref(), Some(CODE));
    assert_eq!(code.form("client_id").as_deref(), Some("client-id-1"));
    assert_eq!(code.form("client_secret").as_deref(), Some(SECRET));
    assert_eq!(
        code.form("redirect_uri"),
        consent.query("redirect_uri"),
        "the same redirect_uri as the authorize request"
    );
    assert_eq!(code.form("scope"), None);

    let accounts = &reqs[3];
    assert_eq!(
        (accounts.method.as_str(), accounts.path_only()),
        ("GET", ACCOUNT_LIST)
    );
    assert_eq!(accounts.query("user_seq_no").as_deref(), Some(USER_SEQ_NO));
    assert_eq!(accounts.query("include_cancel_yn").as_deref(), Some("N"));
    assert_eq!(accounts.query("sort_order").as_deref(), Some("D"));
    assert_eq!(accounts.header("authorization"), Some("Bearer cust-1"));

    assert_eq!(reqs[4].header("authorization"), Some("Bearer cust-1"));
}

#[tokio::test]
async fn ob_a_withdrawal_goes_with_the_customers_token_never_the_institutions() {
    let mut script = vec![token("tok-oob", 7_775_999), result_empty()];
    script.extend(enrolment("cust-1"));
    script.extend([approved_withdraw("15000"), result_empty()]);
    let server = TestServer::start(script).await;
    let gw = ob(&server.url);
    let _ = gw.query(&fintech(), "20261121", "20261121150000").await;
    assert_eq!(
        gw.withdraw(&fintech()).await,
        reply("A0000", "000", Some(15_000))
    );
    let _ = gw.query(&fintech(), "20261121", "20261121150100").await;

    let reqs = server.requests();
    let paths = server.paths();
    assert_eq!(
        paths,
        [TOKEN, RESULT]
            .into_iter()
            .chain(enrol_then(&[WITHDRAW, RESULT]))
            .collect::<Vec<_>>()
    );
    let auth = |i: usize| reqs[i].header("authorization");
    assert_eq!(auth(1), Some("Bearer tok-oob"));
    assert_eq!(auth(5), Some("Bearer cust-1"), "account/list");
    assert_eq!(auth(6), Some("Bearer cust-1"), "the withdrawal");
    assert_eq!(
        auth(7),
        Some("Bearer tok-oob"),
        "queries keep the oob token"
    );
    let oob_fetches = reqs
        .iter()
        .filter(|r| r.form("grant_type").as_deref() == Some("client_credentials"))
        .count();
    assert_eq!(oob_fetches, 1);
    assert_eq!(reqs[0].form("scope").as_deref(), Some("oob"));
}

#[tokio::test]
async fn ob_messages_are_joined_and_odd_amounts_are_none() {
    let server = TestServer::start(enrolled(
        "cust-1",
        vec![
            json(
                200,
                json!({"rsp_code": "A0002", "rsp_message": "bank error", "bank_rsp_code": "453",
                       "bank_rsp_message": "insufficient", "tran_amt": "", "bank_tran_date": ""}),
            ),
            json(
                200,
                json!({"rsp_code": "A0000", "bank_rsp_code": "000", "tran_amt": "1.5e3"}),
            ),
        ],
    ))
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

/// Print fields are AH(20): 20 bytes of UTF-8 (6 Hangul syllables), cut on a character
/// boundary, never inside one.
#[tokio::test]
async fn ob_print_fields_are_cut_to_20_bytes_on_a_character_boundary() {
    for (merchant, product, merchant_cut, product_cut) in [
        (
            "가나다라마바사아자차카타파하가나다라마바사아",
            "아메리카노 아이스 그란데 사이즈 두 잔",
            "가나다라마바",
            "아메리카노 아",
        ),
        (
            "Café Crème Brûlée Paris",
            "Americano grande iced",
            "Café Crème Brûlé",
            "Americano grande ice",
        ),
        ("Corner Café", "라떼", "Corner Café", "라떼"),
    ] {
        let server = TestServer::start(enrolled("cust-1", vec![approved_withdraw("15000")])).await;
        let mut s = settings(&server.url, Protocol::Openbanking);
        s.merchant_name = merchant.into();
        let mut w = fintech();
        w.product = product.into();
        let answer = connect(s).expect("gateway").withdraw(&w).await;
        assert_eq!(answer, reply("A0000", "000", Some(15_000)));
        let b = server.requests()[4].json();
        assert_eq!(b["dps_print_content"], merchant_cut, "{merchant}");
        assert_eq!(b["recv_client_name"], merchant_cut, "{merchant}");
        assert_eq!(b["wd_print_content"], product_cut, "{product}");
        for field in ["dps_print_content", "recv_client_name", "wd_print_content"] {
            let text = b[field].as_str().expect("a string");
            assert!(
                text.len() <= 20,
                "{field}: {text:?} is {} bytes",
                text.len()
            );
        }
    }
}

#[tokio::test]
async fn ob_emv_means_travel_as_emv_cpm_with_an_empty_fintech_number() {
    let server = TestServer::start(vec![
        accounts(),
        Step::Consent,
        user_token("cust-bob", 7_775_999),
        account_list(&[FINTECH_BOB]),
        approved_withdraw("15000"),
        approved_withdraw("15000"),
    ])
    .await;
    let gw = ob(&server.url);
    let _ = gw.withdraw(&emv(EMV_PAN)).await;
    let reqs = server.requests();
    assert_eq!(
        reqs[1].query("sandbox_user").as_deref(),
        Some("bob"),
        "the customer is found by the PAN"
    );
    assert_eq!(reqs[4].header("authorization"), Some("Bearer cust-bob"));
    let b = reqs[4].json();
    assert_eq!(b["emv_cpm"], "hQVDUFYwMWFNTwegAAAAAQQQ");
    assert_eq!(b["fintech_use_num"], "");
    assert_eq!(b["req_client_fintech_use_num"], "");

    // The PAN's token is kept, as is the fintech number bob's account list named.
    let _ = gw.withdraw(&emv(EMV_PAN)).await;
    assert_eq!(server.paths(), enrol_then(&[WITHDRAW, WITHDRAW]));
    assert_eq!(
        server.requests()[5].header("authorization"),
        Some("Bearer cust-bob")
    );
}

#[tokio::test]
async fn ob_a_customer_token_is_kept_per_fintech_number_and_its_listed_accounts() {
    let server = TestServer::start(vec![
        accounts(),
        Step::Consent,
        user_token("cust-alice", 7_775_999),
        account_list(&[FINTECH, FINTECH_2]),
        approved_withdraw("15000"),
        approved_withdraw("15000"),
        // alice's other account, which only her account list named: no enrolment.
        approved_withdraw("15000"),
        // bob is someone else: enrolled on his own.
        accounts(),
        Step::Consent,
        user_token("cust-bob", 7_775_999),
        account_list(&[FINTECH_BOB]),
        approved_withdraw("15000"),
        // alice again: still her token.
        approved_withdraw("15000"),
    ])
    .await;
    let gw = ob(&server.url);
    for w in [
        fintech(),
        fintech(),
        paying_with(FINTECH_2),
        paying_with(FINTECH_BOB),
        fintech(),
    ] {
        assert_eq!(gw.withdraw(&w).await, reply("A0000", "000", Some(15_000)));
    }
    let mut expected = enrol_then(&[WITHDRAW, WITHDRAW, WITHDRAW]);
    expected.extend(enrol_then(&[WITHDRAW, WITHDRAW]));
    assert_eq!(server.paths(), expected);
    let reqs = server.requests();
    let auth = |i: usize| reqs[i].header("authorization");
    assert_eq!(
        [auth(4), auth(5), auth(6), auth(11), auth(12)],
        [
            Some("Bearer cust-alice"),
            Some("Bearer cust-alice"),
            Some("Bearer cust-alice"),
            Some("Bearer cust-bob"),
            Some("Bearer cust-alice"),
        ]
    );
    assert_eq!(reqs[6].json()["fintech_use_num"], FINTECH_2);
    assert_eq!(reqs[8].query("sandbox_user").as_deref(), Some("bob"));
}

#[tokio::test]
async fn ob_concurrent_withdrawals_share_one_enrolment() {
    let server = TestServer::start(enrolled(
        "cust-1",
        vec![approved_withdraw("15000"), approved_withdraw("15000")],
    ))
    .await;
    let gw = ob(&server.url);
    let (w1, w2) = (fintech(), fintech());
    let (a, b) = tokio::join!(gw.withdraw(&w1), gw.withdraw(&w2));
    assert_eq!(a, reply("A0000", "000", Some(15_000)));
    assert_eq!(b, reply("A0000", "000", Some(15_000)));
    assert_eq!(server.paths(), enrol_then(&[WITHDRAW, WITHDRAW]));
}

#[tokio::test]
async fn ob_a_customer_token_with_no_lifetime_left_is_not_reused() {
    let once = |access: &str| {
        vec![
            accounts(),
            Step::Consent,
            user_token(access, 0),
            account_list(&[FINTECH]),
            approved_withdraw("15000"),
        ]
    };
    let server = TestServer::start([once("cust-1"), once("cust-2")].concat()).await;
    let gw = ob(&server.url);
    for _ in 0..2 {
        assert_eq!(
            gw.withdraw(&fintech()).await,
            reply("A0000", "000", Some(15_000))
        );
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 10);
    assert_eq!(reqs[4].header("authorization"), Some("Bearer cust-1"));
    assert_eq!(reqs[9].header("authorization"), Some("Bearer cust-2"));
}

#[tokio::test]
async fn ob_a_rejected_customer_token_is_renewed_and_the_withdrawal_sent_once_more() {
    for code in ["O0002", "O0003"] {
        let mut script = enrolled("cust-1", vec![ob_code(401, code, "access token rejected")]);
        script.extend(enrolment("cust-2"));
        script.extend([approved_withdraw("15000"), approved_withdraw("15000")]);
        let server = TestServer::start(script).await;
        let gw = ob(&server.url);
        let answer = gw.withdraw(&fintech()).await;
        assert_eq!(answer, reply("A0000", "000", Some(15_000)), "{code}");
        let reqs = server.requests();
        assert_eq!(
            server.paths(),
            [enrol_then(&[WITHDRAW]), enrol_then(&[WITHDRAW])].concat(),
            "{code}"
        );
        assert_eq!(reqs[4].header("authorization"), Some("Bearer cust-1"));
        assert_eq!(reqs[9].header("authorization"), Some("Bearer cust-2"));
        assert_eq!(
            reqs[4].body, reqs[9].body,
            "the very same request is re-sent"
        );
        assert_ne!(
            reqs[1].query("state"),
            reqs[6].query("state"),
            "each consent has its own state"
        );
        assert!(reqs
            .iter()
            .all(|r| r.form("grant_type").as_deref() != Some("client_credentials")));

        // The renewed token replaced the rejected one.
        let _ = gw.withdraw(&fintech()).await;
        let reqs = server.requests();
        assert_eq!(reqs.len(), 11);
        assert_eq!(reqs[10].header("authorization"), Some("Bearer cust-2"));
    }
}

#[tokio::test]
async fn ob_a_customer_token_rejected_twice_is_reported_without_a_third_try() {
    let mut script = enrolled("cust-1", vec![ob_code(401, "O0002", "token rejected")]);
    script.extend(enrolment("cust-2"));
    script.extend([
        ob_code(401, "O0002", "token rejected"),
        // What a third try would get.
        approved_withdraw("15000"),
    ]);
    let server = TestServer::start(script).await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    assert!(
        matches!(&answer, Answer::Reply { http_status: 401, code, .. } if code == "O0002"),
        "{answer:?}"
    );
    assert_eq!(server.requests().len(), 10);
}

#[tokio::test]
async fn ob_without_enrolment_a_withdrawal_is_declined_and_nothing_is_sent() {
    let server = TestServer::start(vec![token("tok-1", 3600), result_empty()]).await;
    let mut s = settings(&server.url, Protocol::Openbanking);
    s.enrolment = Enrolment::None;
    let gw = connect(s).expect("gateway");
    for w in [fintech(), emv(EMV_PAN)] {
        let answer = gw.withdraw(&w).await;
        assert_no_consent(&answer);
        match answer {
            Answer::Reply { message, .. } => assert!(message.contains("enrolment"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(server.requests().is_empty());
    // The institution's token still serves result queries.
    let answer = gw.query(&fintech(), "20261121", "20261121150000").await;
    assert!(
        matches!(&answer, Answer::Reply { code, .. } if code == "A0000"),
        "{answer:?}"
    );
    assert_eq!(server.paths(), [TOKEN, RESULT]);
}

#[tokio::test]
async fn ob_a_payer_the_sandbox_does_not_know_is_declined() {
    for w in [
        paying_with("199003328057724253019999"),
        emv("4111111111111111"),
    ] {
        let server = TestServer::start(enrolled("cust-1", vec![approved_withdraw("15000")])).await;
        let answer = ob(&server.url).withdraw(&w).await;
        assert_no_consent(&answer);
        assert_eq!(server.paths(), [ACCOUNTS_PATH], "{w:?}");
    }
}

/// A server that answered without a grant: the customer has not consented here, A0306, and
/// nothing is withdrawn.
#[tokio::test]
async fn ob_an_enrolment_the_server_refuses_is_declined_and_nothing_is_withdrawn() {
    let wrong_state = format!("{CALLBACK}?code={CODE}&state={}", "0".repeat(32));
    let cases: Vec<(&str, Vec<Step>, Vec<&str>)> = vec![
        (
            "not the sandbox",
            vec![html(404, "<html>not found</html>")],
            vec![ACCOUNTS_PATH],
        ),
        (
            "a 2xx that is not JSON",
            vec![html(200, "<html>welcome</html>")],
            vec![ACCOUNTS_PATH],
        ),
        (
            "no redirect",
            vec![accounts(), html(200, "<html>consent page</html>")],
            vec![ACCOUNTS_PATH, AUTHORIZE],
        ),
        (
            "the wrong state",
            vec![accounts(), Step::Redirect(wrong_state)],
            vec![ACCOUNTS_PATH, AUTHORIZE],
        ),
        (
            "a redirect that names an error and no state",
            vec![
                accounts(),
                Step::Redirect(format!("{CALLBACK}?error=access_denied")),
            ],
            vec![ACCOUNTS_PATH, AUTHORIZE],
        ),
        (
            "the code refused",
            vec![
                accounts(),
                Step::Consent,
                json(
                    400,
                    json!({"rsp_code": "O0001", "rsp_message": "bad code", "error_code": "3000117"}),
                ),
            ],
            vec![ACCOUNTS_PATH, AUTHORIZE, TOKEN],
        ),
        (
            "a token reply without user_seq_no",
            vec![accounts(), Step::Consent, token("tok-oob-by-mistake", 3600)],
            vec![ACCOUNTS_PATH, AUTHORIZE, TOKEN],
        ),
        (
            "account/list refused",
            vec![
                accounts(),
                Step::Consent,
                user_token("cust-1", 7_775_999),
                ob_code(403, "O0005", "scope not allowed"),
            ],
            vec![ACCOUNTS_PATH, AUTHORIZE, TOKEN, ACCOUNT_LIST],
        ),
    ];
    let cases = cases.into_iter().chain([(
        "an account list without the paying account",
        vec![
            accounts(),
            Step::Consent,
            user_token("cust-1", 7_775_999),
            account_list(&[FINTECH_2]),
        ],
        vec![ACCOUNTS_PATH, AUTHORIZE, TOKEN, ACCOUNT_LIST],
    )]);
    for (case, mut script, paths) in cases {
        // What a withdrawal would get, were one sent.
        script.push(approved_withdraw("15000"));
        let server = TestServer::start(script).await;
        let answer = ob(&server.url).withdraw(&fintech()).await;
        assert_no_consent(&answer);
        assert_eq!(server.paths(), paths, "{case}");
    }
}

/// The gateway refusing the terminal's own credentials while enrolling is the terminal's
/// setup, not the customer's consent: the O-code, no withdrawal.
#[tokio::test]
async fn ob_client_credentials_refused_while_enrolling_is_the_gateways_code() {
    let refused = || {
        json(
            401,
            json!({"rsp_code": "O0001", "rsp_message": "bad client", "error_code": "3000201"}),
        )
    };
    for (case, script, paths) in [
        (
            "at the consent page",
            vec![accounts(), refused()],
            vec![ACCOUNTS_PATH, AUTHORIZE],
        ),
        (
            "at the token endpoint",
            vec![accounts(), Step::Consent, refused()],
            vec![ACCOUNTS_PATH, AUTHORIZE, TOKEN],
        ),
    ] {
        let mut script = script;
        script.push(approved_withdraw("15000"));
        let server = TestServer::start(script).await;
        match ob(&server.url).withdraw(&fintech()).await {
            Answer::Reply { code, message, .. } => {
                assert_eq!(code, "O0001", "{case}");
                assert!(message.contains("client credentials"), "{case}: {message}");
                assert!(!message.contains(SECRET), "{message}");
            }
            other => panic!("{case}: {other:?}"),
        }
        assert_eq!(server.paths(), paths, "{case}");
    }
}

#[tokio::test]
async fn ob_nothing_listening_is_not_sent() {
    let answer = ob(&dead_url().await).withdraw(&fintech()).await;
    match answer {
        Answer::NotSent { reason } => {
            assert!(reason.starts_with("no customer token:"), "{reason}");
            assert!(reason.contains("could not connect"), "{reason}");
            assert!(!reason.contains(SECRET));
        }
        other => panic!("{other:?}"),
    }
    let answer = ob(&dead_url().await)
        .query(&fintech(), "20261121", "20261121150000")
        .await;
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

/// A server error or a connection cut at any step of the enrolment is the network's
/// trouble, not the customer's refusal: not sent (the sale may go offline).
#[tokio::test]
async fn ob_an_enrolment_cut_off_or_failing_with_a_5xx_is_not_sent() {
    for step in 0..ENROL.len() {
        for fault in [html(503, "<html>busy</html>"), Step::Close] {
            let mut script = enrolment("cust-1");
            script.truncate(step);
            script.push(fault.clone());
            script.push(approved_withdraw("15000"));
            let server = TestServer::start(script).await;
            let answer = ob(&server.url).withdraw(&fintech()).await;
            match &answer {
                Answer::NotSent { reason } => {
                    assert!(reason.starts_with("no customer token:"), "{reason}");
                    assert!(!reason.contains(SECRET) && !reason.contains("cust-1"));
                }
                other => panic!("step {step}, {fault:?}: {other:?}"),
            }
            assert_eq!(server.paths(), ENROL[..=step], "step {step}, {fault:?}");
        }
    }
}

#[tokio::test]
async fn ob_a_base_url_path_prefix_is_kept_for_every_call() {
    let mut script = enrolment("cust-1");
    script.extend([
        approved_withdraw("15000"),
        token("tok-oob", 3600),
        result_empty(),
    ]);
    let server = TestServer::start(script).await;
    let gw = ob(&format!("{}/bank/", server.url));
    assert_eq!(
        gw.withdraw(&fintech()).await,
        reply("A0000", "000", Some(15_000))
    );
    let _ = gw.query(&fintech(), "20261121", "20261121150000").await;
    let expected: Vec<String> = enrol_then(&[WITHDRAW, TOKEN, RESULT])
        .iter()
        .map(|p| format!("/bank{p}"))
        .collect();
    assert_eq!(server.paths(), expected);
    // The callback is the app's own, not under the backend's prefix.
    assert_eq!(
        server.requests()[1].query("redirect_uri").as_deref(),
        Some(CALLBACK)
    );
}

#[tokio::test]
async fn ob_closed_without_a_reply_is_no_reply() {
    let server = TestServer::start(enrolled("cust-1", vec![Step::Close])).await;
    let answer = ob(&server.url).withdraw(&fintech()).await;
    match answer {
        Answer::NoReply { reason } => {
            assert!(!reason.contains("cust-1"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.paths(),
        enrol_then(&[WITHDRAW]),
        "the withdrawal did reach the server"
    );
}

#[tokio::test]
async fn ob_an_html_500_is_garbage() {
    let server = TestServer::start(enrolled(
        "cust-1",
        vec![html(500, "<html><body>Internal Server Error</body></html>")],
    ))
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
    let server = TestServer::start(enrolled(
        "cust-1",
        vec![
            json(200, json!(["A0000"])),
            token("tok-1", 3600),
            json(200, json!({"rsp_code": "A0000", "res_list": "none"})),
        ],
    ))
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
    let server = TestServer::start(enrolled(
        "cust-1",
        vec![
            json(
                200,
                json!({"rsp_code": "A0000", "rsp_message": null, "bank_tran_id": TRAN_ID,
                       "bank_tran_date": 20261121, "bank_rsp_code": "000", "tran_amt": 15000,
                       "account_alias": null, "wd_limit_remain_amt": 985000, "new_field": {"x": 1}}),
            ),
            token("tok-1", 3600),
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
        ],
    ))
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
        server.requests()[4].header("content-type"),
        Some("application/json; charset=UTF-8")
    );
}

#[tokio::test]
async fn ob_a_withdrawal_left_unanswered_times_out_as_no_reply() {
    let server = TestServer::start(enrolled("cust-1", vec![Step::Hang])).await;
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
    assert_eq!(server.paths(), enrol_then(&[WITHDRAW]));
}

// ------------------------------------------------------- the institution's token (queries)

#[tokio::test]
async fn ob_the_institution_token_is_fetched_with_client_credentials() {
    let server = TestServer::start(vec![token("tok-1", 7_775_999), result_empty()]).await;
    let answer = ob(&server.url)
        .query(&fintech(), "20261121", "20261121150000")
        .await;
    assert!(
        matches!(&answer, Answer::Reply { code, .. } if code == "A0000"),
        "{answer:?}"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let t = &reqs[0];
    assert_eq!((t.method.as_str(), t.path.as_str()), ("POST", TOKEN));
    assert!(t
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")));
    for (k, v) in [
        ("client_id", "client-id-1"),
        ("client_secret", SECRET),
        ("scope", "oob"),
        ("grant_type", "client_credentials"),
    ] {
        assert_eq!(t.form(k).as_deref(), Some(v), "{k} in {:?}", t.body);
    }
    assert_eq!(reqs[1].path, RESULT);
    assert_eq!(reqs[1].header("authorization"), Some("Bearer tok-1"));
}

#[tokio::test]
async fn ob_sign_in_fetches_the_institution_token_only() {
    let server = TestServer::start(vec![token("tok-1", 3600)]).await;
    let said = ob(&server.url).sign_in().await;
    assert_eq!(said, Ok("access token issued (valid 3600 s)".to_string()));
    assert!(!format!("{said:?}").contains("tok-1"));
    assert_eq!(server.paths(), [TOKEN]);
    assert_eq!(
        server.requests()[0].form("grant_type").as_deref(),
        Some("client_credentials")
    );
}

#[tokio::test]
async fn ob_the_institution_token_is_cached_across_queries() {
    let server = TestServer::start(vec![
        token("tok-1", 7_775_999),
        result_empty(),
        result_empty(),
    ])
    .await;
    let gw = ob(&server.url);
    for _ in 0..2 {
        let answer = gw.query(&fintech(), "20261121", "20261121150000").await;
        assert!(matches!(&answer, Answer::Reply { code, .. } if code == "A0000"));
    }
    assert_eq!(server.paths(), [TOKEN, RESULT, RESULT]);
    assert_eq!(
        server.requests()[2].header("authorization"),
        Some("Bearer tok-1")
    );
}

#[tokio::test]
async fn ob_an_institution_token_with_no_lifetime_left_is_not_reused() {
    let server = TestServer::start(vec![
        token("tok-1", 0),
        result_empty(),
        token("tok-2", 0),
        result_empty(),
    ])
    .await;
    let gw = ob(&server.url);
    let _ = gw.query(&fintech(), "20261121", "20261121150000").await;
    let _ = gw.query(&fintech(), "20261121", "20261121150000").await;
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[3].header("authorization"), Some("Bearer tok-2"));
}

#[tokio::test]
async fn ob_an_expired_institution_token_is_renewed_and_the_query_sent_once_more() {
    let server = TestServer::start(vec![
        token("tok-1", 7_775_999),
        ob_code(401, "O0003", "access token expired"),
        token("tok-2", 7_775_999),
        result_empty(),
    ])
    .await;
    let answer = ob(&server.url)
        .query(&fintech(), "20261121", "20261121150000")
        .await;
    assert!(
        matches!(&answer, Answer::Reply { http_status: 200, code, .. } if code == "A0000"),
        "{answer:?}"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[1].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(reqs[2].path, TOKEN);
    assert_eq!(reqs[3].header("authorization"), Some("Bearer tok-2"));
    assert_eq!(
        reqs[1].body, reqs[3].body,
        "the very same request is re-sent"
    );
}

#[tokio::test]
async fn ob_an_institution_token_rejected_twice_is_reported_without_a_third_try() {
    let server = TestServer::start(vec![
        token("tok-1", 3600),
        ob_code(401, "O0002", "token rejected"),
        token("tok-2", 3600),
        ob_code(401, "O0002", "token rejected"),
        token("tok-3", 3600),
        result_empty(),
    ])
    .await;
    let answer = ob(&server.url)
        .query(&fintech(), "20261121", "20261121150000")
        .await;
    assert!(
        matches!(&answer, Answer::Reply { http_status: 401, code, .. } if code == "O0002"),
        "{answer:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn ob_a_refused_institution_token_is_a_reply_and_the_query_is_not_sent() {
    let server = TestServer::start(vec![
        ob_code(401, "O0001", "bad client credentials"),
        result_empty(),
    ])
    .await;
    let answer = ob(&server.url)
        .query(&fintech(), "20261121", "20261121150000")
        .await;
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
    let server =
        TestServer::start(vec![html(502, "<html>bad gateway</html>"), result_empty()]).await;
    let answer = ob(&server.url)
        .query(&fintech(), "20261121", "20261121150000")
        .await;
    assert!(matches!(answer, Answer::NotSent { .. }), "{answer:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn ob_a_token_endpoint_that_never_answers_means_not_sent() {
    let server = TestServer::start(vec![Step::Hang]).await;
    let mut s = settings(&server.url, Protocol::Openbanking);
    s.timeout = Duration::from_millis(300);
    s.connect_timeout = Duration::from_millis(200);
    let answer = connect(s)
        .expect("gateway")
        .query(&fintech(), "20261121", "20261121150000")
        .await;
    assert!(matches!(answer, Answer::NotSent { .. }), "{answer:?}");
    assert_eq!(server.requests().len(), 1, "only the token request");
}

#[tokio::test]
async fn ob_concurrent_calls_share_one_token_fetch() {
    let server =
        TestServer::start(vec![token("tok-1", 3600), result_empty(), result_empty()]).await;
    let gw = ob(&server.url);
    let (w1, w2) = (fintech(), fintech());
    let (a, b) = tokio::join!(
        gw.query(&w1, "20261121", "20261121150000"),
        gw.query(&w2, "20261121", "20261121150000")
    );
    assert!(matches!(a, Answer::Reply { .. }), "{a:?}");
    assert!(matches!(b, Answer::Reply { .. }), "{b:?}");
    let reqs = server.requests();
    assert_eq!(reqs.iter().filter(|r| r.path == TOKEN).count(), 1);
    assert_eq!(reqs.len(), 3);
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
