//! The hardware-in-the-loop emulator: the real firmware core (`regrasp_firmware::Controller`)
//! behind a real pseudo-terminal, so the bridge talks to it exactly as to `/dev/ttyUSB0`. The
//! servos are a [`Plant`]: the sim twin ([`crate::twin::TwinBus`], the physical arm's stand-in)
//! or the firmware's first-order mock bus. Faults are injected on the wire (dropped or
//! corrupted frames, latency, a disconnect) and between the controller and the servos (a
//! stalled joint, an overload, sensor noise). Every random choice comes from the configured
//! seed.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regrasp_firmware::controller::{Controller, ControllerConfig};
use regrasp_firmware::protocol::{self, FrameDecoder, JointLimit, MAX_FRAME, Message, ModeCode};
use regrasp_firmware::servo::{BusError, MockBus, ServoBus, ServoReading};
use serialport::{SerialPort, TTYPort};

use crate::error::{HardwareError, Result};
use crate::twin::TwinBus;

/// Servos the emulator can drive.
pub trait Plant: ServoBus + Send + 'static {
    /// Advances the servos (and whatever they move) by one controller tick of `dt_s` (s).
    fn advance(&mut self, dt_s: f64);
}

impl Plant for MockBus {
    fn advance(&mut self, _dt_s: f64) {
        self.step();
    }
}

impl Plant for TwinBus {
    fn advance(&mut self, dt_s: f64) {
        TwinBus::advance(self, dt_s);
    }
}

/// Load per unit of tracking error reported by a stalled servo (fraction of rated per rad or
/// m): a position servo pushes with its full rated torque at about 0.05 rad of error, as the
/// sim twin's motors do (`arm_saturation_error`).
const STALL_LOAD_GAIN: f32 = 20.0;

/// Servo-side faults and measurements between the controller and any plant: a stalled joint
/// holds where it stalled while its load grows with the error; an overload adds to every
/// load; noise perturbs what the servos report (not where they are). It also measures every
/// target written, so the report can prove that no servo target ever jumped.
pub(crate) struct Servos<P: Plant> {
    pub(crate) plant: P,
    n: usize,
    stall_joint: Option<usize>,
    stalled_at: Option<f32>,
    /// The stalled servo reports no load of its own (only what the plant measures).
    stall_quiet: bool,
    extra_load: f32,
    noise: f32,
    rng: ChaCha8Rng,
    torque: bool,
    /// True positions at the last read: joints, then the gripper.
    measured: Vec<f32>,
    commanded: Vec<f32>,
    last_written: Option<Vec<f32>>,
    largest_jump: f32,
    writes: u64,
}

impl<P: Plant> Servos<P> {
    /// Stalls joint `j` from now on, where it is; a `quiet` stall adds no load to what the
    /// servo reports (the worst case for the core, which watches loads).
    pub(crate) fn stall(&mut self, j: usize, quiet: bool) {
        if j < self.n && self.stall_joint.is_none() {
            self.stall_joint = Some(j);
            self.stalled_at = None;
            self.stall_quiet = quiet;
        }
    }

    /// Ends a stall: the joint follows its targets again.
    pub(crate) fn release_stall(&mut self) {
        self.stall_joint = None;
        self.stalled_at = None;
    }

    pub(crate) fn new(plant: P, faults: &FaultConfig) -> Self {
        let n = plant.joints();
        Self {
            plant,
            n,
            stall_joint: faults.stall_joint.filter(|j| *j < n),
            stalled_at: None,
            stall_quiet: false,
            extra_load: 0.0,
            noise: faults.sensor_noise,
            rng: ChaCha8Rng::seed_from_u64(faults.seed ^ 0x5e57_0000),
            torque: false,
            measured: vec![0.0; n + 1],
            commanded: vec![0.0; n + 1],
            last_written: None,
            largest_jump: 0.0,
            writes: 0,
        }
    }
}

impl<P: Plant> ServoBus for Servos<P> {
    fn joints(&self) -> usize {
        self.n
    }

