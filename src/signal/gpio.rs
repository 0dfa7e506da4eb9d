//! The buzzer and LED on a Raspberry Pi's GPIO (rppal), on the BCM pins of `[signal]`.

use super::{BuzzerKind, Light, Output, Outputs, SignalSettings};
use rppal::gpio::{Gpio, OutputPin};
use rppal::pwm::{Channel, Polarity, Pwm};
use rppal::system::{DeviceInfo, Model};

/// Why the pins could not be claimed; `off_pi`: this is no Raspberry Pi at all.
pub(super) struct OpenError {
    pub(super) why: String,
    pub(super) off_pi: bool,
}

/// The hardware PWM channel behind a BCM pin: on a Pi 5, 12/13/18/19 are PWM0–3; on older
/// models 12 and 18 share PWM0, 13 and 19 PWM1 (the overlay picks the pin).
fn pwm_channel(pin: u8, model: Model) -> Option<Channel> {
    match (model, pin) {
        (Model::RaspberryPi5 | Model::RaspberryPi500 | Model::RaspberryPiComputeModule5, 12) => {
            Some(Channel::Pwm0)
        }
        (Model::RaspberryPi5 | Model::RaspberryPi500 | Model::RaspberryPiComputeModule5, 13) => {
            Some(Channel::Pwm1)
        }
        (Model::RaspberryPi5 | Model::RaspberryPi500 | Model::RaspberryPiComputeModule5, 18) => {
            Some(Channel::Pwm2)
        }
        (Model::RaspberryPi5 | Model::RaspberryPi500 | Model::RaspberryPiComputeModule5, 19) => {
            Some(Channel::Pwm3)
        }
        (_, 12 | 18) => Some(Channel::Pwm0),
        (_, 13 | 19) => Some(Channel::Pwm1),
        _ => None,
    }
}

enum Buzzer {
    /// Software PWM on a GPIO pin (`volume` is the duty cycle).
    Software(OutputPin),
    Hardware(Pwm),
    /// On or off: the buzzer makes its own tone.
    Active(OutputPin),
}

pub(super) struct Pins {
    green: OutputPin,
    red: OutputPin,
    buzzer: Buzzer,
    duty: f64,
}

impl Pins {
    /// Claims the pins. Off a Pi rppal reports an unknown model: the error says so.
    pub(super) fn open(s: &SignalSettings) -> Result<Pins, OpenError> {
        let failed = |why: String| OpenError { why, off_pi: false };
        let gpio = Gpio::new().map_err(|e| OpenError {
            off_pi: matches!(e, rppal::gpio::Error::UnknownModel),
            why: format!("GPIO: {e}"),
        })?;
        let pin = |n: u8| {
            gpio.get(n)
                .map(|p| p.into_output_low())
                .map_err(|e| failed(format!("GPIO BCM {n}: {e}")))
        };
        let buzzer = match s.buzzer {
            BuzzerKind::SoftwarePwm => Buzzer::Software(pin(s.buzzer_pin)?),
            BuzzerKind::Active => Buzzer::Active(pin(s.buzzer_pin)?),
            BuzzerKind::HardwarePwm => {
                let model = DeviceInfo::new()
                    .map_err(|e| failed(format!("which Raspberry Pi: {e}")))?
                    .model();
                let channel = pwm_channel(s.buzzer_pin, model).ok_or_else(|| {
                    failed(format!(
                        "BCM {} has no hardware PWM on a {model}",
                        s.buzzer_pin
                    ))
                })?;
                Buzzer::Hardware(
                    Pwm::with_frequency(channel, 2000.0, 0.0, Polarity::Normal, false).map_err(
                        |e| {
                            failed(format!(
                                "hardware {channel} (dtoverlay=pwm in config.txt?): {e}"
                            ))
                        },
                    )?,
                )
            }
        };
        Ok(Pins {
            green: pin(s.green_pin)?,
            red: pin(s.red_pin)?,
            buzzer,
            // Half the period high is the loudest a square wave gets.
            duty: f64::from(s.volume.min(100)) / 200.0,
        })
    }
}

impl Outputs for Pins {
    fn show(&mut self, out: Output) {
        let (green, red) = match out.light {
            Light::Off => (false, false),
            Light::Green => (true, false),
            Light::Red => (false, true),
            Light::Amber => (true, true),
        };
        self.green.write(green.into());
        self.red.write(red.into());
        let result = match (&mut self.buzzer, out.tone) {
            (Buzzer::Software(p), Some(hz)) => p
                .set_pwm_frequency(f64::from(hz), self.duty)
                .map_err(|e| e.to_string()),
            (Buzzer::Software(p), None) => p
                .clear_pwm()
                .map(|()| p.set_low())
                .map_err(|e| e.to_string()),
            (Buzzer::Hardware(pwm), Some(hz)) => pwm
                .set_frequency(f64::from(hz), self.duty)
                .and_then(|()| pwm.enable())
                .map_err(|e| e.to_string()),
            (Buzzer::Hardware(pwm), None) => pwm.disable().map_err(|e| e.to_string()),
            (Buzzer::Active(p), tone) => {
                p.write(tone.is_some().into());
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!("buzzer: {e}");
        }
    }
}
