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
use crate::session::{ObjectEstimate, Pilot, RunConfig, StopReason, run_episode};

/// What to measure.
#[derive(Clone, Debug)]
pub struct HwBenchConfig {
    /// Seconds of the control-loop run (s).
    pub seconds: f64,
    /// E-stop trials.
    pub estops: usize,
    /// Random commands timed through the envelope alone.
    pub envelope_checks: usize,
}

impl Default for HwBenchConfig {
    fn default() -> Self {
        Self { seconds: 10.0, estops: 10, envelope_checks: 100_000 }
    }
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
    let port = Port::Emulated { scenario, faults: FaultConfig::default() };
    let envelope = EnvelopeConfig::for_arm(arm, 1.0 / run_cfg.rate_hz, env.control_dt());
    // 1. The loop at 50 Hz through the whole chain.
    let mut rig = Rig::connect(arm, env, &port, envelope.clone(), 1)?;
    let stop = AtomicBool::new(false);
    let mut sensor = ObjectEstimate::placed(&scenario);
    let r = run_episode(
        rig.guarded(),
        &mut SwayPilot { step: 0 },
        arm,
        env,
        &scenario,
        &mut sensor,
        &run_cfg,
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
        let mut sensor = ObjectEstimate::placed(&scenario);
        let trial_cfg = RunConfig { episode_s: 5.0, ..RunConfig::default() };
        let mut pilot = SwayPilot { step: 0 };
        let rep =
            run_episode(rig.guarded(), &mut pilot, arm, env, &scenario, &mut sensor, &trial_cfg, &stop, &mut |_| {})?;
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
    })
}
