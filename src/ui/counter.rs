//! The counter: the Rust side of the screens. It keeps the state (the amount being keyed,
//! the sale under way, the PIN pad), answers the `Pos` callbacks, and sets `Pos` properties.
//! Everything slow runs off the UI thread: the checkout on tokio, the camera and decoder on
//! their own threads, journal reads in `spawn_blocking`. Their results come back as
//! [`Event`]s through Slint's event loop (`invoke_from_event_loop`), so the UI never waits.

use super::amount_entry::AmountEntry;
use super::camera_feed::{preview_pixels, CameraFeed, CameraNote};
use super::pin::{OperatorPin, PinOutcome, PinPad, Step as PinStepKind};
use super::{view, App, Diagnostics, Light, PinStep, Pos, Reason, Screen};
use crate::checkout::{self, Failure, Input, Order, Step};
use crate::config::{CameraSection, Config, FrameSourceKind};
use crate::sale::{Sale, Won};
use crate::scan::ScannerSettings;
use crate::signal::{Indicator, SimulatedState};
use crate::terminal::Terminal;
use slint::{ComponentHandle, Timer, TimerMode};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};

/// What the counter needs from the rest of the terminal.
pub struct Deps {
    pub terminal: Arc<Terminal>,
    pub config: Config,
    /// The backend actually used (the embedded sandbox's loopback URL, say).
    pub backend_url: String,
    pub indicator: Arc<Indicator>,
    /// The simulated buzzer and LED, drawn in the status bar; `None` on real GPIO.
    pub simulated: Option<SimulatedState>,
    pub runtime: tokio::runtime::Handle,
    /// `--camera demo`: each sale's camera shows a fresh one-time code of this sandbox
    /// customer, so the desktop demo completes a sale with no webcam.
    pub demo_customer: Option<String>,
}

/// What comes back to the UI thread.
enum Event {
    Step(Step),
    Ended(Result<Sale, Failure>, Won),
    Camera(CameraNote),
    Status {
        online: bool,
        queue: crate::forwarder::QueueStatus,
    },
    Today(String, Vec<Sale>),
    Detail(Sale),
    /// Today's latest sale at start, for the idle screen.
    LastSale(Sale),
    /// The checkout task itself failed (a panic): the outcome is unknown until the resolver
    /// settles it.
    CheckoutLost(Won, String),
}

/// Sends [`Event`]s to the UI thread. `Send`: the checkout task and camera threads hold it.
#[derive(Clone)]
struct Poster(std::sync::mpsc::Sender<Event>);

impl Poster {
    fn post(&self, event: Event) {
        if self.0.send(event).is_ok() {
            // Fails only once the event loop has ended: nothing left to show it on.
            let _ = slint::invoke_from_event_loop(drain_current);
        }
    }
}

thread_local! {
    /// The counter on this (the UI) thread, for events coming back from other threads.
    static CURRENT: RefCell<Weak<Inner>> = const { RefCell::new(Weak::new()) };
}

fn drain_current() {
    if let Some(inner) = CURRENT.with(|c| c.borrow().upgrade()) {
        inner.drain();
    }
}

/// The touchscreen's controller. Dropping it stops the background work.
pub struct Counter {
    inner: Rc<Inner>,
    stop_background: watch::Sender<bool>,
}

struct Inner {
    app: App,
    deps: Deps,
    pin: OperatorPin,
    poster: Poster,
    queue: std::sync::mpsc::Receiver<Event>,
    refresh: Arc<Notify>,
    state: RefCell<State>,
    tick: Timer,
    lamp: Timer,
    result_timer: Timer,
    lock_timer: Timer,
}

#[derive(Default)]
struct State {
    entry: AmountEntry,
    product: String,
    sale: Option<ActiveSale>,
    pad: Option<PinPad>,
    camera: Option<CameraNote>,
    online: bool,
    queue: crate::forwarder::QueueStatus,
    language: String,
}

