//! `qrpos ui snapshot`: every screen in every state, drawn by the software renderer into
//! PNG files, with no display. The states are made from sample sales through the same
//! [`view`](super::view) functions the counter uses; no backend, camera or journal.

use super::{view, App, Diagnostics, Light, PinStep, Pos, Reason, Screen};
use crate::sale::{PaymentMeans, Protocol, Sale, Status, Transition, Won};
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The sizes of `--sizes` by default: the Pi's 800×480 panel first, then 1280×720.
pub const SIZES: [(u32, u32); 2] = [(800, 480), (1280, 720)];

/// A platform with one window drawn into memory (also `qrpos bench ui`'s).
pub(super) struct Headless(pub(super) Rc<MinimalSoftwareWindow>);

impl Platform for Headless {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.0.clone())
    }
}

/// One screen in one state.
pub struct Shot {
    pub name: &'static str,
    set: fn(&Pos),
}

/// Renders every [`shots`] state at each size and language into `out/<w>x<h>/<lang>/`.
/// Returns the files written. Installs its own headless platform: call it once, in a
/// process that has not opened a window.
pub fn render_all(
    out: &Path,
    sizes: &[(u32, u32)],
    languages: &[&str],
) -> Result<Vec<PathBuf>, String> {
    let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    slint::platform::set_platform(Box::new(Headless(window.clone())))
        .map_err(|e| format!("cannot install the headless renderer: {e}"))?;
    let app = App::new().map_err(|e| e.to_string())?;
    app.show().map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    for &(w, h) in sizes {
        window.set_size(PhysicalSize::new(w, h));
        for lang in languages {
            slint::select_bundled_translation(if *lang == "en" { "" } else { lang })
                .map_err(|e| format!("language {lang}: {e}"))?;
            let dir = out.join(format!("{w}x{h}")).join(lang);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for shot in shots() {
                let pos = app.global::<Pos>();
                base(&pos);
                (shot.set)(&pos);
                let file = dir.join(format!("{}.png", shot.name));
                save(&draw(&window, w, h), w, h, &file)?;
                written.push(file);
            }
        }
    }
    app.hide().map_err(|e| e.to_string())?;
    Ok(written)
}

/// One frame of the window as RGB bytes.
fn draw(window: &MinimalSoftwareWindow, w: u32, h: u32) -> Vec<slint::Rgb8Pixel> {
    let mut buffer = vec![slint::Rgb8Pixel::default(); (w * h) as usize];
    // Layout and bindings settle on the first pass; the second draws what they settled to.
    for _ in 0..2 {
        window.request_redraw();
        window.draw_if_needed(|renderer| {
            renderer.render(&mut buffer, w as usize);
        });
    }
    buffer
}

