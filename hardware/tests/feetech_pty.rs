//! The virtual SO-101's servo bus on a real pseudo-terminal: the host bus over a serial port,
//! and the controller core on the host over that bus with the bridge in front, as `hw run`
//! will drive a physical SO-101. Waits poll state with generous deadlines; no assertion
//! depends on wall-clock timing.

use std::time::{Duration, Instant};

use regrasp_firmware::controller::ControllerConfig;
use regrasp_firmware::protocol::{JointLimit, ModeCode};
use regrasp_firmware::sts::{self, addr};
use regrasp_hardware::emulator::{Emulator, EmulatorConfig, FaultConfig};
use regrasp_hardware::feetech::{
    BusConfig, Calibration, FeetechBus, SerialTransport, VirtualBus, VirtualBusPort, VirtualServo,
};
use regrasp_hardware::link::{Bridge, LinkConfig};
use regrasp_hardware::{Arm, JointCommand};

mod common;

use common::{calibration, virtual_arm};

fn host_bus(port: &VirtualBusPort) -> FeetechBus<SerialTransport> {
    let t = SerialTransport::open(&port.path.to_string_lossy(), 1_000_000).unwrap();
    // A pseudo-terminal's scheduling adds milliseconds a USB adapter does not.
    FeetechBus::new(t, calibration(), BusConfig { reply_margin: 0.05, ..BusConfig::default() })
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_host_bus_drives_the_virtual_servos_over_a_serial_port() {
    let port = VirtualBusPort::start(virtual_arm(), None).unwrap();
    let mut bus = host_bus(&port);
    for id in 1..=6 {
        bus.ping(id).unwrap();
    }
    assert_eq!(bus.read_word(3, addr::MODEL_NUMBER).unwrap(), sts::MODEL_STS3215);
    let state = bus.read_state().unwrap();
    assert!(state.iter().all(|r| r.position.abs() < 1e-3), "{state:?}");
    use regrasp_firmware::servo::ServoBus;
    bus.set_torque(true).unwrap();
    bus.write_goals(&[0.2, -0.1, 0.3, 0.0, -0.5, 0.4]).unwrap();
    wait_until("the servos reach their goals", || {
        let s = bus.read_state().unwrap();
        (s[0].position - 0.2).abs() < 0.003 && (s[5].position - 0.4).abs() < 0.003
    });
    assert_eq!(bus.stats.failures, 0, "{:?}", bus.stats);
}

#[test]
fn the_controller_core_runs_on_the_host_over_the_feetech_bus() {
    let port = VirtualBusPort::start(virtual_arm(), None).unwrap();
    let bus = host_bus(&port);
    let step = 0.02f32;
    let cal = calibration();
    let limits: Vec<JointLimit> = cal.motors[..5]
        .iter()
        .map(|(_, m)| {
            let (lo, hi) = m.range_radians();
            JointLimit { min: lo as f32, max: hi as f32, max_step: step }
        })
        .collect();
    let (glo, ghi) = cal.motors[5].1.range_radians();
    let cfg = EmulatorConfig {
        period_ms: 20,
        start: vec![],
        limits,
        controller: ControllerConfig {
            gripper: JointLimit { min: glo as f32, max: ghi as f32, max_step: step },
            ..ControllerConfig::default()
        },
        faults: FaultConfig::default(),
    };
    let core = Emulator::start_with(cfg, bus, None).unwrap();
    let mut bridge = Bridge::connect(LinkConfig::new(core.path.to_string_lossy().to_string()), 5, None, 1).unwrap();
    assert!(bridge.read_state().unwrap().armed);
    wait_until("the first armed tick", || core.report().modes_seen.contains(&ModeCode::Armed));
    assert!(port.bus().servos.iter().all(|s| s.torque_on()), "torque is on");
    for _ in 0..40 {
        bridge.command(&JointCommand { positions: vec![1.0, -1.0, 1.0, -1.0, 2.0], gripper: 0.5 }).unwrap();
        bridge.read_state().unwrap();
    }
    let r = core.report();
    assert!(r.writes > 10, "{r:?}");
    assert!(r.largest_jump <= step + 1e-6, "a servo target jumped {} rad", r.largest_jump);
    let pan_goal = port.bus().servo(1).unwrap().goal();
    assert!(pan_goal > 2035 + 100, "the pan servo was sent on its way: goal {pan_goal}");
    bridge.stop().unwrap();
    wait_until("the e-stop", || core.report().estop_ticks.is_some());
    let (arrived, off) = core.report().estop_ticks.unwrap();
    assert!(off <= arrived + 1, "torque off at tick {off}, e-stop arrived at tick {arrived}");
    wait_until("every servo's torque off", || port.bus().servos.iter().all(|s| !s.torque_on()));
}

/// The STS servos have no watchdog: when the host's core stops (its process closing), its last
/// act is torque off, or the arm would hold its last goal powered with nobody watching.
#[test]
fn the_host_core_turns_torque_off_when_it_stops() {
    use regrasp_hardware::feetech::{core_config, core_limits};
    let port = VirtualBusPort::start(virtual_arm(), None).unwrap();
    let arm = regrasp_sim::ArmModel::named("so101").unwrap();
    let cal = calibration().with_travel("gripper", -0.174533, 1.74533);
    let (limits, gripper) = core_limits(&arm, &cal, 0.025).unwrap();
    let bus = FeetechBus::new(
        SerialTransport::open(&port.path.to_string_lossy(), 1_000_000).unwrap(),
        cal,
        BusConfig { reply_margin: 0.05, ..BusConfig::default() },
    );
    let cfg = EmulatorConfig {
        period_ms: 25,
        start: vec![],
        limits,
        controller: core_config(gripper, 40),
        faults: FaultConfig::default(),
    };
    let core = Emulator::start_with(cfg, bus, None).unwrap();
    let bridge = Bridge::connect(LinkConfig::new(core.path.to_string_lossy().to_string()), 5, None, 1).unwrap();
    wait_until("torque on", || port.bus().servos.iter().all(|s| s.torque_on()));
    drop(bridge);
    drop(core);
    // The core's last write is on the wire when it has stopped; the servos read it at once.
    wait_until("torque off after the core stopped", || port.bus().servos.iter().all(|s| !s.torque_on()));
}

/// The virtual SO-101 as `hw run` meets it: a rig on the Feetech path (virtual servos whose
/// shafts are a sim twin's joints, the host's core over the bus, the bridge and the envelope)
/// moves the twin where it is told, and an e-stop turns every servo's torque off.
#[test]
fn a_rig_drives_the_virtual_so101_through_the_feetech_path() {
    use std::sync::Arc;

    use regrasp_hardware::rig::{Port, Rig};
    use regrasp_hardware::{EnvelopeConfig, JointCommand};
    use regrasp_sim::ArmModel;

    let arm = Arc::new(ArmModel::named("so101").unwrap());
    let scenario = arm.task.distribution.sample(3);
    let port = Port::EmulatedFeetech { scenario, faults: FaultConfig::default() };
    let mut rig = Rig::connect(&arm, &arm.task.env, &port, EnvelopeConfig::default(), 7).unwrap();
    let start = rig.twin().unwrap().truth().unwrap().q;
    {
        // Setup configured the factory-fresh virtual servos (return delay, gains), then armed.
        let servos = rig.virtual_servos().unwrap().bus();
        assert!(servos.servos.iter().all(|s| s.reg(addr::RETURN_DELAY) == 0 && s.reg(addr::P_COEFFICIENT) == 16));
        assert!(servos.servos.iter().all(|s| s.torque_on()), "armed");
    }
    let mut goal = start.clone();
    goal[0] += 0.15; // pan 0.15 rad
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        rig.guarded().command(&JointCommand { positions: goal.clone(), gripper: 0.5 }, 0.0).unwrap();
        rig.guarded().arm().read_state().unwrap();
        let q = rig.twin().unwrap().truth().unwrap().q;
        if (q[0] - goal[0]).abs() < 0.01 {
            break;
        }
        assert!(Instant::now() < deadline, "the twin's pan stayed at {} for a goal of {}", q[0], goal[0]);
        std::thread::sleep(Duration::from_millis(10));
    }
    rig.guarded().stop().unwrap();
    wait_until("every servo's torque off", || {
        rig.virtual_servos().unwrap().bus().servos.iter().all(|s| !s.torque_on())
    });
    let r = rig.emulator().unwrap().report();
    assert!(r.largest_jump <= 4.7 * 0.025 + 1e-4, "a target jumped {} rad", r.largest_jump);
}