    fn read(&mut self, joints: &mut [ServoReading], gripper: &mut ServoReading) -> core::result::Result<(), BusError> {
        self.plant.read(joints, gripper)?;
        for (m, j) in self.measured.iter_mut().zip(joints.iter()).take(self.n) {
            *m = j.position;
        }
        self.measured[self.n] = gripper.position;
        if let Some(j) = self.stall_joint {
            if self.stalled_at.is_none() {
                self.stalled_at = Some(self.measured[j]);
            }
            if self.torque && !self.stall_quiet {
                joints[j].load += STALL_LOAD_GAIN * (self.commanded[j] - self.measured[j]).abs();
            }
        }
        for r in joints.iter_mut().take(self.n).chain(core::iter::once(gripper)) {
            r.load += self.extra_load;
            if self.noise > 0.0 {
                r.position += self.rng.random_range(-self.noise..=self.noise);
            }
        }
        Ok(())
    }

    fn write_targets(&mut self, joints: &[f32], gripper: f32) -> core::result::Result<(), BusError> {
        let mut t: Vec<f32> = joints.iter().take(self.n).copied().collect();
        t.push(gripper);
        let reference = self.last_written.as_ref().unwrap_or(&self.measured);
        for (a, b) in t.iter().zip(reference) {
            self.largest_jump = self.largest_jump.max((a - b).abs());
        }
        self.commanded.clone_from(&t);
        self.last_written = Some(t.clone());
        self.writes += 1;
        if let (Some(j), Some(at)) = (self.stall_joint, self.stalled_at) {
            t[j] = at;
        }
        self.plant.write_targets(&t[..self.n], t[self.n])
    }

    fn set_torque(&mut self, on: bool) -> core::result::Result<(), BusError> {
        self.plant.set_torque(on)?;
        if !on {
            // A servo without torque forgets its target; the next write is measured afresh.
            self.last_written = None;
        }
        self.torque = on;
        Ok(())
    }
}

/// Faults to inject (probabilities per frame, times in ms since start).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Fraction of frames dropped, each direction.
    pub drop: f64,
    /// Fraction of frames with one byte corrupted, each direction.
    pub corrupt: f64,
    /// Delay added to every frame, each direction (ms).
    pub latency_ms: u64,
    /// The link goes silent (nothing in, nothing out) from this time on (ms).
    pub disconnect_at_ms: Option<u64>,
    /// This joint stops moving (stalled servo) from the start.
    pub stall_joint: Option<usize>,
    /// Every servo reports this extra load (fraction of rated) from `overload_at_ms` on.
    pub overload: f32,
    /// When the overload starts (ms).
    pub overload_at_ms: Option<u64>,
    /// Standard deviation-like amplitude of uniform noise on measured positions (rad or m).
    pub sensor_noise: f32,
    /// Seed of the injected faults.
    pub seed: u64,
}

impl FaultConfig {
    /// Refuses probabilities outside [0, 1] and non-finite amplitudes, naming the field.
    pub fn validate(&self) -> Result<()> {
        for (name, p) in [("drop", self.drop), ("corrupt", self.corrupt)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(HardwareError::Config(format!("faults: {name} {p} is not a fraction in [0, 1]")));
            }
        }
        for (name, v) in [("overload", self.overload), ("sensor_noise", self.sensor_noise)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(HardwareError::Config(format!("faults: {name} {v} must be finite and not negative")));
            }
        }
        Ok(())
    }
}

/// The emulated arm.
#[derive(Clone, Debug, PartialEq)]
pub struct EmulatorConfig {
    /// Controller tick period (ms).
    pub period_ms: u64,
    /// Joint start positions (rad or m).
    pub start: Vec<f32>,
    /// The firmware's joint limits.
    pub limits: Vec<JointLimit>,
    /// The firmware's settings.
    pub controller: ControllerConfig,
    /// Injected faults.
    pub faults: FaultConfig,
}

