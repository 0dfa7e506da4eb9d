//! The decoder thread: takes the newest frame only (a frame not yet started is replaced,
//! never queued), decodes it with a [`FrameDecoder`], and emits de-duplicated
//! [`ScanEvent`]s on a channel.
//!
//! Frames come in as plain greyscale images with their capture instant, so this module knows
//! nothing of cameras; `camera::pump` is the glue.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::GrayImage;

use super::cascade::Cascade;
use super::live::FrameDecoder;

/// How the decoder thread works.
#[derive(Debug, Clone)]
pub struct ScannerSettings {
    pub cascade: Cascade,
    /// Per-frame decode budget (`[scan] frame_budget_ms`).
    pub frame_budget: Duration,
    /// The same text again within this long of its last sighting is the same read
    /// (`[scan] dedup_ms`): a code held in view beeps once.
    pub dedup: Duration,
}

impl Default for ScannerSettings {
    fn default() -> Self {
        ScannerSettings {
            cascade: Cascade::standard(),
            frame_budget: Duration::from_millis(2),
            dedup: Duration::from_millis(2000),
        }
    }
}

/// One code read from the camera.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanEvent {
    /// The code's text (charset already resolved), ready for `scan::parse`.
    pub text: String,
    /// When the frame that held it was captured.
    pub captured: Instant,
    /// From capture to this event being sent.
    pub latency: Duration,
    /// Which step read it ("rxing/as-is", "roi/rxing", "rqrr/otsu", ...).
    pub step: String,
    /// The frame's sequence number as submitted.
    pub frame: u64,
}

/// Counters since the scanner started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScannerStats {
    pub frames_submitted: u64,
    pub frames_decoded: u64,
    /// Replaced by a newer frame before the decoder got to them.
    pub frames_dropped: u64,
    /// Engine panics contained (each costs at most one step of one frame).
    pub engine_panics: u64,
    pub reads: u64,
    /// Reads not emitted because the same text was seen within the dedup window.
    pub duplicates: u64,
}

struct Slot {
    state: Mutex<SlotState>,
    wake: Condvar,
}

#[derive(Default)]
struct SlotState {
    frame: Option<(GrayImage, Instant, u64)>,
    next_seq: u64,
    closed: bool,
    stats: ScannerStats,
}

impl Slot {
    /// A poisoned lock only means another thread panicked while holding it; the state is
    /// plain counters and one frame, still consistent, so carry on with it.
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where a capture loop hands frames to the scanner. Cheap to clone, `Send`.
#[derive(Clone)]
pub struct FrameSink {
    slot: Arc<Slot>,
}

impl FrameSink {
    /// Offer a frame; it replaces any frame the decoder has not started on. Returns `false`
    /// once the scanner has stopped, so a capture loop knows to end.
    pub fn submit(&self, image: GrayImage, captured: Instant) -> bool {
        let mut s = self.slot.lock();
        if s.closed {
            return false;
        }
        s.stats.frames_submitted += 1;
        if s.frame.is_some() {
            s.stats.frames_dropped += 1;
        }
        let seq = s.next_seq;
        s.next_seq += 1;
        s.frame = Some((image, captured, seq));
        drop(s);
        self.slot.wake.notify_one();
        true
    }
}

/// The decoder thread and its output channel. Dropping it stops the thread.
pub struct Scanner {
    slot: Arc<Slot>,
    events: Receiver<ScanEvent>,
    thread: Option<JoinHandle<()>>,
}

impl Scanner {
    pub fn start(settings: ScannerSettings) -> Scanner {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState::default()),
            wake: Condvar::new(),
        });
        let (tx, events) = mpsc::channel();
        let worker = Arc::clone(&slot);
        let thread = std::thread::Builder::new()
            .name("qrpos-scanner".into())
            .spawn(move || decode_loop(&worker, settings, tx))
            .ok();
        if thread.is_none() {
            // Without a thread nothing will ever decode: refuse frames from the start.
            slot.lock().closed = true;
        }
        Scanner {
            slot,
            events,
            thread,
        }
    }

    pub fn sink(&self) -> FrameSink {
        FrameSink {
            slot: Arc::clone(&self.slot),
        }
    }

    /// Shorthand for `self.sink().submit(..)`.
    pub fn submit(&self, image: GrayImage, captured: Instant) -> bool {
        self.sink().submit(image, captured)
    }

    /// De-duplicated reads, in order.
    pub fn events(&self) -> &Receiver<ScanEvent> {
        &self.events
    }

    pub fn stats(&self) -> ScannerStats {
        self.slot.lock().stats
    }

    /// Stop the thread after the frame in hand; returns the final counters.
    pub fn stop(mut self) -> ScannerStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.slot.lock().closed = true;
        self.slot.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn decode_loop(slot: &Slot, settings: ScannerSettings, tx: Sender<ScanEvent>) {
    let mut decoder = FrameDecoder::new(settings.cascade, settings.frame_budget);
    let mut last_seen: HashMap<String, Instant> = HashMap::new();
    loop {
        let (image, captured, seq) = {
            let mut s = slot.lock();
            loop {
                if s.closed {
                    return;
                }
                if let Some(f) = s.frame.take() {
                    break f;
                }
                s = slot.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        };
        let outcome = decoder.decode(&image);
        let now = Instant::now();
        last_seen.retain(|_, seen| now.duration_since(*seen) < settings.dedup);
        let mut fresh = Vec::new();
        let mut duplicates = 0;
        for read in outcome.reads {
            // Each sighting refreshes the window: a code held in view stays one read.
            if last_seen.insert(read.text.clone(), now).is_some() {
                duplicates += 1;
            } else {
                fresh.push(read.text);
            }
        }
        {
            let mut s = slot.lock();
            s.stats.frames_decoded += 1;
            s.stats.engine_panics += u64::from(outcome.panics);
            s.stats.reads += (fresh.len() + duplicates) as u64;
            s.stats.duplicates += duplicates as u64;
        }
        for text in fresh {
            let event = ScanEvent {
                text,
                captured,
                latency: captured.elapsed(),
                step: outcome.step.clone().unwrap_or_default(),
                frame: seq,
            };
            // Nobody listening any more is not an error for the decoder; it stops at close.
            let _ = tx.send(event);
        }
    }
}
