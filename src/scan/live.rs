//! Per-frame decoding for a live camera: the region of interest first, then the cascade's
//! first step on every frame, then the remaining steps in rotation as far as the time
//! budget allows, so a code in view is re-read cheaply and a hard code is still attacked
//! with every preparation over a few frames.
//!
//! The budget is an average on top of the first step: each frame earns `budget` of credit
//! (saved up to [`MAX_CREDIT`]), and a rotation step runs only when the credit covers its
//! measured cost. So most frames cost only the cheap first step, an expensive preparation
//! runs every few frames, and no frame takes longer than the first step plus the credit cap
//! plus one step's first (unmeasured) run. The first step is not charged: if it alone cost
//! more than the budget, the rotation would starve and hard codes never be tried.

use std::time::{Duration, Instant};

use image::GrayImage;

use super::cascade::{Cascade, Outcome};
use super::engine::Bounds;

/// Credit never saved beyond this: keeps any one frame well inside a 30 fps interval.
pub const MAX_CREDIT: Duration = Duration::from_millis(20);

/// Weight of the newest measurement in a step's running cost estimate.
const COST_WEIGHT: f64 = 0.25;

/// Decodes consecutive frames of one camera, remembering where the last code was.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    cascade: Cascade,
    budget: Duration,
    roi: Option<Bounds>,
    /// Offset (into steps 1..) where the next frame's rotation starts.
    cursor: usize,
    /// Running cost estimate per step, for the frame size last seen; `None` until measured.
    cost: Vec<Option<Duration>>,
    frame_size: (u32, u32),
    credit: Duration,
}

impl FrameDecoder {
    pub fn new(cascade: Cascade, budget: Duration) -> FrameDecoder {
        let n = cascade.steps().len();
        FrameDecoder {
            cascade,
            budget,
            roi: None,
            cursor: 0,
            cost: vec![None; n],
            frame_size: (0, 0),
            credit: Duration::ZERO,
        }
    }

    /// Where the last code was read, in frame coordinates.
    pub fn roi(&self) -> Option<Bounds> {
        self.roi
    }

    /// Forget the region of interest (e.g. after a sale is done).
    pub fn reset(&mut self) {
        self.roi = None;
    }

    fn charge(&mut self, rotation_started: Option<Instant>) {
        if let Some(t) = rotation_started {
            self.credit = self.credit.saturating_sub(t.elapsed());
        }
    }

    /// Decode one frame. The first step always runs; another step runs only if the credit
    /// covers its measured cost (an unmeasured step needs a full frame's budget).
    pub fn decode(&mut self, frame: &GrayImage) -> Outcome {
        self.credit = (self.credit + self.budget).min(MAX_CREDIT.max(self.budget));
        if frame.dimensions() != self.frame_size {
            self.frame_size = frame.dimensions();
            self.cost.iter_mut().for_each(|c| *c = None);
            self.roi = None;
        }
        let mut total = Outcome::default();
        if let Some(roi) = self.roi {
            let o = self.cascade.run_roi(frame, roi);
            if !o.reads.is_empty() {
                self.roi = o.reads[0].bounds;
                return o;
            }
            total.panics += o.panics;
            total.steps_run += o.steps_run;
        }
        let n = self.cascade.steps().len();
        if n == 0 {
            return total;
        }
        let rotation: Vec<usize> = std::iter::once(0)
            .chain((0..n - 1).map(|k| 1 + (self.cursor + k) % (n - 1)))
            .collect();
        let mut ran_rotation = 0;
        let mut rotation_started = None;
        for (pos, &i) in rotation.iter().enumerate() {
            let step = &self.cascade.steps()[i];
            if !step.preparation.applies(frame.width(), frame.height()) {
                continue;
            }
            if pos > 0 {
                let spent = rotation_started.get_or_insert_with(Instant::now).elapsed();
                let left = self.credit.saturating_sub(spent);
                let need = self.cost[i].unwrap_or(Duration::ZERO);
                if need > left || left.is_zero() {
                    // Not affordable this frame; the rotation waits here for more credit.
                    break;
                }
                ran_rotation = pos;
            }
            let t = Instant::now();
            let o = self.cascade.run_steps(frame, [i], t, None);
            let spent = t.elapsed();
            self.cost[i] = Some(match self.cost[i] {
                None => spent,
                Some(c) => c.mul_f64(1.0 - COST_WEIGHT) + spent.mul_f64(COST_WEIGHT),
            });
            total.panics += o.panics;
            total.steps_run += o.steps_run;
            if !o.reads.is_empty() {
                self.roi = o.reads[0].bounds;
                total.reads = o.reads;
                total.step = o.step;
                self.charge(rotation_started);
                return total;
            }
        }
        self.charge(rotation_started);
        // Next frame continues the rotation after the last step this frame could afford.
        if n > 1 {
            self.cursor = (self.cursor + ran_rotation) % (n - 1);
        }
        self.roi = None;
        total
    }
}
