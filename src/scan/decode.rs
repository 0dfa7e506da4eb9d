//! Camera image → the texts of the QR codes in it, with the QR engine (rqrr) isolated so that
//! a panic inside it costs one frame, never the terminal.
//!
//! rqrr can panic on some real-world images (rqrr issue #54), so every call into it runs
//! inside [`std::panic::catch_unwind`]. The default panic hook still prints the panic message
//! to stderr: silencing it would mean swapping the process-wide hook, which other threads
//! rely on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use image::GrayImage;
use rqrr::PreparedImage;

/// Why an image yielded no code text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The file could not be opened or is not an image we can decode.
    #[error("cannot read image: {0}")]
    Unreadable(String),
    /// The image was read but holds no readable QR code.
    #[error("no QR code found: hold the code flat and closer to the camera")]
    NoCode,
    /// The QR engine crashed on this image; the next frame may well work.
    #[error("QR engine failed on this image: try again")]
    EnginePanicked,
}

/// Decode every QR code in the image file at `path`.
pub fn decode_file(path: &Path) -> Result<Vec<String>, DecodeError> {
    // Image decoders see untrusted files too; treat a crash there as an unreadable file.
    let img = catch_unwind(|| image::open(path))
        .map_err(|_| DecodeError::Unreadable("image decoder crashed".into()))?
        .map_err(|e| DecodeError::Unreadable(format!("{}: {e}", path.display())))?;
    decode_luma(&img.to_luma8())
}

/// Decode every QR code in a greyscale image, in detection order, without duplicates.
///
/// Dark-on-light is tried first; only if that finds nothing is the inverted image tried, for
/// light-on-dark codes (some apps' dark mode).
pub fn decode_luma(img: &GrayImage) -> Result<Vec<String>, DecodeError> {
    let first = scan(img.clone());
    if !first.texts.is_empty() {
        return Ok(first.texts);
    }
    let mut inverted = img.clone();
    image::imageops::invert(&mut inverted);
    let second = scan(inverted);
    if !second.texts.is_empty() {
        Ok(second.texts)
    } else if first.panicked || second.panicked {
        Err(DecodeError::EnginePanicked)
    } else {
        Err(DecodeError::NoCode)
    }
}

/// What one rqrr pass over an image produced.
struct Scan {
    texts: Vec<String>,
    /// rqrr panicked somewhere; codes found before or beside the panic are still in `texts`.
    panicked: bool,
}

fn scan(img: GrayImage) -> Scan {
    let mut result = Scan {
        texts: Vec::new(),
        panicked: false,
    };
    let Some(mut prepared) = contain(|| PreparedImage::prepare(img)) else {
        result.panicked = true;
        return result;
    };
    let Some(grids) = contain(|| prepared.detect_grids()) else {
        result.panicked = true;
        return result;
    };
    // Decoding each grid separately: one bad grid must not hide a good one beside it.
    for grid in &grids {
        let mut raw = Vec::new();
        match contain(|| grid.decode_to(&mut raw)) {
            Some(Ok(_meta)) => {
                let text = bytes_to_text(&raw);
                if !result.texts.contains(&text) {
                    result.texts.push(text);
                }
            }
            // A grid that looked like a code but failed error correction: not a code.
            Some(Err(_)) => {}
            None => result.panicked = true,
        }
    }
    result
}

/// Run one rqrr call, turning a panic into `None`.
///
/// `AssertUnwindSafe` is sound here: whatever rqrr was mutating when it panicked (the
/// prepared image, the output buffer) is dropped unused by [`scan`] afterwards.
fn contain<T>(engine_call: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(engine_call)).ok()
}

/// QR byte mode carries no reliable charset: UTF-8 if valid, else Shift_JIS (the QR default
/// in Japan, and what rqrr emits for Kanji mode) if it decodes cleanly, else Latin-1, which
/// maps every byte and so never fails.
fn bytes_to_text(raw: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(raw) {
        return s.to_string();
    }
    if let Some(s) = encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(raw)
    {
        return s.into_owned();
    }
    raw.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;
    use qrcode::QrCode;

    fn qr_image(text: &str) -> GrayImage {
        QrCode::new(text)
            .unwrap()
            .render::<Luma<u8>>()
            .module_dimensions(6, 6)
            .build()
    }

    #[test]
    fn decodes_a_generated_code() {
        let img = qr_image("199003328057724253012100");
        assert_eq!(decode_luma(&img).unwrap(), vec!["199003328057724253012100"]);
    }

    #[test]
    fn decodes_light_on_dark() {
        let mut img = qr_image("QP1 INVERTED");
        image::imageops::invert(&mut img);
        assert_eq!(decode_luma(&img).unwrap(), vec!["QP1 INVERTED"]);
    }

    #[test]
    fn utf8_text_survives() {
        let img = qr_image("결제 コード");
        assert_eq!(decode_luma(&img).unwrap(), vec!["결제 コード"]);
    }

    #[test]
    fn blank_image_has_no_code() {
        let img = GrayImage::from_pixel(200, 200, Luma([255]));
        assert_eq!(decode_luma(&img), Err(DecodeError::NoCode));
        let tiny = GrayImage::new(0, 0);
        assert_eq!(decode_luma(&tiny), Err(DecodeError::NoCode));
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("code.png");
        qr_image("FILE CODE").save(&png).unwrap();
        assert_eq!(decode_file(&png).unwrap(), vec!["FILE CODE"]);

        let not_image = dir.path().join("note.png");
        std::fs::write(&not_image, b"this is not an image").unwrap();
        assert!(matches!(
            decode_file(&not_image),
            Err(DecodeError::Unreadable(_))
        ));
        assert!(matches!(
            decode_file(&dir.path().join("missing.png")),
            Err(DecodeError::Unreadable(_))
        ));
    }

    #[test]
    fn engine_panic_is_contained() {
        assert_eq!(contain(|| 7), Some(7));
        let crashed: Option<()> = contain(|| panic!("simulated rqrr crash"));
        assert_eq!(crashed, None);
    }

    #[test]
    fn byte_charsets() {
        assert_eq!(bytes_to_text("가".as_bytes()), "가");
        // "コード" in Shift_JIS.
        assert_eq!(
            bytes_to_text(&[0x83, 0x52, 0x81, 0x5B, 0x83, 0x68]),
            "コード"
        );
        // Not UTF-8, not Shift_JIS (0xA0 is no Shift_JIS byte): Latin-1.
        assert_eq!(bytes_to_text(&[0xA0, 0xE9]), "\u{a0}é");
    }
}