fn save(pixels: &[slint::Rgb8Pixel], w: u32, h: u32, file: &Path) -> Result<(), String> {
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
    image::RgbImage::from_raw(w, h, bytes)
        .ok_or("the frame has the wrong size")?
        .save(file)
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// The status bar and idle defaults every shot starts from.
fn base(pos: &Pos) {
    pos.set_merchant("카페 큐알 · qrpos demo shop".into());
    pos.set_online(true);
    pos.set_queued_count(0);
    pos.set_clock("14:05".into());
    pos.set_signal_on_screen(true);
    pos.set_light(Light::Off);
    pos.set_tone(false);
    pos.set_has_last_sale(false);
    pos.set_unlocked(false);
    pos.set_show_detail(false);
    pos.set_scan_note(Reason::None);
    pos.set_camera_problem("".into());
    pos.set_has_preview(false);
    pos.set_max_amount(Won(1_000_000).to_string().into());
    let products: Vec<slint::SharedString> =
        vec!["아메리카노".into(), "카페라테".into(), "케이크".into()];
    pos.set_products(slint::ModelRc::new(slint::VecModel::from(products)));
}

fn sample(status: Status, amount: u64, code: Option<&str>, message: &str) -> Sale {
    // 2026-11-22 14:03:12 KST.
    let at = 1_795_323_792_000;
    let mut sale = Sale::new(
        "20261122-UT1A1B2C3D".into(),
        "T991000001UT1A1B2C3D".into(),
        "20261122".into(),
        Won(amount),
        "아메리카노".into(),
        Protocol::Openbanking,
        at,
    );
    sale.status = status;
    sale.means = Some(PaymentMeans::FintechNumber {
        fintech_use_num: "120220000000000000001234".into(),
    });
    sale.code = code.map(str::to_string);
    sale.message = Some(message.to_string());
    sale.history.push(Transition {
        at_ms: at + 900,
        from: Status::Submitted,
        to: status,
        note: code.unwrap_or("A0000/000 on withdraw").to_string(),
    });
    sale
}

fn today_sales() -> Vec<Sale> {
    let mut sales = vec![
        sample(Status::Approved, 4500, Some("A0000"), "approved"),
        sample(
            Status::Declined,
            12000,
            Some("453"),
            "insufficient balance (bank 453)",
        ),
        sample(Status::Queued, 3800, Some("QUEUED"), "accepted offline"),
        sample(
            Status::Unknown,
            9000,
            Some("NO_REPLY"),
            "no reply from the backend",
        ),
        sample(
            Status::Cancelled,
            2500,
            Some("CANCELLED"),
            "cancelled by the cashier",
        ),
    ];
    for (i, s) in sales.iter_mut().enumerate() {
        s.id = format!("20261122-UT1A1B2C3{i}");
        s.created_at_ms -= 600_000 * i as i64;
    }
    sales
}

fn preview_frame() -> slint::Image {
    let text = "QP1:sample-payment-code-for-the-preview";
    let mut frame = image::GrayImage::from_pixel(640, 480, image::Luma([70]));
    if let Ok(code) = crate::scan::render(text) {
        let code = image::imageops::resize(&code, 320, 320, image::imageops::FilterType::Nearest);
        image::imageops::overlay(&mut frame, &code, 160, 80);
    }
    slint::Image::from_rgb8(super::camera_feed::preview_pixels(&frame, 320))
}

fn result_of(pos: &Pos, sale: &Sale) {
    pos.set_result(view::result(sale));
    pos.set_screen(Screen::Result);
}

/// Every screen in every state.
pub fn shots() -> Vec<Shot> {
    vec![
        Shot {
            name: "idle",
            set: |p| p.set_screen(Screen::Idle),
        },
        Shot {
            name: "idle-last-sale",
            set: |p| {
                p.set_has_last_sale(true);
                p.set_last_sale_amount(Won(4500).to_string().into());
                p.set_last_sale_outcome(super::Outcome::Approved);
                p.set_last_sale_time("14:03:13".into());
                p.set_queued_count(2);
                p.set_queued_amount(Won(7300).to_string().into());
                p.set_online(false);
                p.set_screen(Screen::Idle);
            },
        },
        Shot {
            name: "amount",
            set: |p| {
                p.set_amount_text(Won(4500).to_string().into());
                p.set_can_charge(true);
                p.set_product("아메리카노".into());
                p.set_amount_too_large(false);
                p.set_screen(Screen::Amount);
            },
        },
        Shot {
            name: "amount-no-products",
            set: |p| {
                p.set_products(slint::ModelRc::default());
                p.set_amount_text(Won(12_000).to_string().into());
                p.set_can_charge(true);
                p.set_product("".into());
                p.set_amount_too_large(false);
                p.set_screen(Screen::Amount);
            },
        },
        Shot {
            name: "amount-over-maximum",
            set: |p| {
                p.set_amount_text(Won(1_000_000).to_string().into());
                p.set_can_charge(true);
                p.set_product("".into());
                p.set_amount_too_large(true);
                p.set_screen(Screen::Amount);
            },
        },
        Shot {
            name: "scan",
            set: |p| {
                p.set_amount_text(Won(4500).to_string().into());
                p.set_preview(preview_frame());
                p.set_has_preview(true);
                p.set_seconds_left(52);
                p.set_light(Light::Green);
                p.set_tone(true);
                p.set_screen(Screen::Scan);
            },
        },
        Shot {
            name: "scan-code-expired",
            set: |p| {
                p.set_amount_text(Won(4500).to_string().into());
                p.set_preview(preview_frame());
                p.set_has_preview(true);
                p.set_seconds_left(8);
                p.set_scan_note(Reason::CodeExpired);
                p.set_light(Light::Red);
                p.set_screen(Screen::Scan);
            },
        },
        Shot {
            name: "scan-no-camera",
            set: |p| {
                p.set_amount_text(Won(4500).to_string().into());
                p.set_seconds_left(41);
                p.set_camera_problem(
                    "no camera at /dev/video0: check the USB cable and camera.device".into(),
                );
                p.set_screen(Screen::Scan);
            },
        },
        Shot {
            name: "processing",
            set: |p| {
                p.set_amount_text(Won(4500).to_string().into());
                p.set_screen(Screen::Processing);
            },
        },
        Shot {
            name: "result-approved",
            set: |p| {
                let mut sale = sample(Status::Approved, 4500, Some("A0000"), "");
                sale.bank_name = Some("오픈은행".into());
                p.set_result(view::result(&sale));
                p.set_light(Light::Green);
                p.set_screen(Screen::Result);
            },
        },
        Shot {
            name: "result-declined-funds",
            set: |p| {
                result_of(
                    p,
                    &sample(
                        Status::Declined,
                        12000,
                        Some("453"),
                        "insufficient balance (bank 453)",
                    ),
                );
                p.set_light(Light::Red);
            },
        },
        Shot {
            name: "result-declined-consent",
            set: |p| {
                result_of(
                    p,
                    &sample(
                        Status::Declined,
                        12000,
                        Some("A0319"),
                        "withdrawal consent expired — the customer must renew consent in their banking app",
                    ),
                )
            },
        },
        Shot {
            name: "result-offline",
            set: |p| {
                result_of(
                    p,
                    &sample(Status::Queued, 3800, Some("QUEUED"), "accepted offline"),
                );
                p.set_online(false);
                p.set_queued_count(1);
                p.set_queued_amount(Won(3800).to_string().into());
                p.set_light(Light::Amber);
            },
        },
        Shot {
            name: "result-unknown",
            set: |p| {
                result_of(
                    p,
                    &sample(
                        Status::Unknown,
                        9000,
                        Some("NO_REPLY"),
                        "no reply from the backend (timed out)",
                    ),
                )
            },
        },
        Shot {
            name: "result-scan-timeout",
            set: |p| {
                result_of(
                    p,
                    &sample(
                        Status::Cancelled,
                        4500,
                        Some("SCAN_TIMEOUT"),
                        "no payment code was shown within 60 s; nothing was charged",
                    ),
                )
            },
        },
        Shot {
            name: "today",
            set: |p| {
                let sales = today_sales();
                p.set_today_date("2026-11-22".into());
                p.set_today_rows(view::rows(&sales));
                p.set_today_totals(view::totals(&sales));
                p.set_screen(Screen::Today);
            },
        },
        Shot {
            name: "today-empty",
            set: |p| {
                p.set_today_date("2026-11-22".into());
                p.set_today_rows(view::rows(&[]));
                p.set_today_totals(view::totals(&[]));
                p.set_screen(Screen::Today);
            },
        },
        Shot {
            name: "today-detail",
            set: |p| {
                let sales = today_sales();
                p.set_today_date("2026-11-22".into());
                p.set_today_rows(view::rows(&sales));
                p.set_today_totals(view::totals(&sales));
                p.set_detail(view::detail(&sales[1]));
                p.set_show_detail(true);
                p.set_screen(Screen::Today);
            },
        },
        Shot {
            name: "settings-choose-pin",
            set: |p| {
                p.set_pin_step(PinStep::Choose);
                p.set_pin_length(2);
                p.set_pin_wrong(false);
                p.set_pin_mismatch(false);
                p.set_screen(Screen::Settings);
            },
        },
        Shot {
            name: "settings-wrong-pin",
            set: |p| {
                p.set_pin_step(PinStep::Enter);
                p.set_pin_length(0);
                p.set_pin_wrong(true);
                p.set_pin_mismatch(false);
                p.set_screen(Screen::Settings);
            },
        },
        Shot {
            name: "settings",
            set: |p| {
                p.set_unlocked(true);
                p.set_diagnostics(Diagnostics {
                    camera: "camera /dev/video0 at 640×480 (opened at each sale)".into(),
                    camera_ok: true,
                    backend: "https://testapi.openbanking.or.kr (openbanking) — NOT reachable"
                        .into(),
                    backend_ok: false,
                    queue: "2 queued (₩7,300), 0 being confirmed, 0 needing attention".into(),
                    journal: "/var/lib/qrpos".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    language: "ko".into(),
                });
                p.set_screen(Screen::Settings);
            },
        },
    ]
}
