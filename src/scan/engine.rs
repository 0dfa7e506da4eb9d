//! The QR engines, each a small adapter behind one [`Engine`] trait, each call panic-isolated.
//!
//! - [`Rxing`]: the pure-Rust ZXing port; the best single reader of real photos.
//! - [`Rqrr`]: the decoder the product card names; weaker alone, but it reads some codes
//!   rxing misses once the image is prepared (binarized, rescaled), so the cascade keeps it.
//!
//! Both can panic on hostile or merely odd images (rqrr issue #54), so every call into an
//! engine runs inside [`std::panic::catch_unwind`] and a panic becomes
//! [`EngineOutput::panicked`], never an unwinding terminal.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::GrayImage;
use rxing::multi::MultipleBarcodeReader;
use rxing::qrcode::cpp_port::QrReader;
use rxing::qrcode::QRCodeReader;
use rxing::{
    common::{GlobalHistogramBinarizer, HybridBinarizer},
    BarcodeFormat, BinaryBitmap, DecodeHints, Luma8Source, RXingResult, Reader,
};

/// One code an engine read, with where it sat in the image it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub text: String,
    /// The code's axis-aligned bounds in the engine's input image, if the engine reports them.
    pub bounds: Option<Bounds>,
}

/// An axis-aligned rectangle in pixel coordinates (floating, as engines report corners).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Bounds {
    /// The smallest rectangle around `points`; `None` for no points or non-finite ones.
    pub fn around(points: impl IntoIterator<Item = (f32, f32)>) -> Option<Bounds> {
        let mut b: Option<Bounds> = None;
        for (x, y) in points {
            if !x.is_finite() || !y.is_finite() {
                return None;
            }
            b = Some(match b {
                None => Bounds {
                    x0: x,
                    y0: y,
                    x1: x,
                    y1: y,
                },
                Some(b) => Bounds {
                    x0: b.x0.min(x),
                    y0: b.y0.min(y),
                    x1: b.x1.max(x),
                    y1: b.y1.max(y),
                },
            });
        }
        b
    }

    /// These bounds mapped out of an image that was scaled by `scale` and cropped at
    /// `(dx, dy)` of the original.
    /// The smallest bounds holding both.
    pub fn union(self, other: Bounds) -> Bounds {
        Bounds {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }

    pub fn unmap(self, scale: f32, dx: f32, dy: f32) -> Bounds {
        Bounds {
            x0: self.x0 / scale + dx,
            y0: self.y0 / scale + dy,
            x1: self.x1 / scale + dx,
            y1: self.y1 / scale + dy,
        }
    }
}

/// What one engine call produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineOutput {
    pub reads: Vec<Read>,
    /// The engine panicked; reads found before or beside the panic are still in `reads`.
    pub panicked: bool,
}

/// The image an engine looks at: greyscale, or already black-and-white (0 / 255).
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub image: &'a GrayImage,
    /// Already binarized by a preparation: engines should not threshold it again.
    pub binarized: bool,
}

/// A QR decoder. Implementations never panic out of [`Engine::read`] and never return
/// duplicates within one call.
pub trait Engine: Send + Sync {
    /// Short stable name for reports ("rxing", "rqrr").
    fn name(&self) -> &'static str;
    fn read(&self, view: View<'_>) -> EngineOutput;
}

/// Run one engine call, turning a panic into `None`.
///
/// `AssertUnwindSafe` is sound here: whatever the engine was mutating when it panicked (its
/// prepared image, its output buffer) is dropped unused afterwards.
pub(crate) fn contain<T>(engine_call: impl FnOnce() -> T) -> Option<T> {
    quiet_engine_panics();
    IN_ENGINE.with(|inside| inside.set(true));
    let result = catch_unwind(AssertUnwindSafe(engine_call)).ok();
    IN_ENGINE.with(|inside| inside.set(false));
    result
}

thread_local! {
    static IN_ENGINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A contained engine panic is an expected event (rqrr asserts on some real images, rqrr
/// issue #54): it gets one warning line, not a backtrace per frame flooding the log. Any
/// other panic still goes to the previous hook untouched.
fn quiet_engine_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_ENGINE.with(|inside| inside.get()) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                tracing::warn!("QR engine panicked at {at} (contained; frame skipped)");
            } else {
                previous(info);
            }
        }));
    });
}

/// rqrr 0.11: finds every grid in the image and decodes each separately.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rqrr;

impl Engine for Rqrr {
    fn name(&self) -> &'static str {
        "rqrr"
    }

    fn read(&self, view: View<'_>) -> EngineOutput {
        let mut out = EngineOutput::default();
        let img = view.image;
        if img.width() == 0 || img.height() == 0 {
            return out;
        }
        let (w, h) = (img.width() as usize, img.height() as usize);
        // Built from closures rather than `prepare(img.clone())`: no copy of the frame, and a
        // binarized view skips rqrr's own (weaker) row-average threshold.
        let prepared = contain(|| {
            if view.binarized {
                rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| {
                    img.get_pixel(x as u32, y as u32).0[0] < 128
                })
            } else {
                rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
                    img.get_pixel(x as u32, y as u32).0[0]
                })
            }
        });
        let Some(mut prepared) = prepared else {
            out.panicked = true;
            return out;
        };
        let Some(grids) = contain(|| prepared.detect_grids()) else {
            out.panicked = true;
            return out;
        };
        // Each grid separately: one bad grid must not hide a good one beside it.
        for grid in &grids {
            let mut raw = Vec::new();
            match contain(|| grid.decode_to(&mut raw)) {
                Some(Ok(_meta)) => {
                    let text = bytes_to_text(&raw);
                    if !out.reads.iter().any(|r| r.text == text) {
                        let bounds =
                            Bounds::around(grid.bounds.iter().map(|p| (p.x as f32, p.y as f32)));
                        out.reads.push(Read { text, bounds });
                    }
                }
                // A grid that looked like a code but failed error correction: not a code.
                Some(Err(_)) => {}
                None => out.panicked = true,
            }
        }
        out
    }
}