/// The sale a checkout is running.
struct ActiveSale {
    inputs: mpsc::Sender<Input>,
    deadline: Instant,
    /// Stopped (dropped) once a code is read: the charge needs no more frames.
    feed: Option<CameraFeed>,
    /// Ends when the checkout has (its outcome journaled and posted).
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Counter {
    /// Builds the window's controller and starts the background work (status, the
    /// resolver and forwarder). Call on the UI thread, inside the tokio runtime's reach.
    pub fn start(app: App, deps: Deps) -> Counter {
        let (tx, queue) = std::sync::mpsc::channel();
        let pin = OperatorPin::new(
            deps.config.ui.operator_pin.clone(),
            deps.config.journal_dir().join("operator-pin"),
        );
        let language = deps.config.ui.language.clone();
        let inner = Rc::new(Inner {
            app,
            pin,
            poster: Poster(tx),
            queue,
            refresh: Arc::new(Notify::new()),
            state: RefCell::new(State {
                online: true,
                language: language.clone(),
                ..State::default()
            }),
            tick: Timer::default(),
            lamp: Timer::default(),
            result_timer: Timer::default(),
            lock_timer: Timer::default(),
            deps,
        });
        CURRENT.with(|c| *c.borrow_mut() = Rc::downgrade(&inner));
        inner.set_language(&language);
        inner.wire_callbacks();
        inner.start_timers();
        let (stop_background, stopped) = watch::channel(false);
        inner.start_background(stopped);
        let pos = inner.app.global::<Pos>();
        pos.set_merchant(inner.deps.config.terminal.merchant_name.clone().into());
        pos.set_max_amount(inner.deps.config.max_amount().to_string().into());
        pos.set_signal_on_screen(inner.deps.simulated.is_some());
        let products: Vec<slint::SharedString> = inner
            .deps
            .config
            .ui
            .products
            .iter()
            .map(|p| p.into())
            .collect();
        pos.set_products(slint::ModelRc::new(slint::VecModel::from(products)));
        inner.show_clock();
        inner.show_amount();
        inner.load_last_sale();
        // The window cannot be closed while the bank is being asked.
        let me = Rc::downgrade(&inner);
        inner
            .app
            .window()
            .on_close_requested(move || match me.upgrade() {
                Some(me) if me.pos().get_screen() == Screen::Processing => {
                    slint::CloseRequestResponse::KeepWindowShown
                }
                _ => slint::CloseRequestResponse::HideWindow,
            });
        Counter {
            inner,
            stop_background,
        }
    }

    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// On the way out (window closed, SIGTERM): a sale still scanning is cancelled, and the
    /// returned task ends once the checkout has journaled its outcome. Await it (bounded)
    /// before the runtime goes, so a charge under way is never cut off unrecorded.
    pub fn finish(&self) -> Option<tokio::task::JoinHandle<()>> {
        let mut st = self.inner.state.borrow_mut();
        let sale = st.sale.as_mut()?;
        let _ = sale.inputs.try_send(Input::Cancel);
        sale.feed = None;
        sale.task.take()
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        let _ = self.stop_background.send(true);
        self.inner.tick.stop();
        self.inner.lamp.stop();
        // A sale still scanning is cancelled by its checkout (the input channel closes).
        self.inner.state.borrow_mut().sale = None;
    }
}

/// The decoder settings of `[scan]`.
pub fn scanner_settings(config: &Config) -> ScannerSettings {
    ScannerSettings {
        frame_budget: config.frame_budget(),
        dedup: config.dedup_window(),
        ..ScannerSettings::default()
    }
}

impl Inner {
    fn pos(&self) -> Pos<'_> {
        self.app.global::<Pos>()
    }

