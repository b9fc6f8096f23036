//! The controller's safety rules, each checked against the mock servo bus.

use proptest::prelude::*;
use regrasp_firmware::controller::{Controller, ControllerConfig, SetupError};
use regrasp_firmware::protocol::{Frame, JointLimit, MAX_JOINTS, Message, ModeCode, Status, fault};
use regrasp_firmware::servo::MockBus;

const N: usize = 5;
const TICK: u32 = 20;
const LIMIT: JointLimit = JointLimit { min: -1.5, max: 1.5, max_step: 0.02 };

fn start_pose() -> [f32; N] {
    [0.3, -0.4, 0.8, -1.0, 0.1]
}

fn controller() -> Controller<MockBus> {
    Controller::new(MockBus::new(N, &start_pose()), &[LIMIT; N], ControllerConfig::default()).unwrap()
}

fn send(c: &mut Controller<MockBus>, seq: u16, m: Message, now: u32) -> Message {
    c.handle(&Frame { seq, message: m }, now)
}

fn targets(p: [f32; N], valid_for_ms: u16) -> Message {
    let mut positions = [0.0; MAX_JOINTS];
    positions[..N].copy_from_slice(&p);
    Message::SetTargets { joints: N as u8, positions, gripper: 0.04, valid_for_ms }
}

fn ok(m: Message) {
    assert!(matches!(m, Message::Ack { status: Status::Ok, .. }), "{m:?}");
}

fn status(m: Message) -> Status {
    match m {
        Message::Ack { status, .. } => status,
        other => panic!("not an ack: {other:?}"),
    }
}

fn state_mode(m: &Message) -> (ModeCode, u16) {
    match m {
        Message::State { mode, faults, .. } => (*mode, *faults),
        other => panic!("not a state: {other:?}"),
    }
}

/// Ticks until `until` ms, feeding the bus model and the watchdog with `fresh` targets.
fn run(c: &mut Controller<MockBus>, from: u32, until: u32, fresh: Option<[f32; N]>) -> Message {
    let mut last = c.tick(from);
    let mut t = from;
    while t < until {
        t += TICK;
        if let Some(p) = fresh {
            send(c, (t / TICK) as u16, targets(p, 100), t);
        }
        c.bus.step();
        last = c.tick(t);
    }
    last
}

#[test]
fn bad_setups_are_refused() {
    let bus = MockBus::new(N, &start_pose());
    assert_eq!(
        Controller::new(bus.clone(), &[LIMIT; 4], ControllerConfig::default()).err(),
        Some(SetupError::JointCount)
    );
    let bad = JointLimit { min: 1.0, max: 0.0, max_step: 0.1 };
    assert_eq!(Controller::new(bus, &[bad; N], ControllerConfig::default()).err(), Some(SetupError::InvalidLimit));
}

#[test]
fn targets_are_refused_until_armed_and_the_first_command_never_jumps() {
    let mut c = controller();
    assert_eq!(status(send(&mut c, 1, targets([1.4; N], 100), 0)), Status::WrongMode);
    ok(send(&mut c, 2, Message::Arm, 0));
    assert_eq!(c.commanded(), &start_pose(), "armed at the measured pose");
    // A far target: the commanded pose walks there at most max_step per tick.
    run(&mut c, 0, 3000, Some([1.4, 1.4, -1.4, 1.4, -1.4]));
    assert!(c.bus.largest_jump <= LIMIT.max_step + 1e-6, "jump {}", c.bus.largest_jump);
    for (p, t) in c.commanded().iter().zip([1.4, 1.4, -1.4, 1.4, -1.4]) {
        assert!((p - t).abs() < 1e-4, "reached {p} for {t}");
    }
    // Disarm, move the arm by hand, re-arm: it starts again from the measured pose.
    ok(send(&mut c, 3, Message::Disarm, 3000));
    c.bus.position[..N].copy_from_slice(&[0.0, 0.2, -0.2, 0.5, 0.0]);
    ok(send(&mut c, 4, Message::Arm, 3020));
    assert_eq!(c.commanded(), &[0.0, 0.2, -0.2, 0.5, 0.0]);
    c.bus.largest_jump = 0.0;
    run(&mut c, 3020, 3500, Some([-1.4; N]));
    assert!(c.bus.largest_jump <= LIMIT.max_step + 1e-6, "re-arm jump {}", c.bus.largest_jump);
}

#[test]
fn targets_outside_the_limits_are_clamped_and_flagged() {
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    ok(send(&mut c, 2, targets([9.0, -9.0, 1.0, 0.0, 0.0], 100), 0));
    let s = c.tick(0);
    assert!(state_mode(&s).1 & fault::CLAMPED != 0);
    run(&mut c, 0, 3000, Some([9.0, -9.0, 1.0, 0.0, 0.0]));
    assert!(c.commanded()[0] <= LIMIT.max && c.commanded()[1] >= LIMIT.min);
    assert_eq!(c.commanded()[0], LIMIT.max);
}

