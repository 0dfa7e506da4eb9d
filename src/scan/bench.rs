//! `qrpos bench decode`: the scanner measured on labelled photos (every image with a
//! `NAME.txt` beside it) and on camera-sized frames, against zxing-cpp and zbar run in the
//! same process tree on the same greyscale pixels.
//!
//! Decode times cover the decoder call only (image already greyscale in memory), as the
//! reference figures in `qr-samples/README.md` do. The references run through
//! `benches/reference_decoders.py` (embedded here), in `$QRPOS_PYTHON`, else `./.venv`,
//! else `python3`; a missing tool is reported and skipped.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use image::{GrayImage, Luma};
use serde_json::{json, Value};

use super::cascade::Cascade;
use super::live::FrameDecoder;

const REFERENCE_SCRIPT: &str = include_str!("../../benches/reference_decoders.py");
const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "webp", "gif"];

/// One labelled image, already greyscale.
struct Sample {
    folder: String,
    name: String,
    expected: String,
    image: GrayImage,
}

/// Tally of a decoder over a set of images.
#[derive(Debug, Clone, Default)]
struct Tally {
    images: usize,
    correct: usize,
    wrong: usize,
    missed: usize,
    panics: usize,
    ms: Vec<f64>,
}

impl Tally {
    fn add(&mut self, expected: &str, texts: &[String], panicked: bool, ms: f64) {
        self.images += 1;
        if texts.iter().any(|t| t == expected) {
            self.correct += 1;
        } else if texts.is_empty() {
            self.missed += 1;
        } else {
            self.wrong += 1;
        }
        self.panics += usize::from(panicked);
        self.ms.push(ms);
    }

    fn json(&self) -> Value {
        json!({
            "images": self.images, "correct": self.correct, "wrong": self.wrong,
            "missed": self.missed, "panics": self.panics,
            "median_ms": round3(percentile(&self.ms, 0.5)),
            "p95_ms": round3(percentile(&self.ms, 0.95)),
        })
    }
}

/// The result of the first run and the fastest of `runs` timings, in ms.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let t = Instant::now();
    let first = f();
    let mut best = ms_since(t);
    for _ in 1..runs {
        let t = Instant::now();
        let _ = f();
        best = best.min(ms_since(t));
    }
    (first, best)
}

fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub dirs: Vec<PathBuf>,
    /// Per-frame budget of the live path (the `[scan] frame_budget_ms` setting).
    pub frame_budget: Duration,
    /// Also run every cascade step alone over every image (the yield table).
    pub per_step: bool,
    /// Also run zxing-cpp and zbar.
    pub references: bool,
}

/// Run the benchmark; the report is JSON-shaped so `--json` and the text view share it.
pub fn run(opts: &BenchOptions) -> Result<Value, String> {
    let samples = load_samples(&opts.dirs)?;
    if samples.is_empty() {
        return Err("no image with a NAME.txt beside it in the given folders".into());
    }
    let cascade = Cascade::standard();

    // The scanner, image by image.
    let mut per_folder: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    let mut read_by: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for s in &samples {
        // Best of three, as the reference script times its decoders: one scheduling hiccup
        // must not move either median.
        let (outcome, ms) = best_of(3, || cascade.run(&s.image, None));
        let texts: Vec<String> = outcome.reads.iter().map(|r| r.text.clone()).collect();
        let panicked = outcome.panics > 0;
        per_folder
            .entry(s.folder.clone())
            .or_default()
            .add(&s.expected, &texts, panicked, ms);
        total.add(&s.expected, &texts, panicked, ms);
        if texts.contains(&s.expected) {
            *read_by.entry(outcome.step.unwrap_or_default()).or_default() += 1;
        } else {
            failures.push(json!({
                "image": format!("{}/{}", s.folder, s.name),
                "got": texts,
            }));
        }
    }

    let per_step = if opts.per_step {
        cascade
            .steps()
            .iter()
            .map(|step| {
                let mut tally = Tally::default();
                for s in &samples {
                    let t = Instant::now();
                    let out = step.run(&s.image).unwrap_or_default();
                    let ms = ms_since(t);
                    let texts: Vec<String> = out.reads.into_iter().map(|r| r.text).collect();
                    tally.add(&s.expected, &texts, out.panicked, ms);
                }
                json!({ "step": step.label(), "alone": tally.json() })
            })
            .collect()
    } else {
        Vec::new()
    };

    let frames = frame_timings(&cascade, opts.frame_budget);
    let latency = camera_latency(&cascade, opts.frame_budget);

    let references = if opts.references {
        run_references(&samples)
    } else {
        Vec::new()
    };
    let ours_median = percentile(&total.ms, 0.5);
    let references: Vec<Value> = references
        .into_iter()
        .map(|mut r| {
            if let Some(m) = r["median_ms"].as_f64() {
                if m > 0.0 {
                    r["qrpos_median_over_this"] = json!(round3(ours_median / m));
                }
            }
            r
        })
        .collect();

    Ok(json!({
        "scanner": {
            "folders": per_folder.iter().map(|(f, t)| (f.clone(), t.json())).collect::<serde_json::Map<_, _>>(),
            "total": total.json(),
            "read_by_step": read_by,
            "not_correct": failures,
        },
        "steps_alone": per_step,
        "frames": frames,
        "camera_30fps": latency,
        "frame_budget_ms": opts.frame_budget.as_secs_f64() * 1000.0,
        "references": references,
    }))
}