    fn wire_callbacks(self: &Rc<Self>) {
        let pos = self.pos();
        let me = Rc::downgrade(self);
        let with = move |f: fn(&Rc<Inner>)| {
            let me = me.clone();
            move || {
                if let Some(me) = me.upgrade() {
                    f(&me)
                }
            }
        };
        pos.on_new_sale(with(|me| me.new_sale()));
        pos.on_charge(with(|me| me.charge()));
        pos.on_cancel(with(|me| me.cancel()));
        pos.on_dismiss(with(|me| me.dismiss()));
        pos.on_show_today(with(|me| me.show_today()));
        pos.on_close_sale(with(|me| me.pos().set_show_detail(false)));
        pos.on_open_settings(with(|me| me.open_settings()));
        pos.on_lock(with(|me| me.lock()));
        pos.on_home(with(|me| me.home()));
        let me = Rc::downgrade(self);
        let with_text = move |f: fn(&Rc<Inner>, &str)| {
            let me = me.clone();
            move |text: slint::SharedString| {
                if let Some(me) = me.upgrade() {
                    f(&me, text.as_str())
                }
            }
        };
        pos.on_key(with_text(|me, k| me.key(k)));
        pos.on_choose_product(with_text(|me, p| me.choose_product(p)));
        pos.on_open_sale(with_text(|me, id| me.open_sale(id)));
        pos.on_pin_key(with_text(|me, k| me.pin_key(k)));
        pos.on_set_language(with_text(|me, l| {
            me.set_language(l);
            me.touch_settings();
        }));
    }

    fn start_timers(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        self.tick
            .start(TimerMode::Repeated, Duration::from_secs(1), move || {
                if let Some(me) = me.upgrade() {
                    me.show_clock();
                }
            });
        if let Some(sim) = self.deps.simulated.clone() {
            let me = Rc::downgrade(self);
            self.lamp
                .start(TimerMode::Repeated, Duration::from_millis(50), move || {
                    if let Some(me) = me.upgrade() {
                        let out = sim.now();
                        me.pos().set_light(match out.light {
                            crate::signal::Light::Off => Light::Off,
                            crate::signal::Light::Green => Light::Green,
                            crate::signal::Light::Red => Light::Red,
                            crate::signal::Light::Amber => Light::Amber,
                        });
                        me.pos().set_tone(out.tone.is_some());
                    }
                });
        }
    }

