//! Just enough EMVCo consumer-presented (QRCPS) decoding for the sandbox to map a QR to a
//! customer: Base64 → BER-TLV → tag `5A` (PAN, BCD) inside template `61` or `62`. The
//! terminal's own full parser lives in `scan/`; the sandbox does not share it on purpose (it
//! plays an independent backend, so a parser bug on one side is not mirrored on the other).

use base64::Engine as _;

/// The PAN of the first `5A` found in a `61`/`62` template, digits only (BCD `F` padding
/// removed). `None` for anything that is not well-formed.
pub(crate) fn pan_from_cpm(b64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let top = parse(&bytes)?;
    for (tag, value) in top {
        if tag == [0x61] || tag == [0x62] {
            if let Some(pan) = find_pan(value, 0) {
                return Some(pan);
            }
        }
    }
    None
}

/// Depth-limited search so a hostile payload of nested templates cannot recurse forever.
fn find_pan(template: &[u8], depth: u8) -> Option<String> {
    if depth > 4 {
        return None;
    }
    for (tag, value) in parse(template)? {
        if tag == [0x5A] {
            return bcd_digits(value);
        }
        // Constructed tags (bit 6 of the first byte) may nest further data objects.
        if tag.first().is_some_and(|b| b & 0x20 != 0) {
            if let Some(p) = find_pan(value, depth + 1) {
                return Some(p);
            }
        }
    }
    None
}

fn bcd_digits(v: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(v.len() * 2);
    for b in v {
        for nib in [b >> 4, b & 0x0F] {
            match nib {
                0..=9 => s.push(char::from(b'0' + nib)),
                0x0F => {}
                _ => return None,
            }
        }
    }
    (!s.is_empty()).then_some(s)
}

/// One level of BER-TLV: multi-byte tags (`xF` low bits, continuation bit 8) and short or
/// long-form lengths (`81 nn`, `82 nn nn`, `83 …`). Padding bytes `00`/`FF` between objects
/// are skipped as EMV allows.
fn parse(mut b: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    while let Some(&first) = b.first() {
        if first == 0x00 || first == 0xFF {
            b = &b[1..];
            continue;
        }
        let mut tag_len = 1;
        if first & 0x1F == 0x1F {
            loop {
                let next = *b.get(tag_len)?;
                tag_len += 1;
                if next & 0x80 == 0 || tag_len > 4 {
                    break;
                }
            }
        }
        let tag = b.get(..tag_len)?;
        let rest = b.get(tag_len..)?;
        let l0 = *rest.first()?;
        let (len, hdr) = if l0 & 0x80 == 0 {
            (usize::from(l0), 1)
        } else {
            let n = usize::from(l0 & 0x7F);
            if n == 0 || n > 3 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | usize::from(*rest.get(1 + i)?);
            }
            (len, 1 + n)
        };
        let value = rest.get(hdr..hdr.checked_add(len)?)?;
        out.push((tag, value));
        b = rest.get(hdr + len..)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMVCO_SAMPLE: &str = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==";

    #[test]
    fn emvco_sample_pan() {
        assert_eq!(
            pan_from_cpm(EMVCO_SAMPLE).as_deref(),
            Some("1234567890123458")
        );
    }

    #[test]
    fn garbage_is_none() {
        for s in ["", "!!!", "AAAA", "hQVDUFYw", "YYKB", "/////w=="] {
            assert_eq!(pan_from_cpm(s), None, "{s}");
        }
    }

    #[test]
    fn long_form_length() {
        // 85 05 'CPV01' 61 81 0A 5A 08 <PAN>
        let mut v = vec![
            0x85, 5, b'C', b'P', b'V', b'0', b'1', 0x61, 0x81, 10, 0x5A, 8,
        ];
        v.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x58]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(v);
        assert_eq!(pan_from_cpm(&b64).as_deref(), Some("1234567890123458"));
    }
}
