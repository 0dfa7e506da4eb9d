//! What a backend answer means for the money. The KFTC developer guide (seed `002_…`) is the
//! authority, summarised in `shared/docs/openbanking.md` §6.3:
//! - approved only on A0000 + bank 000 + the amount we asked for, echoed;
//! - a withdrawal answered A0017 or bank 311 is refused (the resolver re-checks it once);
//! - no answer, timeouts, 5xx, A0001, A0007, bank 400, garbage and any code we do not know are
//!   *unknown*: only a `transfer/result` query may settle them, never a new withdrawal;
//! - A0326 means our id was seen before: the repeat was ignored, so query the original.
//! - a result query settles a sale only with an item that matches it in full (id, date,
//!   amount, account); "no such transfer" is a [`Outcome::NotFound`], believed only as
//!   [`not_found_outcome`] says.

use super::Won;

/// A withdrawal (or payRequest) answer as the backend client saw it on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Nothing left the device (connection refused, unreachable, DNS, connect timeout, or no
    /// access token could be had): the backend cannot have acted on it.
    NotSent { reason: String },
    /// The request may have reached the backend, but no reply came (timeout, reset, dropped).
    NoReply { reason: String },
    /// A reply whose body could not be understood (HTML error page, truncated JSON, …).
    Garbage { http_status: u16, detail: String },
    /// A parsed reply. Open banking: `code` = `rsp_code`, `bank_code` = `bank_rsp_code`.
    /// payRequest: `code` = `OK` on success or the failure code, `bank_code` empty.
    Reply {
        http_status: u16,
        code: String,
        bank_code: String,
        message: String,
        /// The amount the backend says it processed.
        amount: Option<u64>,
        bank_tran_date: Option<String>,
        /// The payer's bank, as the reply names it (open banking `bank_name`), for the
        /// receipt and the approved screen.
        bank_name: Option<String>,
    },
}

/// A result query's answer. Open banking: `code` = top-level `rsp_code` (A0310 = no such
/// transfer), `bank_code` = the item's `bank_rsp_code`. payRequest: `code` = the status
/// (`approved`, `declined`, `not_found`), `bank_code` = the failure code.
pub type QueryAnswer = Answer;