impl EmulatorConfig {
    /// The emulator of `arm` behind the sim twin: the firmware ticks every `tick_s` (s) with
    /// the URDF joint limits, a step per tick of the URDF velocity limit, and the gripper's
    /// travel; the default controller settings otherwise.
    pub fn for_twin(arm: &regrasp_sim::ArmModel, tick_s: f64, faults: FaultConfig) -> Self {
        Self {
            period_ms: (tick_s * 1000.0).round() as u64,
            start: vec![],
            limits: crate::twin::Twin::joint_limits(arm, tick_s),
            controller: ControllerConfig {
                gripper: crate::twin::Twin::gripper_limit(arm, tick_s),
                ..ControllerConfig::default()
            },
            faults,
        }
    }
}

/// What the emulator has seen (a snapshot, for tests and the command line).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmulatorReport {
    /// Ticks run.
    pub ticks: u64,
    /// Controller mode at the last tick.
    pub mode: Option<ModeCode>,
    /// Servo torque on.
    pub torque: bool,
    /// Largest jump of any servo target between consecutive writes, or from the measured pose
    /// for the first write after torque-on (rad or m).
    pub largest_jump: f32,
    /// Servo target writes.
    pub writes: u64,
    /// Frames received that the decoder refused.
    pub bad_frames: u64,
    /// Frames dropped or corrupted by injection.
    pub injected: u64,
    /// For the first e-stop frame: the tick count when it arrived and at the first tick that
    /// found the torque off (equal when the controller cut torque before the next tick).
    pub estop_ticks: Option<(u64, u64)>,
    /// Modes seen, in order of first appearance.
    pub modes_seen: Vec<ModeCode>,
    /// Measured control period statistics: (max, p99) jitter against `period_ms` (µs).
    pub tick_jitter_us: (u64, u64),
    /// Servo positions at the last tick (rad or m).
    pub positions: Vec<f32>,
}

/// A running emulator.
pub struct Emulator {
    /// The device path clients open (the pty's slave, or the symlink made for it).
    pub path: PathBuf,
    report: Arc<Mutex<EmulatorReport>>,
    /// Lateness of every tick (µs); summarised when a report is asked for, not every tick.
    lateness: Arc<Mutex<Vec<u64>>>,
    /// Held for its drop: stops the core's thread, removes the symlink.
    _server: PtyServer,
}

impl Emulator {
    /// Starts the emulator on a fresh pseudo-terminal; with `link`, a symlink to it is made
    /// there (replacing an old symlink, never a regular file).
    pub fn start(cfg: EmulatorConfig, link: Option<&Path>) -> Result<Self> {
        let bus = MockBus::new(cfg.start.len(), &cfg.start);
        Self::start_with(cfg, bus, link)
    }

    /// Starts the emulator with `plant` as the servos (the sim twin's bus, typically).
    pub fn start_with<P: Plant>(cfg: EmulatorConfig, plant: P, link: Option<&Path>) -> Result<Self> {
        let bus = Servos::new(plant, &cfg.faults);
        let controller = Controller::new(bus, &cfg.limits, cfg.controller)
            .map_err(|e| HardwareError::Config(format!("emulated firmware: {e:?}")))?;
        let report = Arc::new(Mutex::new(EmulatorReport::default()));
        let lateness = Arc::new(Mutex::new(Vec::new()));
        let (r, l) = (Arc::clone(&report), Arc::clone(&lateness));
        let server = PtyServer::start("regrasp-emulator", link, move |master, slave, stop| {
            run(cfg, master, slave, controller, stop, r, l)
        })?;
        Ok(Self { path: server.path.clone(), report, lateness, _server: server })
    }

    /// What it has seen so far.
    pub fn report(&self) -> EmulatorReport {
        let mut r = self.report.lock().map(|r| r.clone()).unwrap_or_default();
        let lateness = self.lateness.lock().map(|l| l.clone()).unwrap_or_default();
        let [_, p99, max] = crate::session::quantiles(lateness);
        r.tick_jitter_us = (max, p99);
        r
    }
}