#[test]
fn non_finite_or_mismatched_targets_are_refused_and_change_nothing() {
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    let before = c.commanded().to_vec();
    let mut positions = [0.0; MAX_JOINTS];
    positions[2] = f32::NAN;
    let r = send(&mut c, 2, Message::SetTargets { joints: N as u8, positions, gripper: 0.0, valid_for_ms: 100 }, 0);
    assert_eq!(status(r), Status::InvalidValue);
    let r = send(
        &mut c,
        3,
        Message::SetTargets { joints: 4, positions: [0.0; MAX_JOINTS], gripper: 0.0, valid_for_ms: 100 },
        0,
    );
    assert_eq!(status(r), Status::WrongJointCount);
    assert_eq!(status(send(&mut c, 4, targets([0.0; N], 0), 0)), Status::InvalidValue, "zero validity");
    c.tick(TICK);
    assert_eq!(c.commanded(), &before[..]);
}

#[test]
fn watchdog_holds_then_turns_torque_off() {
    let cfg = ControllerConfig::default();
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    ok(send(&mut c, 2, targets([1.4; N], 10_000), 0));
    // Commands stop. Up to hold_after_ms the arm keeps moving; then it holds.
    let mut t = 0;
    let mut held_at = None;
    while t < cfg.torque_off_after_ms + 3 * TICK {
        t += TICK;
        c.bus.step();
        let s = c.tick(t);
        let (mode, faults) = state_mode(&s);
        if t <= cfg.hold_after_ms {
            assert_eq!(mode, ModeCode::Armed, "at {t} ms");
        } else if t <= cfg.torque_off_after_ms {
            assert_eq!(mode, ModeCode::Holding, "at {t} ms");
            let now = c.commanded().to_vec();
            match &held_at {
                None => {
                    assert!(faults & fault::WATCHDOG_HOLD != 0);
                    held_at = Some(now);
                }
                Some(h) => assert_eq!(&now, h, "holding means not moving"),
            }
        } else {
            assert_eq!(mode, ModeCode::Disarmed, "at {t} ms");
            assert!(!c.bus.torque, "torque off after {t} ms");
            assert!(faults & fault::WATCHDOG_TORQUE_OFF != 0);
        }
    }
}

#[test]
fn heartbeats_keep_a_holding_arm_powered() {
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    let mut t = 0;
    while t < 3000 {
        t += TICK;
        ok(send(&mut c, 2, Message::Heartbeat, t));
        c.bus.step();
        c.tick(t);
    }
    assert_eq!(c.mode(), ModeCode::Armed);
    assert!(c.bus.torque);
}

#[test]
fn expired_targets_make_the_arm_hold() {
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    ok(send(&mut c, 2, targets([1.4; N], 40), 0));
    let mut t = 0;
    let mut saw_stale = false;
    while t < 80 {
        t += TICK;
        ok(send(&mut c, 3, Message::Heartbeat, t));
        let s = c.tick(t);
        saw_stale |= state_mode(&s).1 & fault::STALE_TARGETS != 0;
    }
    assert!(saw_stale);
    let held = c.commanded().to_vec();
    for _ in 0..10 {
        t += TICK;
        ok(send(&mut c, 4, Message::Heartbeat, t));
        c.tick(t);
    }
    assert_eq!(c.commanded(), &held[..], "no motion on expired targets");
    assert!(held[0] < 0.3 + 3.0 * LIMIT.max_step + 1e-6, "moved only while the targets were valid");
}

#[test]
fn estop_is_immediate_latched_and_cleared_only_after_a_handshake() {
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    run(&mut c, 0, 200, Some([1.0; N]));
    ok(send(&mut c, 2, Message::EStop, 200));
    assert!(!c.bus.torque, "torque off within the same call");
    assert_eq!(c.mode(), ModeCode::EStopped);
    let writes = c.bus.writes;
    c.tick(220);
    assert_eq!(c.bus.writes, writes, "nothing is written while e-stopped");
    assert_eq!(status(send(&mut c, 3, targets([0.0; N], 100), 220)), Status::WrongMode);
    assert_eq!(status(send(&mut c, 4, Message::Arm, 220)), Status::WrongMode);
    assert_eq!(status(send(&mut c, 5, Message::ClearFault, 220)), Status::NeedsHandshake);
    // A Hello from before the e-stop does not count: only one after it.
    assert!(matches!(send(&mut c, 6, Message::Hello { nonce: 9 }, 240), Message::Info { nonce: 9, joints: 5, .. }));
    ok(send(&mut c, 7, Message::ClearFault, 240));
    assert_eq!(c.mode(), ModeCode::Disarmed);
    ok(send(&mut c, 8, Message::Arm, 260));
    assert!(c.bus.torque);
}

