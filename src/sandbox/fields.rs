//! The reference's field tables and the one validator that reads a request against them, so
//! every endpoint refuses a malformed request the same way: A0004 (요청전문 포맷 에러) with
//! HTTP 200 and a message that names the field and the rule it broke.
//!
//! Types follow the KFTC notation (`shared/docs/openbanking.md` §0): `N(n)` digits, `A(n)`
//! letters, `AN(n)` letters and digits, `aNS(n)` printable ASCII, `AH(n)` any text including
//! Hangul; `n` is the maximum length. Lengths of `AH` fields are counted in UTF-8 bytes, the
//! encoding the API declares (`charset=UTF-8`): a Hangul syllable takes 3 of them. That last
//! point is our reading [inferred]; the client cuts print fields the same way
//! (`backend::openbanking`). Every value travels as a JSON string, numbers included.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use serde_json::{Map, Value};

/// How far a request's `tran_dtime` may be from the bank's clock. The reference gives no
/// figure [unverified]; a day lets a terminal whose clock drifted (or that forwards an offline
/// sale) through, and refuses a time copied into the code once and sent for ever (KISA-Fintech
/// hard-codes one), or one from another year.
pub(crate) const TRAN_DTIME_TOLERANCE_S: i64 = 24 * 3600;

/// Named as the reference writes them, acronyms and all.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Digits.
    N,
    /// ASCII letters.
    A,
    /// ASCII letters and digits.
    AN,
    /// Printable ASCII (letters, digits, symbols).
    ANS,
    /// Any text; the length is in UTF-8 bytes.
    AH,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Required,
    Optional,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub need: Need,
    pub kind: Kind,
    pub max: usize,
}

const fn req(name: &'static str, kind: Kind, max: usize) -> Field {
    Field {
        name,
        need: Need::Required,
        kind,
        max,
    }
}

const fn opt(name: &'static str, kind: Kind, max: usize) -> Field {
    Field {
        name,
        need: Need::Optional,
        kind,
        max,
    }
}

use Kind::{A, AH, AN, ANS, N};

/// `POST /v2.0/transfer/withdraw/fin_num` (docs §3.1). The payer is named by exactly one of
/// `req_client_fintech_use_num` or `req_client_bank_code` + `req_client_account_num`
/// (checked by [`one_payer`]); `fintech_use_num` may be replaced by this project's
/// `emv_cpm` extension (checked by the handler).
pub(crate) const WITHDRAW: &[Field] = &[
    req("bank_tran_id", AN, 20),
    req("cntr_account_type", A, 1),
    req("cntr_account_num", AN, 16),
    req("dps_print_content", AH, 20),
    opt("fintech_use_num", AN, 24),
    opt("wd_print_content", AH, 20),
    req("tran_amt", N, 12),
    req("tran_dtime", N, 14),
    req("req_client_name", AH, 20),
    opt("req_client_bank_code", AN, 3),
    opt("req_client_account_num", AN, 16),
    opt("req_client_fintech_use_num", AN, 24),
    req("req_client_num", AN, 20),
    req("transfer_purpose", A, 2),
    opt("sub_frnc_name", AH, 40),
    opt("sub_frnc_num", AN, 20),
    opt("sub_frnc_business_num", N, 10),
    opt("recv_client_name", AH, 20),
    opt("recv_client_bank_code", AN, 3),
    opt("recv_client_account_num", AN, 16),
];

/// `POST /v2.0/transfer/deposit/fin_num`, top level (docs §5.4).
pub(crate) const DEPOSIT: &[Field] = &[
    req("cntr_account_type", A, 1),
    req("cntr_account_num", AN, 16),
    req("wd_pass_phrase", ANS, 128),
    req("wd_print_content", AH, 20),
    opt("name_check_option", AN, 3),
    opt("sub_frnc_name", AH, 40),
    opt("sub_frnc_num", AN, 20),
    opt("sub_frnc_business_num", N, 10),
    req("tran_dtime", N, 14),
    req("req_cnt", N, 5),
];

/// One `req_list` item of a deposit.
pub(crate) const DEPOSIT_ITEM: &[Field] = &[
    req("tran_no", N, 5),
    req("bank_tran_id", AN, 20),
    req("fintech_use_num", AN, 24),
    req("print_content", AH, 20),
    req("tran_amt", N, 12),
    req("req_client_name", AH, 20),
    opt("req_client_bank_code", AN, 3),
    opt("req_client_account_num", AN, 16),
    opt("req_client_fintech_use_num", AN, 24),
    req("req_client_num", AN, 20),
    req("transfer_purpose", A, 2),
];

