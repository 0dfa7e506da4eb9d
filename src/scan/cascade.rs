//! The decoding cascade: (engine, preparation) steps tried in cost-and-yield order until one
//! reads a code, within an optional time budget, plus the cheap re-read of a region of
//! interest where the last code was.
//!
//! The order of [`Cascade::standard`] is measured, not guessed: `qrpos bench decode` prints
//! which step read each image, and ARCHITECTURE.md ("Scanner") says why this order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use image::GrayImage;

use super::engine::{Bounds, Engine, Read, Rqrr, Rxing, View};
use super::prepare::Preparation;

/// One rung of the cascade.
#[derive(Clone)]
pub struct Step {
    pub engine: Arc<dyn Engine>,
    pub preparation: Preparation,
}

impl Step {
    pub fn new(engine: impl Engine + 'static, preparation: Preparation) -> Step {
        Step {
            engine: Arc::new(engine),
            preparation,
        }
    }

    /// "engine/preparation", as reports print it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.engine.name(), self.preparation.name())
    }

    /// Run this step on `frame`; reads come back in frame coordinates. `None` when the
    /// preparation does not apply to a frame of this size.
    pub fn run(&self, frame: &GrayImage) -> Option<StepOutput> {
        let prepared = self.preparation.apply(frame);
        let (view, scale) = match &prepared {
            Some(p) => (
                View {
                    image: &p.image,
                    binarized: p.binarized,
                },
                p.scale,
            ),
            None if self.preparation == Preparation::AsIs => (
                View {
                    image: frame,
                    binarized: false,
                },
                1.0,
            ),
            None => return None,
        };
        let out = self.engine.read(view);
        let reads = out
            .reads
            .into_iter()
            .map(|r| Read {
                bounds: r.bounds.map(|b| b.unmap(scale, 0.0, 0.0)),
                text: r.text,
            })
            .collect();
        Some(StepOutput {
            reads,
            panicked: out.panicked,
        })
    }
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// What one step produced, positions in frame coordinates.
#[derive(Debug, Clone, Default)]
pub struct StepOutput {
    pub reads: Vec<Read>,
    pub panicked: bool,
}

/// What a cascade run produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The codes read by the first step that read any, in frame coordinates.
    pub reads: Vec<Read>,
    /// The label of that step ("rxing/as-is", "roi/rxing", ...).
    pub step: Option<String>,
    /// Engine panics contained during this run.
    pub panics: u32,
    /// Steps actually run.
    pub steps_run: usize,
    /// Index of the first step not run because the budget ran out (`None`: all were tried
    /// or one read a code).
    pub stopped_at: Option<usize>,
}

/// Engines × preparations in order. Cheap to clone (engines are shared).
#[derive(Debug, Clone)]
pub struct Cascade {
    steps: Vec<Step>,
}

impl Default for Cascade {
    fn default() -> Self {
        Cascade::standard()
    }
}

impl Cascade {
    /// The measured order (`qrpos bench decode`, 179 photos; ARCHITECTURE.md "Scanner"):
    /// rxing with a global black level on the frame reads 159 at ~0.22 ms median, so it
    /// leads; at full resolution it also keeps a code nested in a code. Then rxing with the
    /// local (hybrid) binarizer on a half-size frame (0.13 ms; only if a code was found
    /// there is the full-size frame searched inside it) and on the frame (167 alone): 13
    /// more. Light-on-dark codes come next to last. The rqrr steps and the expensive
    /// up-scales add little on the photos but are insurance for frames unlike them, and
    /// run only after everything cheaper failed.
    pub fn standard() -> Cascade {
        use Preparation::*;
        Cascade::new(vec![
            Step::new(Rxing::global(), AsIs),
            Step::new(Rxing::new(false), Half),
            Step::new(Rxing::new(false), AsIs),
            Step::new(Rxing::single(), AsIs),
            Step::new(Rqrr, LocalMean),
            Step::new(Rxing::new(true), Upscale),
            Step::new(Rxing::new(false), Downscale),
            Step::new(Rqrr, Otsu),
            Step::new(Rqrr, AsIs),
            Step::new(Rqrr, Downscale),
            Step::new(Rqrr, Upscale),
            Step::new(Rqrr, Invert),
            Step::new(Rxing::new(false), Invert),
        ])
    }