fn load_samples(dirs: &[PathBuf]) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    // A shell glob over a samples folder also matches its README: only folders count.
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        let folder = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        for path in paths {
            let is_image = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            let Ok(expected) = std::fs::read_to_string(path.with_extension("txt")) else {
                continue;
            };
            if !is_image {
                continue;
            }
            let image = image::open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .to_luma8();
            samples.push(Sample {
                folder: folder.clone(),
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                expected,
                image,
            });
        }
    }
    Ok(samples)
}

/// A camera-like scene without a code: gradient, texture and a few hard edges, so the
/// finder-pattern search has something to reject (a flat frame would flatter us).
pub fn scene(width: u32, height: u32) -> GrayImage {
    let mut state: u32 = 0x2545_f491;
    GrayImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 24) as i32 - 12;
        let base = 60 + (x * 120 / width.max(1)) as i32 + (y * 40 / height.max(1)) as i32;
        let edge = if (x / 97 + y / 61) % 3 == 0 { 50 } else { 0 };
        Luma([(base + noise + edge).clamp(0, 255) as u8])
    })
}

/// [`scene`] with a QR code of `text` (4-pixel modules) pasted in the middle.
pub fn scene_with_code(width: u32, height: u32, text: &str) -> GrayImage {
    let mut frame = scene(width, height);
    if let Ok(code) = qrcode::QrCode::new(text) {
        let img = code
            .render::<Luma<u8>>()
            .module_dimensions(4, 4)
            .quiet_zone(true)
            .build();
        let x = i64::from(width.saturating_sub(img.width()) / 2);
        let y = i64::from(height.saturating_sub(img.height()) / 2);
        image::imageops::overlay(&mut frame, &img, x, y);
    }
    frame
}

fn median_ms(runs: usize, mut f: impl FnMut() -> bool) -> (f64, bool) {
    let mut ms: Vec<f64> = Vec::with_capacity(runs);
    let mut all_ok = true;
    for _ in 0..runs {
        let t = Instant::now();
        all_ok &= f();
        ms.push(ms_since(t));
    }
    (round3(percentile(&ms, 0.5)), all_ok)
}

