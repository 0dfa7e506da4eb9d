//! The `qrpos` command line: one binary for the terminal, its tools and the sandbox backend.
//! Exit codes: 0 approved / success, 1 declined (or a file that did not decode),
//! 2 usage, config or environment error, 3 outcome unknown or queued.

use clap::{Args, Parser, Subcommand};
use qrpos::config::Config;
use qrpos::sale::{Sale, Status, Won};
use qrpos::setup::Running;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "qrpos",
    version,
    about = "QR payment terminal: camera → QR → open-banking withdrawal"
)]
struct Cli {
    /// Without a command: `run`, the touchscreen terminal.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The terminal: the touchscreen UI (a window on a desktop, full screen on the Pi's
    /// console), the camera, the buzzer and LED, and the background forwarder.
    #[cfg(feature = "ui")]
    Run {
        #[command(flatten)]
        common: Common,
        /// Frame source, overriding `[camera]`: a device (`0`, `/dev/video2`), `replay:DIR`
        /// (a folder or file of frames, looped), or `demo` (a fresh one-time code of the
        /// sandbox customer alice at each sale: the desktop demo without a webcam).
        #[arg(long)]
        camera: Option<String>,
    },
    /// The touchscreen's screens without a display.
    #[cfg(feature = "ui")]
    Ui {
        #[command(subcommand)]
        what: UiCommand,
    },
    /// Run a whole sale headless: the demo (a one-time code for `alice`, paid through the embedded sandbox).
    Demo {
        #[command(flatten)]
        common: Common,
        /// Amount in won.
        #[arg(long, default_value_t = 4500)]
        amount: u64,
    },
    /// Charge one sale from a QR image and print the outcome.
    Pay {
        /// Amount in won (digits; `,` separators allowed).
        #[arg(long)]
        amount: String,
        /// Image file holding the customer's QR.
        #[arg(long)]
        qr_image: PathBuf,
        /// What is being sold (shown on statements).
        #[arg(long, default_value = "QR payment")]
        product: String,
        #[command(flatten)]
        common: Common,
    },
    /// Check the installation: camera, GPIO, display, backend and credentials, clock,
    /// journal and disk, queue. Exit 1 if anything fails.
    Doctor {
        #[command(flatten)]
        common: Common,
    },
    /// Settle sales an earlier run left open (query, never re-send).
    Resolve {
        #[command(flatten)]
        common: Common,
    },
    /// The offline queue, the forwarder and the attention list.
    Queue {
        #[command(subcommand)]
        what: QueueCommand,
    },
    /// Look at the journal.
    Journal {
        #[command(subcommand)]
        what: JournalCommand,
    },
    /// Decode QR image files and print their text(s) and the decode time.
    Decode {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per file per line.
        #[arg(long)]
        json: bool,
    },
    /// Measure the scanner (release build): `bench decode DIR…`.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// QR codes for sandbox customers.
    Qr {
        #[command(subcommand)]
        what: QrCommand,
    },
    /// The merchant's payment host between the terminals and the bank: it holds the
    /// institution's credentials and the one register of used codes. Without an action, it
    /// serves (`[host]` of the config: where it listens and keeps its records).
    #[cfg(feature = "host")]
    Host {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: Option<HostCommand>,
    },
    /// Run the sandbox payment backend (both protocols, fault injection) on loopback.
    #[cfg(feature = "sandbox")]
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Keep balances, ledger and de-duplication across restarts here.
        #[arg(long)]
        data: Option<PathBuf>,
        /// TOML file of customers replacing the seeded ones.
        #[arg(long)]
        accounts: Option<PathBuf>,
    },
}

#[cfg(feature = "host")]
#[derive(Subcommand)]
enum HostCommand {
    /// The terminals that may charge through this host.
    Terminal {
        #[command(subcommand)]
        what: TerminalCommand,
    },
    /// The public half of the host's code-signing key, as a terminal's config trusts it
    /// (the key is made on first use).
    Key,
}

#[cfg(feature = "host")]
#[derive(Subcommand)]
enum TerminalCommand {
    /// Register a terminal: prints its id and secret (shown only now) for its config.
    Add { name: String },
    /// End a terminal's access; its charges stay on record.
    Revoke { name: String },
    /// The registered terminals.
    List,
}

