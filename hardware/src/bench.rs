//! The hardware control-loop benchmark (`regrasp bench hw`), over an emulated rig: tick
//! lateness of the 50 Hz loop through the whole chain, the envelope's time per check, the time
//! from an operator's e-stop to the stop frame on the wire, and the firmware's tick jitter.
//! It measures; it asserts nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use regrasp_sim::{Action, ArmModel, EnvConfig};
use serde::Serialize;

use crate::arm::JointCommand;
use crate::emulator::FaultConfig;
use crate::envelope::{EnvelopeConfig, SafetyEnvelope};
use crate::error::{HardwareError, Result};
use crate::rig::{Port, Rig};
use crate::session::{ObjectEstimate, Pilot, RunConfig, StopReason, WallClock, run_episode};

/// What to measure.
#[derive(Clone, Debug)]
pub struct HwBenchConfig {
    /// Seconds of the control-loop run (s).
    pub seconds: f64,
    /// E-stop trials.
    pub estops: usize,
    /// Random commands timed through the envelope alone.
    pub envelope_checks: usize,
    /// Through the Feetech path (the virtual SO-101's servo bus and the host's core) instead of
    /// an emulated controller board; adds the bus's own figures.
    pub feetech: bool,
}

impl Default for HwBenchConfig {
    fn default() -> Self {
        Self { seconds: 10.0, estops: 10, envelope_checks: 100_000, feetech: false }
    }
}

/// The Feetech bus's own figures, over a pseudo-terminal to six virtual STS3215s.
#[derive(Clone, Debug, Serialize)]
pub struct FeetechBench {
    /// Bus cycles a second as fast as they go: one SYNC_READ of position, speed, load, voltage
    /// and temperature from every servo and one SYNC_WRITE of every goal.
    pub cycles_per_s: f64,
    /// One cycle (µs).
    pub cycle_us: Spread<f64>,
    /// The host's core ticking at this rate (Hz) over the bus, commanded through the bridge.
    pub core_rate_hz: f64,
    /// Its tick jitter (µs).
    pub core_tick_jitter_us: Jitter,
    /// Core ticks from the e-stop frame's arrival to the torque-off SYNC_WRITE.
    pub estop_frame_to_torque_off_ticks: Option<u64>,
    /// Bytes on the wire per cycle, both ways.
    pub bytes_per_cycle: usize,
}

/// (p50, p99, max) of a figure.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spread<T> {
    /// Median.
    pub p50: T,
    /// 99th percentile.
    pub p99: T,
    /// Largest.
    pub max: T,
}

/// The firmware's tick jitter (µs).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Jitter {
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

/// Time from the operator's e-stop to the stop frame on the wire (ms).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EstopTimes {
    /// Largest.
    pub max: f64,
    /// Median.
    pub median: f64,
    /// Trials.
    pub trials: usize,
}

/// The benchmark's figures.
#[derive(Clone, Debug, Serialize)]
pub struct HwBench {
    /// Control loop rate (Hz).
    pub rate_hz: f64,
    /// Length of the loop run (s).
    pub loop_seconds: f64,
    /// Ticks run.
    pub ticks: u64,
    /// Lateness of each tick's start against its deadline (µs).
    pub tick_lateness_us: Spread<u64>,
    /// Envelope check plus serial send per tick, in the loop (µs).
    pub envelope_and_send_us: Spread<f64>,
    /// Envelope check alone, mean over random commands (µs).
    pub envelope_check_us: f64,
    /// Commands timed through the envelope alone.
    pub envelope_checks: usize,
    /// Firmware tick jitter (µs).
    pub firmware_tick_jitter_us: Jitter,
    /// Largest servo position step the firmware wrote (rad or m).
    pub largest_servo_jump: f32,
    /// E-stop raised to stop frame written (ms).
    pub estop_to_frame_ms: EstopTimes,
    /// Most firmware ticks from the stop frame's arrival to torque off.
    pub estop_frame_to_torque_off_ticks_max: Option<u64>,
    /// The control period (ms).
    pub control_period_ms: f64,
    /// The Feetech bus's own figures, when benchmarked through it.
    pub feetech: Option<FeetechBench>,
}

/// A benchmark pilot: the tool sways gently along Y, gripper open.
struct SwayPilot {
    step: u64,
}

