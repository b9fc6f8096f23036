//! A rig: everything between the host's control loop and one arm, assembled in one place. The
//! serial bridge to the arm's controller (or to an emulator started here, whose sim twin is
//! the arm) is wrapped with the safety envelope in [`Guarded`], so a rig never offers an
//! unchecked path to the arm. An arm on a Feetech bus (the SO-101) has no controller board: the
//! rig runs the same controller core on the host over the bus, and the bridge talks to it.

use std::path::Path;
use std::sync::Arc;

use regrasp_sim::{ArmModel, EnvConfig, Scenario};

use crate::arm::Guarded;
use crate::emulator::{Emulator, EmulatorConfig, FaultConfig};
use crate::envelope::{EnvelopeConfig, SafetyEnvelope};
use crate::error::{HardwareError, Result};
use crate::feetech::{self, VirtualBusPort};
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
    /// Servos on a Feetech bus at this serial port (the SO-101's USB adapter), calibrated by
    /// this LeRobot calibration file.
    Feetech {
        /// The adapter's port.
        port: String,
        /// The calibration file.
        calibration: std::path::PathBuf,
    },
    /// A virtual SO-101 started here: virtual STS3215s on a pseudo-terminal whose shafts are a
    /// sim twin's joints, holding `scenario`'s object, driven over the Feetech path.
    EmulatedFeetech {
        /// The twin's first scenario.
        scenario: Scenario,
        /// Faults to inject: drop and corrupt on the servo bus's wire, the rest as for
        /// `Emulated`.
        faults: FaultConfig,
    },
}

/// Reads a servo-bus name as the command line gives it: `feetech:PORT` is a Feetech bus at
/// that port (`Some(PORT)`), a bare `feetech` the virtual one started here (`None`); anything
/// else is an error saying what is accepted.
pub fn feetech_bus(bus: &str) -> Result<Option<String>> {
    match bus.split_once(':') {
        Some(("feetech", port)) if !port.is_empty() => Ok(Some(port.to_string())),
        None if bus == "feetech" => Ok(None),
        _ => Err(HardwareError::Config(format!(
            "--bus {bus}: give `feetech:PORT` (e.g. feetech:/dev/ttyACM0), or `feetech` with --emulate"
        ))),
    }
}

impl Port {
    /// Where the arm is, from the command line: on `link` (its controller board), on the
    /// Feetech bus `bus` (with its `calibration` file), or, with `emulated`'s first scenario
    /// and faults, emulated here (a controller board, or the virtual SO-101 when `bus` is
    /// `feetech`). Every combination that names no arm, or two, is an error saying what to give.
    pub fn choose(
        bus: Option<&str>,
        link: Option<&str>,
        calibration: Option<&Path>,
        emulated: Option<(Scenario, FaultConfig)>,
    ) -> Result<Port> {
        let config = |m: &str| Err(HardwareError::Config(m.to_string()));
        match (bus, link, emulated) {
            (None, _, Some((scenario, faults))) => Ok(Port::Emulated { scenario, faults }),
            (None, Some(l), None) => Ok(Port::Serial(l.to_string())),
            (None, None, None) => config("give --link PORT, --bus feetech:PORT or --emulate"),
            (Some(b), _, Some((scenario, faults))) => match feetech_bus(b)? {
                None => Ok(Port::EmulatedFeetech { scenario, faults }),
                Some(_) => config("--emulate starts its own virtual SO-101: give `--bus feetech` without a port"),
            },
            (Some(b), _, None) => match (feetech_bus(b)?, calibration) {
                (Some(port), Some(c)) => Ok(Port::Feetech { port, calibration: c.to_path_buf() }),
                (Some(_), None) => Err(HardwareError::Config(format!(
                    "--bus {b} needs --calibration FILE (LeRobot's calibration JSON; `regrasp hw emulate --bus \
                     feetech` writes one for the virtual SO-101)"
                ))),
                (None, _) => config("--bus feetech needs a port (`feetech:/dev/ttyACM0`), or --emulate"),
            },
        }
    }
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
    // Fields drop in order: the bridge closes before the core it talks to stops, and the core
    // before the virtual servos it drives.
    guarded: Guarded<Bridge>,
    emulated: Option<EmulatedArm>,
    feetech: Option<FeetechParts>,
}

/// The parts of a Feetech rig: the host's core over the bus, and when emulated the virtual
/// servos and their twin.
struct FeetechParts {
    core: Emulator,
    virtual_arm: Option<feetech::VirtualArm>,
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
        let (mut emulated, mut feetech) = (None, None);
        let path = match port {
            Port::Serial(path) => path.clone(),
            Port::Emulated { scenario, faults } => {
                let e = EmulatedArm::start(arm, env, scenario, faults, None)?;
                let path = e.emulator.path.to_string_lossy().to_string();
                emulated = Some(e);
                path
            }
            Port::Feetech { port, calibration } => {
                let cal = feetech::load_calibration(calibration, arm)?;
                let f = feetech::FeetechArm::connect(arm, cal, port, EMULATOR_TICK_S, FaultConfig::default())?;
                let path = f.core.path.to_string_lossy().to_string();
                feetech = Some(FeetechParts { core: f.core, virtual_arm: None });
                path
            }
            Port::EmulatedFeetech { scenario, faults } => {
                faults.validate()?;
                // The wire faults go on the servo bus; the rest (latency, disconnect, servo
                // faults) to the host's core as for an emulated board.
                let wire = feetech::WireFaults { drop: faults.drop, corrupt: faults.corrupt, seed: faults.seed };
                let virtual_arm = feetech::VirtualArm::start(arm, env, scenario, EMULATOR_TICK_S, wire, None)?;
                let port = virtual_arm.servos.path.to_string_lossy().to_string();
                let core_faults = FaultConfig { drop: 0.0, corrupt: 0.0, ..faults.clone() };
                let cal = virtual_arm.calibration.clone();
                let f = feetech::FeetechArm::connect(arm, cal, &port, EMULATOR_TICK_S, core_faults)?;
                let path = f.core.path.to_string_lossy().to_string();
                feetech = Some(FeetechParts { core: f.core, virtual_arm: Some(virtual_arm) });
                path
            }
        };
        let bridge = Bridge::connect(LinkConfig::new(path), arm.dof(), None, nonce)?;
        let guarded = Guarded::new(bridge, SafetyEnvelope::new(Arc::clone(arm), envelope)?)?;
        Ok(Self { guarded, emulated, feetech })
    }

    /// The guarded arm: every command goes through the envelope.
    pub fn guarded(&mut self) -> &mut Guarded<Bridge> {
        &mut self.guarded
    }

    /// The sim twin, when emulated.
    pub fn twin(&self) -> Option<&Twin> {
        let feetech = self.feetech.as_ref().and_then(|f| f.virtual_arm.as_ref()).map(|v| &v.twin);
        self.emulated.as_ref().map(|e| &e.twin).or(feetech)
    }

    /// The controller core when it runs here: the emulated firmware, or the host's core over a
    /// Feetech bus.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulated.as_ref().map(|e| &e.emulator).or(self.feetech.as_ref().map(|f| &f.core))
    }

    /// The virtual servos, when a virtual SO-101 was started here.
    pub fn virtual_servos(&self) -> Option<&VirtualBusPort> {
        self.feetech.as_ref().and_then(|f| f.virtual_arm.as_ref()).map(|v| &v.servos)
    }
}
