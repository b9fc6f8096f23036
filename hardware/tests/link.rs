//! The bridge over real pseudo-terminals to the real firmware core (the emulator): first
//! commands never jump, e-stop cuts torque before the next tick, every injected fault ends in a
//! safe state, and nothing panics. Waits poll the emulator's own state with a generous deadline;
//! no assertion depends on wall-clock timing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use regrasp_firmware::controller::ControllerConfig;
use regrasp_firmware::protocol::{JointLimit, ModeCode};
use regrasp_hardware::emulator::{Emulator, EmulatorConfig, EmulatorReport, FaultConfig};
use regrasp_hardware::link::{Bridge, LinkConfig};
use regrasp_hardware::{Arm, EnvelopeConfig, Guarded, JointCommand, SafetyEnvelope};
use regrasp_sim::ArmModel;

const STEP: f32 = 0.02;

fn emulator_config(faults: FaultConfig) -> EmulatorConfig {
    let arm = ArmModel::default_arm().unwrap();
    EmulatorConfig {
        period_ms: 20,
        start: vec![0.0, 0.3, 1.2, 0.9, 0.0],
        limits: arm
            .arm_joints
            .iter()
            .map(|j| JointLimit { min: j.lower as f32, max: j.upper as f32, max_step: STEP })
            .collect(),
        controller: ControllerConfig::default(),
        faults,
    }
}

