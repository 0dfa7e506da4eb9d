//! The scanner on generated images: every damage class a counter camera sees must decode
//! (asserted on the text), a panicking engine must not stop the pipeline, and a replayed
//! folder of frames must flow through the decoder thread into a paid sale.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::{GrayImage, Luma};
use imageproc::geometric_transformations::{rotate_about_center, warp, Interpolation, Projection};
use qrpos::camera::{self, CameraError, Frame, FrameSource, Reconnecting, ReplaySource};
use qrpos::scan::engine::{EngineOutput, View};
use qrpos::scan::{
    decode_luma, Cascade, Engine, Preparation, Rxing, Scanner, ScannerSettings, Step,
};

const TEXT: &str = "QP1 damage test 4500";

fn code(text: &str, module: u32) -> GrayImage {
    qrcode::QrCode::new(text)
        .unwrap()
        .render::<Luma<u8>>()
        .module_dimensions(module, module)
        .build()
}

/// `img` pasted in the middle of a light-grey frame of `w`×`h`.
fn in_frame(img: &GrayImage, w: u32, h: u32) -> GrayImage {
    let mut frame = GrayImage::from_pixel(w, h, Luma([200]));
    let x = i64::from(w.saturating_sub(img.width()) / 2);
    let y = i64::from(h.saturating_sub(img.height()) / 2);
    image::imageops::overlay(&mut frame, img, x, y);
    frame
}

fn assert_reads(img: &GrayImage, class: &str) {
    match decode_luma(img) {
        Ok(texts) => assert!(
            texts.iter().any(|t| t == TEXT),
            "{class}: read {texts:?}, not {TEXT:?}"
        ),
        Err(e) => panic!("{class}: {e}"),
    }
}

#[test]
fn perspective_tilt_up_to_40_degrees() {
    let img = in_frame(&code(TEXT, 5), 320, 320);
    let (w, h) = (320.0, 320.0);
    // The top edge seen 40° away: shortened by cos 40° and pulled in towards the middle.
    let squeeze = w * (1.0 - 40f32.to_radians().cos()) / 2.0;
    let from = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let to = [(squeeze, 30.0), (w - squeeze, 30.0), (w, h), (0.0, h)];
    let p = Projection::from_control_points(from, to).unwrap();
    let tilted = warp(&img, &p, Interpolation::Bilinear, Luma([200]));
    assert_reads(&tilted, "tilt 40°");
}

#[test]
fn rotation_at_any_angle() {
    let img = in_frame(&code(TEXT, 4), 300, 300);
    for degrees in [17.0f32, 45.0, 133.0, 260.0] {
        let r = rotate_about_center(
            &img,
            degrees.to_radians(),
            Interpolation::Bilinear,
            Luma([200]),
        );
        assert_reads(&r, &format!("rotated {degrees}°"));
    }
}

#[test]
fn blur() {
    let img = in_frame(&code(TEXT, 5), 260, 260);
    assert_reads(&imageproc::filter::gaussian_blur_f32(&img, 1.8), "blur");
}

#[test]
fn sensor_noise() {
    let img = in_frame(&code(TEXT, 5), 260, 260);
    assert_reads(
        &imageproc::noise::gaussian_noise(&img, 0.0, 30.0, 7),
        "noise",
    );
}

#[test]
fn low_contrast() {
    let mut img = in_frame(&code(TEXT, 5), 260, 260);
    // Black and white become two greys 30 levels apart.
    img.pixels_mut()
        .for_each(|p| p.0[0] = 110 + (u16::from(p.0[0]) * 30 / 255) as u8);
    assert_reads(&img, "low contrast");
}

#[test]
fn glare_blob() {
    let mut img = in_frame(&code(TEXT, 6), 300, 300);
    let (cx, cy, r) = (190.0f32, 110.0f32, 55.0f32);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
        if d < r {
            // Washed towards white, strongest in the middle, as a lamp on a phone screen.
            let k = 1.0 - d / r;
            let v = f32::from(p.0[0]);
            p.0[0] = (v + (255.0 - v) * 0.75 * k) as u8;
        }
    }
    assert_reads(&img, "glare");
}

#[test]
fn phone_screen_pixel_grid() {
    let mut img = in_frame(&code(TEXT, 7), 320, 320);
    // The sub-pixel grid of a phone screen photographed close: dark lines every 3 px that
    // beat against the 7-px modules (moiré).
    for (x, y, p) in img.enumerate_pixels_mut() {
        if x % 3 == 0 || y % 3 == 0 {
            p.0[0] = (f32::from(p.0[0]) * 0.55) as u8;
        }
    }
    let img = image::imageops::resize(&img, 250, 250, image::imageops::FilterType::Triangle);
    assert_reads(&img, "screen grid");
}

