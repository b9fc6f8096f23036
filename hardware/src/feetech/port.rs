//! A [`VirtualBus`] behind a pseudo-terminal: the virtual SO-101's servos answer on a device
//! path exactly as six STS3215s behind a USB adapter would, replies delayed by their return
//! delay and their bytes' time on a 1 Mbps wire. Their shafts move in real time, by the
//! servos' own first-order model ([`FreeShafts`]) or as the joints of the simulation twin
//! ([`TwinShafts`]: goals in, the twin's joint positions out), so a policy on the virtual
//! SO-101 grasps the twin's object.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regrasp_firmware::sts::addr;
use serialport::{SerialPort, TTYPort};

use regrasp_firmware::servo::{ServoBus, ServoReading};

use super::calibration::Calibration;
use super::virtual_servo::VirtualBus;
use crate::emulator::PtyServer;
use crate::error::{HardwareError, Result};
use crate::twin::TwinBus;

/// What moves the virtual servos' shafts.
pub trait ShaftDriver: Send + 'static {
    /// Moves the shafts of `bus` for `dt` seconds.
    fn drive(&mut self, bus: &mut VirtualBus, dt: f64);
}

/// The servos' own first-order model: each shaft goes to its goal at its speed limit.
pub struct FreeShafts;

impl ShaftDriver for FreeShafts {
    fn drive(&mut self, bus: &mut VirtualBus, dt: f64) {
        bus.step(dt);
    }
}

/// The simulation twin's joints are the shafts: every `period` the servos' goals become the
/// twin's joint targets, torque follows the servos' torque (on when all are on), the twin steps,
/// and its joint positions become the shafts' positions. `calibration` is how the virtual
/// servos are mounted on the twin's joints (fixed, like a horn on a spline): a shaft's position
/// is the joint's counts plus that calibration's homing offset, whatever offset the servo's
/// register holds now (a recalibration changes what the servo reports, not where it is).
pub struct TwinShafts {
    twin: TwinBus,
    calibration: Calibration,
    period: f64,
    pending: f64,
}

impl TwinShafts {
    /// `twin` driven every `period_s` (its tick), through `calibration` (the arm's motors).
    pub fn new(twin: TwinBus, calibration: Calibration, period_s: f64) -> Self {
        Self { twin, calibration, period: period_s, pending: 0.0 }
    }

    /// One exchange: the servos' goals to the twin, the twin one period on, its joints back to
    /// the shafts. A stalled servo's joint is held where it is.
    pub fn sync(&mut self, bus: &mut VirtualBus) {
        let motors = &self.calibration.motors;
        let n = motors.len().saturating_sub(1);
        let mut goals = Vec::with_capacity(motors.len());
        let mut torque = true;
        for (_, m) in motors {
            let Some(s) = bus.servo(m.id) else { return };
            let goal = if s.fault.stalled { s.present_position() } else { s.goal() };
            let shaft = goal + s.homing_offset();
            goals.push(m.radians(shaft - m.homing_offset) as f32);
            torque &= s.torque_on();
        }
        let _ = self.twin.set_torque(torque);
        let _ = self.twin.write_targets(&goals[..n], goals[n]);
        self.twin.advance(self.period);
        let mut joints = vec![ServoReading::default(); n];
        let mut gripper = ServoReading::default();
        if self.twin.read(&mut joints, &mut gripper).is_err() {
            return;
        }
        for ((_, m), r) in motors.iter().zip(joints.iter().chain(std::iter::once(&gripper))) {
            if let Some(s) = bus.servo_mut(m.id) {
                let shaft = m.counts_unclamped(r.position as f64) + m.homing_offset as f64;
                let counts_per_rad = (m.counts_unclamped(1.0) - m.counts_unclamped(0.0)).abs();
                let velocity = r.velocity as f64 * counts_per_rad;
                // A blocked joint's servo pushes towards its goal: its load is its own loop's
                // (from the position error), not the twin motor's that only holds the joint.
                s.load = (!s.fault.stalled).then_some(r.load as f64);
                s.set_shaft(shaft, velocity);
            }
        }
    }
}

impl ShaftDriver for TwinShafts {
    fn drive(&mut self, bus: &mut VirtualBus, dt: f64) {
        self.pending += dt;
        while self.pending >= self.period {
            self.pending -= self.period;
            self.sync(bus);
        }
    }
}

/// Line rate of the virtual wire (bit/s).
pub const BAUD: u32 = 1_000_000;