impl Pilot for SwayPilot {
    fn act(&mut self, _obs: &[f32], env: &EnvConfig) -> Result<Action> {
        self.step += 1;
        let y = (self.step as f64 * 0.15).sin() as f32 * 0.5 * env.action.max_translation as f32;
        Ok(Action { translation: [0.0, y, 0.0], yaw: 0.0, gripper: -1.0 })
    }
}

/// Runs the benchmark on an emulated rig of `arm`.
pub fn bench(arm: &Arc<ArmModel>, env: &Arc<EnvConfig>, cfg: &HwBenchConfig) -> Result<HwBench> {
    let scenario = arm.task.distribution.sample(0);
    let run_cfg = RunConfig { episode_s: cfg.seconds, ..RunConfig::default() };
    let port = match cfg.feetech {
        false => Port::Emulated { scenario, faults: FaultConfig::default() },
        true => Port::EmulatedFeetech { scenario, faults: FaultConfig::default() },
    };
    let envelope = EnvelopeConfig::for_arm(arm, 1.0 / run_cfg.rate_hz, env.control_dt());
    // 1. The loop at 50 Hz through the whole chain.
    let mut rig = Rig::connect(arm, env, &port, envelope.clone(), 1)?;
    let stop = AtomicBool::new(false);
    let mut sensor = ObjectEstimate::placed(&scenario, arm);
    let r = run_episode(
        rig.guarded(),
        &mut SwayPilot { step: 0 },
        arm,
        env,
        &scenario,
        &mut sensor,
        &run_cfg,
        &mut WallClock,
        &stop,
        &mut |_| {},
    )?;
    let firmware = rig.emulator().map(|e| e.report()).unwrap_or_default();
    let q0 = rig.twin().and_then(|t| t.truth()).map(|t| t.q).unwrap_or_else(|| vec![0.0; arm.dof()]);
    drop(rig);
    // 2. The envelope alone over many random commands near the pose.
    let mut alone = SafetyEnvelope::new(Arc::clone(arm), EnvelopeConfig::for_arm(arm, 0.02, env.control_dt()))?;
    alone.start_from(&q0, 0.05)?;
    let n = cfg.envelope_checks.max(1);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let cmds: Vec<JointCommand> = (0..n)
        .map(|_| JointCommand { positions: q0.iter().map(|q| q + 0.2 * rnd()).collect(), gripper: 0.05 + 0.1 * rnd() })
        .collect();
    let t0 = Instant::now();
    for c in &cmds {
        std::hint::black_box(alone.check(c, 0.1));
    }
    let envelope_us = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    // 3. E-stop: the operator's stop raised at a moment the loop does not know; the time until
    // the stop frame is written.
    let mut estop_ms = Vec::new();
    let mut estop_ticks = Vec::new();
    for k in 0..cfg.estops {
        let mut rig = Rig::connect(arm, env, &port, envelope.clone(), 1)?;
        let stop = Arc::new(AtomicBool::new(false));
        let delay = Duration::from_millis(300 + (k as u64 * 37) % 200);
        let flag = Arc::clone(&stop);
        let raised = std::thread::spawn(move || {
            std::thread::sleep(delay);
            flag.store(true, Ordering::SeqCst);
            Instant::now()
        });
        let mut sensor = ObjectEstimate::placed(&scenario, arm);
        let trial_cfg = RunConfig { episode_s: 5.0, ..RunConfig::default() };
        let mut pilot = SwayPilot { step: 0 };
        let rep = run_episode(
            rig.guarded(),
            &mut pilot,
            arm,
            env,
            &scenario,
            &mut sensor,
            &trial_cfg,
            &mut WallClock,
            &stop,
            &mut |_| {},
        )?;
        let sent = Instant::now();
        let raised = raised.join().map_err(|_| HardwareError::Config("the e-stop thread panicked".into()))?;
        if rep.stop != StopReason::Operator {
            return Err(HardwareError::Config(format!("e-stop trial {k} ended with {:?}", rep.stop)));
        }
        estop_ms.push(sent.saturating_duration_since(raised).as_secs_f64() * 1e3);
        let Some(emu) = rig.emulator() else { continue };
        let deadline = Instant::now() + Duration::from_secs(2);
        while emu.report().estop_ticks.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if let Some((arrived, off)) = emu.report().estop_ticks {
            estop_ticks.push(off - arrived);
        }
    }
    estop_ms.sort_by(f64::total_cmp);
    Ok(HwBench {
        rate_hz: run_cfg.rate_hz,
        loop_seconds: r.seconds,
        ticks: r.ticks,
        tick_lateness_us: Spread { p50: r.tick_lateness_us[0], p99: r.tick_lateness_us[1], max: r.tick_lateness_us[2] },
        envelope_and_send_us: Spread { p50: r.envelope_us[0], p99: r.envelope_us[1], max: r.envelope_us[2] },
        envelope_check_us: envelope_us,
        envelope_checks: n,
        firmware_tick_jitter_us: Jitter { p99: firmware.tick_jitter_us.1, max: firmware.tick_jitter_us.0 },
        largest_servo_jump: firmware.largest_jump,
        estop_to_frame_ms: EstopTimes {
            max: estop_ms.last().copied().unwrap_or(f64::NAN),
            median: estop_ms.get(estop_ms.len() / 2).copied().unwrap_or(f64::NAN),
            trials: estop_ms.len(),
        },
        estop_frame_to_torque_off_ticks_max: estop_ticks.iter().max().copied(),
        control_period_ms: 1e3 / run_cfg.rate_hz,
        feetech: if cfg.feetech { Some(bench_feetech_bus(arm, cfg.seconds)?) } else { None },
    })
}