#[test]
fn inverted() {
    let mut img = in_frame(&code(TEXT, 4), 200, 200);
    image::imageops::invert(&mut img);
    assert_reads(&img, "inverted");
}

#[test]
fn small_modules() {
    assert_reads(&in_frame(&code(TEXT, 2), 160, 120), "2-px modules");
}

#[test]
fn large_frame() {
    assert_reads(&in_frame(&code(TEXT, 8), 1920, 1080), "1920x1080");
}

#[test]
fn non_utf8_payload_is_kept() {
    // Shift_JIS bytes in byte mode: the text must come back as Unicode, not be dropped.
    let sjis = [0x83u8, 0x52, 0x81, 0x5B, 0x83, 0x68]; // "コード"
    let img = qrcode::QrCode::new(sjis)
        .unwrap()
        .render::<Luma<u8>>()
        .module_dimensions(4, 4)
        .build();
    assert_eq!(decode_luma(&img).unwrap(), vec!["コード"]);
}

/// An engine that crashes on every image: what rqrr issue #54 does on some real frames.
struct Crashing(Arc<AtomicU32>);

impl Engine for Crashing {
    fn name(&self) -> &'static str {
        "crashing"
    }
    fn read(&self, view: View<'_>) -> EngineOutput {
        self.0.fetch_add(1, Ordering::SeqCst);
        // Contained the way the real adapters contain their engines.
        let crashed = std::panic::catch_unwind(|| {
            if view.image.width() > 0 {
                panic!("engine bug on this frame");
            }
        });
        EngineOutput {
            reads: Vec::new(),
            panicked: crashed.is_err(),
        }
    }
}

#[test]
fn a_panicking_engine_costs_a_step_not_the_pipeline() {
    let calls = Arc::new(AtomicU32::new(0));
    let cascade = Cascade::new(vec![
        Step::new(Crashing(Arc::clone(&calls)), Preparation::AsIs),
        Step::new(Rxing::new(false), Preparation::AsIs),
    ]);
    let scanner = Scanner::start(ScannerSettings {
        cascade,
        frame_budget: Duration::from_millis(1000),
        dedup: Duration::from_millis(2000),
    });
    scanner.submit(in_frame(&code(TEXT, 4), 200, 200), Instant::now());
    let event = scanner
        .events()
        .recv_timeout(Duration::from_secs(20))
        .expect("the pipeline survived and read the code");
    assert_eq!(event.text, TEXT);
    let stats = scanner.stop();
    assert!(stats.engine_panics >= 1, "{stats:?}");
    assert!(calls.load(Ordering::SeqCst) >= 1);
}

/// A real image on which rqrr 0.11 panics (`assert!` in its perspective mapping, the
/// rqrr #54 class), found by fuzzing rqrr with damaged codes.
fn rqrr_panic_image() -> GrayImage {
    image::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rqrr-panic.png"
    ))
    .unwrap()
    .to_luma8()
}

#[test]
fn a_real_rqrr_panic_is_contained_and_the_next_frame_still_reads() {
    let frame = rqrr_panic_image();
    // The fixture really does panic rqrr: if rqrr ever fixes this, the test says so.
    let out = qrpos::scan::engine::Rqrr.read(View {
        image: &frame,
        binarized: false,
    });
    assert!(out.panicked, "rqrr no longer panics on the fixture");

    // Stills: a defined error, not a crash.
    assert!(decode_luma(&frame).is_err());

    // Live: the standard pipeline survives it and reads the next frame's code.
    let scanner = Scanner::start(ScannerSettings {
        cascade: Cascade::standard(),
        // A budget big enough that the rqrr steps run on the panicking frame.
        frame_budget: Duration::from_millis(1000),
        dedup: Duration::from_millis(2000),
    });
    scanner.submit(frame.clone(), Instant::now());
    let deadline = Instant::now() + Duration::from_secs(30);
    while scanner.stats().frames_decoded < 1 && Instant::now() < deadline {
        std::thread::park_timeout(Duration::from_millis(5));
    }
    scanner.submit(in_frame(&code(TEXT, 4), 300, 300), Instant::now());
    let event = scanner
        .events()
        .recv_timeout(Duration::from_secs(30))
        .expect("the pipeline survived");
    assert_eq!(event.text, TEXT);
    let stats = scanner.stop();
    assert!(
        stats.engine_panics >= 1,
        "the rqrr panic was counted: {stats:?}"
    );
}

