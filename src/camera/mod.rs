//! Frame sources: where the scanner's greyscale frames come from. A camera (nokhwa, V4L2 on
//! Linux; feature `camera`) or an image file / folder replayed at a set frame rate (tests,
//! CI, the simulator without a webcam), chosen by `[camera] source`, both behind
//! [`FrameSource`]. Knows nothing of QR codes or payments.

mod reconnect;
mod replay;
#[cfg(feature = "camera")]
mod usb;

use std::time::Instant;

use image::GrayImage;

use crate::config::{CameraSection, FrameSourceKind};

pub use reconnect::Reconnecting;
pub use replay::ReplaySource;
#[cfg(feature = "camera")]
pub use usb::{survey, CameraFound, CameraSource};

/// One luma frame and when it was captured.
#[derive(Debug, Clone)]
pub struct Frame {
    pub image: GrayImage,
    pub captured: Instant,
}

/// Why a source gave no frame. Each says what the person at the counter can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    #[error("no camera at {0}: check the USB cable and camera.device")]
    NoCamera(String),
    #[error("camera {0} is busy: another program is using it")]
    Busy(String),
    #[error("camera {device} cannot deliver {wanted}: {why}")]
    FormatNotSupported {
        device: String,
        wanted: String,
        why: String,
    },
    #[error("camera {0} stopped delivering frames (unplugged?); reconnecting")]
    Disconnected(String),
    #[error("cannot read frames from {0}")]
    Unreadable(String),
    /// A replay without `loop` has shown its last frame.
    #[error("the replay has ended")]
    Ended,
    #[error("this build has no camera support (feature `camera`); use camera.source = \"replay\"")]
    NotBuilt,
}

/// Yields frames, blocking until the next one is due.
/// Not `Send`: a nokhwa camera must stay on the thread that opened it, so open the source
/// on the capture thread (see [`pump`]).
pub trait FrameSource {
    fn next_frame(&mut self) -> Result<Frame, CameraError>;
    /// Where the frames come from, for logs and `doctor`.
    fn describe(&self) -> String;
}

/// The source `[camera]` asks for. A camera comes wrapped in [`Reconnecting`], so an
/// unplugged USB camera is reopened when it comes back.
pub fn open(config: &CameraSection) -> Result<Box<dyn FrameSource>, CameraError> {
    match config.source {
        FrameSourceKind::Replay => {
            let path = config
                .replay_dir
                .clone()
                .ok_or_else(|| CameraError::Unreadable("camera.replay_dir is not set".into()))?;
            Ok(Box::new(ReplaySource::open(
                &path,
                config.replay_fps,
                config.replay_loop,
            )?))
        }
        FrameSourceKind::Camera => open_camera(config),
    }
}

#[cfg(feature = "camera")]
fn open_camera(config: &CameraSection) -> Result<Box<dyn FrameSource>, CameraError> {
    let config = config.clone();
    let first = CameraSource::open(&config)?;
    Ok(Box::new(Reconnecting::new(
        Box::new(first),
        move || CameraSource::open(&config).map(|c| Box::new(c) as Box<dyn FrameSource>),
        std::time::Duration::from_millis(250),
        std::time::Duration::from_secs(5),
    )))
}

#[cfg(not(feature = "camera"))]
fn open_camera(_: &CameraSection) -> Result<Box<dyn FrameSource>, CameraError> {
    Err(CameraError::NotBuilt)
}

/// Feed frames from `source` to `deliver` until `deliver` returns `false` or the source
/// ends. Transient errors (a disconnect being retried) go to `on_error` and the loop goes
/// on; `Ended` and `NotBuilt` end it.
pub fn pump(
    source: &mut dyn FrameSource,
    mut deliver: impl FnMut(Frame) -> bool,
    mut on_error: impl FnMut(&CameraError),
) -> Result<(), CameraError> {
    loop {
        match source.next_frame() {
            Ok(frame) => {
                if !deliver(frame) {
                    return Ok(());
                }
            }
            Err(e @ (CameraError::Ended | CameraError::NotBuilt)) => return Err(e),
            Err(e) => on_error(&e),
        }
    }
}
