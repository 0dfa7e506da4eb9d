//! EMVCo consumer-presented (CPM) QR codes: Base64 → BER-TLV → [`EmvData`]
//! (docs/openbanking.md §8.2).
//!
//! Only what the terminal needs is interpreted: the payload format indicator (tag `85`), the
//! application PAN (`5A`) and the application labels (`50` in each `61`). Everything else, the
//! cryptogram included, is checked by the issuer from the untouched `qr_text`. The parser is
//! strict because the text comes from an untrusted phone screen: every length is checked
//! against the bytes that are really there, and errors say at which byte offset it went wrong.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::sale::EmvData;

use super::payload::PayloadError;

const TAG_PAYLOAD_FORMAT: u32 = 0x85;
const TAG_APPLICATION_TEMPLATE: u32 = 0x61;
const TAG_APPLICATION_LABEL: u32 = 0x50;
const TAG_PAN: u32 = 0x5A;
const PAYLOAD_FORMAT_CPV01: &[u8] = b"CPV01";
/// Templates 61..64 nest at most two deep in CPM (62 ⊃ 64, 61 ⊃ 63); a little slack, but
/// bounded so crafted input cannot exhaust the stack.
const MAX_DEPTH: usize = 4;

/// Base64 as phones emit it: standard alphabet, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One BER-TLV data object. `children` is filled only for the CPM templates `61`..`64`.
#[derive(Debug)]
struct Tlv<'a> {
    tag: u32,
    value: &'a [u8],
    children: Vec<Tlv<'a>>,
}

/// `None` unless `text` is Base64 whose first byte is tag `85`; from there on a failure is a
/// damaged EMV code ([`PayloadError::MalformedTlv`]) rather than an unknown format.
pub(super) fn parse_if_cpm(text: &str) -> Option<Result<EmvData, PayloadError>> {
    let bytes = BASE64.decode(text).ok()?;
    if bytes.first() != Some(&0x85) {
        return None;
    }
    Some(parse_cpm(text, &bytes))
}

/// Parse the decoded bytes of a CPM text into the fields the terminal uses.
fn parse_cpm(text: &str, bytes: &[u8]) -> Result<EmvData, PayloadError> {
    let objects = parse_tlvs(bytes, 0, 0)?;

    match objects.first() {
        Some(o) if o.tag == TAG_PAYLOAD_FORMAT && o.value == PAYLOAD_FORMAT_CPV01 => {}
        Some(o) if o.tag == TAG_PAYLOAD_FORMAT => {
            return Err(PayloadError::MalformedTlv(format!(
                "payload format indicator is {:?}, expected \"CPV01\"",
                String::from_utf8_lossy(o.value)
            )));
        }
        _ => {
            return Err(PayloadError::MalformedTlv(
                "does not start with payload format indicator (tag 85)".into(),
            ));
        }
    }

    let apps: Vec<&Tlv> = objects
        .iter()
        .filter(|o| o.tag == TAG_APPLICATION_TEMPLATE)
        .collect();
    if apps.is_empty() {
        return Err(PayloadError::MalformedTlv(
            "no application template (tag 61)".into(),
        ));
    }

    let mut labels = Vec::new();
    for app in &apps {
        if let Some(label) = app.children.iter().find(|c| c.tag == TAG_APPLICATION_LABEL) {
            let label = std::str::from_utf8(label.value).map_err(|_| {
                PayloadError::MalformedTlv("application label (tag 50) is not text".into())
            })?;
            labels.push(label.to_string());
        }
    }

    // The PAN may sit in an application template or in the common data template (62).
    let pan = match find(&objects, TAG_PAN) {
        Some(obj) => Some(bcd_digits(obj.value)?),
        None => None,
    };

    Ok(EmvData {
        qr_text: text.to_string(),
        pan,
        labels,
    })
}

/// Depth-first search for the first object with `tag`.
fn find<'t, 'a>(objects: &'t [Tlv<'a>], tag: u32) -> Option<&'t Tlv<'a>> {
    objects.iter().find_map(|o| {
        if o.tag == tag {
            Some(o)
        } else {
            find(&o.children, tag)
        }
    })
}

