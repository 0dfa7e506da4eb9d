//! `qrpos doctor`: what an installer must get right before a terminal can sell, each checked
//! and reported ok, warn or fail with the fix: the camera, the GPIO, the display, the
//! backend and its credentials, the clock (against the backend's `Date`), the journal and
//! its disk, the offline queue. Reads only; never sends a payment.

use crate::config::{Config, FrameSourceKind, EMBEDDED};
use crate::signal::IndicatorKind;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    /// What to do about a warn or fail (empty when ok).
    pub fix: String,
}

fn check(
    name: &'static str,
    level: Level,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name,
        level,
        detail: detail.into(),
        fix: fix.into(),
    }
}

/// Every check, in the order an installer fixes things.
pub async fn run(config: &Config) -> Vec<Check> {
    let mut checks = vec![camera(config), gpio(config), display()];
    checks.extend(backend(config).await);
    checks.extend(journal(config));
    checks
}

fn camera(config: &Config) -> Check {
    let c = &config.camera;
    let found = cameras_found(c);
    match crate::camera::open(c) {
        Ok(source) => check(
            "camera",
            Level::Ok,
            format!("{found}the configured source opens: {}", source.describe()),
            "",
        ),
        Err(e @ crate::camera::CameraError::Busy(_)) => check(
            "camera",
            Level::Warn,
            format!("{found}{e}"),
            "if the terminal service is running, it holds the camera: that is fine",
        ),
        Err(e) => check(
            "camera",
            Level::Fail,
            format!("{found}{e}"),
            match c.source {
                FrameSourceKind::Camera => "plug in a UVC camera (or enable the Pi camera's V4L2 driver), set camera.device, and add the service user to the group `video`",
                FrameSourceKind::Replay => "set camera.replay_dir to a folder of images",
            },
        ),
    }
}

/// The V4L2 devices and their formats, as one sentence (empty for a replay source or a
/// build without cameras).
fn cameras_found(c: &crate::config::CameraSection) -> String {
    #[cfg(feature = "camera")]
    if c.source == FrameSourceKind::Camera {
        let cameras = crate::camera::survey();
        if cameras.is_empty() {
            return "no /dev/video* device. ".into();
        }
        let listed: Vec<String> = cameras
            .iter()
            .map(|f| match &f.formats {
                Ok(formats) => format!("{} \"{}\": {}", f.device, f.name, formats.join(", ")),
                Err(e) => format!("{}: {e}", f.device),
            })
            .collect();
        return format!("{}. ", listed.join("; "));
    }
    let _ = c;
    String::new()
}

fn gpio(config: &Config) -> Check {
    if config.signal.kind == IndicatorKind::Simulated {
        return check(
            "gpio",
            Level::Ok,
            "the buzzer and LED are simulated (signal.indicator)",
            "",
        );
    }
    match rppal::gpio::Gpio::new() {
        Ok(_) => check(
            "gpio",
            Level::Ok,
            format!(
                "GPIO open; buzzer on BCM {}, LED green {} red {}",
                config.signal.buzzer_pin, config.signal.green_pin, config.signal.red_pin
            ),
            "",
        ),
        Err(rppal::gpio::Error::UnknownModel) => check(
            "gpio",
            if config.signal.kind == IndicatorKind::Gpio {
                Level::Fail
            } else {
                Level::Warn
            },
            "not a Raspberry Pi: the buzzer and LED are simulated",
            "on a Pi this works by itself; elsewhere set signal.indicator = \"simulated\"",
        ),
        Err(rppal::gpio::Error::PermissionDenied(path)) => check(
            "gpio",
            Level::Fail,
            format!("no access to {path}"),
            format!(
                "add the service user to the group `{}` (sudo usermod -aG {} qrpos), or install hardware/99-qrpos.rules",
                group_of(Path::new(&path)).unwrap_or_else(|| "gpio".into()),
                group_of(Path::new(&path)).unwrap_or_else(|| "gpio".into()),
            ),
        ),
        Err(e) => check("gpio", Level::Fail, e.to_string(), "check the GPIO device nodes and hardware/README.md"),
    }
}

/// The name of the group owning `path` (from /etc/group).
fn group_of(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(path).ok()?.gid();
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(|l| {
            let mut parts = l.split(':');
            let name = parts.next()?;
            let id = parts.nth(1)?.parse::<u32>().ok()?;
            (id == gid).then(|| name.to_string())
        })
}