    /// The status poll and the resolver/forwarder, on tokio.
    fn start_background(&self, stopped: watch::Receiver<bool>) {
        let t = Arc::clone(&self.deps.terminal);
        let interval = Duration::from_millis(self.deps.config.offline.retry_interval_ms);
        let refresh = Arc::clone(&self.refresh);
        self.deps.runtime.spawn(crate::forwarder::run(
            Arc::clone(&t),
            interval,
            stopped.clone(),
            move |_| refresh.notify_one(),
        ));
        let (poster, refresh, url) = (
            self.poster.clone(),
            Arc::clone(&self.refresh),
            self.deps.backend_url.clone(),
        );
        let probe = Duration::from_millis(self.deps.config.backend.connect_timeout_ms);
        let mut stopped = stopped;
        self.deps.runtime.spawn(async move {
            loop {
                let online = crate::backend::reachable(&url, probe).await;
                let tq = Arc::clone(&t);
                let queue =
                    tokio::task::spawn_blocking(move || crate::forwarder::queue_status(&tq))
                        .await
                        .ok()
                        .and_then(|r| r.ok())
                        .unwrap_or_default();
                poster.post(Event::Status { online, queue });
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3)) => {}
                    _ = refresh.notified() => {}
                    _ = stopped.changed() => return,
                }
            }
        });
    }

    /// Handles everything other threads sent since the last time.
    fn drain(self: &Rc<Self>) {
        while let Ok(event) = self.queue.try_recv() {
            self.handle(event);
        }
    }

    fn handle(self: &Rc<Self>, event: Event) {
        let pos = self.pos();
        match event {
            Event::Step(Step::Opened(_) | Step::Signal(_)) => {}
            Event::Step(Step::Refused(r)) => {
                pos.set_scan_note(view::reason(r.code));
                pos.set_scan_note_detail(r.message.into());
            }
            Event::Step(Step::CodeRead { .. }) => {
                if let Some(sale) = self.state.borrow_mut().sale.as_mut() {
                    sale.feed = None;
                }
                pos.set_screen(Screen::Processing);
            }
            Event::Step(Step::Finished(sale)) => self.show_result(view::result(&sale), Some(&sale)),
            Event::Ended(Ok(_), _) => {
                self.state.borrow_mut().sale = None;
                self.refresh.notify_one();
            }
            Event::Ended(Err(f), amount) => {
                self.state.borrow_mut().sale = None;
                tracing::error!("checkout failed: {}", f.error);
                let shown = view::failure(
                    f.sale.as_ref(),
                    amount,
                    &f.error.to_string(),
                    f.may_have_been_sent,
                );
                self.show_result(shown, f.sale.as_ref());
                self.refresh.notify_one();
            }
            Event::Camera(note) => {
                pos.set_camera_problem(match &note {
                    CameraNote::Problem(why) => why.clone().into(),
                    CameraNote::Working(_) => "".into(),
                });
                let mut st = self.state.borrow_mut();
                // "Working again" after a problem keeps the source named before.
                if !matches!(&note, CameraNote::Working(d) if d.is_empty()) {
                    st.camera = Some(note);
                }
            }
            Event::Status { online, queue } => {
                pos.set_online(online);
                pos.set_queued_count(queue.queued_count as i32);
                pos.set_queued_amount(queue.queued_amount.to_string().into());
                let mut st = self.state.borrow_mut();
                st.online = online;
                st.queue = queue;
                drop(st);
                if pos.get_unlocked() {
                    self.show_diagnostics();
                }
            }
            Event::Today(date, sales) => {
                pos.set_today_date(date.into());
                pos.set_today_rows(view::rows(&sales));
                pos.set_today_totals(view::totals(&sales));
            }
            Event::LastSale(sale) => {
                // Only if no sale of this run has been shown meanwhile.
                if !pos.get_has_last_sale() {
                    self.show_last_sale(&sale);
                }
            }
            Event::CheckoutLost(amount, why) => {
                self.state.borrow_mut().sale = None;
                tracing::error!("the checkout task failed: {why}");
                self.show_result(view::failure(None, amount, &why, true), None);
                self.refresh.notify_one();
            }
            Event::Detail(sale) => {
                pos.set_detail(view::detail(&sale));
                pos.set_show_detail(true);
            }
        }
    }

    fn show_clock(&self) {
        let now = self.deps.terminal_clock().now();
        self.pos().set_clock(now.format("%H:%M").to_string().into());
        if let Some(sale) = &self.state.borrow().sale {
            let left = sale.deadline.saturating_duration_since(Instant::now());
            self.pos()
                .set_seconds_left(left.as_secs_f64().ceil() as i32);
        }
    }

    fn show_amount(&self) {
        let st = self.state.borrow();
        let pos = self.pos();
        pos.set_amount_text(st.entry.amount().to_string().into());
        pos.set_amount_too_large(st.entry.over_maximum());
        pos.set_can_charge(st.entry.can_charge());
        pos.set_product(st.product.clone().into());
    }

    fn new_sale(&self) {
        if self.state.borrow().sale.is_some() {
            return;
        }
        {
            let mut st = self.state.borrow_mut();
            st.entry = AmountEntry::default();
            st.product.clear();
        }
        self.show_amount();
        self.pos().set_screen(Screen::Amount);
    }

    fn key(&self, key: &str) {
        let max = self.deps.config.max_amount();
        self.state.borrow_mut().entry.press(key, max);
        self.show_amount();
    }

    fn choose_product(&self, name: &str) {
        {
            let mut st = self.state.borrow_mut();
            st.product = if st.product == name {
                String::new()
            } else {
                name.to_string()
            };
        }
        self.show_amount();
    }

    /// "Charge": the sale opens (journaled by the checkout), the camera starts, the scan
    /// screen shows.
    fn charge(self: &Rc<Self>) {
        let (amount, product) = {
            let st = self.state.borrow();
            if st.sale.is_some() || !st.entry.can_charge() {
                return;
            }
            (st.entry.amount(), st.product.clone())
        };
        let order = Order {
            amount,
            product,
            scan_timeout: self.deps.config.scan_timeout(),
        };
        let (inputs, mut rx) = mpsc::channel(32);
        let pending = Arc::new(AtomicBool::new(false));
        let weak = self.app.as_weak();
        let preview = move |frame: &image::GrayImage| {
            // One preview waits to be drawn at most: newer frames are dropped meanwhile, so
            // the preview never holds up the decoder.
            if pending.swap(true, Ordering::AcqRel) {
                return;
            }
            let pixels = preview_pixels(frame, 320);
            let pending = Arc::clone(&pending);
            let _ = weak.upgrade_in_event_loop(move |app| {
                let pos = app.global::<Pos>();
                pos.set_preview(slint::Image::from_rgb8(pixels));
                pos.set_has_preview(true);
                pending.store(false, Ordering::Release);
            });
        };
        let poster = self.poster.clone();
        let feed = CameraFeed::start(
            self.camera_for_sale(),
            scanner_settings(&self.deps.config),
            inputs.clone(),
            preview,
            move |note| poster.post(Event::Camera(note)),
        );
        self.state.borrow_mut().sale = Some(ActiveSale {
            inputs,
            deadline: Instant::now() + order.scan_timeout,
            feed: Some(feed),
            task: None,
        });
        let pos = self.pos();
        pos.set_scan_note(Reason::None);
        pos.set_scan_note_detail("".into());
        pos.set_camera_problem("".into());
        pos.set_has_preview(false);
        pos.set_seconds_left(order.scan_timeout.as_secs() as i32);
        pos.set_screen(Screen::Scan);

        let terminal = Arc::clone(&self.deps.terminal);
        let indicator = Arc::clone(&self.deps.indicator);
        let poster = self.poster.clone();
        let lost = self.poster.clone();
        let checkout = self.deps.runtime.spawn(async move {
            let mut report = |step: Step| {
                // The buzzer answers at once, not after the screen.
                if let Step::Signal(pattern) = &step {
                    indicator.play(*pattern);
                }
                poster.post(Event::Step(step));
            };
            let ended = checkout::run(&terminal, &order, &mut rx, &mut report).await;
            poster.post(Event::Ended(ended, amount));
        });
        // If the checkout task dies, the screen must not wait for it forever.
        let task = self.deps.runtime.spawn(async move {
            if let Err(e) = checkout.await {
                lost.post(Event::CheckoutLost(
                    amount,
                    format!("the checkout stopped: {e}"),
                ));
            }
        });
        if let Some(sale) = self.state.borrow_mut().sale.as_mut() {
            sale.task = Some(task);
        }
    }

    /// The camera for the next sale: the configured one, or the demo's fresh code.
    fn camera_for_sale(&self) -> CameraSection {
        let camera = self.deps.config.camera.clone();
        #[cfg(feature = "sandbox")]
        if let Some(user) = &self.deps.demo_customer {
            let file = std::env::temp_dir().join(format!("qrpos-demo-{}.png", std::process::id()));
            let now = chrono::Utc::now().timestamp();
            match crate::sandbox::issue_code(user, now, 180, false)
                .map_err(|e| e.to_string())
                .and_then(|text| crate::scan::write_png(&text, &file).map_err(|e| e.to_string()))
            {
                Ok(()) => {
                    return CameraSection {
                        source: FrameSourceKind::Replay,
                        replay_dir: Some(file),
                        replay_fps: 15,
                        replay_loop: true,
                        ..camera
                    }
                }
                Err(e) => tracing::error!("demo camera: {e}"),
            }
        }
        camera
    }

    fn cancel(&self) {
        if let Some(sale) = &self.state.borrow().sale {
            // Sent even if reads fill the channel: the cancel waits its turn, never dropped.
            let inputs = sale.inputs.clone();
            self.deps.runtime.spawn(async move {
                let _ = inputs.send(Input::Cancel).await;
            });
        }
    }

    fn load_last_sale(&self) {
        let (t, poster, date) = (
            Arc::clone(&self.deps.terminal),
            self.poster.clone(),
            self.today(),
        );
        self.deps.runtime.spawn_blocking(move || {
            let last = t
                .journal()
                .sales_on(&date)
                .ok()
                .and_then(|sales| sales.into_iter().max_by_key(|s| s.created_at_ms));
            if let Some(sale) = last {
                poster.post(Event::LastSale(sale));
            }
        });
    }

    fn show_last_sale(&self, sale: &Sale) {
        let pos = self.pos();
        pos.set_has_last_sale(true);
        pos.set_last_sale_amount(sale.amount.to_string().into());
        pos.set_last_sale_outcome(view::outcome(sale.status));
        pos.set_last_sale_time(view::settled_time(sale).into());
    }

    fn show_result(self: &Rc<Self>, shown: super::ResultView, sale: Option<&Sale>) {
        let pos = self.pos();
        if let Some(sale) = sale {
            self.show_last_sale(sale);
        }
        pos.set_result(shown);
        pos.set_has_preview(false);
        pos.set_screen(Screen::Result);
        let me = Rc::downgrade(self);
        self.result_timer.start(
            TimerMode::SingleShot,
            Duration::from_secs(self.deps.config.ui.result_timeout_s),
            move || {
                if let Some(me) = me.upgrade() {
                    me.dismiss();
                }
            },
        );
    }

    fn dismiss(&self) {
        if self.pos().get_screen() == Screen::Result {
            self.result_timer.stop();
            self.pos().set_screen(Screen::Idle);
        }
    }

    fn home(&self) {
        if self.state.borrow().sale.is_none() {
            self.pos().set_show_detail(false);
            self.pos().set_screen(Screen::Idle);
        }
    }

    fn today(&self) -> String {
        self.deps
            .terminal_clock()
            .now()
            .format("%Y%m%d")
            .to_string()
    }

    fn show_today(&self) {
        self.pos().set_show_detail(false);
        self.pos().set_screen(Screen::Today);
        let (t, poster, date) = (
            Arc::clone(&self.deps.terminal),
            self.poster.clone(),
            self.today(),
        );
        self.deps.runtime.spawn_blocking(move || {
            let sales = t.journal().sales_on(&date).unwrap_or_else(|e| {
                tracing::error!("today's sales: {e}");
                Vec::new()
            });
            let shown = format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]);
            poster.post(Event::Today(shown, sales));
        });
    }

    fn open_sale(&self, id: &str) {
        let (t, poster, id) = (
            Arc::clone(&self.deps.terminal),
            self.poster.clone(),
            id.to_string(),
        );
        self.deps
            .runtime
            .spawn_blocking(move || match t.journal().get(&id) {
                Ok(sale) => poster.post(Event::Detail(sale)),
                Err(e) => tracing::error!("sale {id}: {e}"),
            });
    }

    fn open_settings(self: &Rc<Self>) {
        if self.state.borrow().sale.is_some() {
            return;
        }
        if !self.pos().get_unlocked() {
            self.state.borrow_mut().pad = Some(PinPad::new(&self.pin));
            self.show_pin();
        }
        self.show_diagnostics();
        self.pos().set_screen(Screen::Settings);
        self.touch_settings();
    }

    fn pin_key(self: &Rc<Self>, key: &str) {
        self.touch_settings();
        let outcome = {
            let mut st = self.state.borrow_mut();
            let pad = st.pad.get_or_insert_with(|| PinPad::new(&self.pin));
            pad.press(key, &self.pin)
        };
        match outcome {
            PinOutcome::Typing => {}
            PinOutcome::Unlocked => {
                self.state.borrow_mut().pad = None;
                self.pos().set_unlocked(true);
                self.show_diagnostics();
            }
            PinOutcome::NotKept(why) => {
                tracing::error!("{why}");
                self.pos().set_pin_wrong(true);
            }
        }
        self.show_pin();
    }

    fn show_pin(&self) {
        let st = self.state.borrow();
        let Some(pad) = &st.pad else { return };
        let pos = self.pos();
        pos.set_pin_step(match pad.step {
            PinStepKind::Enter => PinStep::Enter,
            PinStepKind::Choose => PinStep::Choose,
            PinStepKind::Confirm => PinStep::Confirm,
        });
        pos.set_pin_length(pad.typed_len() as i32);
        pos.set_pin_wrong(pad.wrong);
        pos.set_pin_mismatch(pad.mismatch);
    }

    /// Activity on the operator screens: the lock waits again from now.
    fn touch_settings(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        self.lock_timer.start(
            TimerMode::SingleShot,
            Duration::from_secs(self.deps.config.ui.lock_after_s),
            move || {
                if let Some(me) = me.upgrade() {
                    me.lock();
                }
            },
        );
    }

    fn lock(&self) {
        self.lock_timer.stop();
        self.pos().set_unlocked(false);
        self.state.borrow_mut().pad = None;
        if self.pos().get_screen() == Screen::Settings {
            self.pos().set_screen(Screen::Idle);
        }
    }

    fn set_language(&self, language: &str) {
        // English is the text in the `.slint` files; Korean is the bundled translation.
        let selected = if language == "en" { "" } else { language };
        if let Err(e) = slint::select_bundled_translation(selected) {
            tracing::warn!("language {language}: {e}");
            return;
        }
        self.state.borrow_mut().language = language.to_string();
        self.show_diagnostics();
    }

    fn show_diagnostics(&self) {
        let st = self.state.borrow();
        let c = &self.deps.config;
        let (camera, camera_ok) = match &st.camera {
            Some(CameraNote::Working(d)) => (d.clone(), true),
            Some(CameraNote::Problem(why)) => (why.clone(), false),
            None => (
                match c.camera.source {
                    FrameSourceKind::Camera => format!(
                        "camera {} at {}×{} (opened at each sale)",
                        c.camera.device, c.camera.width, c.camera.height
                    ),
                    FrameSourceKind::Replay => format!(
                        "replay of {}",
                        c.camera
                            .replay_dir
                            .as_ref()
                            .map(|d| d.display().to_string())
                            .unwrap_or_default()
                    ),
                },
                true,
            ),
        };
        let q = &st.queue;
        self.pos().set_diagnostics(Diagnostics {
            camera: camera.into(),
            camera_ok,
            backend: format!(
                "{} ({}) — {}",
                self.deps.backend_url,
                c.backend.protocol.as_str(),
                if st.online {
                    "reachable"
                } else {
                    "NOT reachable"
                }
            )
            .into(),
            backend_ok: st.online,
            queue: format!(
                "{} queued ({}), {} being confirmed, {} needing attention",
                q.queued_count, q.queued_amount, q.unknown_count, q.attention_count
            )
            .into(),
            journal: c.journal_dir().display().to_string().into(),
            version: env!("CARGO_PKG_VERSION").into(),
            language: st.language.clone().into(),
        });
    }
}

impl Deps {
    fn terminal_clock(&self) -> &dyn crate::clock::Clock {
        self.terminal.clock()
    }
}
