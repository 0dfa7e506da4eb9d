//! `qrpos bench ui` (release build): the touchscreen's targets, each measured beside a
//! reference in the same run. Nothing here is asserted; the figures are printed.
//! - cold start: `qrpos run` spawned until its window is on the X display (needs DISPLAY
//!   and xdotool; `make bench-ui` runs it under Xvfb), against `qrpos --version`;
//! - preview: 640×480 frames downscaled into the scan screen and drawn at 800×480 by the
//!   software renderer while the decoder thread works, against the same with no decoder;
//! - first frame: on which frame the decoder reads a code that comes into view;
//! - code in view → approved screen drawn, through the real checkout and the embedded
//!   sandbox, against the bank round trip alone (code read → answer);
//! - resident memory while scanning, against the process before the UI existed.

use super::camera_feed::preview_pixels;
use super::snapshot::Headless;
use super::{App, Pos, Screen};
use crate::scan::{Scanner, ScannerSettings};
use image::{GrayImage, Luma};
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::ComponentHandle;
use std::path::Path;
use std::time::{Duration, Instant};

const W: u32 = 800;
const H: u32 = 480;

/// The figures, for printing as text or JSON.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub cold_start_ms: Option<Stat>,
    pub process_start_ms: Option<Stat>,
    pub cold_start_note: String,
    pub preview_fps_while_decoding: f64,
    pub preview_fps_alone: f64,
    pub frames_until_read: Vec<u64>,
    pub in_view_to_approved_ms: Option<Stat>,
    pub bank_round_trip_ms: Option<Stat>,
    pub rss_while_scanning_mb: f64,
    pub rss_before_ui_mb: f64,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stat {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    pub n: usize,
}