impl Answer {
    /// Whether the backend answered at all (a reply or an unreadable one): it has seen the
    /// request. `NotSent` and `NoReply` prove nothing either way.
    pub fn reached_backend(&self) -> bool {
        matches!(self, Answer::Reply { .. } | Answer::Garbage { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Approved {
        bank_tran_date: Option<String>,
    },
    /// No money moved. `recheck`: A0017/311, which the resolver queries once more later.
    Declined {
        code: String,
        message: String,
        consent_expired: bool,
        recheck: bool,
    },
    /// May or may not have moved money: query, never re-send under a new id.
    Unknown {
        code: String,
        message: String,
    },
    /// Nothing left the device: the backend is unreachable (the offline path decides).
    NotSent {
        reason: String,
    },
    /// A result query found no such transfer. It may still be in flight: only
    /// [`not_found_outcome`] turns this into a decline.
    NotFound,
}

/// Answer code for a result item that names our id but not our sale (another day, another
/// amount, another account): it settles nothing. The gateways report it; see
/// `backend::read_result`.
pub const RESULT_MISMATCH: &str = "RESULT_MISMATCH";

/// What "no such transfer" means for a sale sent `since_sent` ago, whose first "no such
/// transfer" came `since_first` ago (`None`: this is the first). Both are measured on a
/// monotonic clock. Believed, as a decline, only on a second "not found" at least `grace`
/// (the request timeout) after the first, and `grace` after sending: a request still in
/// flight, or a bank slow to record it, is never declined early.
pub fn not_found_outcome(
    since_sent: std::time::Duration,
    since_first: Option<std::time::Duration>,
    grace: std::time::Duration,
) -> Outcome {
    if since_sent >= grace && since_first.is_some_and(|d| d >= grace) {
        Outcome::declined(
            "NOT_RECEIVED",
            "the backend never received this payment — not charged",
        )
    } else {
        Outcome::not_found_yet()
    }
}

impl Outcome {
    fn declined(code: &str, message: impl Into<String>) -> Outcome {
        Outcome::Declined {
            code: code.into(),
            message: message.into(),
            consent_expired: false,
            recheck: false,
        }
    }
    /// "No such transfer", not (yet) believed: it will be asked again.
    pub fn not_found_yet() -> Outcome {
        Outcome::unknown(
            "NOT_FOUND_YET",
            "the backend has no record yet: will check again",
        )
    }
    fn unknown(code: &str, message: impl Into<String>) -> Outcome {
        Outcome::Unknown {
            code: code.into(),
            message: message.into(),
        }
    }
    fn consent(code: &str, what: &str) -> Outcome {
        Outcome::Declined {
            code: code.into(),
            message: format!("{what} — the customer must renew consent in their banking app"),
            consent_expired: true,
            recheck: false,
        }
    }
}

fn transport(answer: &Answer) -> Option<Outcome> {
    match answer {
        Answer::NotSent { reason } => Some(Outcome::NotSent {
            reason: reason.clone(),
        }),
        Answer::NoReply { reason } => Some(Outcome::unknown(
            "NO_REPLY",
            format!("no reply from the backend ({reason})"),
        )),
        Answer::Garbage {
            http_status,
            detail,
        } => Some(Outcome::unknown(
            "UNPARSABLE",
            format!("unreadable reply from the backend (HTTP {http_status}: {detail})"),
        )),
        Answer::Reply { http_status, .. } if *http_status >= 500 => Some(Outcome::unknown(
            "HTTP_5XX",
            format!("backend error HTTP {http_status}"),
        )),
        Answer::Reply { .. } => None,
    }
}

/// A query that could not even be sent settles nothing: still unknown, never "offline".
fn query_transport(answer: &QueryAnswer) -> Option<Outcome> {
    match transport(answer)? {
        Outcome::NotSent { reason } => Some(Outcome::unknown(
            "QUERY_NOT_SENT",
            format!("backend unreachable ({reason})"),
        )),
        other => Some(other),
    }
}

fn code_number(code: &str, letter: char) -> Option<u32> {
    let rest = code.strip_prefix(letter)?;
    if rest.len() == 4 && rest.chars().all(|c| c.is_ascii_digit()) {
        rest.parse().ok()
    } else {
        None
    }
}

/// Bank codes (`bank_rsp_code`) that say the bank refused: no money moved.
fn bank_refusal(bank_code: &str) -> Option<Outcome> {
    let msg = match bank_code {
        "311" => {
            return Some(Outcome::Declined {
                code: "311".into(),
                message: "the bank's answer did not come in time — payment refused, not charged"
                    .into(),
                consent_expired: false,
                recheck: true,
            })
        }
        "468" => {
            return Some(Outcome::consent(
                "468",
                "third-party information consent expired",
            ))
        }
        "453" | "454" => "insufficient balance",
        "455" | "456" => "the account's transfer limit is exceeded",
        "815" => "account holder name mismatch",
        "412" | "414" | "415" | "416" | "417" | "425" | "461" | "467" | "473" => {
            "the account cannot be debited (closed, dormant, frozen or changed)"
        }
        "413" | "418" | "419" | "420" | "422" | "424" | "427" | "428" | "431" | "432" | "433"
        | "452" | "458" | "471" | "472" | "474" | "475" | "476" => {
            "the account is restricted from withdrawals"
        }
        "421" | "426" | "462" | "463" | "464" | "470" | "477" | "490" | "499" | "551" | "555"
        | "556" => "the bank refused this customer (contact the bank)",
        _ => return None,
    };
    Some(Outcome::declined(
        bank_code,
        format!("{msg} (bank {bank_code})"),
    ))
}

/// Classifies the answer to `POST /v2.0/transfer/withdraw/fin_num` for `asked` won.
pub fn classify_withdrawal(answer: &Answer, asked: Won) -> Outcome {
    if let Some(o) = transport(answer) {
        return o;
    }
    let Answer::Reply {
        code,
        bank_code,
        message,
        amount,
        bank_tran_date,
        http_status,
        ..
    } = answer
    else {
        unreachable!("transport() handles every other variant")
    };
    let code = code.as_str();
    let shown = |m: &str| {
        if message.is_empty() {
            m.to_string()
        } else {
            format!("{m}: {message}")
        }
    };

    if code == "A0000" && bank_code == "000" {
        return match amount {
            // The business date is what a later query must name: an approval without it is
            // not one the terminal can stand behind.
            Some(a) if *a == asked.0 && bank_tran_date.is_none() => Outcome::unknown(
                "DATE_MISSING",
                "backend approved without bank_tran_date: checking",
            ),
            Some(a) if *a == asked.0 => Outcome::Approved {
                bank_tran_date: bank_tran_date.clone(),
            },
            Some(a) => Outcome::unknown(
                "AMOUNT_MISMATCH",
                format!("backend processed ₩{a}, not {asked}: checking"),
            ),
            None => Outcome::unknown(
                "AMOUNT_MISSING",
                "backend did not echo the amount: checking",
            ),
        };
    }
    if let Some(n) = code_number(code, 'O') {
        if (1..=10).contains(&n) {
            return Outcome::declined(code, shown("the payment gateway refused the request"));
        }
    }
    match code {
        "A0017" => {
            return Outcome::Declined {
                code: "A0017".into(),
                message:
                    "the customer's bank did not answer in time — payment refused, not charged"
                        .into(),
                consent_expired: false,
                recheck: true,
            }
        }
        "A0316" => return Outcome::consent(code, "third-party information consent expired"),
        "A0319" => return Outcome::consent(code, "withdrawal consent expired"),
        "A0305" => return Outcome::consent(code, "third-party information consent not given"),
        "A0306" => return Outcome::consent(code, "withdrawal consent not given"),
        "A0332" | "A0334" => {
            return Outcome::consent(code, "third-party consent not completed or expired")
        }
        "A0001" => {
            return Outcome::unknown(code, "the transfer is still being processed: checking")
        }
        "A0007" => return Outcome::unknown(code, "processing time exceeded: checking"),
        "A0326" => {
            return Outcome::unknown(
                code,
                "this transaction id was already used: checking the original",
            )
        }
        "A0004" => return Outcome::declined(code, shown("request format error")),
        "A0013" => {
            return Outcome::declined(
                code,
                shown("the service is unavailable for this institution"),
            )
        }
        "A0014" => return Outcome::declined(code, shown("the customer has left open banking")),
        "A0019" => {
            return Outcome::declined(
                code,
                shown("the customer's account is being withdrawn from the service"),
            )
        }
        "A0020" => return Outcome::declined(code, shown("outside service hours")),
        _ => {}
    }
    if let Some(n) = code_number(code, 'A') {
        if (101..=112).contains(&n) {
            return Outcome::declined(code, shown("withdrawal limit exceeded"));
        }
        if (301..=337).contains(&n) {
            return Outcome::declined(code, shown("the request was refused"));
        }
    }
    // A0002 (bank error) or an A0000 with a non-000 bank code: the bank code decides.
    if code == "A0002" || code == "A0000" {
        if bank_code == "400" {
            return Outcome::unknown("400", "the bank is still processing: checking");
        }
        if let Some(o) = bank_refusal(bank_code) {
            return o;
        }
    }
    if *http_status != 200 && code.is_empty() {
        return Outcome::unknown(
            "HTTP",
            format!("unexpected HTTP {http_status} without a result code"),
        );
    }
    let label = if bank_code.is_empty() {
        code.to_string()
    } else {
        format!("{code}/{bank_code}")
    };
    Outcome::unknown(
        if code.is_empty() { "NO_CODE" } else { code },
        format!("unrecognised answer {label}: checking"),
    )
}

/// Classifies the answer to `POST /v2.0/transfer/result` about the withdrawal of `asked`
/// won. "No such transfer" (A0310) is [`Outcome::NotFound`].
pub fn classify_transfer_result(answer: &QueryAnswer, asked: Won) -> Outcome {
    if let Some(o) = query_transport(answer) {
        return o;
    }
    let Answer::Reply {
        code,
        bank_code,
        message,
        amount,
        bank_tran_date,
        ..
    } = answer
    else {
        unreachable!()
    };
    if code == "A0310" {
        return Outcome::NotFound;
    }
    if code == RESULT_MISMATCH {
        return Outcome::unknown(
            code,
            format!("the backend's record of this id is not this sale ({message}): not settled"),
        );
    }
    if code != "A0000" {
        return Outcome::unknown(
            code,
            format!("result query failed ({code} {message}): will retry"),
        );
    }
    match bank_code.as_str() {
        "000" => match amount {
            Some(a) if *a == asked.0 => Outcome::Approved {
                bank_tran_date: bank_tran_date.clone(),
            },
            other => Outcome::unknown(
                "AMOUNT_MISMATCH",
                format!("the bank processed {:?} won, not {asked}", other),
            ),
        },
        "400" | "" => Outcome::unknown("400", "the bank is still processing"),
        other => bank_refusal(other).unwrap_or_else(|| {
            Outcome::unknown(
                other,
                format!("unrecognised bank code {other} in the result: will retry"),
            )
        }),
    }
}

/// Decline codes whose customer must renew consent in their banking app: how a host's
/// decided decline is read back (`classify_withdrawal` gives these codes that flag).
const CONSENT_CODES: [&str; 7] = ["A0305", "A0306", "A0316", "A0319", "A0332", "A0334", "468"];
/// Decline codes the resolver re-checks once (A0017, bank 311): the bank may still pay.
const RECHECK_CODES: [&str; 2] = ["A0017", "311"];

/// Classifies the answer of `qrpos host` to a charge (`POST /v1/charges`). The host already
/// applied the bank's rules: its status word is in `code`, the deciding code in `bank_code`,
/// its words for the cashier in `message`. The terminal checks what it can check itself (the
/// amount of an approval) and maps the host's refusals of a request it never acted on.
pub fn classify_host_charge(answer: &Answer, asked: Won) -> Outcome {
    use crate::protocol::host::codes;
    if let Some(o) = transport(answer) {
        return o;
    }
    if let Answer::Reply {
        code,
        bank_code,
        message,
        ..
    } = answer
    {
        if code == "error" {
            // The host refuses these before it acts on anything: nothing was charged.
            let refused = match bank_code.as_str() {
                codes::UNAUTHORIZED => Some("the payment host does not accept this terminal's credentials"),
                codes::REVOKED => Some("this terminal was revoked at the payment host"),
                codes::RATE_LIMITED => Some("the payment host locked this terminal out after failed sign-ins: try again in a minute"),
                codes::BAD_REQUEST => Some("the payment host refused the request as malformed"),
                _ => None,
            };
            if let Some(words) = refused {
                return Outcome::declined(bank_code, format!("{words} ({message})"));
            }
        }
        if code == "not_sent" {
            return Outcome::NotSent {
                reason: format!("the payment host could not reach the bank: {message}"),
            };
        }
    }
    host_decision(answer, asked)
}

/// Classifies the answer of `qrpos host` to a status query (`GET /v1/charges/{id}`). Any
/// refusal of the query itself is unknown: a charge the host made stays made, whatever the
/// terminal's credentials are now.
pub fn classify_host_status(answer: &QueryAnswer, asked: Won) -> Outcome {
    if let Some(o) = query_transport(answer) {
        return o;
    }
    host_decision(answer, asked)
}

fn host_decision(answer: &Answer, asked: Won) -> Outcome {
    let Answer::Reply {
        http_status,
        code,
        bank_code,
        message,
        amount,
        bank_tran_date,
        ..
    } = answer
    else {
        unreachable!("the transport classifiers handle every other variant")
    };
    let words = |fallback: &str| {
        if message.is_empty() {
            fallback.to_string()
        } else {
            message.clone()
        }
    };
    match code.as_str() {
        "approved" => match amount {
            Some(a) if *a == asked.0 => Outcome::Approved {
                bank_tran_date: bank_tran_date.clone(),
            },
            other => Outcome::unknown(
                "AMOUNT_MISMATCH",
                format!("the payment host approved {other:?} won, not {asked}: checking"),
            ),
        },
        "declined" if !bank_code.is_empty() => Outcome::Declined {
            code: bank_code.clone(),
            message: words("declined"),
            consent_expired: CONSENT_CODES.contains(&bank_code.as_str()),
            recheck: RECHECK_CODES.contains(&bank_code.as_str()),
        },
        "not_found" => Outcome::NotFound,
        "unknown" if !bank_code.is_empty() => Outcome::unknown(
            bank_code,
            words("the bank's answer is not known yet: checking"),
        ),
        _ => {
            let label = if bank_code.is_empty() {
                code
            } else {
                bank_code
            };
            Outcome::unknown(
                if label.is_empty() { "NO_CODE" } else { label },
                format!("unexpected answer from the payment host (HTTP {http_status} {label} {message}): checking"),
            )
        }
    }
}

/// Classifies the answer to `POST /api/payRequest`.
pub fn classify_pay_request(answer: &Answer, asked: Won) -> Outcome {
    use crate::protocol::payrequest::codes;
    if let Some(o) = transport(answer) {
        return o;
    }
    let Answer::Reply {
        http_status,
        code,
        message,
        amount,
        ..
    } = answer
    else {
        unreachable!()
    };
    if *http_status == 200 && code == "OK" {
        return match amount {
            Some(a) if *a == asked.0 => Outcome::Approved {
                bank_tran_date: None,
            },
            _ => Outcome::unknown(
                "AMOUNT_MISMATCH",
                format!("backend echoed {amount:?}, not {asked}: checking"),
            ),
        };
    }
    let msg = match code.as_str() {
        codes::INSUFFICIENT_BALANCE => "insufficient balance",
        codes::CREDIT_LIMIT_EXCEEDED => "the card's credit limit is exceeded",
        codes::CARD_INACTIVE => "the card or account is not active",
        codes::UNKNOWN_CUSTOMER => "the backend does not know this customer or card",
        codes::BAD_REQUEST => "request format error",
        codes::DUPLICATE_REQUEST => {
            return Outcome::unknown(
                code,
                "this request id was already used: checking the original",
            )
        }
        _ => {
            return Outcome::unknown(
                if code.is_empty() { "NO_CODE" } else { code },
                format!("unrecognised answer {code} (HTTP {http_status}): checking"),
            )
        }
    };
    let shown = if message.is_empty() {
        msg.to_string()
    } else {
        format!("{msg}: {message}")
    };
    Outcome::declined(code, shown)
}

/// Classifies the answer to `GET /api/payRequest/{id}`; `not_found` is
/// [`Outcome::NotFound`].
pub fn classify_pay_status(answer: &QueryAnswer, asked: Won) -> Outcome {
    if let Some(o) = query_transport(answer) {
        return o;
    }
    let Answer::Reply {
        code,
        bank_code,
        message,
        amount,
        ..
    } = answer
    else {
        unreachable!()
    };
    match code.as_str() {
        "approved" => classify_pay_request(
            &Answer::Reply {
                http_status: 200,
                code: "OK".into(),
                bank_code: String::new(),
                message: message.clone(),
                amount: *amount,
                bank_tran_date: None,
                bank_name: None,
            },
            asked,
        ),
        "declined" => classify_pay_request(
            &Answer::Reply {
                http_status: 400,
                code: bank_code.clone(),
                bank_code: String::new(),
                message: message.clone(),
                amount: None,
                bank_tran_date: None,
                bank_name: None,
            },
            asked,
        ),
        "not_found" => Outcome::NotFound,
        RESULT_MISMATCH => Outcome::unknown(
            RESULT_MISMATCH,
            format!("the backend's record of this id is not this sale ({message}): not settled"),
        ),
        other => Outcome::unknown(
            "STATUS",
            format!("unrecognised status {other:?}: will retry"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ob(code: &str, bank: &str, amount: Option<u64>) -> Answer {
        Answer::Reply {
            http_status: 200,
            code: code.into(),
            bank_code: bank.into(),
            message: String::new(),
            amount,
            bank_tran_date: Some("20261121".into()),
            bank_name: None,
        }
    }
    const ASK: Won = Won(5000);

    fn is_declined(o: &Outcome) -> bool {
        matches!(o, Outcome::Declined { .. })
    }
    fn is_unknown(o: &Outcome) -> bool {
        matches!(o, Outcome::Unknown { .. })
    }

    #[test]
    fn approved_needs_a0000_bank_000_and_the_same_amount() {
        assert_eq!(
            classify_withdrawal(&ob("A0000", "000", Some(5000)), ASK),
            Outcome::Approved {
                bank_tran_date: Some("20261121".into())
            }
        );
        assert!(is_unknown(&classify_withdrawal(
            &ob("A0000", "000", Some(4999)),
            ASK
        )));
        assert!(is_unknown(&classify_withdrawal(
            &ob("A0000", "000", None),
            ASK
        )));
        // No business date: the approval cannot be queried later, so it is not believed.
        let mut no_date = ob("A0000", "000", Some(5000));
        if let Answer::Reply { bank_tran_date, .. } = &mut no_date {
            *bank_tran_date = None;
        }
        assert!(matches!(
            classify_withdrawal(&no_date, ASK),
            Outcome::Unknown { code, .. } if code == "DATE_MISSING"
        ));
    }

    #[test]
    fn a0017_and_bank_311_are_declined_with_a_recheck() {
        for o in [
            classify_withdrawal(&ob("A0017", "", None), ASK),
            classify_withdrawal(&ob("A0002", "311", None), ASK),
        ] {
            match o {
                Outcome::Declined {
                    recheck,
                    consent_expired,
                    ..
                } => {
                    assert!(recheck);
                    assert!(!consent_expired);
                }
                other => panic!("expected declined, got {other:?}"),
            }
        }
    }

    #[test]
    fn in_progress_timeouts_and_duplicates_are_unknown() {
        for (code, bank) in [
            ("A0001", ""),
            ("A0007", ""),
            ("A0002", "400"),
            ("A0326", ""),
            ("A0003", ""),
            ("A0016", ""),
            ("A0008", ""),
            ("Z9999", ""),
            ("", ""),
        ] {
            let o = classify_withdrawal(&ob(code, bank, None), ASK);
            assert!(is_unknown(&o), "{code}/{bank} gave {o:?}");
        }
    }

    #[test]
    fn transport_failures_split_into_not_sent_and_unknown() {
        assert!(matches!(
            classify_withdrawal(
                &Answer::NotSent {
                    reason: "refused".into()
                },
                ASK
            ),
            Outcome::NotSent { .. }
        ));
        assert!(is_unknown(&classify_withdrawal(
            &Answer::NoReply {
                reason: "timeout".into()
            },
            ASK
        )));
        assert!(is_unknown(&classify_withdrawal(
            &Answer::Garbage {
                http_status: 200,
                detail: "<html>".into()
            },
            ASK
        )));
        let five = Answer::Reply {
            http_status: 503,
            code: "A0000".into(),
            bank_code: "000".into(),
            message: String::new(),
            amount: Some(5000),
            bank_tran_date: None,
            bank_name: None,
        };
        assert!(
            is_unknown(&classify_withdrawal(&five, ASK)),
            "a 5xx is never approved, whatever its body"
        );
    }

    #[test]
    fn consent_codes_are_declined_with_renewal_prompt() {
        for (code, bank) in [
            ("A0316", ""),
            ("A0319", ""),
            ("A0305", ""),
            ("A0306", ""),
            ("A0332", ""),
            ("A0334", ""),
            ("A0002", "468"),
        ] {
            match classify_withdrawal(&ob(code, bank, None), ASK) {
                Outcome::Declined {
                    consent_expired: true,
                    message,
                    ..
                } => assert!(message.contains("renew consent"), "{message}"),
                other => panic!("{code}/{bank}: {other:?}"),
            }
        }
    }

    #[test]
    fn limits_requests_refusals_gateway_and_bank_refusals_are_declined() {
        for (code, bank) in [
            ("A0101", ""),
            ("A0106", ""),
            ("A0111", ""),
            ("A0112", ""),
            ("A0004", ""),
            ("A0301", ""),
            ("A0327", ""),
            ("A0013", ""),
            ("A0014", ""),
            ("A0019", ""),
            ("A0020", ""),
            ("O0001", ""),
            ("O0003", ""),
            ("O0010", ""),
            ("A0002", "453"),
            ("A0002", "454"),
            ("A0002", "455"),
            ("A0002", "416"),
            ("A0002", "815"),
            ("A0002", "555"),
        ] {
            let o = classify_withdrawal(&ob(code, bank, None), ASK);
            assert!(is_declined(&o), "{code}/{bank} gave {o:?}");
        }
        match classify_withdrawal(&ob("A0002", "453", None), ASK) {
            Outcome::Declined { message, .. } => assert!(message.contains("insufficient balance")),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_bank_error_with_an_unlisted_bank_code_is_unknown() {
        assert!(is_unknown(&classify_withdrawal(
            &ob("A0002", "999", None),
            ASK
        )));
        assert!(
            is_unknown(&classify_withdrawal(&ob("A0011", "", None), ASK)),
            "A0011 is not in the refusal table"
        );
    }

    #[test]
    fn transfer_result_settles_by_the_item_bank_code() {
        let q = |top: &str, bank: &str, amt| classify_transfer_result(&ob(top, bank, amt), ASK);
        assert!(matches!(
            q("A0000", "000", Some(5000)),
            Outcome::Approved { .. }
        ));
        assert!(is_declined(&q("A0000", "453", None)));
        assert!(matches!(
            q("A0000", "311", None),
            Outcome::Declined { recheck: true, .. }
        ));
        assert!(is_unknown(&q("A0000", "400", None)));
        assert!(is_unknown(&q("A0000", "000", Some(1))));
        assert!(
            is_unknown(&q("A0001", "", None)),
            "a failed query settles nothing"
        );
        assert!(is_unknown(&classify_transfer_result(
            &Answer::NotSent {
                reason: "down".into()
            },
            ASK,
        )));
        assert_eq!(q("A0310", "", None), Outcome::NotFound);
        assert!(
            is_unknown(&q(RESULT_MISMATCH, "", None)),
            "another sale's record settles nothing"
        );
    }

    #[test]
    fn no_such_transfer_is_believed_only_on_a_second_look_after_the_grace_period() {
        let s = std::time::Duration::from_secs;
        let grace = s(10);
        let declined =
            |o: Outcome| matches!(o, Outcome::Declined { ref code, .. } if code == "NOT_RECEIVED");
        assert!(
            is_unknown(&not_found_outcome(s(1), None, grace)),
            "in flight"
        );
        assert!(
            is_unknown(&not_found_outcome(s(3600), None, grace)),
            "a first 'not found', however late, is looked at again"
        );
        assert!(
            is_unknown(&not_found_outcome(s(3600), Some(s(9)), grace)),
            "the second look comes a whole grace period after the first"
        );
        assert!(
            is_unknown(&not_found_outcome(s(5), Some(s(20)), grace)),
            "and a grace period after sending"
        );
        assert!(declined(not_found_outcome(s(20), Some(s(10)), grace)));
    }

    fn pr(status: u16, code: &str, amount: Option<u64>) -> Answer {
        Answer::Reply {
            http_status: status,
            code: code.into(),
            bank_code: String::new(),
            message: String::new(),
            amount,
            bank_tran_date: None,
            bank_name: None,
        }
    }

    #[test]
    fn pay_request_classes() {
        assert!(matches!(
            classify_pay_request(&pr(200, "OK", Some(5000)), ASK),
            Outcome::Approved { .. }
        ));
        assert!(is_unknown(&classify_pay_request(
            &pr(200, "OK", Some(50)),
            ASK
        )));
        for c in [
            "INSUFFICIENT_BALANCE",
            "CREDIT_LIMIT_EXCEEDED",
            "CARD_INACTIVE",
            "UNKNOWN_CUSTOMER",
            "BAD_REQUEST",
        ] {
            assert!(
                is_declined(&classify_pay_request(&pr(402, c, None), ASK)),
                "{c}"
            );
        }
        assert!(is_unknown(&classify_pay_request(
            &pr(409, "DUPLICATE_REQUEST", None),
            ASK
        )));
        assert!(is_unknown(&classify_pay_request(&pr(500, "", None), ASK)));
        assert!(is_unknown(&classify_pay_request(
            &pr(418, "TEAPOT", None),
            ASK
        )));
    }

    #[test]
    fn pay_status_classes() {
        let st = |code: &str, bank: &str, amt| {
            classify_pay_status(
                &Answer::Reply {
                    http_status: 200,
                    code: code.into(),
                    bank_code: bank.into(),
                    message: String::new(),
                    amount: amt,
                    bank_tran_date: None,
                    bank_name: None,
                },
                ASK,
            )
        };
        assert!(matches!(
            st("approved", "", Some(5000)),
            Outcome::Approved { .. }
        ));
        assert!(is_declined(&st("declined", "INSUFFICIENT_BALANCE", None)));
        assert_eq!(st("not_found", "", None), Outcome::NotFound);
        assert!(is_unknown(&st(RESULT_MISMATCH, "", None)));
        assert!(is_unknown(&st("weird", "", None)));
    }
}
