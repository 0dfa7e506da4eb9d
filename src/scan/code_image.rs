//! Payment code text → QR image, for issuing codes (`qrpos qr issue`, tests).
//!
//! Error correction is level M. A QR code on a phone screen is not scratched or stained, but
//! its size matters at the counter: every version up adds modules that make each one smaller.
//! So when level M would need a version above [`TARGET_VERSION`] and level L fits within it,
//! level L is used. In practice this happens only for payRequest one-time codes whose fields
//! are all near their maximum lengths (194 characters; M fits 178 at version 7).

use std::path::Path;

use image::{GrayImage, ImageFormat, Luma};
use qrcode::{EcLevel, QrCode, Version};

/// The largest QR version we aim for: still comfortable to scan from a phone screen.
pub const TARGET_VERSION: i16 = 7;
/// Pixels per module: large enough for a laptop camera pointed at a printed sheet.
const MODULE_PX: u32 = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("cannot make a QR code of this text: {0}")]
    Encode(String),
    #[error("cannot write QR image {path}: {reason}")]
    Write { path: String, reason: String },
}

/// The QR code `render` draws: EC M, or EC L when only that keeps it at [`TARGET_VERSION`].
fn build(text: &str) -> Result<QrCode, RenderError> {
    let medium = QrCode::with_error_correction_level(text, EcLevel::M)
        .map_err(|e| RenderError::Encode(e.to_string()))?;
    if version_number(medium.version()) <= TARGET_VERSION {
        return Ok(medium);
    }
    match QrCode::with_error_correction_level(text, EcLevel::L) {
        Ok(low) if version_number(low.version()) <= TARGET_VERSION => Ok(low),
        _ => Ok(medium),
    }
}

fn version_number(v: Version) -> i16 {
    // `with_error_correction_level` only produces normal (non-micro) versions.
    match v {
        Version::Normal(n) | Version::Micro(n) => n,
    }
}

/// Black-on-white QR image of `text`, 8 px per module, with the standard 4-module quiet zone.
pub fn render(text: &str) -> Result<GrayImage, RenderError> {
    let code = build(text)?;
    Ok(code
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(MODULE_PX, MODULE_PX)
        .build())
}

/// [`render`] and save as PNG at `path`.
pub fn write_png(text: &str, path: &Path) -> Result<(), RenderError> {
    render(text)?
        .save_with_format(path, ImageFormat::Png)
        .map_err(|e| RenderError::Write {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// The QR version [`render`] uses for `text` (1..=40).
pub fn qr_version(text: &str) -> Result<i16, RenderError> {
    build(text).map(|c| version_number(c.version()))
}

/// The error-correction level [`render`] uses for `text`.
pub fn ec_level(text: &str) -> Result<EcLevel, RenderError> {
    build(text).map(|c| c.error_correction_level())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sale::PaymentMeans;
    use crate::scan::decode::decode_luma;
    use crate::scan::payload::{encode_one_time, parse, OneTimeCode, TrustedKeys};
    use ed25519_dalek::SigningKey;

    const NOW: i64 = 1_750_000_000;

    fn issue(means: PaymentMeans) -> String {
        let code = OneTimeCode {
            key_id: 255,
            issued_at: NOW,
            expires_at: NOW + 180,
            nonce: [0xFF; 8],
            means,
        };
        encode_one_time(&code, &SigningKey::from_bytes(&[1; 32]))
    }

    fn fintech() -> PaymentMeans {
        PaymentMeans::FintechNumber {
            fintech_use_num: "199003328057724253012100".into(),
        }
    }

    fn longest_pay_request() -> PaymentMeans {
        PaymentMeans::PayRequest {
            identity_number: "I".repeat(15),
            org_code: "O".repeat(10),
            account_number: "9".repeat(20),
        }
    }

    #[test]
    fn render_decodes_back() {
        for text in ["199003328057724253012100", &issue(fintech())] {
            let img = render(text).unwrap();
            assert_eq!(decode_luma(&img).unwrap(), vec![text.to_string()]);
        }
    }

    #[test]
    fn geometry() {
        let text = "199003328057724253012100";
        let img = render(text).unwrap();
        let modules = 17 + 4 * u32::try_from(qr_version(text).unwrap()).unwrap() + 2 * 4;
        assert_eq!(img.width(), modules * MODULE_PX);
        // Quiet zone is white.
        assert_eq!(img.get_pixel(4 * MODULE_PX - 1, 4 * MODULE_PX - 1).0, [255]);
        assert_eq!(img.get_pixel(4 * MODULE_PX, 4 * MODULE_PX).0, [0]);
    }

    #[test]
    fn one_time_codes_fit_version_7() {
        let fintech = issue(fintech());
        assert!(qr_version(&fintech).unwrap() <= TARGET_VERSION);
        assert_eq!(ec_level(&fintech).unwrap(), EcLevel::M);

        let typical = issue(PaymentMeans::PayRequest {
            identity_number: "CI0000000000001".into(),
            org_code: "HANA".into(),
            account_number: "11122233344".into(),
        });
        assert!(qr_version(&typical).unwrap() <= TARGET_VERSION);
        assert_eq!(ec_level(&typical).unwrap(), EcLevel::M);

        let longest = issue(longest_pay_request());
        assert!(qr_version(&longest).unwrap() <= TARGET_VERSION);
        assert_eq!(ec_level(&longest).unwrap(), EcLevel::L);
    }

    #[test]
    fn longest_pay_request_round_trips_through_an_image() {
        let text = issue(longest_pay_request());
        let scanned = decode_luma(&render(&text).unwrap()).unwrap();
        let mut keys = TrustedKeys::new();
        keys.add(255, SigningKey::from_bytes(&[1; 32]).verifying_key());
        let payload = parse(&scanned[0], &keys, NOW).unwrap();
        assert_eq!(payload.means(), longest_pay_request());
    }

    #[test]
    fn too_long_text_is_an_error() {
        let huge = "x".repeat(8000);
        assert!(matches!(render(&huge), Err(RenderError::Encode(_))));
        assert!(qr_version(&huge).is_err());
    }

    #[test]
    fn write_png_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code.png");
        write_png("QP1TEST", &path).unwrap();
        assert_eq!(
            crate::scan::decode::decode_file(&path).unwrap(),
            vec!["QP1TEST"]
        );
        assert!(matches!(
            write_png("QP1TEST", &dir.path().join("no/such/dir/code.png")),
            Err(RenderError::Write { .. })
        ));
    }
}
