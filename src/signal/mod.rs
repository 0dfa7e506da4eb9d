//! The buzzer and the LED: what each [`Pattern`] looks and sounds like ([`cues`]), a
//! [`Player`] that turns cues into output changes over time (pure, so a test drives it on a
//! clock of its own), and the [`Indicator`] that plays them on a thread of its own through
//! [`Outputs`]: the Pi's GPIO (`gpio`) or a simulated pair on screen and in the log
//! (`simulated`). Playing never blocks the sale flow, and a new pattern cuts a running one.

mod gpio;
mod simulated;

pub use simulated::{Simulated, SimulatedState};

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a checkout asks the buzzer and the LED to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// A payable code was read.
    GoodRead,
    Approved,
    Declined,
    /// A code that cannot pay, a timeout, an outcome not known yet.
    Error,
    AcceptedOffline,
}

/// The LED's colour. Amber is green and red together on a two-colour LED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Light {
    Off,
    Green,
    Red,
    Amber,
}

/// What the outputs show and sound at one moment: a light, and a tone in Hz or silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub light: Light,
    pub tone: Option<u32>,
}

impl Output {
    pub const OFF: Output = Output {
        light: Light::Off,
        tone: None,
    };
}

/// One segment of a pattern: `output` for `lasts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cue {
    pub output: Output,
    pub lasts: Duration,
}

const HIGH: u32 = 2700;
const LOW: u32 = 900;

/// The segments of `pattern`; everything goes off after the last. `mute` keeps the lights
/// and drops the tones (a busy shop switches the beep off).
pub fn cues(pattern: Pattern, mute: bool) -> Vec<Cue> {
    let ms = Duration::from_millis;
    let cue = |light, tone, lasts| Cue {
        output: Output { light, tone },
        lasts: ms(lasts),
    };
    let mut out = match pattern {
        Pattern::GoodRead => vec![cue(Light::Green, Some(HIGH), 80)],
        Pattern::Approved => vec![
            cue(Light::Green, Some(HIGH), 100),
            cue(Light::Green, None, 100),
            cue(Light::Green, Some(HIGH), 100),
            cue(Light::Green, None, 1700),
        ],
        Pattern::Declined => vec![cue(Light::Red, Some(LOW), 700), cue(Light::Red, None, 1300)],
        Pattern::Error => vec![
            cue(Light::Red, Some(LOW), 80),
            cue(Light::Off, None, 80),
            cue(Light::Red, Some(LOW), 80),
            cue(Light::Off, None, 80),
            cue(Light::Red, Some(LOW), 80),
        ],
        Pattern::AcceptedOffline => vec![
            cue(Light::Amber, Some(HIGH), 100),
            cue(Light::Amber, None, 1900),
        ],
    };
    if mute {
        out.iter_mut().for_each(|c| c.output.tone = None);
    }
    out
}

/// Plays cues over time. Pure: it is told the time, and says what to set and when next.
#[derive(Debug, Default)]
pub struct Player {
    cues: Vec<Cue>,
    /// The cue showing now (`cues.len()`: done).
    index: usize,
    /// When the cue showing now ends.
    next: Option<Instant>,
}

impl Player {
    /// Starts `cues` at `now`, cutting whatever was playing; returns what to set now.
    pub fn start(&mut self, cues: Vec<Cue>, now: Instant) -> Output {
        self.cues = cues;
        self.index = 0;
        match self.cues.first() {
            Some(c) => {
                self.next = Some(now + c.lasts);
                c.output
            }
            None => {
                self.next = None;
                Output::OFF
            }
        }
    }

    /// When the next change is due (`None`: nothing playing).
    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// The change due by `now`, if any: the next cue, or off after the last.
    pub fn tick(&mut self, now: Instant) -> Option<Output> {
        let next = self.next.filter(|at| *at <= now)?;
        self.index += 1;
        match self.cues.get(self.index) {
            Some(c) => {
                // Timed from when this cue was due, not from a late tick: no drift.
                self.next = Some(next + c.lasts);
                Some(c.output)
            }
            None => {
                self.next = None;
                Some(Output::OFF)
            }
        }
    }
}

/// The hardware (or its stand-in) that shows an [`Output`].
pub trait Outputs: Send {
    fn show(&mut self, output: Output);
}

