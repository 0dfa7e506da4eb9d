//! Patterns as the outputs see them: the sequence of states and when each comes, on a clock
//! the test moves (the player is told the time), and through [`Outputs`] on the real thread.

use super::*;

const MS: Duration = Duration::from_millis(1);

/// Plays `pattern` from `t0` to the end, ticking exactly when each change is due: every
/// state shown, with its offset from the start in ms.
fn timeline(pattern: Pattern, mute: bool) -> Vec<(u64, Output)> {
    let t0 = Instant::now();
    let mut player = Player::default();
    let mut seen = vec![(0, player.start(cues(pattern, mute), t0))];
    while let Some(at) = player.due() {
        let out = player.tick(at).expect("a change is due");
        seen.push(((at - t0).as_millis() as u64, out));
    }
    seen
}

fn o(light: Light, tone: Option<u32>) -> Output {
    Output { light, tone }
}

#[test]
fn approved_is_green_with_two_short_beeps_then_off() {
    assert_eq!(
        timeline(Pattern::Approved, false),
        [
            (0, o(Light::Green, Some(HIGH))),
            (100, o(Light::Green, None)),
            (200, o(Light::Green, Some(HIGH))),
            (300, o(Light::Green, None)),
            (2000, Output::OFF),
        ]
    );
}

#[test]
fn declined_is_red_with_one_long_beep() {
    assert_eq!(
        timeline(Pattern::Declined, false),
        [
            (0, o(Light::Red, Some(LOW))),
            (700, o(Light::Red, None)),
            (2000, Output::OFF),
        ]
    );
}

#[test]
fn error_is_three_short_beeps_and_good_read_one_high_one() {
    let beeps = |t: &[(u64, Output)]| t.iter().filter(|(_, out)| out.tone.is_some()).count();
    let error = timeline(Pattern::Error, false);
    assert_eq!(beeps(&error), 3);
    assert_eq!(error.last(), Some(&(400, Output::OFF)));
    assert_eq!(
        timeline(Pattern::GoodRead, false),
        [(0, o(Light::Green, Some(HIGH))), (80, Output::OFF)]
    );
}

#[test]
fn accepted_offline_is_amber() {
    let t = timeline(Pattern::AcceptedOffline, false);
    assert!(t[..t.len() - 1]
        .iter()
        .all(|(_, out)| out.light == Light::Amber));
}

#[test]
fn mute_keeps_the_lights_and_drops_every_tone() {
    for p in [
        Pattern::GoodRead,
        Pattern::Approved,
        Pattern::Declined,
        Pattern::Error,
        Pattern::AcceptedOffline,
    ] {
        let (loud, quiet) = (timeline(p, false), timeline(p, true));
        assert!(quiet.iter().all(|(_, out)| out.tone.is_none()), "{p:?}");
        let lights = |t: &[(u64, Output)]| {
            t.iter()
                .map(|(at, out)| (*at, out.light))
                .collect::<Vec<_>>()
        };
        assert_eq!(lights(&loud), lights(&quiet), "{p:?}");
    }
}

#[test]
fn a_new_pattern_cuts_the_running_one() {
    let t0 = Instant::now();
    let mut player = Player::default();
    player.start(cues(Pattern::Approved, false), t0);
    assert_eq!(player.tick(t0 + 100 * MS), Some(o(Light::Green, None)));
    assert_eq!(player.tick(t0 + 150 * MS), None, "nothing due yet");
    // The customer shows a bad code mid-pattern: the error pattern starts over it.
    let out = player.start(cues(Pattern::Error, false), t0 + 150 * MS);
    assert_eq!(out, o(Light::Red, Some(LOW)));
    assert_eq!(
        player.due(),
        Some(t0 + 230 * MS),
        "timed from the new start"
    );
    assert_eq!(player.tick(t0 + 230 * MS), Some(o(Light::Off, None)));
}

#[test]
fn a_late_tick_does_not_stretch_the_pattern() {
    let t0 = Instant::now();
    let mut player = Player::default();
    player.start(cues(Pattern::Approved, false), t0);
    player.tick(t0 + 130 * MS); // 30 ms late
    assert_eq!(player.due(), Some(t0 + 200 * MS));
}

/// Records what it is shown, and tells the test each time.
struct Recording(mpsc::Sender<Output>);

impl Outputs for Recording {
    fn show(&mut self, out: Output) {
        let _ = self.0.send(out);
    }
}

#[test]
fn the_indicator_plays_on_its_own_thread_and_play_returns_at_once() {
    let (tx, shown) = mpsc::channel();
    let indicator = Indicator::start(Box::new(Recording(tx)), false);
    indicator.play(Pattern::GoodRead);
    let wait = Duration::from_secs(5);
    assert_eq!(shown.recv_timeout(wait), Ok(o(Light::Green, Some(HIGH))));
    assert_eq!(
        shown.recv_timeout(wait),
        Ok(Output::OFF),
        "off after the pattern"
    );
    indicator.play(Pattern::Declined);
    assert_eq!(shown.recv_timeout(wait), Ok(o(Light::Red, Some(LOW))));
    drop(indicator);
    // Dropped mid-pattern: the thread turns everything off, and the drop waited for it.
    let after: Vec<Output> = shown.try_iter().collect();
    assert_eq!(after.last(), Some(&Output::OFF), "{after:?}");
}

#[test]
fn finish_lets_the_last_pattern_play_to_its_end() {
    let (tx, shown) = mpsc::channel();
    let indicator = Indicator::start(Box::new(Recording(tx)), false);
    indicator.play(Pattern::GoodRead);
    indicator.finish();
    // Its own end (off after 80 ms), then off as the thread stops: a cut would skip the first.
    assert_eq!(
        shown.try_iter().collect::<Vec<_>>(),
        [o(Light::Green, Some(HIGH)), Output::OFF, Output::OFF]
    );
}

#[test]
fn off_a_pi_auto_falls_back_to_the_simulated_pair_and_gpio_says_why() {
    let mut settings = SignalSettings::default();
    assert_eq!(settings.kind, IndicatorKind::Auto);
    let (indicator, state) = open(&settings).expect("auto always opens");
    if rppal::system::DeviceInfo::new().is_ok() {
        assert!(state.is_none(), "on a Raspberry Pi, auto drives the pins");
        return;
    }
    let state = state.expect("simulated here (no Raspberry Pi)");
    assert_eq!(state.now(), Output::OFF);
    indicator.play(Pattern::Approved);
    // The simulated LED turns green: wait for that event, bounded.
    let start = Instant::now();
    while state.now().light != Light::Green {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the simulated LED never lit"
        );
        std::thread::yield_now();
    }
    settings.kind = IndicatorKind::Gpio;
    let err = open(&settings).err().expect("no GPIO on this machine");
    assert!(err.contains("GPIO"), "{err}");
}