/// An operator who moves the virtual servos' shafts as a person would move the arm: to the
/// middle of each joint's travel (its shaft at `middle` counts), then through `sweep` counts
/// either side, over `steps` samples.
struct HandOperator<'a> {
    port: &'a VirtualBusPort,
    middle: Vec<f64>,
    sweep: Vec<f64>,
    steps: usize,
    step: usize,
}

impl regrasp_hardware::feetech::calibrate::CalibrationOperator for HandOperator<'_> {
    fn confirm(&mut self, _message: &str) -> bool {
        let mut bus = self.port.bus();
        for (s, m) in bus.servos.iter_mut().zip(&self.middle) {
            s.set_shaft(*m, 0.0);
        }
        true
    }

    fn start_sweep(&mut self, _message: &str) {}

    fn sweeping(&mut self, _ranges: &[(String, i32, i32)]) -> bool {
        self.step += 1;
        let phase = self.step as f64 / self.steps as f64 * std::f64::consts::TAU;
        let mut bus = self.port.bus();
        for ((s, m), a) in bus.servos.iter_mut().zip(&self.middle).zip(&self.sweep) {
            s.set_shaft(m + a * phase.sin(), 0.0);
        }
        self.step < self.steps
    }
}

#[test]
fn calibration_homes_the_middle_to_2047_and_records_the_swept_ranges() {
    use regrasp_hardware::feetech::calibrate::{CalibrateError, calibrate};
    let names: Vec<String> = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
        .map(String::from)
        .to_vec();
    let factory = || VirtualBus::new((1..=6).map(|id| VirtualServo::new(id, 100.0)).collect());
    let run = |port: &VirtualBusPort, middle: Vec<f64>, sweep: Vec<f64>| {
        let t = SerialTransport::open(&port.path.to_string_lossy(), 1_000_000).unwrap();
        let mut bus = FeetechBus::new(t, calibration(), BusConfig { reply_margin: 0.05, ..BusConfig::default() });
        let mut op = HandOperator { port, middle, sweep, steps: 40, step: 0 };
        calibrate(&mut bus, &names, &mut op, &mut |_| {})
    };
    let port = VirtualBusPort::start(factory(), None).unwrap();
    let middle = vec![1000.0, 3000.0, 2048.0, 500.0, 3500.0, 1800.0];
    let sweep = vec![900.0, 800.0, 700.0, 400.0, 50.0, 600.0];
    let cal = run(&port, middle.clone(), sweep.clone()).unwrap();
    for (i, (name, m)) in cal.motors.iter().enumerate() {
        assert_eq!(m.id, i as u8 + 1);
        assert_eq!(m.homing_offset, middle[i] as i32 - 2047, "{name}");
        if name == "wrist_roll" {
            assert_eq!((m.range_min, m.range_max), (0, 4095), "the wrist roll keeps the whole turn");
        } else {
            let (lo, hi) = (2047 - sweep[i] as i32, 2047 + sweep[i] as i32);
            assert!((m.range_min as i32 - lo).abs() <= 2 && (m.range_max as i32 - hi).abs() <= 2, "{name}: {m:?}");
            assert!(m.radians(m.range_min as i32) < 0.0 && m.radians(m.range_max as i32) > 0.0);
        }
        // Written to the servo's EEPROM (saved: the lock was open), and the file round-trips.
        let bus = port.bus();
        let s = bus.servo(m.id).unwrap();
        assert_eq!(
            s.saved(addr::MIN_POSITION_LIMIT) as u16 | (s.saved(addr::MIN_POSITION_LIMIT + 1) as u16) << 8,
            m.range_min
        );
        assert_eq!(s.reg(addr::LOCK), 1, "locked again");
    }
    assert_eq!(Calibration::parse(&cal.to_json(), "f", &names).unwrap(), cal);

    // A joint that never moved, and a sweep across the seam, are refused.
    let port = VirtualBusPort::start(factory(), None).unwrap();
    let mut still = sweep.clone();
    still[2] = 0.0;
    assert_eq!(run(&port, middle.clone(), still).unwrap_err(), CalibrateError::NotMoved("elbow_flex".into(), 2047));
    let port = VirtualBusPort::start(factory(), None).unwrap();
    let mut wide = sweep;
    wide[1] = 2500.0;
    let e = run(&port, middle, wide).unwrap_err();
    assert!(matches!(e, CalibrateError::Seam(ref j, _, _) if j == "shoulder_lift"), "{e}");
    assert!(e.to_string().contains("middle of its travel"), "{e}");
}