/// Plays patterns on its own thread; [`Indicator::play`] returns at once. Dropping it turns
/// everything off and waits for the thread, so no pin is left on.
pub struct Indicator {
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Command {
    Play(Pattern),
    /// Let the pattern playing end, then stop.
    Finish,
}

impl Indicator {
    /// Starts the player thread on `outputs`.
    pub fn start(mut outputs: Box<dyn Outputs>, mute: bool) -> Indicator {
        let (commands, rx) = mpsc::channel::<Command>();
        let thread = std::thread::Builder::new()
            .name("qrpos-indicator".into())
            .spawn(move || {
                let mut player = Player::default();
                let mut finishing = false;
                loop {
                    let next = match player.due() {
                        Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
                        None if finishing => Err(mpsc::RecvTimeoutError::Disconnected),
                        None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                    };
                    match next {
                        Ok(Command::Play(pattern)) => {
                            outputs.show(player.start(cues(pattern, mute), Instant::now()))
                        }
                        Ok(Command::Finish) => finishing = true,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if let Some(out) = player.tick(Instant::now()) {
                                outputs.show(out);
                            }
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => {
                            outputs.show(Output::OFF);
                            return;
                        }
                    }
                }
            })
            .map_err(|e| tracing::error!("the indicator thread did not start: {e}"))
            .ok();
        Indicator {
            commands: Some(commands),
            thread,
        }
    }

    /// Plays `pattern`, cutting the one playing. Never blocks.
    pub fn play(&self, pattern: Pattern) {
        // A stopped player thread only costs the beep, never the sale.
        if let Some(c) = &self.commands {
            let _ = c.send(Command::Play(pattern));
        }
    }

    /// Lets the pattern playing end (a short-lived command's last beep), then turns off.
    pub fn finish(mut self) {
        if let Some(c) = &self.commands {
            let _ = c.send(Command::Finish);
        }
        // The thread ends by itself once the pattern is over: the channel stays open till
        // then, or its closing would cut the pattern.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Indicator {
    /// Cuts the pattern, turns everything off and waits for that.
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Which outputs to play on: `[signal]` in the config (BCM pin numbers; wiring in
/// `hardware/`), checked by `Config::validate`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalSettings {
    /// `auto` (GPIO on a Pi, simulated elsewhere), `gpio`, or `simulated`.
    #[serde(rename = "indicator")]
    pub kind: IndicatorKind,
    pub green_pin: u8,
    pub red_pin: u8,
    pub buzzer_pin: u8,
    pub buzzer: BuzzerKind,
    /// 0 ..= 100: the PWM duty cycle of the tone, up to a square wave.
    pub volume: u8,
    /// No tones, lights only.
    pub mute: bool,
}

impl Default for SignalSettings {
    fn default() -> Self {
        SignalSettings {
            kind: IndicatorKind::Auto,
            green_pin: 17,
            red_pin: 27,
            buzzer_pin: 18,
            buzzer: BuzzerKind::SoftwarePwm,
            volume: 50,
            mute: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndicatorKind {
    /// GPIO on a Raspberry Pi, the simulated pair elsewhere.
    Auto,
    Gpio,
    Simulated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuzzerKind {
    /// A passive buzzer driven by software PWM on any pin.
    SoftwarePwm,
    /// A passive buzzer on the hardware PWM channel (BCM 18 = PWM0; needs the pwm overlay).
    HardwarePwm,
    /// A buzzer with its own oscillator: on or off, one pitch.
    Active,
}

/// The indicator the settings ask for. `Auto` off a Pi (rppal: unknown model) falls back to
/// the simulated pair and says so once in the log; on a Pi whose GPIO cannot be opened it
/// falls back too, with a warning (no beeps at the counter is worth knowing). `Gpio` that
/// cannot be opened is an error.
pub fn open(settings: &SignalSettings) -> Result<(Indicator, Option<SimulatedState>), String> {
    let simulated = || {
        let sim = Simulated::new();
        let state = sim.state();
        (Indicator::start(Box::new(sim), settings.mute), Some(state))
    };
    match settings.kind {
        IndicatorKind::Simulated => Ok(simulated()),
        IndicatorKind::Gpio => gpio::Pins::open(settings)
            .map(|pins| (Indicator::start(Box::new(pins), settings.mute), None))
            .map_err(|e| e.why),
        IndicatorKind::Auto => match gpio::Pins::open(settings) {
            Ok(pins) => Ok((Indicator::start(Box::new(pins), settings.mute), None)),
            Err(e) if e.off_pi => {
                tracing::info!("no GPIO here ({}): the buzzer and LED are simulated", e.why);
                Ok(simulated())
            }
            Err(e) => {
                tracing::warn!(
                    "the buzzer and LED cannot be driven ({}): simulated instead",
                    e.why
                );
                Ok(simulated())
            }
        },
    }
}

#[cfg(test)]
mod tests;