/// The scanner thread fed like a 30 fps camera: frames without a code, then a phone comes
/// into view. Latency is from the frame's capture to the read event; the scanner keeps up
/// if no frame had to be dropped and the latency stays under one frame interval (33.3 ms).
fn camera_latency(cascade: &Cascade, budget: Duration) -> Vec<Value> {
    use super::scanner::{Scanner, ScannerSettings};
    const INTERVAL: Duration = Duration::from_nanos(1_000_000_000 / 30);
    const TRIALS: usize = 8;
    [(640, 480), (1280, 720)]
        .into_iter()
        .map(|(w, h)| {
            let empty = scene(w, h);
            let scanner = Scanner::start(ScannerSettings {
                cascade: cascade.clone(),
                frame_budget: budget,
                dedup: Duration::from_millis(2000),
            });
            let mut latencies = Vec::new();
            let mut frames_until_read = Vec::new();
            let mut next = Instant::now();
            for trial in 0..TRIALS {
                let coded = scene_with_code(w, h, &format!("QP1 latency trial {trial}"));
                // Ten empty frames, then the code stays in view until it is read (≤ 30 frames).
                for n in 0..40 {
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    next += INTERVAL;
                    let frame = if n < 10 { empty.clone() } else { coded.clone() };
                    scanner.submit(frame, Instant::now());
                    if n >= 10 {
                        if let Ok(ev) = scanner.events().recv_timeout(INTERVAL.saturating_sub(Duration::from_millis(1))) {
                            latencies.push(ev.latency.as_secs_f64() * 1000.0);
                            frames_until_read.push((n - 9) as f64);
                            break;
                        }
                    }
                }
            }
            let stats = scanner.stop();
            json!({
                "frame": format!("{w}x{h}"),
                "reads": latencies.len(),
                "trials": TRIALS,
                "latency_median_ms": round3(percentile(&latencies, 0.5)),
                "latency_max_ms": round3(latencies.iter().cloned().fold(0.0, f64::max)),
                "frames_until_read_max": frames_until_read.iter().cloned().fold(0.0, f64::max),
                "frames_submitted": stats.frames_submitted,
                "frames_dropped": stats.frames_dropped,
                "keeps_up": stats.frames_dropped == 0 && latencies.iter().all(|l| *l <= INTERVAL.as_secs_f64() * 1000.0),
            })
        })
        .collect()
}

