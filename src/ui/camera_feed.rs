//! One sale's camera: the frame source opened on its own thread (a nokhwa camera must stay
//! on the thread that opened it), each frame offered to the preview and to the decoder
//! thread, and each code the decoder reads sent to the checkout as an [`Input`]. A camera
//! that is missing or unplugged is reported and retried until the sale ends; the sale goes
//! on (the cashier cancels it, or the scan timeout does), so nothing is lost.

use crate::camera::{self, CameraError};
use crate::checkout::Input;
use crate::config::CameraSection;
use crate::scan::{Scanner, ScannerSettings};
use image::GrayImage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the camera is doing, for the scan screen and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraNote {
    /// Frames are coming from this source.
    Working(String),
    /// No frames, and why (words for the cashier).
    Problem(String),
}

/// How often a camera that cannot be opened is tried again while the sale waits.
const REOPEN_EVERY: Duration = Duration::from_millis(1000);

/// The running feed of one sale. Dropping it stops both threads (they end on their own
/// within a frame; nobody waits for them on the UI thread).
pub struct CameraFeed {
    stop: Arc<AtomicBool>,
}

impl CameraFeed {
    pub fn start(
        source: CameraSection,
        scanner: ScannerSettings,
        inputs: mpsc::Sender<Input>,
        preview: impl Fn(&GrayImage) + Send + 'static,
        note: impl Fn(CameraNote) + Send + 'static,
    ) -> CameraFeed {
        let stop = Arc::new(AtomicBool::new(false));
        let scanner = Scanner::start(scanner);
        let sink = scanner.sink();

        // Reads → the checkout. Owns the scanner: it stops with this thread.
        let (stopped, reads_to) = (Arc::clone(&stop), inputs.clone());
        let _ = std::thread::Builder::new()
            .name("qrpos-reads".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    match scanner.events().recv_timeout(Duration::from_millis(50)) {
                        Ok(read) => {
                            if reads_to
                                .blocking_send(Input::Read(vec![read.text]))
                                .is_err()
                            {
                                break;
                            }
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            });

        let stopped = Arc::clone(&stop);
        let _ = std::thread::Builder::new()
            .name("qrpos-capture".into())
            .spawn(move || {
                let mut source = loop {
                    if stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    match camera::open(&source) {
                        Ok(s) => break s,
                        Err(CameraError::NotBuilt) => {
                            note(CameraNote::Problem(CameraError::NotBuilt.to_string()));
                            let _ = inputs.blocking_send(Input::SourceEnded {
                                why: CameraError::NotBuilt.to_string(),
                            });
                            return;
                        }
                        Err(e) => {
                            note(CameraNote::Problem(e.to_string()));
                            wait_unless_stopped(&stopped, REOPEN_EVERY);
                        }
                    }
                };
                note(CameraNote::Working(source.describe()));
                let troubled = std::cell::Cell::new(false);
                let ended = camera::pump(
                    source.as_mut(),
                    |frame| {
                        if stopped.load(Ordering::Relaxed) {
                            return false;
                        }
                        if troubled.replace(false) {
                            note(CameraNote::Working(String::new()));
                        }
                        preview(&frame.image);
                        sink.submit(frame.image, frame.captured)
                    },
                    |e| {
                        troubled.set(true);
                        note(CameraNote::Problem(e.to_string()));
                    },
                );
                if let Err(e) = ended {
                    if !stopped.load(Ordering::Relaxed) {
                        let _ = inputs.blocking_send(Input::SourceEnded { why: e.to_string() });
                    }
                }
            });
        CameraFeed { stop }
    }
}

impl Drop for CameraFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn wait_unless_stopped(stop: &AtomicBool, total: Duration) {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while waited < total && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(step);
        waited += step;
    }
}

/// A frame made small for the preview (at most `max_width` wide, the aspect kept), as RGB.
pub fn preview_pixels(
    frame: &GrayImage,
    max_width: u32,
) -> slint::SharedPixelBuffer<slint::Rgb8Pixel> {
    let step = frame.width().div_ceil(max_width.max(1)).max(1);
    let (w, h) = (frame.width() / step, frame.height() / step);
    let mut buf = slint::SharedPixelBuffer::<slint::Rgb8Pixel>::new(w, h);
    for (i, px) in buf.make_mut_slice().iter_mut().enumerate() {
        let (x, y) = (i as u32 % w, i as u32 / w);
        let v = frame.get_pixel(x * step, y * step).0[0];
        *px = slint::Rgb8Pixel { r: v, g: v, b: v };
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_is_downscaled_and_keeps_the_picture() {
        let frame = GrayImage::from_fn(640, 480, |x, _| {
            image::Luma([if x < 320 { 0 } else { 255 }])
        });
        let p = preview_pixels(&frame, 320);
        assert_eq!((p.width(), p.height()), (320, 240));
        let px = p.as_slice();
        assert_eq!(px[0].r, 0);
        assert_eq!(px[319].r, 255);
    }
}