fn display() -> Check {
    if !cfg!(feature = "ui") {
        return check(
            "display",
            Level::Warn,
            "this build has no touchscreen (feature `ui`)",
            "build with the default features",
        );
    }
    for var in ["WAYLAND_DISPLAY", "DISPLAY"] {
        if let Some(d) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            return check(
                "display",
                Level::Ok,
                format!(
                    "a desktop display ({var}={}): a window (winit)",
                    d.to_string_lossy()
                ),
                "",
            );
        }
    }
    let cards: Vec<_> = std::fs::read_dir("/dev/dri")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("card"))
                })
                .collect()
        })
        .unwrap_or_default();
    if cards.is_empty() {
        return check(
            "display",
            Level::Fail,
            "no display: no DISPLAY and no /dev/dri/card* for the console (linuxkms)",
            "connect the touchscreen (and enable its overlay in config.txt), or run the desktop simulator in an X session (xvfb-run for a virtual one)",
        );
    }
    let usable = cards.iter().find(|c| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(c)
            .is_ok()
    });
    let touch = std::fs::read_dir("/dev/input")
        .map(|d| {
            d.filter_map(|e| e.ok()).any(|e| {
                e.file_name().to_string_lossy().starts_with("event")
                    && std::fs::File::open(e.path()).is_ok()
            })
        })
        .unwrap_or(false);
    match (usable, touch) {
        (Some(card), true) => check("display", Level::Ok, format!("the console (linuxkms) on {}, touch input readable", card.display()), ""),
        (Some(card), false) => check(
            "display",
            Level::Warn,
            format!("the console (linuxkms) on {}, but no readable /dev/input/event*: touch will not work", card.display()),
            "add the service user to the group `input`",
        ),
        (None, _) => check(
            "display",
            Level::Fail,
            format!("{} cannot be opened", cards[0].display()),
            format!(
                "add the service user to the group `{}`",
                group_of(&cards[0]).unwrap_or_else(|| "video".into())
            ),
        ),
    }
}

async fn backend(config: &Config) -> Vec<Check> {
    #[cfg(feature = "sandbox")]
    let mut _embedded = None;
    let url = if config.backend.url == EMBEDDED {
        #[cfg(feature = "sandbox")]
        match crate::sandbox::start(crate::sandbox::SandboxConfig::new(
            ([127, 0, 0, 1], 0).into(),
        ))
        .await
        {
            Ok(s) => {
                let url = s.url();
                _embedded = Some(s);
                url
            }
            Err(e) => {
                return vec![check(
                    "backend",
                    Level::Fail,
                    format!("the embedded sandbox cannot start: {e}"),
                    "",
                )]
            }
        }
        #[cfg(not(feature = "sandbox"))]
        return vec![check(
            "backend",
            Level::Fail,
            "backend.url is \"embedded\" but this build has no sandbox",
            "set backend.url",
        )];
    } else {
        config.backend.url.clone()
    };
    let probe = Duration::from_millis(config.backend.connect_timeout_ms);
    if !crate::backend::reachable(&url, probe).await {
        return vec![
            check(
                "backend",
                Level::Fail,
                format!("{url} cannot be reached"),
                "check the network, DNS and backend.url",
            ),
            check(
                "clock",
                Level::Warn,
                "not compared: the backend cannot be reached",
                "check the time by hand (timedatectl)",
            ),
        ];
    }
    let mut out = Vec::new();
    match crate::setup::gateway(config, &url) {
        Ok(gateway) => match gateway.sign_in().await {
            Ok(how) => out.push(check(
                "backend",
                Level::Ok,
                format!("{url} reachable; {how}"),
                "",
            )),
            Err(why) => out.push(check(
                "backend",
                Level::Fail,
                format!("{url} reachable, but the credentials are refused: {why}"),
                "check backend.client_id and backend.client_secret with the institution",
            )),
        },
        Err(e) => out.push(check(
            "backend",
            Level::Fail,
            e.to_string(),
            "check [backend]",
        )),
    }
    out.push(clock(&url, config).await);
    out
}

