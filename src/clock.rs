//! Time, as the terminal and the sandbox see it: the wall clock in Korea (business dates,
//! `tran_dtime`, code expiry) and a monotonic clock (how long since a request was sent).
//! The two are kept apart on purpose: a wall clock can be set back or jump forward (NTP, a
//! Pi without a real-time clock, a cashier fixing the time), and no waiting period may be
//! shortened or stretched by that. [`ManualClock`] moves either one by hand, so tests can
//! cross a midnight or jump the clock without sleeping.

use chrono::{DateTime, FixedOffset, Offset, Utc};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Korea Standard Time (UTC+9, no daylight saving): business dates and `tran_dtime` are KST.
pub fn kst() -> FixedOffset {
    // 9 h is always a valid offset; the fallback only exists so that no path can panic.
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| Utc.fix())
}

pub trait Clock: Send + Sync {
    /// Wall-clock time in Korea.
    fn now(&self) -> DateTime<FixedOffset>;
    /// A point on a clock that never goes back and ignores changes to the wall clock.
    fn monotonic(&self) -> Instant;
}

/// The machine's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<FixedOffset> {
        Utc::now().with_timezone(&kst())
    }
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told: [`ManualClock::advance`] moves both clocks (time
/// passes), [`ManualClock::set_wall`] and [`ManualClock::jump`] only the wall clock (someone
/// set the time).
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<(DateTime<FixedOffset>, Instant)>,
}

impl ManualClock {
    pub fn new(wall: DateTime<FixedOffset>) -> ManualClock {
        ManualClock {
            state: Mutex::new((wall, Instant::now())),
        }
    }

    /// A clock at a KST wall time given as `yyyy-MM-dd HH:mm:ss`.
    pub fn at(kst_time: &str) -> Result<ManualClock, chrono::ParseError> {
        let naive = chrono::NaiveDateTime::parse_from_str(kst_time, "%Y-%m-%d %H:%M:%S")?;
        let wall = naive
            .and_local_timezone(kst())
            .single()
            .unwrap_or_else(|| Utc::now().with_timezone(&kst()));
        Ok(ManualClock::new(wall))
    }

    fn with<R>(&self, f: impl FnOnce(&mut (DateTime<FixedOffset>, Instant)) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Time passes: both clocks move forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.with(|(wall, mono)| {
            *wall += chrono::Duration::from_std(d).unwrap_or_default();
            *mono += d;
        })
    }

    /// The wall clock is set to `wall`; the monotonic clock does not move.
    pub fn set_wall(&self, wall: DateTime<FixedOffset>) {
        self.with(|(w, _)| *w = wall)
    }

    /// The wall clock jumps by `seconds` (negative: set back); the monotonic clock does not
    /// move.
    pub fn jump(&self, seconds: i64) {
        self.with(|(w, _)| *w += chrono::Duration::seconds(seconds))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<FixedOffset> {
        self.with(|(wall, _)| *wall)
    }
    fn monotonic(&self) -> Instant {
        self.with(|(_, mono)| *mono)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_moves_the_wall_clock_only_and_advance_moves_both() {
        let c = ManualClock::at("2026-11-21 23:59:59").unwrap();
        let (w0, m0) = (c.now(), c.monotonic());
        c.jump(-3600);
        assert_eq!(c.now(), w0 - chrono::Duration::hours(1));
        assert_eq!(c.monotonic(), m0);
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now().format("%Y%m%d%H%M%S").to_string(), "20261121230001");
        assert_eq!(c.monotonic() - m0, Duration::from_secs(2));
    }

    #[test]
    fn kst_is_nine_hours_ahead_of_utc() {
        assert_eq!(kst().local_minus_utc(), 9 * 3600);
    }
}