/// The virtual SO-101's servos are mounted on the twin's joints: writing a new homing offset
/// (as calibration does) changes what a servo reports, not where its joint is.
#[test]
fn a_new_homing_offset_moves_the_reading_not_the_twins_joint() {
    use std::sync::Arc;

    use regrasp_hardware::feetech::{WireFaults, start_virtual_arm, virtual_calibration};
    use regrasp_hardware::twin::Twin;

    let arm = Arc::new(regrasp_sim::ArmModel::named("so101").unwrap());
    let scenario = arm.task.distribution.sample(1);
    let twin = Twin::new(Arc::clone(&arm), &arm.task.env, &scenario, 0.025).unwrap();
    let cal = virtual_calibration(&arm);
    let port = start_virtual_arm(&cal, &twin, 0.025, WireFaults::default(), None).unwrap();
    let t = SerialTransport::open(&port.path.to_string_lossy(), 1_000_000).unwrap();
    let mut bus = FeetechBus::new(t, cal.clone(), BusConfig { reply_margin: 0.05, ..BusConfig::default() });
    let before = bus.read_counts().unwrap();
    let q_before = twin.truth().unwrap().q;
    // Servo 1 (shoulder_pan, offset −1021) gets offset −1000: it reads 21 counts less.
    let raw = sts::to_sign_magnitude(-1000, sts::sign_bit::HOMING_OFFSET).unwrap();
    bus.write_register(1, addr::HOMING_OFFSET, &raw.to_le_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100)); // several twin exchanges
    let after = bus.read_counts().unwrap();
    assert_eq!(after[0], before[0] - 21, "{before:?} → {after:?}");
    assert_eq!(&after[1..], &before[1..]);
    let q_after = twin.truth().unwrap().q;
    assert!((q_after[0] - q_before[0]).abs() < 1e-9, "the joint moved: {} → {}", q_before[0], q_after[0]);
}

/// Packets lost or corrupted on the wire, both ways: the host's retries carry most reads
/// through, every failure is a named `BusFault`, and nothing panics.
#[test]
fn a_lossy_wire_is_retried_and_every_failure_named() {
    use regrasp_hardware::feetech::port::FreeShafts;
    use regrasp_hardware::feetech::{BusFault, WireFaults};
    let faults = WireFaults { drop: 0.1, corrupt: 0.1, seed: 3 };
    let port = VirtualBusPort::start_with(virtual_arm(), FreeShafts, faults, None).unwrap();
    let mut bus = host_bus(&port);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..200 {
        match bus.read_state() {
            Ok(s) => {
                assert_eq!(s.len(), 6);
                ok += 1;
            }
            Err(BusFault::NoReply(_) | BusFault::BadChecksum(_)) => failed += 1,
            Err(other) => panic!("an unexpected fault: {other}"),
        }
    }
    assert!(port.bus().injected > 10, "faults were injected: {}", port.bus().injected);
    assert!(bus.stats.retries > 0, "{:?}", bus.stats);
    assert!(ok >= 160, "{ok} of 200 reads came through (retries: {}), {failed} failed", bus.stats.retries);
}