/// The bus alone, then the host's core at 100 Hz over it, on the virtual SO-101's servos (their
/// own shaft model, no twin), `seconds` each.
fn bench_feetech_bus(arm: &ArmModel, seconds: f64) -> Result<FeetechBench> {
    use crate::feetech::{self, BusConfig, FeetechBus, SerialTransport, VirtualBusPort};
    use crate::link::{Bridge, LinkConfig};

    let cal = feetech::virtual_calibration(arm);
    let port = VirtualBusPort::start(feetech::calibrated_servos(&cal), None)?;
    let path = port.path.to_string_lossy().to_string();
    // 1. Cycles as fast as they go.
    let transport = SerialTransport::open(&path, feetech::port::BAUD)?;
    let mut bus = FeetechBus::new(transport, cal.clone(), BusConfig::default());
    let bus_err = |e: feetech::BusFault| HardwareError::Config(format!("feetech bench: {e}"));
    let goals: Vec<f64> = bus.read_state().map_err(bus_err)?.iter().map(|r| r.position as f64).collect();
    let mut cycles = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds / 2.0 {
        let t = Instant::now();
        bus.read_state().map_err(bus_err)?;
        bus.write_goals(&goals).map_err(bus_err)?;
        cycles.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let cycles_per_s = cycles.len() as f64 / start.elapsed().as_secs_f64();
    cycles.sort_by(f64::total_cmp);
    let q = |p: f64| cycles.get(((cycles.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    let cycle_us = Spread { p50: q(0.5), p99: q(0.99), max: q(1.0) };
    let n = cal.motors.len();
    let bytes_per_cycle = (8 + n) + n * (6 + 8) + (7 + 3 * n + 1);
    drop(bus);
    // 2. The core at 100 Hz over the bus, held by the bridge, then an e-stop.
    let tick_s = 0.01;
    let core = feetech::FeetechArm::connect(arm, cal, &path, tick_s, FaultConfig::default())?.core;
    let mut bridge = Bridge::connect(LinkConfig::new(core.path.to_string_lossy().to_string()), arm.dof(), None, 1)?;
    use crate::arm::Arm;
    let hold = bridge.read_state()?;
    let command = JointCommand { positions: hold.positions.clone(), gripper: hold.gripper };
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds / 2.0 {
        bridge.command(&command)?;
        bridge.read_state()?;
        std::thread::sleep(Duration::from_millis(20));
    }
    bridge.stop()?;
    let deadline = Instant::now() + Duration::from_secs(2);
    while core.report().estop_ticks.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let r = core.report();
    Ok(FeetechBench {
        cycles_per_s,
        cycle_us,
        core_rate_hz: 1.0 / tick_s,
        core_tick_jitter_us: Jitter { p99: r.tick_jitter_us.1, max: r.tick_jitter_us.0 },
        estop_frame_to_torque_off_ticks: r.estop_ticks.map(|(a, o)| o - a),
        bytes_per_cycle,
    })
}
