//! Image preparations the cascade feeds to an engine when the frame as-is did not read:
//! binarizations (local mean, Otsu), rescaling and inversion.
//!
//! Thresholds come from `imageproc` and resampling from `image`, so only the choice of
//! parameters lives here.

use image::imageops::{self, FilterType};
use image::GrayImage;
use imageproc::contrast::{adaptive_threshold, otsu_level, threshold, ThresholdType};

/// Frames whose longer side is at most this are up-scaled for small modules (≤ 2 px).
const UPSCALE_MAX_SIDE: u32 = 1024;
/// Frames whose longer side exceeds this are down-scaled: big photos have big modules,
/// and engines spend their time on pixels, not modules.
const DOWNSCALE_ABOVE: u32 = 1000;
const DOWNSCALE_TO: u32 = 800;
/// Halving only pays while the half image still holds a readable code.
const HALF_MIN_SIDE: u32 = 240;

/// One way of preparing a frame for an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preparation {
    /// The frame as the camera gave it.
    AsIs,
    /// Each pixel against the mean of its neighbourhood (an eighth of the frame): survives
    /// glare and uneven light, where one global level cannot.
    LocalMean,
    /// One global level from Otsu's method: clean for low-contrast, evenly lit codes.
    Otsu,
    /// Twice the size (bilinear), so modules of 1–2 px become 2–4 px.
    Upscale,
    /// Longer side brought to 800 px (area average), which also smooths sensor noise and
    /// phone-screen pixel grids.
    Downscale,
    /// Half width and height (2×2 averaging): a quarter of the pixels. A phone held up to
    /// the counter camera, and most photos, have modules big enough to survive it.
    Half,
    /// Light-on-dark codes (dark-mode apps).
    Invert,
}

/// A prepared image and how to map positions in it back to the frame.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub image: GrayImage,
    /// Black-and-white already: engines should not threshold again.
    pub binarized: bool,
    /// Prepared pixels per frame pixel.
    pub scale: f32,
}

impl Preparation {
    pub const ALL: [Preparation; 7] = [
        Preparation::AsIs,
        Preparation::LocalMean,
        Preparation::Otsu,
        Preparation::Upscale,
        Preparation::Downscale,
        Preparation::Half,
        Preparation::Invert,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preparation::AsIs => "as-is",
            Preparation::LocalMean => "local-mean",
            Preparation::Otsu => "otsu",
            Preparation::Upscale => "upscale",
            Preparation::Downscale => "downscale",
            Preparation::Half => "half",
            Preparation::Invert => "invert",
        }
    }

    /// Whether this preparation is worth running on a `width`×`height` frame.
    pub fn applies(self, width: u32, height: u32) -> bool {
        let side = width.max(height);
        match self {
            Preparation::Upscale => side <= UPSCALE_MAX_SIDE && side > 0,
            Preparation::Downscale => side > DOWNSCALE_ABOVE,
            Preparation::Half => width.min(height) >= HALF_MIN_SIDE,
            _ => side > 0,
        }
    }

    /// The prepared image, or `None` when the preparation does not apply to this frame
    /// (`AsIs` also returns `None`: callers use the frame itself, without a copy).
    pub fn apply(self, frame: &GrayImage) -> Option<Prepared> {
        let (w, h) = frame.dimensions();
        if self == Preparation::AsIs || !self.applies(w, h) {
            return None;
        }
        let prepared = match self {
            Preparation::AsIs => return None,
            Preparation::LocalMean => Prepared {
                image: adaptive_threshold(frame, (w.max(h) / 16).max(4)),
                binarized: true,
                scale: 1.0,
            },
            Preparation::Otsu => Prepared {
                image: threshold(frame, otsu_level(frame), ThresholdType::Binary),
                binarized: true,
                scale: 1.0,
            },
            Preparation::Upscale => Prepared {
                image: imageops::resize(frame, w * 2, h * 2, FilterType::Triangle),
                binarized: false,
                scale: 2.0,
            },
            Preparation::Downscale => {
                let scale = DOWNSCALE_TO as f32 / w.max(h) as f32;
                let nw = ((w as f32 * scale).round() as u32).max(1);
                let nh = ((h as f32 * scale).round() as u32).max(1);
                Prepared {
                    image: imageops::thumbnail(frame, nw, nh),
                    binarized: false,
                    scale,
                }
            }
            Preparation::Half => Prepared {
                image: half(frame),
                binarized: false,
                scale: 0.5,
            },
            Preparation::Invert => {
                let mut image = frame.clone();
                imageops::invert(&mut image);
                Prepared {
                    image,
                    binarized: false,
                    scale: 1.0,
                }
            }
        };
        Some(prepared)
    }
}

/// 2×2 box average. Hand-written because it is the hot path's first step: a straight pass
/// over rows is several times faster than a general resampling filter.
fn half(frame: &GrayImage) -> GrayImage {
    let (w, h) = (frame.width() / 2, frame.height() / 2);
    let src = frame.as_raw();
    let stride = frame.width() as usize;
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h as usize {
        let top = &src[2 * y * stride..];
        let bottom = &src[(2 * y + 1) * stride..];
        for x in 0..w as usize {
            let sum = u16::from(top[2 * x])
                + u16::from(top[2 * x + 1])
                + u16::from(bottom[2 * x])
                + u16::from(bottom[2 * x + 1]);
            out.push(((sum + 2) / 4) as u8);
        }
    }
    GrayImage::from_raw(w, h, out).expect("w*h bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn scaling_applies_by_size() {
        assert!(Preparation::Upscale.applies(640, 480));
        assert!(!Preparation::Upscale.applies(1920, 1080));
        assert!(Preparation::Downscale.applies(1920, 1080));
        assert!(!Preparation::Downscale.applies(640, 480));
        assert!(!Preparation::Otsu.applies(0, 0));
    }

    #[test]
    fn preparations_keep_geometry_known() {
        let frame = GrayImage::from_fn(1600, 1200, |x, _| Luma([(x % 256) as u8]));
        let down = Preparation::Downscale.apply(&frame).unwrap();
        assert_eq!(down.image.dimensions(), (800, 600));
        assert!((down.scale - 0.5).abs() < 1e-6);
        let otsu = Preparation::Otsu.apply(&frame).unwrap();
        assert!(otsu.binarized);
        assert!(otsu.image.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
        assert!(Preparation::AsIs.apply(&frame).is_none());
        assert!(Preparation::LocalMean
            .apply(&GrayImage::new(0, 0))
            .is_none());
    }
}