#[test]
fn replayed_frames_become_one_deduplicated_read() {
    let dir = tempfile::tempdir().unwrap();
    let blank = GrayImage::from_pixel(320, 240, Luma([190]));
    let coded = in_frame(&code(TEXT, 3), 320, 240);
    for (i, img) in [&blank, &coded, &coded, &coded, &blank].iter().enumerate() {
        img.save(dir.path().join(format!("{i:03}.png"))).unwrap();
    }
    let scanner = Scanner::start(ScannerSettings::default());
    let sink = scanner.sink();
    let mut source = ReplaySource::open(dir.path(), 30, false).unwrap();
    let ended = camera::pump(&mut source, |f| sink.submit(f.image, f.captured), |_| {});
    assert_eq!(ended, Err(CameraError::Ended));
    let event = scanner
        .events()
        .recv_timeout(Duration::from_secs(20))
        .expect("a read");
    assert_eq!(event.text, TEXT);
    // The same code in the following frames is the same read (dedup window 2 s).
    assert!(scanner
        .events()
        .recv_timeout(Duration::from_millis(300))
        .is_err());
    let stats = scanner.stop();
    assert_eq!(stats.frames_submitted, 5);
    assert_eq!(stats.frames_decoded + stats.frames_dropped, 5, "{stats:?}");
}

/// A source that fails like an unplugged camera after a few frames.
struct Unplugged {
    inner: ReplaySource,
    frames_left: u32,
}

impl FrameSource for Unplugged {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        if self.frames_left == 0 {
            return Err(CameraError::Disconnected("/dev/video9".into()));
        }
        self.frames_left -= 1;
        self.inner.next_frame()
    }
    fn describe(&self) -> String {
        "unplugged test camera".into()
    }
}

#[test]
fn an_unplugged_source_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.png");
    code(TEXT, 3).save(&path).unwrap();
    let opens = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&opens);
    let reopen_path = path.clone();
    let first = Unplugged {
        inner: ReplaySource::open(&path, 1000, true).unwrap(),
        frames_left: 2,
    };
    let mut source = Reconnecting::new(
        Box::new(first),
        move || {
            // The first attempt finds the device still gone; the second finds it back.
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(CameraError::NoCamera("/dev/video9".into()));
            }
            Ok(Box::new(Unplugged {
                inner: ReplaySource::open(&reopen_path, 1000, true)?,
                frames_left: 1,
            }) as Box<dyn FrameSource>)
        },
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(match source.next_frame() {
            Ok(_) => "frame".to_string(),
            Err(e) => format!("{e:?}").split('(').next().unwrap().to_string(),
        });
    }
    assert_eq!(
        seen,
        [
            "frame",
            "frame",
            "Disconnected",
            "NoCamera",
            "frame",
            "Disconnected"
        ]
    );
    assert_eq!(source.reconnects(), 1);
}

#[test]
fn replay_to_scanner_to_a_paid_sale() {
    let sandbox = common::Sandbox::start();
    let t = common::Terminal::new(&sandbox.url);
    let code_png = t.code("alice", &[]);
    let dir = tempfile::tempdir().unwrap();
    let code_img = image::open(&code_png).unwrap().to_luma8();
    let (w, h) = (code_img.width() + 160, code_img.height() + 120);
    GrayImage::from_pixel(w, h, Luma([180]))
        .save(dir.path().join("000.png"))
        .unwrap();
    in_frame(&code_img, w, h)
        .save(dir.path().join("001.png"))
        .unwrap();

    let scanner = Scanner::start(ScannerSettings::default());
    let sink = scanner.sink();
    let mut source = ReplaySource::open(dir.path(), 30, true).unwrap();
    let capture = std::thread::spawn(move || {
        let _ = camera::pump(&mut source, |f| sink.submit(f.image, f.captured), |_| {});
    });
    let event = scanner
        .events()
        .recv_timeout(Duration::from_secs(30))
        .expect("the replayed code was read");
    let stats = scanner.stop(); // the capture loop ends when the sink refuses frames
    capture.join().unwrap();
    assert!(event.text.starts_with("QP1"), "{:?}", event.text);
    assert_eq!(stats.engine_panics, 0);

    // The frame the scanner read is what the sale is paid with.
    let frame = dir.path().join("001.png");
    let (exit, sale) = t.pay(4500, &frame);
    assert_eq!(exit, 0, "{sale}");
    assert_eq!(sale["status"], "approved");
    assert_eq!(sandbox.committed(sale["bank_tran_id"].as_str().unwrap()), 1);
}