/// Live-path cost per frame: no code in view (steady state of the rotation), a code seen
/// for the first time, a code that was in view the frame before (ROI hit); and the full
/// cascade on the empty frame, which is what a still image without a code costs.
fn frame_timings(cascade: &Cascade, budget: Duration) -> Vec<Value> {
    const TEXT: &str = "QP1 bench frame 0123456789";
    let runs = 30;
    [(640, 480), (1280, 720), (1920, 1080)]
        .into_iter()
        .map(|(w, h)| {
            let empty = scene(w, h);
            let coded = scene_with_code(w, h, TEXT);
            let mut live = FrameDecoder::new(cascade.clone(), budget);
            // Warm up the cost estimates, as a camera does in its first frames.
            for _ in 0..cascade.steps().len() * 2 {
                live.decode(&empty);
            }
            let (no_code, _) = median_ms(runs, || live.decode(&empty).reads.is_empty());
            let (first_sight, first_ok) = median_ms(runs, || {
                live.reset();
                live.decode(&coded).reads.iter().any(|r| r.text == TEXT)
            });
            live.decode(&coded);
            let mut roi_steps = Vec::new();
            let (roi_hit, roi_ok) = median_ms(runs, || {
                let o = live.decode(&coded);
                roi_steps.push(o.step.clone().unwrap_or_default());
                o.reads.iter().any(|r| r.text == TEXT)
            });
            let (full_empty, _) = median_ms(5, || cascade.run(&empty, None).reads.is_empty());
            let (first_step_empty, _) = median_ms(runs, || {
                cascade
                    .run_steps(&empty, [0], Instant::now(), None)
                    .reads
                    .is_empty()
            });
            json!({
                "frame": format!("{w}x{h}"),
                "no_code_ms": no_code,
                "code_first_sight_ms": first_sight, "code_first_sight_read": first_ok,
                "roi_hit_ms": roi_hit, "roi_hit_read": roi_ok,
                "roi_hit_step": roi_steps.first().cloned().unwrap_or_default(),
                "full_cascade_no_code_ms": full_empty,
                "first_step_no_code_ms": first_step_empty,
            })
        })
        .collect()
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("QRPOS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(".venv/bin/python");
    if venv.exists() {
        return venv.to_path_buf();
    }
    PathBuf::from("python3")
}

fn run_references(samples: &[Sample]) -> Vec<Value> {
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => return vec![json!({ "decoder": "references", "missing": e })],
    };
    let written: Result<(), std::io::Error> = samples.iter().enumerate().try_for_each(|(i, s)| {
        let mut f = std::fs::File::create(dir.join(format!("{i:05}.pgm")))?;
        write!(f, "P5\n{} {}\n255\n", s.image.width(), s.image.height())?;
        f.write_all(s.image.as_raw())
    });
    let output = written.and_then(|()| {
        Command::new(python())
            .arg("-c")
            .arg(REFERENCE_SCRIPT)
            .arg(&dir)
            .output()
    });
    let _ = std::fs::remove_dir_all(&dir);
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            return vec![
                json!({ "decoder": "references", "missing": String::from_utf8_lossy(&o.stderr).trim().to_string() }),
            ]
        }
        Err(e) => {
            return vec![json!({ "decoder": "references", "missing": format!("python: {e}") })]
        }
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|r| {
            let Some(results) = r["results"].as_array() else {
                return r;
            };
            let mut tally = Tally::default();
            for (s, res) in samples.iter().zip(results) {
                let texts: Vec<String> = res["texts"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                tally.add(
                    &s.expected,
                    &texts,
                    false,
                    res["ms"].as_f64().unwrap_or(0.0),
                );
            }
            let mut v = tally.json();
            v["decoder"] = r["decoder"].clone();
            v
        })
        .collect()
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("qrpos-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// The report as a person reads it.
pub fn print_text(report: &Value) {
    let row = |name: &str, t: &Value| {
        let n = |k: &str| t[k].as_u64().unwrap_or(0);
        println!(
            "{name:<26} {:>6} {:>8} {:>6} {:>7} {:>7} {:>10.3} {:>8.3}",
            n("images"),
            n("correct"),
            n("wrong"),
            n("missed"),
            n("panics"),
            t["median_ms"].as_f64().unwrap_or(0.0),
            t["p95_ms"].as_f64().unwrap_or(0.0)
        )
    };
    let header = || {
        println!(
            "{:<26} {:>6} {:>8} {:>6} {:>7} {:>7} {:>10} {:>8}",
            "", "images", "correct", "wrong", "missed", "panics", "median ms", "p95 ms"
        )
    };
    println!("qrpos scanner (full cascade per image)");
    header();
    if let Some(folders) = report["scanner"]["folders"].as_object() {
        for (f, t) in folders {
            row(f, t);
        }
    }
    row("TOTAL", &report["scanner"]["total"]);
    println!("\nread by step: {}", report["scanner"]["read_by_step"]);
    if let Some(list) = report["scanner"]["not_correct"].as_array() {
        for f in list {
            println!("  not read: {} got {}", f["image"], f["got"]);
        }
    }
    if let Some(steps) = report["steps_alone"].as_array() {
        if !steps.is_empty() {
            println!("\neach step alone over every image");
            header();
            for s in steps {
                row(s["step"].as_str().unwrap_or("?"), &s["alone"]);
            }
        }
    }
    println!(
        "\nlive frames (budget {} ms), median ms per frame",
        report["frame_budget_ms"]
    );
    println!(
        "{:<10} {:>8} {:>12} {:>8} {:>22} {:>12}",
        "frame", "no code", "first sight", "ROI hit", "full cascade, no code", "step 1 only"
    );
    if let Some(frames) = report["frames"].as_array() {
        for f in frames {
            println!(
                "{:<10} {:>8} {:>12} {:>8} {:>22} {:>12}   (read: first {}, roi {} via {})",
                f["frame"].as_str().unwrap_or("?"),
                f["no_code_ms"].to_string(),
                f["code_first_sight_ms"].to_string(),
                f["roi_hit_ms"].to_string(),
                f["full_cascade_no_code_ms"].to_string(),
                f["first_step_no_code_ms"].to_string(),
                f["code_first_sight_read"],
                f["roi_hit_read"],
                f["roi_hit_step"]
            );
        }
    }
    if let Some(runs) = report["camera_30fps"].as_array() {
        println!("\nscanner thread fed at 30 fps (one frame = 33.3 ms): capture → read");
        for r in runs {
            println!(
                "{:<10} reads {}/{}  latency median {} ms, max {} ms  frames until read ≤ {}  dropped {}/{}  keeps up: {}",
                r["frame"].as_str().unwrap_or("?"),
                r["reads"],
                r["trials"],
                r["latency_median_ms"],
                r["latency_max_ms"],
                r["frames_until_read_max"],
                r["frames_dropped"],
                r["frames_submitted"],
                r["keeps_up"]
            );
        }
    }
    if let Some(refs) = report["references"].as_array() {
        if !refs.is_empty() {
            println!("\nreferences, same images, decoder call only");
            header();
            for r in refs {
                let name = r["decoder"].as_str().unwrap_or("?");
                match r["missing"].as_str() {
                    Some(why) => println!("{name}: not installed ({why})"),
                    None => {
                        row(name, r);
                        println!(
                            "{:<26} qrpos median / {name} median = {}",
                            "", r["qrpos_median_over_this"]
                        );
                    }
                }
            }
        }
    }
}
