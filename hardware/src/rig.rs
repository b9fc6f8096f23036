//! A rig: everything between the host's control loop and one arm, assembled in one place. The
//! serial bridge to the arm's controller (or to an emulator started here, whose sim twin is
//! the arm) is wrapped with the safety envelope in [`Guarded`], so a rig never offers an
//! unchecked path to the arm.

use std::path::Path;
use std::sync::Arc;

use regrasp_sim::{ArmModel, EnvConfig, Scenario};

use crate::arm::Guarded;
use crate::emulator::{Emulator, EmulatorConfig, FaultConfig};
use crate::envelope::{EnvelopeConfig, SafetyEnvelope};
use crate::error::Result;
use crate::link::{Bridge, LinkConfig};
use crate::twin::Twin;

/// The firmware tick of an emulated rig (s): 40 Hz, so that the sim twin steps its physics at
/// exactly the training rate (240 Hz, 6 steps a tick).
pub const EMULATOR_TICK_S: f64 = 0.025;

/// Where the arm is.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one per session; boxing would only add indirection
pub enum Port {
    /// The serial port of the arm's controller (or of an emulator started elsewhere).
    Serial(String),
    /// An emulator started here: the firmware core on a pseudo-terminal with a sim twin of the
    /// arm holding `scenario`'s object, and `faults` injected.
    Emulated {
        /// The twin's first scenario.
        scenario: Scenario,
        /// Faults to inject.
        faults: FaultConfig,
    },
}

/// An arm emulated here: the firmware core behind a pseudo-terminal, driving a sim twin.
pub struct EmulatedArm {
    /// The sim twin (the physical arm and its object).
    pub twin: Twin,
    /// The emulator (the firmware core and its serial end).
    pub emulator: Emulator,
}

impl EmulatedArm {
    /// Starts the twin with `scenario`'s object and the emulator with `faults` injected; its
    /// pseudo-terminal is symlinked at `link` when given.
    pub fn start(
        arm: &Arc<ArmModel>,
        env: &EnvConfig,
        scenario: &Scenario,
        faults: &FaultConfig,
        link: Option<&Path>,
    ) -> Result<Self> {
        faults.validate()?;
        let twin = Twin::new(Arc::clone(arm), env, scenario, EMULATOR_TICK_S)?;
        let cfg = EmulatorConfig::for_twin(arm, EMULATOR_TICK_S, faults.clone());
        let emulator = Emulator::start_with(cfg, twin.bus(), link)?;
        Ok(Self { twin, emulator })
    }
}

/// A connected arm behind its safety envelope, with the emulator and twin when emulated.
pub struct Rig {
    // Fields drop in order: the bridge closes before the emulator it talks to stops.
    guarded: Guarded<Bridge>,
    emulated: Option<EmulatedArm>,
}

impl Rig {
    /// Connects to the arm at `port` (starting the emulator first when emulated), says hello
    /// with `nonce` (a session id the firmware echoes), and puts `envelope` in front of it.
    pub fn connect(
        arm: &Arc<ArmModel>,
        env: &EnvConfig,
        port: &Port,
        envelope: EnvelopeConfig,
        nonce: u32,
    ) -> Result<Self> {
        let (path, emulated) = match port {
            Port::Serial(path) => (path.clone(), None),
            Port::Emulated { scenario, faults } => {
                let emulated = EmulatedArm::start(arm, env, scenario, faults, None)?;
                (emulated.emulator.path.to_string_lossy().to_string(), Some(emulated))
            }
        };
        let bridge = Bridge::connect(LinkConfig::new(path), arm.dof(), None, nonce)?;
        let guarded = Guarded::new(bridge, SafetyEnvelope::new(Arc::clone(arm), envelope)?)?;
        Ok(Self { guarded, emulated })
    }

    /// The guarded arm: every command goes through the envelope.
    pub fn guarded(&mut self) -> &mut Guarded<Bridge> {
        &mut self.guarded
    }

    /// The sim twin, when emulated.
    pub fn twin(&self) -> Option<&Twin> {
        self.emulated.as_ref().map(|e| &e.twin)
    }

    /// The emulator, when emulated.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulated.as_ref().map(|e| &e.emulator)
    }
}