#[cfg(feature = "ui")]
#[derive(Subcommand)]
enum UiCommand {
    /// Render every screen in every state to PNG (software renderer, no display):
    /// OUT/<width>x<height>/<language>/<screen>.png.
    Snapshot {
        #[arg(long)]
        out: PathBuf,
        /// Sizes to render, e.g. `800x480,1280x720`.
        #[arg(long, value_delimiter = ',', default_value = "800x480,1280x720")]
        sizes: Vec<String>,
        /// Languages to render.
        #[arg(long, value_delimiter = ',', default_value = "ko,en")]
        languages: Vec<String>,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Online?, queued count and amount, oldest age, unknown and attention counts.
    Status {
        #[command(flatten)]
        common: Common,
    },
    /// The sales waiting (queued, unknown) and those needing attention.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Resolve open sales and forward the queue now.
    Forward {
        #[command(flatten)]
        common: Common,
    },
    /// Keep resolving and forwarding in the foreground until Ctrl-C (what the terminal does
    /// in the background).
    Watch {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
}

#[derive(Subcommand)]
enum JournalCommand {
    /// One business day's sales with totals, for the merchant's books.
    Export {
        /// `YYYY-MM-DD` (KST business date).
        #[arg(long)]
        date: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        #[command(flatten)]
        common: Common,
    },
    /// List sales (today's by default).
    List {
        /// Business date `YYYYMMDD` or `YYYY-MM-DD`; `all` for every day.
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Decode every image that has a NAME.txt beside it; compare with zxing-cpp and zbar.
    Decode {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The whole report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Skip the per-step yield table (each step alone over every image).
        #[arg(long)]
        no_steps: bool,
        /// Skip zxing-cpp and zbar.
        #[arg(long)]
        no_references: bool,
        /// Config file whose `[scan] frame_budget_ms` the live-frame figures use.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The touchscreen's targets (cold start, preview fps, code in view → approved, memory),
    /// each beside a reference. Cold start needs an X display: `make bench-ui`.
    #[cfg(feature = "ui")]
    Ui {
        /// Sales (and cold starts, up to 10) to time.
        #[arg(long, default_value_t = 20)]
        trials: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum QrCommand {
    /// Issue a code for a sandbox customer, signed with the sandbox's development key.
    Issue {
        /// alice, bob, carol, dave, erin, frank (see README).
        #[arg(long)]
        user: String,
        /// Also write the code as a PNG image.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The customer's static fintech-number code instead of a one-time code.
        #[arg(long = "static")]
        static_code: bool,
        /// Lifetime in seconds (at most 180).
        #[arg(long, default_value_t = 180)]
        lifetime: i64,
        /// Issue time as unix seconds (default now); for testing expired codes.
        #[arg(long, hide = true)]
        issued_at: Option<i64>,
        /// Ask this payment host for the code, as the customer's app would: enrol the
        /// customer there first (the bank's consent), keeping the credential in --wallet.
        #[arg(long, conflicts_with_all = ["static_code", "issued_at"])]
        host: Option<String>,
        /// Where the app keeps its credential (default: the data directory).
        #[arg(long, requires = "host")]
        wallet: Option<PathBuf>,
    },
}

/// Options of every command that talks to a backend or the journal.
#[derive(Args, Clone, Default)]
struct Common {
    /// TOML config file (default: the built-in demo config with the embedded sandbox).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Backend base URL, overriding the config (`embedded` for the built-in sandbox).
    #[arg(long)]
    backend: Option<String>,
    /// `host`, `openbanking` or `payrequest`, overriding the config.
    #[arg(long)]
    protocol: Option<qrpos::sale::Protocol>,
    /// Journal directory, overriding the config.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

impl Common {
    fn config(&self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| e.to_string())?,
            None => Config::demo(),
        };
        if let Some(url) = &self.backend {
            config.backend.url = url.clone();
        }
        if let Some(p) = self.protocol {
            config.backend.protocol = p;
        }
        if let Some(dir) = &self.journal {
            config.terminal.journal_dir = Some(dir.clone());
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

const EXIT_DECLINED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_UNKNOWN: u8 = 3;

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("qrpos: {msg}");
    ExitCode::from(EXIT_USAGE)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QRPOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    #[cfg(feature = "ui")]
    let command = cli.command.unwrap_or(Command::Run {
        common: Common::default(),
        camera: None,
    });
    #[cfg(not(feature = "ui"))]
    let Some(command) = cli.command
    else {
        return fail("this build has no touchscreen (feature `ui`): give a command, see --help");
    };
    match command {
        #[cfg(feature = "ui")]
        Command::Run { common, camera } => run(&common, camera.as_deref()).await,
        #[cfg(feature = "ui")]
        Command::Ui {
            what:
                UiCommand::Snapshot {
                    out,
                    sizes,
                    languages,
                },
        } => ui_snapshot(&out, &sizes, &languages),
        Command::Pay {
            amount,
            qr_image,
            product,
            common,
        } => pay(&common, &amount, &qr_image, &product).await,
        Command::Demo { common, amount } => demo(&common, amount).await,
        Command::Resolve { common } => resolve(&common).await,
        Command::Doctor { common } => doctor(&common).await,
        Command::Journal {
            what: JournalCommand::List { date, common },
        } => journal_list(&common, date.as_deref()).await,
        Command::Journal {
            what:
                JournalCommand::Export {
                    date,
                    format,
                    common,
                },
        } => journal_export(&common, &date, format),
        Command::Queue { what } => queue(what).await,
        Command::Decode { files, json } => decode(&files, json),
        Command::Bench {
            what:
                BenchCommand::Decode {
                    dirs,
                    json,
                    no_steps,
                    no_references,
                    config,
                },
        } => bench_decode(dirs, json, !no_steps, !no_references, config.as_deref()),
        #[cfg(feature = "ui")]
        Command::Bench {
            what: BenchCommand::Ui { trials, json },
        } => bench_ui(trials, json).await,
        Command::Qr {
            what:
                QrCommand::Issue {
                    user,
                    out,
                    host: Some(host),
                    wallet,
                    ..
                },
        } => {
            let wallet = wallet.unwrap_or_else(|| Config::demo().journal_dir());
            match qrpos::customer_app::code_from_host(&host, &user, &wallet).await {
                Ok(text) => print_code(&text, out.as_deref()),
                Err(e) => fail(e),
            }
        }
        Command::Qr {
            what:
                QrCommand::Issue {
                    user,
                    out,
                    static_code,
                    lifetime,
                    issued_at,
                    host: None,
                    ..
                },
        } => qr_issue(&user, out.as_deref(), static_code, lifetime, issued_at),
        #[cfg(feature = "host")]
        Command::Host { common, action } => host(&common, action).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox {
            listen,
            data,
            accounts,
        } => {
            match qrpos::sandbox::run_cli(qrpos::sandbox::SandboxConfig {
                data_dir: data,
                accounts_file: accounts,
                ..qrpos::sandbox::SandboxConfig::new(listen)
            })
            .await
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
}

/// `qrpos run`: the touchscreen terminal until its window closes (or Ctrl-C / SIGTERM).
#[cfg(feature = "ui")]
async fn run(common: &Common, camera: Option<&str>) -> ExitCode {
    use qrpos::config::FrameSourceKind;
    use qrpos::ui::{Counter, Deps};
    use slint::ComponentHandle;
    use std::sync::Arc;
    let mut config = match common.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut demo_customer = None;
    match camera {
        None => {}
        Some("demo") if cfg!(feature = "sandbox") => demo_customer = Some("alice".to_string()),
        Some("demo") => return fail("--camera demo needs the sandbox (feature `sandbox`)"),
        Some(s) if s.starts_with("replay:") => {
            config.camera.source = FrameSourceKind::Replay;
            config.camera.replay_dir = Some(PathBuf::from(&s["replay:".len()..]));
        }
        Some(device) => {
            config.camera.source = FrameSourceKind::Camera;
            config.camera.device = device.to_string();
        }
    }
    if let Err(e) = config.validate() {
        return fail(e);
    }
    // The window first: with no display there is nothing to start the rest for.
    let app = match qrpos::ui::App::new() {
        Ok(app) => app,
        Err(e) => return fail(qrpos::ui::no_display_help(&e)),
    };
    let (indicator, simulated) = match qrpos::signal::open(&config.signal) {
        Ok(opened) => opened,
        Err(e) => return fail(format!("signal: {e}")),
    };
    let running = match qrpos::setup::start(&config).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let Running {
        terminal,
        backend_url,
        embedded,
    } = running;
    let config_timeout = config.timeout();
    let counter = Counter::start(
        app,
        Deps {
            terminal: Arc::new(terminal),
            config,
            backend_url,
            indicator: Arc::new(indicator),
            simulated,
            runtime: tokio::runtime::Handle::current(),
            demo_customer,
        },
    );
    // Ctrl-C / SIGTERM (systemd) close the window like its close button.
    let weak = counter.app().as_weak();
    tokio::spawn(async move {
        stop_requested().await;
        let _ = weak.upgrade_in_event_loop(|app| {
            let _ = app.hide();
        });
        let _ = slint::quit_event_loop();
    });
    // systemd: ready once the event loop runs the window; alive at each tick of that same
    // loop, so a frozen screen misses its pings and is restarted.
    slint::Timer::single_shot(std::time::Duration::ZERO, || {
        qrpos::service::ready("selling: the touchscreen is up")
    });
    let watchdog = slint::Timer::default();
    if let Some(every) = qrpos::service::ping_every() {
        watchdog.start(slint::TimerMode::Repeated, every, qrpos::service::alive);
    }
    let shown = counter.app().run();
    qrpos::service::stopping();
    drop(watchdog);
    // A sale under way ends first (a scan is cancelled; a charge gets its answer or its
    // query), so nothing is cut off unrecorded; a charge still open after this is settled
    // by query at the next start.
    if let Some(checkout) = counter.finish() {
        let bound = config_timeout * 2;
        if tokio::time::timeout(bound, checkout).await.is_err() {
            eprintln!("qrpos: the sale under way did not end within {bound:?}; the next start confirms it");
        }
    }
    drop(counter);
    embedded.stop().await;
    match shown {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(qrpos::ui::no_display_help(&e)),
    }
}

#[cfg(feature = "ui")]
async fn bench_ui(trials: usize, json: bool) -> ExitCode {
    if cfg!(debug_assertions) {
        eprintln!(
            "qrpos: bench ui: this is a debug build; the figures mean little (use --release)"
        );
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let r = match qrpos::ui::bench::run(&exe, trials.max(1)).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if json {
        println!("{}", serde_json::to_string(&r).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let stat = |s: &Option<qrpos::ui::bench::Stat>| match s {
        Some(s) => format!(
            "p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (n={})",
            s.p50, s.p95, s.max, s.n
        ),
        None => "—".into(),
    };
    println!("target                                  figure                                   reference");
    println!(
        "cold start to idle screen ≤ 1 s          {:<40} process start (--version): {}",
        stat(&r.cold_start_ms),
        stat(&r.process_start_ms)
    );
    println!("  ({})", r.cold_start_note);
    println!(
        "preview 640×480 → 800×480 ≥ 25 fps       {:<40} without the decoder: {:.0} fps",
        format!("{:.0} fps while decoding", r.preview_fps_while_decoding),
        r.preview_fps_alone
    );
    println!(
        "read on the first frame in view          frames after the first: {:?}",
        r.frames_until_read
    );
    println!(
        "code in view → approved drawn ≤ 150 ms   {:<40} bank round trip alone: {}",
        stat(&r.in_view_to_approved_ms),
        stat(&r.bank_round_trip_ms)
    );
    println!(
        "resident memory scanning ≤ 120 MB        {:<40} before the UI: {:.0} MB",
        format!("{:.0} MB", r.rss_while_scanning_mb),
        r.rss_before_ui_mb
    );
    ExitCode::SUCCESS
}

/// `qrpos host`: serve, or manage its terminals.
#[cfg(feature = "host")]
async fn host(common: &Common, action: Option<HostCommand>) -> ExitCode {
    let config = match common.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if let Some(HostCommand::Key) = action {
        return match qrpos::setup::host_trusted_key(&config) {
            Ok(entry) => {
                println!("{entry}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    let Some(HostCommand::Terminal { what }) = action else {
        let running = match qrpos::setup::start_host(&config).await {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        println!("listening on {}", running.host.url());
        stop_requested().await;
        running.stop().await;
        return ExitCode::SUCCESS;
    };
    let db = match qrpos::host::Db::open(&qrpos::setup::host_database(&config)).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let done = match what {
        TerminalCommand::Add { name } => match qrpos::setup::host_trusted_key(&config) {
            Err(e) => Err(e.to_string()),
            Ok(trusted) => qrpos::host::add_terminal(&db, &name, now_ms)
                .await
                .map(|t| {
                    println!("# terminal {name}: its config (the secret is shown only now)");
                    println!("[backend]\nprotocol = \"host\"\nurl = \"<this host's https URL>\"");
                    println!(
                        "client_id = \"{}\"\nclient_secret = \"{}\"\n",
                        t.id,
                        t.secret.expose()
                    );
                    println!("{trusted}");
                })
                .map_err(|e| e.to_string()),
        },
        TerminalCommand::Revoke { name } => match db.revoke_terminal(&name, now_ms).await {
            Ok(true) => {
                println!("terminal {name} revoked");
                Ok(())
            }
            Ok(false) => Err(format!("no active terminal named {name:?}")),
            Err(e) => Err(e.to_string()),
        },
        TerminalCommand::List => db.terminals().await.map_err(|e| e.to_string()).map(|all| {
            for t in all {
                let state = if t.revoked { "revoked" } else { "active" };
                println!("{:<24} {} {state}", t.name, t.id);
            }
        }),
    };
    db.close().await;
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Ctrl-C, or SIGTERM (systemd's stop).
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(feature = "ui")]
fn ui_snapshot(out: &std::path::Path, sizes: &[String], languages: &[String]) -> ExitCode {
    let mut parsed = Vec::new();
    for size in sizes {
        match size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        {
            Some((w, h)) if (320..=3840).contains(&w) && (240..=2160).contains(&h) => {
                parsed.push((w, h))
            }
            _ => {
                return fail(format!(
                    "--sizes: {size:?} is not WIDTHxHEIGHT (320x240 to 3840x2160)"
                ))
            }
        }
    }
    if let Some(l) = languages
        .iter()
        .find(|l| !matches!(l.as_str(), "ko" | "en"))
    {
        return fail(format!("--languages: {l:?} is not ko or en"));
    }
    let languages: Vec<&str> = languages.iter().map(String::as_str).collect();
    match qrpos::ui::snapshot::render_all(out, &parsed, &languages) {
        Ok(files) => {
            println!("{} screens written under {}", files.len(), out.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn doctor(common: &Common) -> ExitCode {
    use qrpos::doctor::Level;
    let config = match common.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let checks = qrpos::doctor::run(&config).await;
    if common.json {
        println!("{}", serde_json::to_string(&checks).unwrap_or_default());
    } else {
        for c in &checks {
            println!("{:<5} {:<8} {}", c.level.as_str(), c.name, c.detail);
            if !c.fix.is_empty() {
                println!("{:<14} fix: {}", "", c.fix);
            }
        }
    }
    if checks.iter().any(|c| c.level == Level::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The config with the command's overrides, and a terminal built from it.
async fn start(common: &Common) -> Result<(Config, Running), ExitCode> {
    let config = common.config().map_err(fail)?;
    let running = qrpos::setup::start(&config).await.map_err(fail)?;
    Ok((config, running))
}

/// The JSON status set of `pay`: approved | declined | unknown | queued.
fn public_status(s: Status) -> &'static str {
    match s {
        Status::Approved => "approved",
        Status::Declined | Status::Cancelled => "declined",
        Status::Queued | Status::Forwarded => "queued",
        Status::Created | Status::Submitted | Status::Unknown => "unknown",
    }
}

fn exit_for(s: Status) -> ExitCode {
    match public_status(s) {
        "approved" => ExitCode::SUCCESS,
        "declined" => ExitCode::from(EXIT_DECLINED),
        _ => ExitCode::from(EXIT_UNKNOWN),
    }
}

fn sale_json(sale: &Sale) -> serde_json::Value {
    serde_json::json!({
        "status": public_status(sale.status),
        "state": sale.status.as_str(),
        "sale_id": sale.id,
        "bank_tran_id": sale.bank_tran_id,
        "amount": sale.amount.0,
        "product": sale.product,
        "protocol": sale.protocol.as_str(),
        "means": sale.means.as_ref().map(|m| m.masked()),
        "code": sale.code,
        "message": sale.message,
        "attention": sale.attention,
    })
}

fn print_sale(sale: &Sale, json: bool) {
    if json {
        println!("{}", sale_json(sale));
        return;
    }
    let word = match public_status(sale.status) {
        "approved" => "APPROVED",
        "declined" => "DECLINED",
        "queued" => "QUEUED",
        _ => "UNKNOWN — confirming",
    };
    println!(
        "{word}  {}  {}  (sale {}, bank_tran_id {})",
        sale.amount, sale.product, sale.id, sale.bank_tran_id
    );
    if let Some(m) = &sale.means {
        println!("  paid with: {}", m.masked());
    }
    if let (Some(code), Some(msg)) = (&sale.code, &sale.message) {
        println!("  {code}: {msg}");
    }
    if let Some(a) = &sale.attention {
        println!("  ATTENTION: {a}");
    }
}

async fn pay(common: &Common, amount: &str, image: &std::path::Path, product: &str) -> ExitCode {
    let config = match common.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let amount = match qrpos::sale::parse_amount(amount, config.max_amount()) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let signal = match Signal::open(&config) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let running = match qrpos::setup::start(&config).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let (code, status) = charge_image(
        &running.terminal,
        &signal,
        &config,
        amount,
        image,
        product,
        common.json,
    )
    .await;
    settle_backlog(&running.terminal, &config, status).await;
    running.stop().await;
    signal.finish();
    code
}

/// The buzzer and LED of a command that sells (`pay`, `demo`); the others leave the pins
/// alone, so they never disturb a running terminal's.
struct Signal {
    indicator: qrpos::signal::Indicator,
    simulated: bool,
}

impl Signal {
    fn open(config: &Config) -> Result<Signal, String> {
        let (indicator, simulated) =
            qrpos::signal::open(&config.signal).map_err(|e| format!("signal: {e}"))?;
        Ok(Signal {
            indicator,
            simulated: simulated.is_some(),
        })
    }

    /// On real pins the last pattern plays to its end before the command exits; a simulated
    /// one is only logged, so nothing is worth waiting for.
    fn finish(self) {
        if !self.simulated {
            self.indicator.finish();
        }
    }
}

/// After the sale (never before: the customer must not wait behind yesterday's backlog),
/// settles what earlier runs left open and forwards the offline queue, within a bound. A
/// sale that just went to the queue means the backend is unreachable: nothing to try now.
async fn settle_backlog(
    terminal: &qrpos::terminal::Terminal,
    config: &Config,
    after: Option<Status>,
) {
    if after == Some(Status::Queued) {
        return;
    }
    let bound = config.timeout() * 2;
    match tokio::time::timeout(bound, qrpos::forwarder::pass(terminal)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => eprintln!("qrpos: settling earlier sales: {e}"),
        Err(_) => eprintln!(
            "qrpos: earlier sales not all settled within {bound:?}; `qrpos queue forward` continues"
        ),
    }
}

/// One sale from an image, through the same checkout the touchscreen runs: its exit code,
/// and the state it ended in (if it got that far).
async fn charge_image(
    terminal: &qrpos::terminal::Terminal,
    signal: &Signal,
    config: &Config,
    amount: Won,
    image: &std::path::Path,
    product: &str,
    json: bool,
) -> (ExitCode, Option<Status>) {
    use qrpos::checkout::{self, Input, Order};
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    // The image is the only "frame": its texts, then the end of the source.
    let inputs = match qrpos::scan::decode_file(image) {
        Ok(texts) => vec![
            Input::Read(texts),
            Input::SourceEnded {
                why: "no QR code in the image".into(),
            },
        ],
        Err(e) => vec![Input::SourceEnded {
            why: format!("{}: {e}", image.display()),
        }],
    };
    for input in inputs {
        let _ = tx.send(input).await;
    }
    let order = Order {
        amount,
        product: product.to_string(),
        scan_timeout: config.scan_timeout(),
    };
    // The buzzer and LED answer as they will at the counter.
    let mut report = |step| {
        if let checkout::Step::Signal(pattern) = step {
            signal.indicator.play(pattern);
        }
    };
    match checkout::run(terminal, &order, &mut rx, &mut report).await {
        Ok(sale) => {
            print_sale(&sale, json);
            (exit_for(sale.status), Some(sale.status))
        }
        Err(failure) => match failure.sale {
            Some(sale) if failure.may_have_been_sent => (
                unknown_after_failure(
                    &sale.id,
                    &sale.bank_tran_id,
                    sale.amount,
                    &failure.error,
                    json,
                ),
                None,
            ),
            // Nothing was sent: an error like any other (exit 2).
            _ => (fail(failure.error), None),
        },
    }
}

/// A failure once the charge had begun (the journal, most likely): the withdrawal may have
/// left, so the cashier must not charge again; the resolver settles the sale by query.
/// Exits 3 (unknown), never 2.
fn unknown_after_failure(
    sale_id: &str,
    bank_tran_id: &str,
    amount: Won,
    error: &qrpos::terminal::TerminalError,
    json: bool,
) -> ExitCode {
    let (stdout, message) = unknown_report(sale_id, bank_tran_id, amount, &error.to_string(), json);
    println!("{stdout}");
    eprintln!("qrpos: {message}");
    ExitCode::from(EXIT_UNKNOWN)
}

/// What [`unknown_after_failure`] prints on stdout, and its message.
fn unknown_report(
    sale_id: &str,
    bank_tran_id: &str,
    amount: Won,
    error: &str,
    json: bool,
) -> (String, String) {
    let message = format!(
        "outcome unknown — do not charge again: {error}; the terminal confirms it with the backend (`qrpos resolve`)"
    );
    let stdout = if json {
        serde_json::json!({
            "status": "unknown", "state": "unknown", "sale_id": sale_id,
            "bank_tran_id": bank_tran_id, "amount": amount.0, "code": "TERMINAL_ERROR",
            "message": message,
        })
        .to_string()
    } else {
        format!(
            "UNKNOWN — confirming  {amount}  (sale {sale_id}, bank_tran_id {bank_tran_id})\n  {message}"
        )
    };
    (stdout, message)
}

async fn demo(common: &Common, amount: u64) -> ExitCode {
    let config = match common.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let image = dir.join("alice-one-time.png");
    #[cfg(feature = "sandbox")]
    {
        let now = chrono::Utc::now().timestamp();
        let text = match qrpos::sandbox::issue_code("alice", now, 180, false) {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        if let Err(e) = qrpos::scan::write_png(&text, &image) {
            return fail(e);
        }
        if !common.json {
            println!(
                "qrpos demo — backend: {}, journal: {}",
                config.backend.url,
                config.journal_dir().display()
            );
            println!(
                "1. the customer (alice) shows a one-time QR: {}",
                image.display()
            );
            println!(
                "2. the cashier charges {}; the terminal reads the code and asks the backend:",
                Won(amount)
            );
        }
    }
    let signal = match Signal::open(&config) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let running = match qrpos::setup::start(&config).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let (code, status) = charge_image(
        &running.terminal,
        &signal,
        &config,
        Won(amount),
        &image,
        "demo coffee",
        common.json,
    )
    .await;
    settle_backlog(&running.terminal, &config, status).await;
    running.stop().await;
    signal.finish();
    let _ = std::fs::remove_dir_all(&dir);
    code
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("qrpos-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn resolve(common: &Common) -> ExitCode {
    let (_, running) = match start(common).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let result = running.terminal.resolve_open().await;
    let left = running
        .terminal
        .journal()
        .open_sales()
        .map(|v| v.len())
        .unwrap_or(0);
    running.stop().await;
    match result {
        Ok(sales) => {
            for s in &sales {
                print_sale(s, common.json);
            }
            if !common.json {
                println!("{} sale(s) looked at, {} still open", sales.len(), left);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn journal_list(common: &Common, date: Option<&str>) -> ExitCode {
    let config = match common.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let journal = match qrpos::store::Journal::open(&config.journal_dir()) {
        Ok(j) => j,
        Err(e) => return fail(e),
    };
    let sales = match date {
        Some("all") => journal.all_sales(),
        Some(d) => journal.sales_on(&d.replace('-', "")),
        None => {
            use qrpos::clock::Clock;
            journal.sales_on(&qrpos::clock::SystemClock.now().format("%Y%m%d").to_string())
        }
    };
    match sales {
        Ok(sales) => {
            for s in &sales {
                print_sale(s, common.json);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn queue(what: QueueCommand) -> ExitCode {
    let common = match &what {
        QueueCommand::Status { common }
        | QueueCommand::List { common }
        | QueueCommand::Forward { common }
        | QueueCommand::Watch { common } => common,
    };
    let (config, running) = match start(common).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let t = &running.terminal;
    let code = match &what {
        QueueCommand::Status { .. } => {
            let online = qrpos::backend::reachable(
                &running.backend_url,
                std::time::Duration::from_millis(config.backend.connect_timeout_ms),
            )
            .await;
            match queue_status(t, online) {
                Ok(v) => {
                    if common.json {
                        println!("{v}");
                    } else {
                        println!(
                            "backend: {}\nqueued: {} sale(s), {}\noldest queued: {}\nunknown (confirming): {}\nneeding attention: {}",
                            if online { "online" } else { "OFFLINE" },
                            v["queued_count"],
                            Won(v["queued_amount"].as_u64().unwrap_or(0)),
                            v["oldest_age_s"].as_i64().map(|s| format!("{s} s ago")).unwrap_or_else(|| "—".into()),
                            v["unknown_count"],
                            v["attention_count"],
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        QueueCommand::List { .. } => match waiting_and_attention(t)
            .and_then(|sales| t.journal().damaged().map(|damaged| (sales, damaged)))
        {
            Ok((sales, damaged)) => {
                for s in &sales {
                    print_sale(s, common.json);
                }
                print_damaged(&damaged, common.json);
                if !common.json && sales.is_empty() && damaged.is_empty() {
                    println!("nothing waiting, nothing needing attention");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        QueueCommand::Forward { .. } => {
            let resolved = t.resolve_open().await;
            let forwarded = qrpos::forwarder::forward_queued(t).await;
            match (resolved, forwarded) {
                (Ok(r), Ok(f)) => {
                    for s in r.iter().chain(f.sales.iter()) {
                        print_sale(s, common.json);
                    }
                    if !common.json {
                        let left = t
                            .journal()
                            .open_sales()
                            .map(|v| v.iter().filter(|s| s.status == Status::Queued).count())
                            .unwrap_or(0);
                        println!(
                            "{} forwarded, {left} still queued{}",
                            f.sales.len(),
                            if f.offline {
                                " (backend unreachable)"
                            } else {
                                ""
                            }
                        );
                    }
                    ExitCode::SUCCESS
                }
                (Err(e), _) | (_, Err(e)) => fail(e),
            }
        }
        QueueCommand::Watch { .. } => {
            let (tx, rx) = tokio::sync::watch::channel(false);
            let interval = std::time::Duration::from_millis(config.offline.retry_interval_ms);
            eprintln!("qrpos: resolving and forwarding every {interval:?} until Ctrl-C");
            let Running {
                terminal, embedded, ..
            } = running;
            let terminal = std::sync::Arc::new(terminal);
            let json = common.json;
            let worker = tokio::spawn(qrpos::forwarder::run(terminal, interval, rx, move |sale| {
                print_sale(sale, json);
                let _ = std::io::Write::flush(&mut std::io::stdout());
            }));
            qrpos::service::ready("forwarding the offline queue");
            // Headless: the runtime pings; a wedged runtime misses them.
            let pinger = qrpos::service::ping_every().map(|every| {
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    loop {
                        tick.tick().await;
                        qrpos::service::alive();
                    }
                })
            });
            stop_requested().await;
            qrpos::service::stopping();
            if let Some(p) = pinger {
                p.abort();
            }
            let _ = tx.send(true);
            let _ = worker.await;
            embedded.stop().await;
            return ExitCode::SUCCESS;
        }
    };
    running.stop().await;
    code
}

fn queue_status(
    t: &qrpos::terminal::Terminal,
    online: bool,
) -> Result<serde_json::Value, qrpos::store::StoreError> {
    let q = qrpos::forwarder::queue_status(t)?;
    Ok(serde_json::json!({
        "online": online,
        "queued_count": q.queued_count,
        "queued_amount": q.queued_amount.0,
        "oldest_age_s": q.oldest_age_s,
        "unknown_count": q.unknown_count,
        "attention_count": q.attention_count,
    }))
}

/// Journal records that could not be read: on the attention list, never a blocker.
fn print_damaged(damaged: &[qrpos::store::DamagedRecord], json: bool) {
    for d in damaged {
        let attention = format!(
            "the journal record of sale {} cannot be read ({}): it was set aside; check this sale with the backend by hand",
            d.sale_id, d.detail
        );
        if json {
            println!(
                "{}",
                serde_json::json!({"status": "attention", "state": "unreadable", "sale_id": d.sale_id, "attention": attention})
            );
        } else {
            println!("UNREADABLE  (sale {})\n  ATTENTION: {attention}", d.sale_id);
        }
    }
}

fn waiting_and_attention(
    t: &qrpos::terminal::Terminal,
) -> Result<Vec<Sale>, qrpos::store::StoreError> {
    let mut out: Vec<Sale> = t
        .journal()
        .open_sales()?
        .into_iter()
        .filter(|s| !s.status.is_final())
        .collect();
    let flagged: Vec<Sale> = t
        .journal()
        .all_sales()?
        .into_iter()
        .filter(|s| s.attention.is_some() && !out.iter().any(|o| o.id == s.id))
        .collect();
    out.extend(flagged);
    Ok(out)
}

fn journal_export(common: &Common, date: &str, format: ExportFormat) -> ExitCode {
    let config = match common.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let Ok(day) = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
        return fail(format!("--date {date:?} is not a date like 2026-11-21"));
    };
    let journal = match qrpos::store::Journal::open(&config.journal_dir()) {
        Ok(j) => j,
        Err(e) => return fail(e),
    };
    let sales = match journal.sales_on(&day.format("%Y%m%d").to_string()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // Unreadable records are not in the totals: say so, loudly, rather than balance wrong.
    let day_prefix = format!("{}-", day.format("%Y%m%d"));
    for d in journal.damaged().unwrap_or_default() {
        if d.sale_id.starts_with(&day_prefix) {
            eprintln!(
                "qrpos: WARNING: sale {} of this day cannot be read ({}) and is not in this export",
                d.sale_id, d.detail
            );
        }
    }
    let export = qrpos::store::DayExport::new(date, &sales);
    let result = match format {
        ExportFormat::Json => serde_json::to_string_pretty(&export)
            .map_err(|e| e.to_string())
            .map(|s| println!("{s}")),
        ExportFormat::Csv => export
            .write_csv(std::io::stdout())
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn decode(files: &[PathBuf], json: bool) -> ExitCode {
    let mut all_ok = true;
    for file in files {
        let started = Instant::now();
        let result = qrpos::scan::decode_file(file);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let (texts, error) = match result {
            Ok(t) => (t, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        all_ok &= error.is_none();
        if json {
            println!(
                "{}",
                serde_json::json!({ "file": file.display().to_string(), "texts": texts, "error": error, "ms": (ms * 1000.0).round() / 1000.0 })
            );
        } else {
            match error {
                None => {
                    for t in &texts {
                        println!("{}: {t}", file.display());
                    }
                    println!("{}: {} code(s) in {ms:.2} ms", file.display(), texts.len());
                }
                Some(e) => println!("{}: not decoded ({e}) in {ms:.2} ms", file.display()),
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DECLINED)
    }
}

fn bench_decode(
    dirs: Vec<PathBuf>,
    json: bool,
    per_step: bool,
    references: bool,
    config: Option<&std::path::Path>,
) -> ExitCode {
    let config = match config {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => return fail(e),
        },
        None => Config::demo(),
    };
    if cfg!(debug_assertions) {
        eprintln!("qrpos: warning: a debug build; decode times mean little (use --release)");
    }
    let opts = qrpos::scan::bench::BenchOptions {
        dirs,
        frame_budget: config.frame_budget(),
        per_step,
        references,
    };
    match qrpos::scan::bench::run(&opts) {
        Ok(report) if json => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Ok(report) => {
            qrpos::scan::bench::print_text(&report);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[cfg(feature = "sandbox")]
fn qr_issue(
    user: &str,
    out: Option<&std::path::Path>,
    static_code: bool,
    lifetime: i64,
    issued_at: Option<i64>,
) -> ExitCode {
    let now = issued_at.unwrap_or_else(|| chrono::Utc::now().timestamp());
    match qrpos::sandbox::issue_code(user, now, lifetime, static_code) {
        Ok(text) => print_code(&text, out),
        Err(e) => fail(e),
    }
}

/// Prints a code's text, and writes it as a PNG to `out`.
fn print_code(text: &str, out: Option<&std::path::Path>) -> ExitCode {
    if let Some(path) = out {
        if let Err(e) = qrpos::scan::write_png(text, path) {
            return fail(e);
        }
    }
    println!("{text}");
    ExitCode::SUCCESS
}

#[cfg(not(feature = "sandbox"))]
fn qr_issue(_: &str, _: Option<&std::path::Path>, _: bool, _: i64, _: Option<i64>) -> ExitCode {
    fail("`qr issue` signs with the sandbox's development key: build with the `sandbox` feature")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_after_the_charge_began_is_unknown_not_an_error() {
        let (out, message) = unknown_report(
            "20261122-T1A0000AB",
            "T991000001UT1A0000AB",
            Won(4500),
            "journal I/O error: disk full",
            true,
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["status"], "unknown");
        assert_eq!(v["bank_tran_id"], "T991000001UT1A0000AB");
        assert!(message.starts_with("outcome unknown — do not charge again: journal I/O error"));
        assert_eq!(v["message"], message.as_str());
        let (text, _) = unknown_report("s", "b", Won(4500), "x", false);
        assert!(text.starts_with("UNKNOWN — confirming  ₩4,500"), "{text}");
        assert_eq!(EXIT_UNKNOWN, 3);
        assert_eq!(public_status(Status::Submitted), "unknown");
        assert_eq!(exit_for(Status::Submitted), ExitCode::from(EXIT_UNKNOWN));
    }
}
