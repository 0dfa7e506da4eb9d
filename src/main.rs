//! The `qrpos` command line: one binary for the terminal, its tools and the sandbox backend.
//! Exit codes: 0 approved / success, 1 declined (or a file that did not decode),
//! 2 usage, config or environment error, 3 outcome unknown or queued.

use clap::{Args, Parser, Subcommand};
use qrpos::config::Config;
use qrpos::sale::{Sale, Status, Won};
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Settle sales an earlier run left open (query, never re-send).
    Resolve {
        #[command(flatten)]
        common: Common,
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

#[derive(Subcommand)]
enum JournalCommand {
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
    },
}

/// Options of every command that talks to a backend or the journal.
#[derive(Args, Clone)]
struct Common {
    /// TOML config file (default: the built-in demo config with the embedded sandbox).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Backend base URL, overriding the config (`embedded` for the built-in sandbox).
    #[arg(long)]
    backend: Option<String>,
    /// `openbanking` or `payrequest`, overriding the config.
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
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QRPOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Pay {
            amount,
            qr_image,
            product,
            common,
        } => pay(&common, &amount, &qr_image, &product).await,
        Command::Demo { common, amount } => demo(&common, amount).await,
        Command::Resolve { common } => resolve(&common).await,
        Command::Journal {
            what: JournalCommand::List { date, common },
        } => journal_list(&common, date.as_deref()).await,
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
        Command::Qr {
            what:
                QrCommand::Issue {
                    user,
                    out,
                    static_code,
                    lifetime,
                    issued_at,
                },
        } => qr_issue(&user, out.as_deref(), static_code, lifetime, issued_at),
        #[cfg(feature = "sandbox")]
        Command::Sandbox {
            listen,
            data,
            accounts,
        } => {
            match qrpos::sandbox::run_cli(qrpos::sandbox::SandboxConfig {
                listen,
                data_dir: data,
                accounts_file: accounts,
            })
            .await
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
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
    let running = match qrpos::setup::start(&config).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let code = charge_image(&running.terminal, amount, image, product, common.json).await;
    running.stop().await;
    code
}

async fn charge_image(
    terminal: &qrpos::terminal::Terminal,
    amount: Won,
    image: &std::path::Path,
    product: &str,
    json: bool,
) -> ExitCode {
    // Whatever an earlier run left open is settled first (by query), so it is not forgotten.
    if let Err(e) = terminal.resolve_open().await {
        return fail(e);
    }
    let sale = match terminal.open_sale(amount, product) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let texts = match qrpos::scan::decode_file(image) {
        Ok(t) => t,
        Err(e) => {
            let refusal =
                qrpos::terminal::Refusal::new("NO_QR", format!("{}: {e}", image.display()));
            return finish(terminal.cancel(sale, &refusal), json);
        }
    };
    // The first text that is a payable code wins; otherwise the first refusal is the answer.
    let mut refusal = None;
    for text in &texts {
        match terminal.read_payload(text) {
            Ok(payload) => return finish(terminal.charge(sale, &payload).await, json),
            Err(r) => {
                refusal.get_or_insert(r);
            }
        }
    }
    let refusal = refusal
        .unwrap_or_else(|| qrpos::terminal::Refusal::new("NO_QR", "no QR code in the image"));
    finish(terminal.cancel(sale, &refusal), json)
}

fn finish(result: Result<Sale, qrpos::terminal::TerminalError>, json: bool) -> ExitCode {
    match result {
        Ok(sale) => {
            print_sale(&sale, json);
            exit_for(sale.status)
        }
        Err(e) => fail(e),
    }
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
    let running = match qrpos::setup::start(&config).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let code = charge_image(
        &running.terminal,
        Won(amount),
        &image,
        "demo coffee",
        common.json,
    )
    .await;
    running.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("qrpos-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn resolve(common: &Common) -> ExitCode {
    let config = match common.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let running = match qrpos::setup::start(&config).await {
        Ok(r) => r,
        Err(e) => return fail(e),
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
            use qrpos::terminal::Clock;
            journal.sales_on(
                &qrpos::terminal::SystemClock
                    .now()
                    .format("%Y%m%d")
                    .to_string(),
            )
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
    let text = match qrpos::sandbox::issue_code(user, now, lifetime, static_code) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if let Some(path) = out {
        if let Err(e) = qrpos::scan::write_png(&text, path) {
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
