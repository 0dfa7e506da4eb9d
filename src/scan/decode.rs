//! Image file or greyscale image → the texts of the QR codes in it, through the full
//! [`Cascade`] (every engine and preparation, no time budget): what `qrpos decode` and
//! `qrpos pay` use on a still image. Live frames go through [`super::Scanner`] instead.
//!
//! Engine panics are contained per call (see [`super::engine`]). The default panic hook still
//! prints the panic message to stderr: silencing it would mean swapping the process-wide
//! hook, which other threads rely on.

use std::panic::catch_unwind;
use std::path::Path;
use std::sync::OnceLock;

use image::GrayImage;

use super::cascade::Cascade;

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
/// The cascade stops at the first step that reads anything; light-on-dark codes are among
/// its steps.
pub fn decode_luma(img: &GrayImage) -> Result<Vec<String>, DecodeError> {
    static CASCADE: OnceLock<Cascade> = OnceLock::new();
    let outcome = CASCADE.get_or_init(Cascade::standard).run(img, None);
    if !outcome.reads.is_empty() {
        Ok(outcome.reads.into_iter().map(|r| r.text).collect())
    } else if outcome.panics > 0 {
        Err(DecodeError::EnginePanicked)
    } else {
        Err(DecodeError::NoCode)
    }
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
}