/// `POST /v2.0/transfer/result` (docs §4.1).
pub(crate) const RESULT: &[Field] = &[
    req("check_type", N, 1),
    req("tran_dtime", N, 14),
    req("req_cnt", N, 2),
];

pub(crate) const RESULT_ITEM: &[Field] = &[
    req("tran_no", N, 2),
    req("org_bank_tran_id", AN, 20),
    req("org_bank_tran_date", N, 8),
    req("org_tran_amt", N, 12),
];

/// `GET /v2.0/account/balance/fin_num` (docs §5.1).
pub(crate) const BALANCE: &[Field] = &[
    req("bank_tran_id", AN, 20),
    req("fintech_use_num", AN, 24),
    req("tran_dtime", N, 14),
];

/// `GET /v2.0/account/transaction_list/fin_num`: the KFTC sample app's request
/// (`CenterAuthAPITransactionListFragment`), as public clients send it.
pub(crate) const TRANSACTION_LIST: &[Field] = &[
    req("bank_tran_id", AN, 20),
    req("fintech_use_num", AN, 24),
    req("inquiry_type", A, 1),
    req("inquiry_base", A, 1),
    req("from_date", N, 8),
    opt("from_time", N, 6),
    req("to_date", N, 8),
    opt("to_time", N, 6),
    req("sort_order", A, 1),
    req("tran_dtime", N, 14),
    opt("befor_inquiry_trace_info", AN, 20),
];

/// `GET /v2.0/user/me`.
pub(crate) const USER_ME: &[Field] = &[req("user_seq_no", N, 10)];

/// `GET /v2.0/account/list`.
pub(crate) const ACCOUNT_LIST: &[Field] = &[
    req("user_seq_no", N, 10),
    opt("include_cancel_yn", A, 1),
    opt("sort_order", A, 1),
];

/// `POST /v2.0/inquiry/real_name` (docs §5.3).
pub(crate) const REAL_NAME: &[Field] = &[
    req("bank_tran_id", AN, 20),
    req("bank_code_std", N, 3),
    req("account_num", AN, 16),
    opt("account_seq", N, 3),
    req("account_holder_info_type", ANS, 1),
    req("account_holder_info", AN, 13),
    req("tran_dtime", N, 14),
];

/// The first rule `obj` breaks, in words naming the field; `None` when it keeps them all.
/// A present field that is not a string, is empty when required, breaks its type or is too
/// long is refused; fields the table does not list are ignored, as the real API does.
pub(crate) fn check(obj: &Map<String, Value>, table: &[Field]) -> Option<String> {
    for f in table {
        let value = match obj.get(f.name) {
            None | Some(Value::Null) => {
                if f.need == Need::Required {
                    return Some(format!("{} is required", f.name));
                }
                continue;
            }
            Some(Value::String(s)) => s,
            Some(other) => {
                return Some(format!(
                    "{} must be a string (every value travels as a string), not {}",
                    f.name,
                    kind_of(other)
                ))
            }
        };
        if value.is_empty() {
            if f.need == Need::Required {
                return Some(format!("{} is required (it is empty)", f.name));
            }
            continue;
        }
        if let Some(why) = breaks(value, f.kind, f.max) {
            return Some(format!("{} {why}", f.name));
        }
    }
    None
}