/// A thread serving a fresh pseudo-terminal (the emulator's firmware core, or virtual servos):
/// the path clients open (the pty's slave, or a symlink to it at `link`), and a stop flag the
/// thread polls. Dropping it stops and joins the thread, then removes the symlink.
pub(crate) struct PtyServer {
    /// The device path clients open.
    pub path: PathBuf,
    symlink: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PtyServer {
    /// Opens a pseudo-terminal pair and runs `serve(master, slave, stop)` on a thread named
    /// `name`; with `link`, a symlink to the slave is made there.
    pub(crate) fn start(
        name: &str,
        link: Option<&Path>,
        serve: impl FnOnce(TTYPort, TTYPort, Arc<AtomicBool>) + Send + 'static,
    ) -> Result<Self> {
        let port_err = |message: String| HardwareError::Port { port: "pseudo-terminal".into(), message };
        let (master, slave) = TTYPort::pair().map_err(|e| port_err(e.to_string()))?;
        let slave_name = slave.name().ok_or_else(|| port_err("the pseudo-terminal has no name".into()))?;
        let (path, symlink) = link_pty(&slave_name, link)?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || serve(master, slave, s))
            .map_err(|e| HardwareError::Config(format!("{name} thread: {e}")))?;
        Ok(Self { path, symlink, stop, thread: Some(thread) })
    }
}

impl Drop for PtyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(p) = &self.symlink {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The path clients open for a pseudo-terminal named `slave_name`: a symlink to it at `link`
/// (replacing an old symlink, never a regular file), or the name itself; with the symlink to
/// remove when done.
fn link_pty(slave_name: &str, link: Option<&Path>) -> Result<(PathBuf, Option<PathBuf>)> {
    let Some(p) = link else { return Ok((PathBuf::from(slave_name), None)) };
    if let Ok(meta) = std::fs::symlink_metadata(p) {
        if !meta.file_type().is_symlink() {
            return Err(HardwareError::Config(format!(
                "{} exists and is not a symlink; not replacing it",
                p.display()
            )));
        }
        let _ = std::fs::remove_file(p);
    }
    std::os::unix::fs::symlink(slave_name, p).map_err(|e| HardwareError::Port {
        port: "pseudo-terminal".into(),
        message: format!("symlink {}: {e}", p.display()),
    })?;
    Ok((p.to_path_buf(), Some(p.to_path_buf())))
}

/// Splits a byte stream into delimited frames (delimiter included).
#[derive(Default)]
struct Framer {
    partial: Vec<u8>,
}

impl Framer {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<Vec<u8>>) {
        for &b in bytes {
            self.partial.push(b);
            if b == 0 || self.partial.len() > 4 * MAX_FRAME {
                out.push(std::mem::take(&mut self.partial));
            }
        }
    }
}