/// Parse a sequence of BER-TLV objects. `base` is the offset of `bytes` in the whole payload,
/// so errors can name the absolute position.
fn parse_tlvs(bytes: &[u8], base: usize, depth: usize) -> Result<Vec<Tlv<'_>>, PayloadError> {
    if depth > MAX_DEPTH {
        return Err(PayloadError::MalformedTlv(format!(
            "templates nested more than {MAX_DEPTH} deep at offset {base}"
        )));
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = base + pos;
        let (tag, tag_len) = read_tag(&bytes[pos..], start)?;
        pos += tag_len;
        let (len, len_len) = read_length(&bytes[pos..], start, tag)?;
        pos += len_len;
        let remaining = bytes.len() - pos;
        if len > remaining {
            return Err(PayloadError::MalformedTlv(format!(
                "tag {tag:X} at offset {start} needs {len} bytes, only {remaining} left"
            )));
        }
        let value = &bytes[pos..pos + len];
        let children = if (0x61..=0x64).contains(&tag) {
            parse_tlvs(value, base + pos, depth + 1)?
        } else {
            Vec::new()
        };
        pos += len;
        out.push(Tlv {
            tag,
            value,
            children,
        });
    }
    Ok(out)
}

/// BER tag: if the low five bits of the first byte are all set, more bytes follow, each
/// with bit 8 set except the last. Tags are kept as their big-endian bytes (e.g. `0x9F26`).
fn read_tag(bytes: &[u8], at: usize) -> Result<(u32, usize), PayloadError> {
    let truncated =
        || PayloadError::MalformedTlv(format!("input ends inside the tag at offset {at}"));
    let first = *bytes.first().ok_or_else(truncated)?;
    let mut tag = u32::from(first);
    let mut len = 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *bytes.get(len).ok_or_else(truncated)?;
            len += 1;
            if len > 4 {
                return Err(PayloadError::MalformedTlv(format!(
                    "tag at offset {at} is longer than 4 bytes"
                )));
            }
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((tag, len))
}

/// BER length: short form (< 0x80) or long form `81 nn` / `82 nn nn`. The indefinite form
/// (`80`) and longer forms never occur in a QR-sized payload and are refused.
fn read_length(bytes: &[u8], at: usize, tag: u32) -> Result<(usize, usize), PayloadError> {
    let truncated = || {
        PayloadError::MalformedTlv(format!(
            "input ends inside the length of tag {tag:X} at offset {at}"
        ))
    };
    let first = *bytes.first().ok_or_else(truncated)?;
    match first {
        0x00..=0x7F => Ok((usize::from(first), 1)),
        0x81 => {
            let n = *bytes.get(1).ok_or_else(truncated)?;
            Ok((usize::from(n), 2))
        }
        0x82 => match bytes.get(1..3) {
            Some(&[hi, lo]) => Ok((usize::from(u16::from_be_bytes([hi, lo])), 3)),
            _ => Err(truncated()),
        },
        0x80 => Err(PayloadError::MalformedTlv(format!(
            "tag {tag:X} at offset {at} uses an indefinite length"
        ))),
        _ => Err(PayloadError::MalformedTlv(format!(
            "tag {tag:X} at offset {at} has an unsupported length form {first:#04X}"
        ))),
    }
}