/// Why `value` is not of `kind` within `max`, or `None`.
fn breaks(value: &str, kind: Kind, max: usize) -> Option<String> {
    let (ok, name) = match kind {
        N => (value.bytes().all(|b| b.is_ascii_digit()), "N: digits"),
        A => (value.bytes().all(|b| b.is_ascii_alphabetic()), "A: letters"),
        AN => (
            value.bytes().all(|b| b.is_ascii_alphanumeric()),
            "AN: letters and digits",
        ),
        ANS => (
            value.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
            "aNS: printable ASCII",
        ),
        AH => (!value.chars().any(char::is_control), "AH: text"),
    };
    let label = match kind {
        N => "N",
        A => "A",
        AN => "AN",
        ANS => "aNS",
        AH => "AH",
    };
    if !ok {
        return Some(format!("must be {name} ({label}({max})), got {value:?}"));
    }
    let len = if kind == AH {
        value.len()
    } else {
        value.chars().count()
    };
    if len > max {
        let unit = if kind == AH { " bytes" } else { "" };
        return Some(format!(
            "is too long: {len}{unit}, at most {max} ({label}({max}))"
        ));
    }
    None
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `tran_dtime` must be a real KST date-time within [`TRAN_DTIME_TOLERANCE_S`] of `now`.
pub(crate) fn check_tran_dtime(value: &str, now: &DateTime<FixedOffset>) -> Option<String> {
    let Ok(naive) = NaiveDateTime::parse_from_str(value, "%Y%m%d%H%M%S") else {
        return Some(format!(
            "tran_dtime {value:?} is not a date-time (yyyyMMddHHmmss)"
        ));
    };
    let Some(at) = now.offset().from_local_datetime(&naive).single() else {
        return Some(format!("tran_dtime {value:?} is not a date-time"));
    };
    let off = (at - *now).num_seconds().abs();
    if off > TRAN_DTIME_TOLERANCE_S {
        return Some(format!(
            "tran_dtime {value:?} is {} h from the bank's clock ({}); at most {} h",
            off / 3600,
            now.format("%Y%m%d%H%M%S"),
            TRAN_DTIME_TOLERANCE_S / 3600
        ));
    }
    None
}

/// The payer is named by exactly one of `req_client_fintech_use_num` or
/// `req_client_bank_code` + `req_client_account_num` (docs §3.1: both is an error; the pair
/// must be whole).
pub(crate) fn one_payer(obj: &Map<String, Value>) -> Option<String> {
    let has = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    let by_fintech = has("req_client_fintech_use_num");
    let (bank, account) = (has("req_client_bank_code"), has("req_client_account_num"));
    match (by_fintech, bank, account) {
        (true, false, false) | (false, true, true) => None,
        (true, _, _) => Some(
            "name the payer by req_client_fintech_use_num or by req_client_bank_code + \
             req_client_account_num, not both"
                .into(),
        ),
        (false, true, false) | (false, false, true) => {
            Some("req_client_bank_code and req_client_account_num go together".into())
        }
        (false, false, false) => Some(
            "the payer is required: req_client_fintech_use_num, or req_client_bank_code + \
             req_client_account_num"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().expect("object").clone()
    }

    #[test]
    fn each_rule_names_the_field_it_refuses() {
        let t = &[req("tran_amt", N, 12), opt("memo", AH, 6)];
        assert_eq!(check(&obj(json!({"tran_amt": "5000"})), t), None);
        let cases = [
            (json!({}), "tran_amt is required"),
            (json!({"tran_amt": ""}), "tran_amt is required"),
            (json!({"tran_amt": 5000}), "tran_amt must be a string"),
            (json!({"tran_amt": "5,000"}), "tran_amt must be N"),
            (
                json!({"tran_amt": "1234567890123"}),
                "tran_amt is too long: 13",
            ),
            // Two Hangul syllables are 6 bytes: fits; three do not.
            (
                json!({"tran_amt": "1", "memo": "가나다"}),
                "memo is too long: 9 bytes",
            ),
        ];
        for (body, want) in cases {
            let got = check(&obj(body.clone()), t).unwrap_or_default();
            assert!(got.starts_with(want), "{body}: {got:?}");
        }
        assert_eq!(
            check(&obj(json!({"tran_amt": "1", "memo": "가나"})), t),
            None
        );
    }

    #[test]
    fn tran_dtime_is_a_real_time_near_the_bank_clock() {
        let now = crate::clock::kst()
            .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .expect("time");
        assert_eq!(check_tran_dtime("20260101115959", &now), None);
        assert_eq!(check_tran_dtime("20260101020000", &now), None);
        for bad in [
            "20231399996161",
            "20260230120000",
            "2026010112",
            "20250101120000",
        ] {
            assert!(check_tran_dtime(bad, &now).is_some(), "{bad}");
        }
    }

    #[test]
    fn the_payer_is_named_exactly_once() {
        let fin = json!({"req_client_fintech_use_num": "1"});
        let acct = json!({"req_client_bank_code": "097", "req_client_account_num": "1"});
        let both = json!({"req_client_fintech_use_num": "1", "req_client_bank_code": "097",
                          "req_client_account_num": "1"});
        assert_eq!(one_payer(&obj(fin)), None);
        assert_eq!(one_payer(&obj(acct)), None);
        assert!(one_payer(&obj(both)).is_some());
        assert!(one_payer(&obj(json!({}))).is_some());
        assert!(one_payer(&obj(json!({"req_client_bank_code": "097"}))).is_some());
    }
}
