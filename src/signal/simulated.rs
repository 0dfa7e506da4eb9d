//! The buzzer and LED where there is no GPIO (a desktop, a test): the state is kept for a
//! screen to draw, and each change is logged.

use super::{Output, Outputs};
use std::sync::{Arc, Mutex};

/// What the simulated LED and buzzer show now; a screen reads it.
#[derive(Debug, Clone, Default)]
pub struct SimulatedState(Arc<Mutex<Option<Output>>>);

impl SimulatedState {
    pub fn now(&self) -> Output {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(Output::OFF)
    }
}

#[derive(Debug, Default)]
pub struct Simulated {
    state: SimulatedState,
}

impl Simulated {
    pub fn new() -> Simulated {
        Simulated::default()
    }

    pub fn state(&self) -> SimulatedState {
        self.state.clone()
    }
}

impl Outputs for Simulated {
    fn show(&mut self, out: Output) {
        tracing::info!(light = ?out.light, tone_hz = ?out.tone, "indicator");
        *self.state.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    }
}
