//! Replay of an image file or a folder of images (sorted by name) as camera frames at a set
//! frame rate: the simulated camera for tests, CI and a desktop without a webcam.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::GrayImage;

use super::{CameraError, Frame, FrameSource};

const EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "gif", "pgm"];

pub struct ReplaySource {
    origin: PathBuf,
    frames: Vec<GrayImage>,
    next: usize,
    looping: bool,
    interval: Duration,
    /// When the next frame is due; frames are paced against this, not slept between, so
    /// decode time does not slow the replay down.
    due: Option<Instant>,
}

impl ReplaySource {
    /// Loads every image up front, so replay timing does not include file decoding.
    pub fn open(path: &Path, fps: u32, looping: bool) -> Result<ReplaySource, CameraError> {
        let files = if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| CameraError::Unreadable(format!("{}: {e}", path.display())))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
                })
                .collect();
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        let frames = files
            .iter()
            .map(|f| {
                image::open(f)
                    .map(|i| i.to_luma8())
                    .map_err(|e| CameraError::Unreadable(format!("{}: {e}", f.display())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if frames.is_empty() {
            return Err(CameraError::Unreadable(format!(
                "{}: no images to replay",
                path.display()
            )));
        }
        Ok(ReplaySource {
            origin: path.to_path_buf(),
            frames,
            next: 0,
            looping,
            interval: Duration::from_secs(1) / fps.max(1),
            due: None,
        })
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

impl FrameSource for ReplaySource {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        if self.next >= self.frames.len() {
            if !self.looping {
                return Err(CameraError::Ended);
            }
            self.next = 0;
        }
        let now = Instant::now();
        let due = self.due.unwrap_or(now);
        if due > now {
            // A camera delivers at its frame rate; so does the replay.
            std::thread::sleep(due - now);
        }
        // If we fell behind, do not burst to catch up: a camera drops frames too.
        self.due = Some(due.max(now) + self.interval);
        let image = self.frames[self.next].clone();
        self.next += 1;
        Ok(Frame {
            image,
            captured: Instant::now(),
        })
    }

    fn describe(&self) -> String {
        format!(
            "replay of {} ({} frames)",
            self.origin.display(),
            self.frames.len()
        )
    }
}