#[test]
fn a_handshake_before_the_estop_does_not_clear_it() {
    let mut c = controller();
    send(&mut c, 1, Message::Hello { nonce: 1 }, 0);
    ok(send(&mut c, 2, Message::Arm, 0));
    ok(send(&mut c, 3, Message::EStop, 20));
    assert_eq!(status(send(&mut c, 4, Message::ClearFault, 40)), Status::NeedsHandshake);
}

#[test]
fn overload_and_overtemperature_fault_to_torque_off_within_one_tick() {
    // A stalled servo with a far target: its load rises with the error until it faults.
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    c.bus.stalled[1] = true;
    let mut t = 0;
    loop {
        t += TICK;
        send(&mut c, 2, targets([0.3, 1.4, 0.8, -1.0, 0.1], 100), t);
        c.bus.step();
        // The load the controller reads at this tick.
        let load = (c.bus.target[1] - c.bus.position[1]).abs() * c.bus.load_gain;
        let (mode, faults) = state_mode(&c.tick(t));
        if load > ControllerConfig::default().max_load {
            assert_eq!(mode, ModeCode::Faulted, "load {load} read without a fault");
            assert!(faults & fault::OVERLOAD != 0);
            assert!(!c.bus.torque);
            break;
        }
        assert_ne!(mode, ModeCode::Faulted, "faulted at load {load}");
        assert!(t < 5000, "never overloaded");
    }
    assert_eq!(status(send(&mut c, 3, Message::Arm, t)), Status::WrongMode, "latched");

    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    c.bus.temperature[3] = 80.0;
    let (mode, faults) = state_mode(&c.tick(TICK));
    assert_eq!(mode, ModeCode::Faulted);
    assert!(faults & fault::OVERTEMP != 0 && !c.bus.torque);
}

#[test]
fn repeated_bus_failures_fault() {
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    c.bus.fail_next = 100;
    let mut t = 0;
    for _ in 0..3 {
        t += TICK;
        c.tick(t);
    }
    assert_eq!(c.mode(), ModeCode::Faulted);
    assert!(c.faults() & fault::BUS != 0);
}

#[test]
fn limits_change_only_while_disarmed() {
    let mut c = controller();
    let tight = JointLimit { min: -0.5, max: 0.5, max_step: 0.01 };
    let mut limits = [JointLimit { min: 0.0, max: 0.0, max_step: 0.0 }; MAX_JOINTS];
    limits[..N].copy_from_slice(&[tight; N]);
    ok(send(&mut c, 1, Message::Arm, 0));
    assert_eq!(status(send(&mut c, 2, Message::SetLimits { joints: N as u8, limits }, 0)), Status::WrongMode);
    ok(send(&mut c, 3, Message::Disarm, 20));
    ok(send(&mut c, 4, Message::SetLimits { joints: N as u8, limits }, 20));
    assert_eq!(c.limits(), &[tight; N]);
    let Message::Info { limits_hash, .. } = send(&mut c, 5, Message::Hello { nonce: 0 }, 20) else { panic!() };
    assert_eq!(limits_hash, regrasp_firmware::protocol::limits_hash(&[tight; N]));
    let mut bad = limits;
    bad[0].max_step = -1.0;
    ok(send(&mut c, 6, Message::Disarm, 40));
    assert_eq!(status(send(&mut c, 7, Message::SetLimits { joints: N as u8, limits: bad }, 40)), Status::InvalidValue);
    // Arming clamps the measured pose into the new limits and moves it back in small steps.
    ok(send(&mut c, 8, Message::Arm, 60));
    assert!(c.commanded().iter().all(|p| p.abs() <= 0.5));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever sequence of commands arrives (including garbage values), every servo target
    /// written stays within the limits and never jumps more than one step.
    #[test]
    fn no_command_sequence_breaks_the_limits(cmds in proptest::collection::vec((0u8..8, proptest::array::uniform5(any::<f32>()), 0u16..200, 1u32..60), 1..80)) {
        let mut c = controller();
        let mut t = 0u32;
        for (i, (k, vals, valid, dt)) in cmds.into_iter().enumerate() {
            t += dt;
            let m = match k {
                0..=2 => targets(vals, valid),
                3 => Message::Arm,
                4 => Message::Heartbeat,
                5 => Message::Disarm,
                6 => Message::EStop,
                _ => Message::Hello { nonce: i as u32 },
            };
            send(&mut c, i as u16, m, t);
            if k == 7 {
                send(&mut c, i as u16, Message::ClearFault, t);
            }
            c.bus.step();
            c.tick(t);
            for (j, p) in c.commanded().iter().enumerate() {
                prop_assert!(p.is_finite() && *p >= LIMIT.min && *p <= LIMIT.max, "joint {} at {}", j, p);
            }
            for j in 0..N {
                prop_assert!(c.bus.target[j].is_finite());
            }
            prop_assert!(c.bus.largest_jump <= LIMIT.max_step + 1e-5, "jump {}", c.bus.largest_jump);
        }
    }
}

