//! Reconnect with back-off: wraps a source (a USB camera) and, when it reports
//! [`CameraError::Disconnected`], reopens it until it is back, without busy-looping.

use std::time::{Duration, Instant};

use super::{CameraError, Frame, FrameSource};

type Opener = dyn FnMut() -> Result<Box<dyn FrameSource>, CameraError>;

pub struct Reconnecting {
    source: Option<Box<dyn FrameSource>>,
    open: Box<Opener>,
    first_backoff: Duration,
    max_backoff: Duration,
    backoff: Duration,
    retry_at: Instant,
    described: String,
    reconnects: u64,
}

impl Reconnecting {
    /// `source` is the opened source; `open` makes a new one after a disconnect. Waits
    /// between attempts start at `first_backoff` and double up to `max_backoff`.
    pub fn new(
        source: Box<dyn FrameSource>,
        open: impl FnMut() -> Result<Box<dyn FrameSource>, CameraError> + 'static,
        first_backoff: Duration,
        max_backoff: Duration,
    ) -> Reconnecting {
        Reconnecting {
            described: source.describe(),
            source: Some(source),
            open: Box::new(open),
            first_backoff,
            max_backoff,
            backoff: first_backoff,
            retry_at: Instant::now(),
            reconnects: 0,
        }
    }

    /// Successful reopenings so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }
}

impl FrameSource for Reconnecting {
    /// After a disconnect: one `Disconnected`, then an attempt to reopen per call (the
    /// back-off wait first), each failure returned as is ("no camera", "busy").
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        if self.source.is_none() {
            let now = Instant::now();
            if self.retry_at > now {
                std::thread::sleep(self.retry_at - now);
            }
            match (self.open)() {
                Ok(s) => {
                    self.described = s.describe();
                    self.source = Some(s);
                    self.backoff = self.first_backoff;
                    self.reconnects += 1;
                }
                Err(e) => {
                    self.retry_at = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(self.max_backoff);
                    return Err(e);
                }
            }
        }
        let source = self.source.as_mut().ok_or(CameraError::Ended)?;
        match source.next_frame() {
            Err(e @ (CameraError::Disconnected(_) | CameraError::Unreadable(_))) => {
                self.source = None;
                self.retry_at = Instant::now() + self.backoff;
                Err(match e {
                    CameraError::Unreadable(d) => CameraError::Disconnected(d),
                    e => e,
                })
            }
            other => other,
        }
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}