/// rxing 0.9's QR reader: its C++-port detector for every code in the image, then (if that
/// found none) its Java-port detector, each also on the inverted image. Restricted to QR so
/// no time goes to other symbologies.
#[derive(Clone)]
pub struct Rxing {
    hints: DecodeHints,
    /// The multi-code reader (also finds a code inside a code) or the single-code one,
    /// whose detector picks the best three finder patterns and reads a few photos the
    /// multi reader misses. Separate steps, so a frame without a code pays for one search.
    multi: bool,
    /// One global black level instead of HybridBinarizer's local blocks: cheaper, and
    /// enough for an evenly lit code.
    global: bool,
}

impl Default for Rxing {
    fn default() -> Self {
        Rxing::new(true)
    }
}

impl std::fmt::Debug for Rxing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rxing")
            .field("try_harder", &self.hints.TryHarder)
            .field("multi", &self.multi)
            .finish()
    }
}

impl Rxing {
    /// `try_harder`: denser finder-pattern search (every row, not every few), which pays on
    /// photos; see the benchmark's per-step table.
    pub fn new(try_harder: bool) -> Rxing {
        let hints = DecodeHints {
            PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
            TryHarder: Some(try_harder),
            ..DecodeHints::default()
        };
        Rxing {
            hints,
            multi: true,
            global: false,
        }
    }

    /// Fast mode with a global black level.
    pub fn global() -> Rxing {
        Rxing {
            global: true,
            ..Rxing::new(false)
        }
    }

    /// The single-code reader, fast mode.
    pub fn single() -> Rxing {
        Rxing {
            multi: false,
            ..Rxing::new(false)
        }
    }

    fn try_harder(&self) -> bool {
        self.hints.TryHarder == Some(true)
    }

    fn detect<B: rxing::Binarizer>(&self, bitmap: &mut BinaryBitmap<B>) -> Vec<RXingResult> {
        if self.multi {
            return QrReader
                .decode_multiple_with_hints(bitmap, &self.hints)
                .unwrap_or_default();
        }
        QRCodeReader
            .decode_with_hints(bitmap, &self.hints)
            .map(|r| vec![r])
            .unwrap_or_default()
    }
}

impl Engine for Rxing {
    fn name(&self) -> &'static str {
        if self.global {
            return "rxing-global";
        }
        match (self.multi, self.try_harder()) {
            (false, _) => "rxing-single",
            (true, true) => "rxing",
            (true, false) => "rxing-fast",
        }
    }

    fn read(&self, view: View<'_>) -> EngineOutput {
        let img = view.image;
        let mut out = EngineOutput::default();
        if img.width() == 0 || img.height() == 0 {
            return out;
        }
        let result = contain(|| {
            // Borrows the frame: no copy on the hot path.
            let source = Luma8Source::new_with_slice(img.as_raw(), img.width(), img.height())?;
            // Light-on-dark codes are rare on phone screens: the cascade's `invert` step
            // handles them, so a frame without a code pays for one search, not two.
            if self.global {
                let mut bitmap = BinaryBitmap::new(GlobalHistogramBinarizer::new(source));
                return Ok::<_, rxing::Exceptions>(self.detect(&mut bitmap));
            }
            let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
            Ok::<_, rxing::Exceptions>(self.detect(&mut bitmap))
        });
        match result {
            None => out.panicked = true,
            Some(Err(_)) => {}
            Some(Ok(found)) => {
                for r in found {
                    let text = r.getText().to_string();
                    if out.reads.iter().any(|x| x.text == text) {
                        continue;
                    }
                    let bounds = Bounds::around(r.getPoints().iter().map(|p| (p.x, p.y)));
                    out.reads.push(Read { text, bounds });
                }
            }
        }
        out
    }
}

/// QR byte mode carries no reliable charset: UTF-8 if valid, else Shift_JIS (the QR default
/// in Japan, and what rqrr emits for Kanji mode) if it decodes cleanly, else Latin-1, which
/// maps every byte and so never fails.
pub fn bytes_to_text(raw: &[u8]) -> String {
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

    #[test]
    fn engine_panic_is_contained() {
        assert_eq!(contain(|| 7), Some(7));
        let crashed: Option<()> = contain(|| panic!("simulated engine crash"));
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

    #[test]
    fn bounds_around_points() {
        let b = Bounds::around([(3.0, 4.0), (1.0, 9.0), (5.0, 2.0)]).unwrap();
        assert_eq!((b.x0, b.y0, b.x1, b.y1), (1.0, 2.0, 5.0, 9.0));
        assert!(Bounds::around([]).is_none());
        assert!(Bounds::around([(f32::NAN, 1.0)]).is_none());
        let u = b.unmap(2.0, 10.0, 20.0);
        assert_eq!((u.x0, u.y0, u.x1, u.y1), (10.5, 21.0, 12.5, 24.5));
    }
}