fn run<P: Plant>(
    cfg: EmulatorConfig,
    mut master: TTYPort,
    _slave: TTYPort, // kept open so the master never sees the pty hang up between clients
    mut controller: Controller<Servos<P>>,
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<EmulatorReport>>,
    lateness: Arc<Mutex<Vec<u64>>>,
) {
    let _ = master.set_timeout(Duration::from_millis(1));
    let f = &cfg.faults;
    let mut rng = ChaCha8Rng::seed_from_u64(f.seed);
    let start = Instant::now();
    let period = Duration::from_millis(cfg.period_ms.max(1));
    let mut next_tick = start + period;
    let mut framer = Framer::default();
    let mut decoder = FrameDecoder::new();
    let mut inbound: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut outbound: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut rep = EmulatorReport::default();
    let mut estop_at: Option<u64> = None;
    let latency = Duration::from_millis(f.latency_ms);
    let mut buf = [0u8; 512];
    let ms = |t: Instant| t.duration_since(start).as_millis() as u64;
    // Drop or corrupt one frame (both directions use the same rule).
    let inject = |frame: &mut Vec<u8>, rng: &mut ChaCha8Rng, rep: &mut EmulatorReport| -> bool {
        if f.drop > 0.0 && rng.random::<f64>() < f.drop {
            rep.injected += 1;
            return false;
        }
        if f.corrupt > 0.0 && rng.random::<f64>() < f.corrupt && frame.len() > 1 {
            let i = rng.random_range(0..frame.len() - 1);
            frame[i] ^= 1 << rng.random_range(0..8);
            rep.injected += 1;
        }
        true
    };
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let disconnected = f.disconnect_at_ms.is_some_and(|d| ms(now) >= d);
        // Wire in: read only what has arrived, so a quiet line never blocks the tick.
        let waiting = master.bytes_to_read().unwrap_or(0);
        match if waiting > 0 { master.read(&mut buf) } else { Ok(0) } {
            Ok(n) if n > 0 => {
                let mut frames = Vec::new();
                framer.push(&buf[..n], &mut frames);
                for mut fr in frames {
                    if !disconnected && inject(&mut fr, &mut rng, &mut rep) {
                        inbound.push_back((now + latency, fr));
                    }
                }
            }
            _ => {}
        }
        while inbound.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, fr)) = inbound.pop_front() else { break };
            for b in fr {
                match decoder.push(b) {
                    Some(Ok(frame)) => {
                        let t = ms(Instant::now()) as u32;
                        if matches!(frame.message, Message::EStop) && estop_at.is_none() {
                            estop_at = Some(rep.ticks);
                        }
                        let reply = controller.handle(&frame, t);
                        let mut out = [0u8; MAX_FRAME];
                        let k = protocol::encode(frame.seq, &reply, &mut out);
                        outbound.push_back((Instant::now() + latency, out[..k].to_vec()));
                    }
                    Some(Err(_)) => {
                        controller.bad_frame();
                        rep.bad_frames += 1;
                    }
                    None => {}
                }
            }
        }
        // Tick.
        let now = Instant::now();
        if now >= next_tick {
            let late = now.duration_since(next_tick).as_micros() as u64;
            if let Ok(mut l) = lateness.lock() {
                l.push(late);
            }
            next_tick += period;
            if next_tick < now {
                next_tick = now + period;
            }
            let t = ms(now);
            if f.overload_at_ms.is_some_and(|o| t >= o) {
                controller.bus.extra_load = f.overload;
            }
            controller.bus.plant.advance(period.as_secs_f64());
            let state = controller.tick(t as u32);
            outbound.push_back((now + latency, encode_state(&state)));
            rep.ticks += 1;
            rep.mode = Some(controller.mode());
            rep.torque = controller.bus.torque;
            rep.largest_jump = controller.bus.largest_jump;
            rep.writes = controller.bus.writes;
            rep.positions = controller.bus.measured[..controller.bus.n].to_vec();
            if let (Some(e), None) = (estop_at, rep.estop_ticks)
                && !controller.bus.torque
            {
                rep.estop_ticks = Some((e, rep.ticks));
            }
            if !rep.modes_seen.contains(&controller.mode()) {
                rep.modes_seen.push(controller.mode());
            }
            if let Ok(mut r) = report.lock() {
                *r = rep.clone();
            }
        }
        // Wire out.
        let now = Instant::now();
        while outbound.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, mut fr)) = outbound.pop_front() else { break };
            if !disconnected && inject(&mut fr, &mut rng, &mut rep) {
                let _ = master.write_all(&fr);
            }
        }
        let wait = next_tick.saturating_duration_since(Instant::now()).min(Duration::from_micros(500));
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
    // The core stops (its host is closing): servos without a watchdog of their own (a Feetech
    // bus) would hold their last goal with torque on, so the core's last act is torque off.
    let _ = controller.bus.set_torque(false);
}

fn encode_state(m: &Message) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    let n = protocol::encode(0, m, &mut out);
    out[..n].to_vec()
}