/// Faults on the virtual wire, each direction: a packet lost, or one bit of it flipped (the
/// servos then ignore the request, the host refuses the reply by its checksum). Every choice
/// comes from `seed`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WireFaults {
    /// Fraction of packets dropped.
    pub drop: f64,
    /// Fraction of packets with one bit flipped.
    pub corrupt: f64,
    /// Seed of the injected faults.
    pub seed: u64,
}

impl WireFaults {
    /// Drops or corrupts `bytes` as the fractions say; false when dropped.
    fn inject(&self, bytes: &mut [u8], rng: &mut ChaCha8Rng, injected: &mut u64) -> bool {
        if self.drop > 0.0 && rng.random::<f64>() < self.drop {
            *injected += 1;
            return false;
        }
        if self.corrupt > 0.0 && rng.random::<f64>() < self.corrupt && !bytes.is_empty() {
            let i = rng.random_range(0..bytes.len());
            bytes[i] ^= 1 << rng.random_range(0..8);
            *injected += 1;
        }
        true
    }
}

/// A running virtual bus on a pseudo-terminal.
pub struct VirtualBusPort {
    /// The device path a host opens.
    pub path: PathBuf,
    bus: Arc<Mutex<VirtualBus>>,
    /// Held for its drop (last): stops the serving thread, removes the symlink.
    _server: PtyServer,
}

impl VirtualBusPort {
    /// Puts `bus` on a fresh pseudo-terminal, its shafts moved by their own model; with `link`,
    /// a symlink to it is made there (replacing an old symlink, never a regular file).
    pub fn start(bus: VirtualBus, link: Option<&Path>) -> Result<Self> {
        Self::start_with(bus, FreeShafts, WireFaults::default(), link)
    }

    /// [`Self::start`] with `driver` moving the shafts (the twin, typically) and `faults` on the
    /// wire.
    pub fn start_with(
        bus: VirtualBus,
        driver: impl ShaftDriver,
        faults: WireFaults,
        link: Option<&Path>,
    ) -> Result<Self> {
        if !((0.0..=1.0).contains(&faults.drop) && (0.0..=1.0).contains(&faults.corrupt)) {
            return Err(HardwareError::Config(format!(
                "wire faults: drop {} and corrupt {} must be fractions in [0, 1]",
                faults.drop, faults.corrupt
            )));
        }
        let bus = Arc::new(Mutex::new(bus));
        let b = Arc::clone(&bus);
        let server = PtyServer::start("regrasp-virtual-bus", link, move |master, slave, stop| {
            serve(master, slave, b, stop, driver, faults)
        })?;
        Ok(Self { path: server.path.clone(), bus, _server: server })
    }

    /// The servos, to inspect them or inject faults while the bus runs.
    pub fn bus(&self) -> std::sync::MutexGuard<'_, VirtualBus> {
        self.bus.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(
    mut master: TTYPort,
    _slave: TTYPort,
    bus: Arc<Mutex<VirtualBus>>,
    stop: Arc<AtomicBool>,
    mut driver: impl ShaftDriver,
    faults: WireFaults,
) {
    let _ = master.set_timeout(Duration::from_millis(1));
    let mut rng = ChaCha8Rng::seed_from_u64(faults.seed);
    let byte_time = Duration::from_nanos(10_000_000_000 / BAUD as u64);
    let mut buf = [0u8; 512];
    let mut outbound: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut last_step = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let waiting = master.bytes_to_read().unwrap_or(0);
        if waiting > 0
            && let Ok(n) = master.read(&mut buf)
            && n > 0
        {
            let arrived = Instant::now();
            let mut out = Vec::new();
            let return_delay = {
                let mut b = bus.lock().unwrap_or_else(|e| e.into_inner());
                let mut request = buf[..n].to_vec();
                if faults.inject(&mut request, &mut rng, &mut b.injected) {
                    b.receive(&request, &mut out);
                }
                // Register 7 counts 2 µs units (the servos on one bus share the setting).
                b.servos.first().map_or(0, |s| s.reg(addr::RETURN_DELAY)) as u32 * 2
            };
            if !out.is_empty()
                && faults.inject(&mut out, &mut rng, &mut bus.lock().unwrap_or_else(|e| e.into_inner()).injected)
            {
                let due = arrived + Duration::from_micros(return_delay as u64) + byte_time * out.len() as u32;
                outbound.push_back((due, out));
            }
        }
        let now = Instant::now();
        while outbound.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, bytes)) = outbound.pop_front() {
                let _ = master.write_all(&bytes);
            }
        }
        let dt = now.duration_since(last_step);
        if dt >= Duration::from_millis(1) {
            driver.drive(&mut bus.lock().unwrap_or_else(|e| e.into_inner()), dt.as_secs_f64());
            last_step = now;
        }
        if waiting == 0 && outbound.is_empty() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