/// Compressed-numeric PAN: one digit per nibble, right-padded with `F`.
fn bcd_digits(bytes: &[u8]) -> Result<String, PayloadError> {
    let mut digits = String::with_capacity(bytes.len() * 2);
    let mut padding = false;
    for nibble in bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
        match nibble {
            0..=9 if !padding => digits.push(char::from(b'0' + nibble)),
            0x0F => padding = true,
            _ => {
                return Err(PayloadError::MalformedTlv(
                    "PAN (tag 5A) is not BCD digits".into(),
                ))
            }
        }
    }
    if digits.is_empty() {
        return Err(PayloadError::MalformedTlv("PAN (tag 5A) is empty".into()));
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// `85 05 CPV01` followed by `rest`.
    fn cpm(rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0x85, 0x05];
        v.extend_from_slice(b"CPV01");
        v.extend_from_slice(rest);
        v
    }

    fn err(bytes: &[u8]) -> String {
        match parse_cpm(&b64(bytes), bytes) {
            Err(PayloadError::MalformedTlv(s)) => s,
            other => panic!("expected MalformedTlv, got {other:?}"),
        }
    }

    #[test]
    fn long_form_lengths() {
        // 61 81 0A { 50 81 07 "Label81" } and 62 82 00 0A { 5A 82 00 05 1234567890 }... with F pad
        let mut app = vec![0x61, 0x81, 0x0A, 0x50, 0x81, 0x07];
        app.extend_from_slice(b"Label81");
        let common = [
            0x62, 0x82, 0x00, 0x08, 0x5A, 0x82, 0x00, 0x04, 0x12, 0x34, 0x56, 0x7F,
        ];
        let mut bytes = cpm(&app);
        bytes.extend_from_slice(&common);
        let data = parse_cpm(&b64(&bytes), &bytes).unwrap();
        assert_eq!(data.labels, vec!["Label81"]);
        assert_eq!(data.pan.as_deref(), Some("1234567"));
    }

    #[test]
    fn multi_byte_tags() {
        // 3-byte tag 9F 81 01 inside the application template, 2-byte 5F20 beside it.
        let app = [
            0x61, 0x0C, 0x9F, 0x81, 0x01, 0x01, 0xAA, 0x5F, 0x20, 0x01, b'X', 0x50, 0x01, b'L',
        ];
        let data = parse_if_cpm(&b64(&cpm(&app))).unwrap().unwrap();
        assert_eq!(data.labels, vec!["L"]);
        assert_eq!(data.pan, None);
        let tlvs = parse_tlvs(&app, 0, 0).unwrap();
        let tags: Vec<u32> = tlvs[0].children.iter().map(|t| t.tag).collect();
        assert_eq!(tags, vec![0x9F8101, 0x5F20, 0x50]);
    }

    #[test]
    fn truncated_input_says_where() {
        let full = cpm(&[0x61, 0x04, 0x50, 0x02, b'A', b'B']);
        for cut in 8..full.len() {
            let msg = err(&full[..cut]);
            assert!(msg.contains("offset"), "{cut}: {msg}");
        }
        assert!(err(&cpm(&[0x61, 0x05, 0x50, 0x02, b'A'])).contains("offset 7"));
        // Ends inside a multi-byte tag and inside a long-form length.
        assert!(err(&cpm(&[0x9F])).contains("inside the tag"));
        assert!(err(&cpm(&[0x9F, 0x81])).contains("inside the tag"));
        assert!(err(&cpm(&[0x50, 0x82, 0x00])).contains("inside the length"));
    }

    #[test]
    fn refused_length_forms_and_tags() {
        assert!(err(&cpm(&[0x50, 0x80, 0x00, 0x00])).contains("indefinite"));
        assert!(err(&cpm(&[0x50, 0x83, 0x00, 0x00, 0x01, b'A'])).contains("unsupported"));
        assert!(err(&cpm(&[0x9F, 0x81, 0x81, 0x81, 0x01, 0x00])).contains("longer than 4"));
    }

    #[test]
    fn payload_format_and_templates_checked() {
        let mut v = vec![0x85, 0x05];
        v.extend_from_slice(b"CPV02");
        v.extend_from_slice(&[0x61, 0x00]);
        assert!(err(&v).contains("CPV02"));
        assert!(err(&[0x85, 0x00, 0x61, 0x00]).contains("CPV01"));
        assert!(err(&cpm(&[])).contains("tag 61"));
        // Deep nesting is bounded.
        let mut deep = vec![0x50, 0x00];
        for _ in 0..10 {
            let mut outer = vec![0x61, deep.len() as u8];
            outer.extend_from_slice(&deep);
            deep = outer;
        }
        assert!(err(&cpm(&deep)).contains("nested"));
    }

    #[test]
    fn pan_must_be_bcd() {
        assert_eq!(bcd_digits(&[0x12, 0x34, 0x5F]).unwrap(), "12345");
        assert_eq!(bcd_digits(&[0x12, 0xFF]).unwrap(), "12");
        assert!(bcd_digits(&[0x1A]).is_err());
        assert!(bcd_digits(&[0xF1]).is_err()); // digit after padding
        assert!(bcd_digits(&[0xFF]).is_err());
        assert!(bcd_digits(&[]).is_err());
    }

    #[test]
    fn detection() {
        assert!(parse_if_cpm(&b64(&cpm(&[]))).is_some());
        // Unpadded Base64 is accepted too.
        assert!(parse_if_cpm(b64(&cpm(&[0x61, 0x00])).trim_end_matches('=')).is_some());
        assert!(parse_if_cpm("hello world").is_none());
        assert!(parse_if_cpm(&b64(&[0x84, 0x00])).is_none());
    }
}