/// Polls the emulator until `cond` holds (at most 10 s, then fails with the last report).
fn wait_for(emu: &Emulator, what: &str, cond: impl Fn(&EmulatorReport) -> bool) -> EmulatorReport {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = emu.report();
        if cond(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {r:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn link(emu: &Emulator) -> LinkConfig {
    LinkConfig::new(emu.path.to_string_lossy().to_string())
}

#[test]
fn a_far_first_command_never_jumps_and_reconnecting_starts_from_the_measured_pose() {
    let emu = Emulator::start(emulator_config(FaultConfig::default()), None).unwrap();
    let mut bridge = Bridge::connect(link(&emu), 5, None, 1).unwrap();
    let s = bridge.read_state().unwrap();
    assert!(s.armed);
    wait_for(&emu, "the first armed tick", |r| r.modes_seen.contains(&ModeCode::Armed));
    // Straight to the far corner, no envelope: the firmware alone must walk there.
    for _ in 0..30 {
        bridge.command(&JointCommand { positions: vec![2.0, -1.0, -1.0, 2.0, 2.0], gripper: 0.0 }).unwrap();
        bridge.read_state().unwrap();
    }
    let r = emu.report();
    assert!(r.writes > 10, "{r:?}");
    assert!(r.largest_jump <= STEP + 1e-6, "jump {} over the firmware's step", r.largest_jump);
    drop(bridge);
    // The watchdog drops torque when the host goes away; a new host re-arms from where it is.
    wait_for(&emu, "torque off after the host left", |r| !r.torque);
    let mut again = Bridge::connect(link(&emu), 5, None, 2).unwrap();
    again.command(&JointCommand { positions: vec![-2.0; 5], gripper: 0.08 }).unwrap();
    for _ in 0..10 {
        again.read_state().unwrap();
    }
    let r = emu.report();
    assert!(r.largest_jump <= STEP + 1e-6, "jump after reconnect {}", r.largest_jump);
    // Reconnecting in place (the port reopened, a fresh handshake, re-armed) starts from the
    // measured pose too.
    let mut again = again.reconnect(3).unwrap();
    assert!(again.read_state().unwrap().armed);
    again.command(&JointCommand { positions: vec![2.0; 5], gripper: 0.0 }).unwrap();
    for _ in 0..10 {
        again.read_state().unwrap();
    }
    let r = emu.report();
    assert!(r.largest_jump <= STEP + 1e-6, "jump after an in-place reconnect {}", r.largest_jump);
}

#[test]
fn the_guarded_bridge_moves_smoothly_and_estop_cuts_torque_before_the_next_tick() {
    let emu = Emulator::start(emulator_config(FaultConfig::default()), None).unwrap();
    let arm = Arc::new(ArmModel::default_arm().unwrap());
    let bridge = Bridge::connect(link(&emu), 5, None, 3).unwrap();
    let envelope = SafetyEnvelope::new(Arc::clone(&arm), EnvelopeConfig::default()).unwrap();
    let mut guarded = Guarded::new(bridge, envelope).unwrap();
    wait_for(&emu, "the first armed tick", |r| r.modes_seen.contains(&ModeCode::Armed));
    for i in 0..25 {
        let q = vec![0.2, 0.5, 1.0, 0.8, if i % 2 == 0 { f64::NAN } else { 0.1 }];
        guarded.command(&JointCommand { positions: q, gripper: 0.05 }, 0.0).unwrap();
        guarded.arm().read_state().unwrap();
    }
    assert!(guarded.envelope().counts[1] > 0, "NaNs were counted");
    guarded.stop().unwrap();
    let r = wait_for(&emu, "the e-stop", |r| r.estop_ticks.is_some());
    let (arrived, off) = r.estop_ticks.unwrap();
    assert!(off <= arrived + 1, "torque off at tick {off}, e-stop arrived at tick {arrived}");
    assert_eq!(r.mode, Some(ModeCode::EStopped));
    // A second bridge cannot open a port in use.
    let err = Bridge::connect(link(&emu), 5, None, 4).err().unwrap().to_string();
    assert!(err.contains("lock"), "{err}");
    drop(guarded);
    // Latched: a new connection cannot simply re-arm.
    let err = Bridge::connect(link(&emu), 5, None, 4).err().expect("re-arming an e-stopped arm must fail");
    assert!(err.to_string().contains("WrongMode"), "{err}");
}

#[test]
fn a_disconnect_ends_in_hold_then_torque_off() {
    let emu = Emulator::start(emulator_config(FaultConfig { disconnect_at_ms: Some(400), ..Default::default() }), None)
        .unwrap();
    let mut bridge = Bridge::connect(link(&emu), 5, None, 5).unwrap();
    wait_for(&emu, "the first armed tick", |r| r.modes_seen.contains(&ModeCode::Armed));
    // Keep commanding through the disconnect; the bridge's reads start failing, never panic.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && emu.report().torque {
        let _ = bridge.command(&JointCommand { positions: vec![0.1, 0.4, 1.1, 0.9, 0.0], gripper: 0.04 });
        let _ = bridge.read_state();
    }
    let r = wait_for(&emu, "torque off", |r| !r.torque);
    assert!(r.modes_seen.contains(&ModeCode::Holding), "held before torque off: {:?}", r.modes_seen);
    assert_eq!(r.mode, Some(ModeCode::Disarmed));
    assert!(r.largest_jump <= STEP + 1e-6);
}

#[test]
fn corrupted_dropped_and_late_frames_never_make_a_jump() {
    let faults =
        FaultConfig { drop: 0.1, corrupt: 0.1, latency_ms: 5, sensor_noise: 0.01, seed: 7, ..Default::default() };
    let emu = Emulator::start(emulator_config(faults), None).unwrap();
    // The handshake itself may be hit: retry until the arm is armed.
    let mut bridge = None;
    for nonce in 0..20 {
        if let Ok(b) = Bridge::connect(link(&emu), 5, None, 100 + nonce) {
            bridge = Some(b);
            break;
        }
    }
    let mut bridge = bridge.expect("connects despite 10 % drops and corruption");
    for k in 0..100 {
        let _ = bridge.command(&JointCommand {
            positions: vec![0.5, 0.0, 0.8, if k % 2 == 0 { 2.0 } else { -2.0 }, 0.3],
            gripper: 0.02,
        });
        let _ = bridge.read_state();
    }
    let r = wait_for(&emu, "some injected faults", |r| r.injected > 0 && r.bad_frames > 0);
    assert!(r.largest_jump <= STEP + 1e-6, "jump {}", r.largest_jump);
    assert!(bridge.link.bad_frames > 0 || r.bad_frames > 0);
}

#[test]
fn a_stalled_servo_overloads_into_a_torque_off_fault() {
    let emu =
        Emulator::start(emulator_config(FaultConfig { stall_joint: Some(1), ..Default::default() }), None).unwrap();
    let mut bridge = Bridge::connect(link(&emu), 5, None, 9).unwrap();
    wait_for(&emu, "the first armed tick", |r| r.modes_seen.contains(&ModeCode::Armed));
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && emu.report().mode != Some(ModeCode::Faulted) {
        let _ = bridge.command(&JointCommand { positions: vec![0.0, 1.2, 1.2, 0.9, 0.0], gripper: 0.04 });
        let _ = bridge.read_state();
    }
    let r = wait_for(&emu, "the overload fault", |r| r.mode == Some(ModeCode::Faulted));
    assert!(!r.torque);
    let s = bridge.read_state().unwrap();
    assert!(s.faults & regrasp_firmware::protocol::fault::OVERLOAD != 0, "faults {:#x}", s.faults);
}

#[test]
fn a_missing_port_and_a_mismatched_arm_are_clear_errors() {
    let err = Bridge::connect(LinkConfig::new("/dev/regrasp-no-such-port"), 5, None, 1).err().unwrap().to_string();
    assert!(err.contains("/dev/regrasp-no-such-port"), "{err}");
    let emu = Emulator::start(emulator_config(FaultConfig::default()), None).unwrap();
    let err = Bridge::connect(link(&emu), 6, None, 1).err().unwrap().to_string();
    assert!(err.contains("5 joints") && err.contains("6"), "{err}");
    let err = Bridge::connect(link(&emu), 5, Some(0xDEAD_BEEF), 2).err().unwrap().to_string();
    assert!(err.contains("limits hash"), "{err}");
}

#[test]
fn the_emulator_links_its_port_where_asked_and_refuses_to_clobber_a_file() {
    let dir = std::env::temp_dir().join(format!("regrasp-emu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link_path = dir.join("ttyARM0");
    {
        let emu = Emulator::start(emulator_config(FaultConfig::default()), Some(&link_path)).unwrap();
        assert!(std::fs::symlink_metadata(&link_path).unwrap().file_type().is_symlink());
        let mut b = Bridge::connect(LinkConfig::new(link_path.to_string_lossy().to_string()), 5, None, 1).unwrap();
        assert!(b.read_state().unwrap().armed);
        drop(emu);
    }
    assert!(!link_path.exists(), "the symlink goes with the emulator");
    let file = dir.join("plain");
    std::fs::write(&file, "keep me").unwrap();
    assert!(Emulator::start(emulator_config(FaultConfig::default()), Some(&file)).is_err());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    std::fs::remove_dir_all(&dir).ok();
}