    pub fn new(steps: Vec<Step>) -> Cascade {
        Cascade { steps }
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Try the steps from the first, stopping at the first that reads a code, or before a
    /// step once `budget` (if any) has been spent.
    pub fn run(&self, frame: &GrayImage, budget: Option<Duration>) -> Outcome {
        self.run_steps(frame, 0..self.steps.len(), Instant::now(), budget)
    }

    /// Try the steps at `indices` in that order (the scanner's rotating schedule), with the
    /// budget counted from `started`.
    pub fn run_steps(
        &self,
        frame: &GrayImage,
        indices: impl IntoIterator<Item = usize>,
        started: Instant,
        budget: Option<Duration>,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        for i in indices {
            let Some(step) = self.steps.get(i) else {
                continue;
            };
            if budget.is_some_and(|b| outcome.steps_run > 0 && started.elapsed() >= b) {
                outcome.stopped_at = Some(i);
                break;
            }
            let Some(out) = step.run(frame) else {
                continue;
            };
            outcome.steps_run += 1;
            outcome.panics += u32::from(out.panicked);
            if !out.reads.is_empty() {
                outcome.reads = out.reads;
                if step.preparation == Preparation::Half {
                    outcome.panics += self.look_inside(frame, step, &mut outcome.reads);
                }
                outcome.step = Some(step.label());
                break;
            }
        }
        outcome
    }

    /// Half size hides detail: a small code printed inside a big one (a "double QR") is
    /// lost. It can only be inside the big one, so the full-resolution frame is searched
    /// there — a crop, so a code held up at the counter costs little more. Returns panics.
    fn look_inside(&self, frame: &GrayImage, step: &Step, reads: &mut Vec<Read>) -> u32 {
        let Some(b) = reads.iter().filter_map(|r| r.bounds).reduce(Bounds::union) else {
            return 0;
        };
        let Some((x, y, w, h)) = grow_clamped(b, frame.width(), frame.height()) else {
            return 0;
        };
        let crop = image::imageops::crop_imm(frame, x, y, w, h).to_image();
        let out = step.engine.read(View {
            image: &crop,
            binarized: false,
        });
        for r in out.reads {
            if !reads.iter().any(|known| known.text == r.text) {
                reads.push(Read {
                    bounds: r.bounds.map(|b| b.unmap(1.0, x as f32, y as f32)),
                    text: r.text,
                });
            }
        }
        u32::from(out.panicked)
    }

    /// Re-read a code where one was last seen: the first step's engine on a crop of `roi`
    /// grown by half its size each way. Cheap because the crop is small.
    pub fn run_roi(&self, frame: &GrayImage, roi: Bounds) -> Outcome {
        let mut outcome = Outcome::default();
        let Some(step) = self.steps.first() else {
            return outcome;
        };
        let Some((x, y, w, h)) = grow_clamped(roi, frame.width(), frame.height()) else {
            return outcome;
        };
        // A crop that is most of the frame saves nothing over the full first step.
        if u64::from(w) * u64::from(h) * 10
            > u64::from(frame.width()) * u64::from(frame.height()) * 7
        {
            return outcome;
        }
        let crop = image::imageops::crop_imm(frame, x, y, w, h).to_image();
        let out = step.engine.read(View {
            image: &crop,
            binarized: false,
        });
        outcome.steps_run = 1;
        outcome.panics = u32::from(out.panicked);
        if !out.reads.is_empty() {
            outcome.reads = out
                .reads
                .into_iter()
                .map(|r| Read {
                    bounds: r.bounds.map(|b| b.unmap(1.0, x as f32, y as f32)),
                    text: r.text,
                })
                .collect();
            outcome.step = Some(format!("roi/{}", step.engine.name()));
        }
        outcome
    }
}

/// `roi` grown by half its width/height on every side, clamped to the frame, as
/// (x, y, width, height); `None` if nothing of it is inside the frame.
fn grow_clamped(roi: Bounds, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
    let (mw, mh) = ((roi.x1 - roi.x0) / 2.0, (roi.y1 - roi.y0) / 2.0);
    let x0 = (roi.x0 - mw).max(0.0).floor();
    let y0 = (roi.y0 - mh).max(0.0).floor();
    let x1 = (roi.x1 + mw).min(width as f32).ceil();
    let y1 = (roi.y1 + mh).min(height as f32).ceil();
    if !(x1 > x0 && y1 > y0) || x0 >= width as f32 || y0 >= height as f32 {
        return None;
    }
    Some((x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roi_growth_is_clamped() {
        let b = Bounds {
            x0: 100.0,
            y0: 100.0,
            x1: 200.0,
            y1: 160.0,
        };
        assert_eq!(grow_clamped(b, 640, 480), Some((50, 70, 200, 120)));
        let edge = Bounds {
            x0: 600.0,
            y0: 0.0,
            x1: 700.0,
            y1: 50.0,
        };
        assert_eq!(grow_clamped(edge, 640, 480), Some((550, 0, 90, 75)));
        let outside = Bounds {
            x0: 900.0,
            y0: 900.0,
            x1: 950.0,
            y1: 950.0,
        };
        assert_eq!(grow_clamped(outside, 640, 480), None);
    }
}
