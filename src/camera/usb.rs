//! A USB / built-in camera through nokhwa (V4L2 on Linux). Asks for the configured size and
//! rate in a format whose luma can be taken without converting through RGB: YUYV (every
//! other byte), NV12 and GREY (the first plane), else MJPEG (decoded to greyscale).

use std::time::Instant;

use image::GrayImage;
use nokhwa::utils::{CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};
use nokhwa::{Camera, NokhwaError};

use super::{CameraError, Frame, FrameSource};
use crate::config::CameraSection;

/// Preferred first: cheapest luma extraction.
const FORMATS: [FrameFormat; 4] = [
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::GRAY,
    FrameFormat::MJPEG,
];

pub struct CameraSource {
    camera: Camera,
    device: String,
}

impl CameraSource {
    pub fn open(config: &CameraSection) -> Result<CameraSource, CameraError> {
        let device = device_name(&config.device);
        let index = match config.device.parse::<u32>() {
            Ok(i) => CameraIndex::Index(i),
            Err(_) => CameraIndex::String(config.device.clone()),
        };
        let wanted =
            CameraFormat::new_from(config.width, config.height, FrameFormat::YUYV, config.fps);
        let request = RequestedFormat::with_formats(RequestedFormatType::Closest(wanted), &FORMATS);
        // nokhwa and the V4L2 bindings sit on ioctls and vendor drivers: contain a panic
        // there like any other bad input.
        let opened = std::panic::catch_unwind(|| {
            let mut camera = Camera::new(index, request)?;
            camera.open_stream()?;
            Ok::<_, NokhwaError>(camera)
        })
        .map_err(|_| CameraError::Unreadable(format!("{device}: camera driver crashed")))?;
        let camera = opened.map_err(|e| classify(&device, &e, config))?;
        Ok(CameraSource { camera, device })
    }
}

fn device_name(device: &str) -> String {
    match device.parse::<u32>() {
        Ok(i) => format!("/dev/video{i}"),
        Err(_) => device.to_string(),
    }
}

/// nokhwa reports errors as strings from the OS; sort them into what the person at the
/// counter can act on.
fn classify(device: &str, e: &NokhwaError, config: &CameraSection) -> CameraError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("busy") || lower.contains("ebusy") {
        CameraError::Busy(device.to_string())
    } else if lower.contains("no such file")
        || lower.contains("no such device")
        || lower.contains("enoent")
        || lower.contains("enodev")
    {
        CameraError::NoCamera(device.to_string())
    } else if matches!(
        e,
        NokhwaError::GetPropertyError { .. }
            | NokhwaError::SetPropertyError { .. }
            | NokhwaError::StructureError { .. }
    ) || lower.contains("format")
    {
        CameraError::FormatNotSupported {
            device: device.to_string(),
            wanted: format!(
                "{}x{} at {} fps in YUYV/NV12/GREY/MJPEG",
                config.width, config.height, config.fps
            ),
            why: text,
        }
    } else {
        CameraError::Unreadable(format!("{device}: {text}"))
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let format = self.camera.camera_format();
        let raw = self
            .camera
            .frame_raw()
            .map_err(|_| CameraError::Disconnected(self.device.clone()))?;
        let captured = Instant::now();
        let image = luma(&raw, format.width(), format.height(), format.format())
            .ok_or_else(|| CameraError::Unreadable(format!("{}: bad frame", self.device)))?;
        Ok(Frame { image, captured })
    }

    fn describe(&self) -> String {
        let f = self.camera.camera_format();
        format!(
            "camera {} ({}x{} {} at {} fps)",
            self.device,
            f.width(),
            f.height(),
            f.format(),
            f.frame_rate()
        )
    }
}

/// The luma plane of one raw frame; `None` if the buffer is short or undecodable.
pub(crate) fn luma(raw: &[u8], width: u32, height: u32, format: FrameFormat) -> Option<GrayImage> {
    let pixels = (width as usize).checked_mul(height as usize)?;
    match format {
        FrameFormat::YUYV => {
            // Y0 U Y1 V: the luma is every even byte.
            let bytes = raw.get(..pixels * 2)?;
            GrayImage::from_raw(width, height, bytes.iter().step_by(2).copied().collect())
        }
        FrameFormat::NV12 | FrameFormat::GRAY => {
            GrayImage::from_raw(width, height, raw.get(..pixels)?.to_vec())
        }
        FrameFormat::MJPEG => image::load_from_memory_with_format(raw, image::ImageFormat::Jpeg)
            .ok()
            .map(|i| i.to_luma8()),
        FrameFormat::RAWRGB | FrameFormat::RAWBGR => {
            let bytes = raw.get(..pixels * 3)?;
            let swap = format == FrameFormat::RAWBGR;
            let y = bytes
                .chunks_exact(3)
                .map(|p| {
                    let (r, b) = if swap { (p[2], p[0]) } else { (p[0], p[2]) };
                    // ITU-R BT.601 luma, integer.
                    ((77 * u32::from(r) + 150 * u32::from(p[1]) + 29 * u32::from(b)) >> 8) as u8
                })
                .collect();
            GrayImage::from_raw(width, height, y)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_luma_is_every_other_byte() {
        let raw = [10, 128, 20, 128, 30, 128, 40, 128];
        let img = luma(&raw, 2, 2, FrameFormat::YUYV).unwrap();
        assert_eq!(img.as_raw(), &vec![10, 20, 30, 40]);
        assert!(luma(&raw[..6], 2, 2, FrameFormat::YUYV).is_none());
        assert!(luma(&[1, 2, 3], 2, 2, FrameFormat::MJPEG).is_none());
    }
}

/// A V4L2 device found by [`survey`]: its node, name and the formats it offers.
#[derive(Debug, Clone)]
pub struct CameraFound {
    pub device: String,
    pub name: String,
    /// `YUYV 640x480@30`, … (or why they could not be read).
    pub formats: Result<Vec<String>, String>,
}

/// Every `/dev/video*` node and what it offers (for `qrpos doctor`). Opens each briefly,
/// without streaming.
pub fn survey() -> Vec<CameraFound> {
    let mut nodes: Vec<u32> = std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix("video")?
                    .parse()
                    .ok()
            })
            .collect()
        })
        .unwrap_or_default();
    nodes.sort_unstable();
    nodes
        .into_iter()
        .map(|i| {
            let device = format!("/dev/video{i}");
            let found = std::panic::catch_unwind(|| {
                let request = RequestedFormat::with_formats(RequestedFormatType::None, &FORMATS);
                let mut camera = Camera::new(CameraIndex::Index(i), request)?;
                let name = camera.info().human_name();
                let mut formats: Vec<String> = camera
                    .compatible_camera_formats()?
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}x{}@{}",
                            f.format(),
                            f.width(),
                            f.height(),
                            f.frame_rate()
                        )
                    })
                    .collect();
                formats.sort();
                formats.dedup();
                Ok::<_, NokhwaError>((name, formats))
            });
            match found {
                Ok(Ok((name, formats))) => CameraFound {
                    device,
                    name,
                    formats: Ok(formats),
                },
                Ok(Err(e)) => CameraFound {
                    device,
                    name: String::new(),
                    formats: Err(e.to_string()),
                },
                Err(_) => CameraFound {
                    device,
                    name: String::new(),
                    formats: Err("the camera driver crashed".into()),
                },
            }
        })
        .collect()
}