#[test]
fn arm_while_holding_restarts_from_the_measured_pose() {
    // A host that lost the link finds the arm holding and arms it again (regression: this was
    // refused with WrongMode, so a reconnecting host could not continue).
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    run(&mut c, 0, 200, Some([1.0; N]));
    run(&mut c, 200, 400, None);
    assert_eq!(c.mode(), ModeCode::Holding);
    ok(send(&mut c, 2, Message::Arm, 400));
    assert_eq!(c.mode(), ModeCode::Armed);
    assert!(c.bus.torque);
    for i in 0..N {
        assert!((c.commanded()[i] - c.bus.position[i]).abs() < 1e-6, "joint {i} starts from where it is");
    }
}

#[test]
fn a_servo_error_bit_faults_at_the_tick_that_reads_it() {
    let mut c = controller();
    ok(send(&mut c, 1, Message::Arm, 0));
    run(&mut c, 0, 200, Some(start_pose()));
    assert_eq!(c.mode(), ModeCode::Armed);
    c.bus.error[N] = 0x20; // the gripper reports overload (bit 5)
    let (mode, faults) = state_mode(&c.tick(220));
    assert_eq!(mode, ModeCode::Faulted);
    assert!(faults & fault::SERVO_ERROR != 0 && !c.bus.torque, "faults {faults:#x}");
    c.bus.error[N] = 0;
    assert_eq!(status(send(&mut c, 2, Message::Arm, 240)), Status::WrongMode, "latched");
}

#[test]
fn a_brief_overload_passes_but_a_lasting_one_faults_when_overload_ticks_asks_for_a_stall() {
    let cfg = ControllerConfig { overload_ticks: 3, ..ControllerConfig::default() };
    let mut c = Controller::new(MockBus::new(N, &start_pose()), &[LIMIT; N], cfg).unwrap();
    ok(send(&mut c, 1, Message::Arm, 0));
    let over = ControllerConfig::default().max_load + 0.5;
    for t in [20, 40] {
        c.bus.extra_load = over;
        c.tick(t);
    }
    c.bus.extra_load = 0.0;
    c.tick(60);
    assert_eq!(c.mode(), ModeCode::Armed, "two ticks over the limit are not a stall");
    c.bus.extra_load = over;
    for t in [80, 100] {
        c.tick(t);
        assert_eq!(c.mode(), ModeCode::Armed);
    }
    let (mode, faults) = state_mode(&c.tick(120));
    assert_eq!(mode, ModeCode::Faulted, "the third tick in a row is");
    assert!(faults & fault::OVERLOAD != 0 && !c.bus.torque);
}

#[test]
fn a_joint_that_stays_away_from_its_command_without_moving_is_a_stall() {
    let cfg =
        ControllerConfig { overload_ticks: 3, stall_error: 0.05, stall_speed: 0.05, ..ControllerConfig::default() };
    let mut c = Controller::new(MockBus::new(N, &start_pose()), &[LIMIT; N], cfg).unwrap();
    ok(send(&mut c, 1, Message::Arm, 0));
    // Moving freely: the servos follow the command, nothing is flagged.
    run(&mut c, 0, 1000, Some([0.5, -0.2, 0.6, -0.8, 0.3]));
    assert_eq!(c.mode(), ModeCode::Armed);
    // Joint 2 blocked: the command walks away from it; once it is 0.05 rad behind for three
    // ticks in a row, the arm stops, latched.
    c.bus.stalled[2] = true;
    let mut t = 1000;
    while c.mode() == ModeCode::Armed {
        t += TICK;
        send(&mut c, (t / TICK) as u16, targets([0.5, -0.2, -1.0, -0.8, 0.3], 100), t);
        c.bus.step();
        c.tick(t);
        assert!(t < 3000, "never flagged");
    }
    assert_eq!(c.mode(), ModeCode::Faulted);
    assert!(c.faults() & fault::STALL != 0 && !c.bus.torque);
    let behind = (c.commanded()[2] - c.bus.position[2]).abs();
    assert!(behind > 0.05 && behind < 0.05 + 4.0 * LIMIT.max_step, "flagged {behind} rad behind");
}