fn stat(mut ms: Vec<f64>) -> Option<Stat> {
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Some(Stat {
        p50: at(0.5),
        p95: at(0.95),
        max: ms[ms.len() - 1],
        n: ms.len(),
    })
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// A 640×480 camera frame: grey, with `code` in the middle if given.
fn frame(code: Option<&GrayImage>) -> GrayImage {
    let mut f = GrayImage::from_pixel(640, 480, Luma([110]));
    if let Some(c) = code {
        image::imageops::overlay(&mut f, c, 200, 120);
    }
    f
}

fn code_image(text: &str) -> Result<GrayImage, String> {
    let c = crate::scan::render(text).map_err(|e| e.to_string())?;
    Ok(image::imageops::resize(
        &c,
        240,
        240,
        image::imageops::FilterType::Nearest,
    ))
}

fn draw(
    window: &MinimalSoftwareWindow,
    buffer: &mut [slint::platform::software_renderer::Rgb565Pixel],
) {
    window.request_redraw();
    window.draw_if_needed(|r| {
        r.render(buffer, W as usize);
    });
}

/// Runs every measurement. `exe` is this binary (for the cold start).
pub async fn run(exe: &Path, trials: usize) -> Result<Report, String> {
    let mut report = Report {
        rss_before_ui_mb: rss_mb(),
        ..Report::default()
    };
    cold_start(exe, trials, &mut report);

    // A new buffer each frame: every pixel is drawn every time (the worst case; a real window
    // redraws only what changed).
    let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    slint::platform::set_platform(Box::new(Headless(window.clone()))).map_err(|e| e.to_string())?;
    window.set_size(slint::PhysicalSize::new(W, H));
    let app = App::new().map_err(|e| e.to_string())?;
    app.show().map_err(|e| e.to_string())?;
    let pos = app.global::<Pos>();
    pos.set_amount_text("₩4,500".into());
    pos.set_seconds_left(60);
    pos.set_screen(Screen::Scan);
    let mut buffer =
        vec![slint::platform::software_renderer::Rgb565Pixel::default(); (W * H) as usize];

    // Preview: each frame downscaled, handed to the screen and drawn, as the UI thread does.
    let code = code_image("QP1:bench-preview-code-in-view")?;
    let frames = [frame(None), frame(Some(&code))];
    let preview =
        |decoder: Option<&Scanner>,
         buffer: &mut [slint::platform::software_renderer::Rgb565Pixel]| {
            let start = Instant::now();
            let mut n = 0u32;
            let mut rss = 0f64;
            while start.elapsed() < Duration::from_secs(3) {
                let f = &frames[(n / 15 % 2) as usize];
                if let Some(s) = decoder {
                    s.submit(f.clone(), Instant::now());
                }
                pos.set_preview(slint::Image::from_rgb8(preview_pixels(f, 320)));
                pos.set_has_preview(true);
                draw(&window, buffer);
                n += 1;
                if n.is_multiple_of(10) {
                    rss = rss.max(rss_mb());
                }
            }
            (f64::from(n) / start.elapsed().as_secs_f64(), rss)
        };
    let (alone, _) = preview(None, &mut buffer);
    let scanner = Scanner::start(ScannerSettings::default());
    let (decoding, rss) = preview(Some(&scanner), &mut buffer);
    drop(scanner);
    report.preview_fps_alone = alone;
    report.preview_fps_while_decoding = decoding;
    report.rss_while_scanning_mb = rss;

    // The first frame with the code in view, at 30 fps, is it read on?
    for trial in 0..trials.min(10) {
        let scanner = Scanner::start(ScannerSettings::default());
        let code = code_image(&format!("QP1:bench-first-frame-{trial}"))?;
        let (blank, shown) = (frame(None), frame(Some(&code)));
        let mut first_in_view = None;
        let mut read = None;
        for i in 0..60u64 {
            let f = if i < 10 { &blank } else { &shown };
            scanner.submit(f.clone(), Instant::now());
            if i == 10 {
                first_in_view = Some(scanner.stats().frames_submitted - 1);
            }
            std::thread::sleep(Duration::from_millis(33));
            if let Ok(e) = scanner.events().try_recv() {
                read = Some(e.frame);
                break;
            }
        }
        if let (Some(f), Some(r)) = (first_in_view, read) {
            report.frames_until_read.push(r.saturating_sub(f));
        }
    }

    #[cfg(feature = "sandbox")]
    {
        let (latency, bank) = in_view_to_approved(trials, &window, &app, &mut buffer).await?;
        report.in_view_to_approved_ms = stat(latency);
        report.bank_round_trip_ms = stat(bank);
    }
    app.hide().map_err(|e| e.to_string())?;
    Ok(report)
}

fn cold_start(exe: &Path, trials: usize, report: &mut Report) {
    use std::process::{Command, Stdio};
    let has = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if std::env::var_os("DISPLAY").is_none() || !has("xdotool") {
        report.cold_start_note =
            "skipped: needs an X display and xdotool (make bench-ui runs it under Xvfb)".into();
        return;
    }
    let mut start_ms = Vec::new();
    let mut version_ms = Vec::new();
    for _ in 0..trials.min(10) {
        let t = Instant::now();
        let _ = Command::new(exe)
            .arg("--version")
            .stdout(Stdio::null())
            .status();
        version_ms.push(t.elapsed().as_secs_f64() * 1e3);

        let Ok(dir) = tempfile_dir() else { continue };
        let t = Instant::now();
        let Ok(mut child) = Command::new(exe)
            .args(["run", "--journal"])
            .arg(&dir)
            .env("QRPOS_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            continue;
        };
        // Blocks until the window is mapped on the display (xdotool waits on X events).
        // (Bounded: if the child died first, the search would wait forever.)
        let shown = Command::new("timeout")
            .args([
                "30",
                "xdotool",
                "search",
                "--sync",
                "--onlyvisible",
                "--pid",
            ])
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if shown {
            start_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
    report.cold_start_ms = stat(start_ms);
    report.process_start_ms = stat(version_ms);
    report.cold_start_note =
        "spawn → window mapped on the X display, embedded sandbox and a new journal".into();
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "qrpos-bench-ui-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Code in view → approved screen drawn, through the real checkout, scanner and the
/// embedded sandbox; and the bank's share of it (code read → answer).
#[cfg(feature = "sandbox")]
async fn in_view_to_approved(
    trials: usize,
    window: &MinimalSoftwareWindow,
    app: &App,
    buffer: &mut [slint::platform::software_renderer::Rgb565Pixel],
) -> Result<(Vec<f64>, Vec<f64>), String> {
    use crate::checkout::{self, Input, Order, Step};
    let dir = tempfile_dir().map_err(|e| e.to_string())?;
    let mut config = crate::config::Config::demo();
    config.terminal.journal_dir = Some(dir.clone());
    let running = crate::setup::start(&config)
        .await
        .map_err(|e| e.to_string())?;
    let terminal = std::sync::Arc::new(running.terminal);
    let (mut latency, mut bank) = (Vec::new(), Vec::new());
    for _ in 0..trials {
        let text = crate::sandbox::issue_code("alice", chrono::Utc::now().timestamp(), 180, false)
            .map_err(|e| e.to_string())?;
        let code = code_image(&text)?;
        let (inputs, mut rx) = tokio::sync::mpsc::channel(16);
        let (steps_tx, mut steps) = tokio::sync::mpsc::unbounded_channel();
        let t = std::sync::Arc::clone(&terminal);
        let order = Order {
            amount: crate::sale::Won(4500),
            product: "bench".into(),
            scan_timeout: Duration::from_secs(30),
        };
        let task = tokio::spawn(async move {
            checkout::run(&t, &order, &mut rx, &mut |s| {
                let _ = steps_tx.send((s, Instant::now()));
            })
            .await
        });
        // The camera: blank frames, then the code, at 30 fps; reads go to the checkout.
        let in_view = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = std::sync::Arc::clone(&in_view);
        let feeder = std::thread::spawn(move || {
            let scanner = Scanner::start(ScannerSettings::default());
            let (blank, shown) = (frame(None), frame(Some(&code)));
            for i in 0..150 {
                let now = Instant::now();
                if i == 10 {
                    *seen.lock().unwrap() = Some(now);
                }
                scanner.submit(if i < 10 { blank.clone() } else { shown.clone() }, now);
                let until = now + Duration::from_millis(33);
                while let Ok(read) = scanner
                    .events()
                    .recv_timeout(until.saturating_duration_since(Instant::now()))
                {
                    if inputs.blocking_send(Input::Read(vec![read.text])).is_err() {
                        return;
                    }
                }
                if inputs.is_closed() {
                    return;
                }
            }
        });
        let mut code_read = None;
        while let Some((step, at)) = steps.recv().await {
            match step {
                Step::CodeRead { .. } => code_read = Some(at),
                Step::Finished(sale) => {
                    let pos = app.global::<Pos>();
                    pos.set_result(super::view::result(&sale));
                    pos.set_screen(Screen::Result);
                    draw(window, buffer);
                    let drawn = Instant::now();
                    if sale.status == crate::sale::Status::Approved {
                        if let Some(seen) = *in_view.lock().unwrap() {
                            latency.push(drawn.duration_since(seen).as_secs_f64() * 1e3);
                        }
                        if let Some(read) = code_read {
                            bank.push(at.duration_since(read).as_secs_f64() * 1e3);
                        }
                    }
                    app.global::<Pos>().set_screen(Screen::Scan);
                    break;
                }
                _ => {}
            }
        }
        let _ = task.await;
        let _ = feeder.join();
    }
    running.embedded.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((latency, bank))
}