/// The local clock against the backend's `Date` header.
async fn clock(url: &str, config: &Config) -> Check {
    let local = chrono::Utc::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.backend.timeout_ms))
        .build();
    let date = match client {
        Ok(c) => c.get(url).send().await.ok().and_then(|r| {
            r.headers()
                .get(reqwest::header::DATE)?
                .to_str()
                .ok()
                .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
        }),
        Err(_) => None,
    };
    let Some(theirs) = date else {
        return check(
            "clock",
            Level::Warn,
            "the backend sent no Date header to compare with",
            "check the time by hand (timedatectl)",
        );
    };
    let skew = (local - theirs.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0;
    let said = format!(
        "this clock is {:.0} s {} the backend's ({})",
        skew.abs(),
        if skew >= 0.0 { "ahead of" } else { "behind" },
        theirs.to_rfc2822()
    );
    let fix = "turn on network time (sudo timedatectl set-ntp true); payments carry the time and the business day";
    // The Date header has whole seconds, and the request takes a moment.
    if skew.abs() <= 5.0 {
        check("clock", Level::Ok, said, "")
    } else if skew.abs() <= 60.0 {
        check("clock", Level::Warn, said, fix)
    } else {
        check("clock", Level::Fail, said, fix)
    }
}

fn journal(config: &Config) -> Vec<Check> {
    let dir = config.journal_dir();
    let mut out = Vec::new();
    match free_mb(&dir) {
        Some(mb) if mb < 50 => out.push(check(
            "disk",
            Level::Fail,
            format!("{mb} MB free for the journal at {}", dir.display()),
            "free space: the journal needs room to record every sale",
        )),
        Some(mb) if mb < 500 => out.push(check(
            "disk",
            Level::Warn,
            format!("{mb} MB free for the journal at {}", dir.display()),
            "free some space soon",
        )),
        Some(mb) => out.push(check(
            "disk",
            Level::Ok,
            format!("{mb} MB free for the journal at {}", dir.display()),
            "",
        )),
        None => {}
    }
    if !dir.exists() {
        out.push(check(
            "journal",
            Level::Ok,
            format!(
                "{} does not exist yet: the terminal creates it at its first start",
                dir.display()
            ),
            "",
        ));
        return out;
    }
    match crate::store::Journal::open(&dir) {
        Ok(journal) => {
            let damaged = journal.damaged().map(|d| d.len()).unwrap_or(0);
            let sales = journal.all_sales().map(|s| s.len());
            match sales {
                Ok(n) if damaged == 0 => out.push(check(
                    "journal",
                    Level::Ok,
                    format!("{} opens; {n} sale(s)", dir.display()),
                    "",
                )),
                Ok(n) => out.push(check(
                    "journal",
                    Level::Warn,
                    format!(
                        "{} opens; {n} sale(s), {damaged} unreadable record(s)",
                        dir.display()
                    ),
                    "see `qrpos queue list`: unreadable records need the merchant",
                )),
                Err(e) => out.push(check(
                    "journal",
                    Level::Fail,
                    e.to_string(),
                    "restore the journal from a backup",
                )),
            }
            let now = chrono::Utc::now().timestamp_millis();
            match crate::forwarder::queue_status_of(&journal, now) {
                Ok(q) if q.attention_count > 0 || q.unknown_count > 0 => out.push(check(
                    "queue",
                    Level::Warn,
                    format!(
                        "{} queued ({}), {} being confirmed, {} needing attention",
                        q.queued_count, q.queued_amount, q.unknown_count, q.attention_count
                    ),
                    "`qrpos queue list` shows them; the terminal keeps confirming and forwarding",
                )),
                Ok(q) => out.push(check(
                    "queue",
                    Level::Ok,
                    format!("{} queued ({})", q.queued_count, q.queued_amount),
                    "",
                )),
                Err(e) => out.push(check("queue", Level::Fail, e.to_string(), "")),
            }
        }
        Err(crate::store::StoreError::Locked(_)) => out.push(check(
            "journal",
            Level::Ok,
            format!("{} is in use by the running terminal", dir.display()),
            "",
        )),
        Err(e) => out.push(check(
            "journal",
            Level::Fail,
            e.to_string(),
            "check terminal.journal_dir exists and the service user owns it (StateDirectory=qrpos)",
        )),
    }
    out
}

/// Free space (MB) on the file system that holds `dir` (or its nearest existing parent).
fn free_mb(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let existing = dir.ancestors().find(|p| p.exists())?;
    let path = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid NUL-terminated string and `stat` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64) / 1_048_576)
}
