//! The Feetech path without hardware: virtual STS3215 servos answering the real protocol, the
//! host bus over them (timeouts, retries, error bits), and LeRobot's calibration format with
//! the counts ↔ radians mapping that never lets a goal leave its calibrated range.

use proptest::prelude::*;
use regrasp_firmware::servo::{ServoBus, ServoReading};
use regrasp_firmware::sts::{self, addr, error_bit};
use regrasp_hardware::feetech::calibration::RAD_PER_COUNT;
use regrasp_hardware::feetech::{
    BusConfig, BusFault, Calibration, FeetechBus, MotorCalibration, ServoFault, SetupConfig, VirtualBus, VirtualLink,
    VirtualServo, setup,
};

mod common;

use common::{LEROBOT_FILE, calibration, names, virtual_arm};

fn bus() -> FeetechBus<VirtualLink> {
    FeetechBus::new(VirtualLink::new(virtual_arm()), calibration(), BusConfig::default())
}

#[test]
fn a_virtual_servo_answers_the_worked_packets_byte_for_byte() {
    let mut bus = VirtualBus::new(vec![VirtualServo::new(1, 1304.0)]);
    let mut out = Vec::new();
    bus.receive(&[0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB], &mut out);
    assert_eq!(out, [0xFF, 0xFF, 0x01, 0x02, 0x00, 0xFC], "the pong of the protocol document");
    out.clear();
    bus.receive(&[0xFF, 0xFF, 0x01, 0x04, 0x02, 0x38, 0x02, 0xBE], &mut out);
    assert_eq!(out, [0xFF, 0xFF, 0x01, 0x04, 0x00, 0x18, 0x05, 0xDD], "present position 1304");
    // Noise before a request does not stop the servo finding it; another ID gets no answer.
    out.clear();
    bus.receive(&[0x00, 0x13, 0xFF, 0xFF, 0x02, 0x02, 0x01, 0xFA], &mut out);
    assert!(out.is_empty(), "servo 2 is not on this bus");
    bus.receive(&[0x42, 0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB], &mut out);
    assert_eq!(out, [0xFF, 0xFF, 0x01, 0x02, 0x00, 0xFC]);
}

#[test]
fn eeprom_writes_persist_only_while_unlocked_and_goals_stay_inside_the_servo_limits() {
    let mut s = VirtualBus::new(vec![VirtualServo::new(1, 2048.0)]);
    let mut out = Vec::new();
    let mut send = |bus: &mut VirtualBus, f: &dyn Fn(&mut [u8]) -> Result<usize, sts::EncodeError>| {
        let mut buf = [0u8; sts::MAX_PACKET];
        let n = f(&mut buf).unwrap();
        out.clear();
        bus.receive(&buf[..n], &mut out);
        out.clone()
    };
    // Locked (the factory state): the write takes effect but is lost at power-off.
    send(&mut s, &|b| sts::write(1, addr::MAX_POSITION_LIMIT, &3000u16.to_le_bytes(), b));
    assert_eq!(s.servos[0].word(addr::MAX_POSITION_LIMIT), 3000);
    s.servos[0].power_cycle();
    assert_eq!(s.servos[0].word(addr::MAX_POSITION_LIMIT), 4095, "a locked EEPROM write is not saved");
    // Unlocked: saved.
    send(&mut s, &|b| sts::write(1, addr::LOCK, &[0], b));
    send(&mut s, &|b| sts::write(1, addr::MAX_POSITION_LIMIT, &3000u16.to_le_bytes(), b));
    s.servos[0].power_cycle();
    assert_eq!(s.servos[0].word(addr::MAX_POSITION_LIMIT), 3000, "an unlocked EEPROM write is saved");
    // The position loop clamps a goal beyond its limit, and the shaft goes only there.
    send(&mut s, &|b| sts::write(1, addr::TORQUE_ENABLE, &[1], b));
    send(&mut s, &|b| sts::write(1, addr::GOAL_POSITION, &3900u16.to_le_bytes(), b));
    assert_eq!(s.servos[0].goal(), 3000);
    for _ in 0..200 {
        s.step(0.01);
    }
    assert_eq!(s.servos[0].present_position(), 3000);
    // Torque_Enable = 128 recentres: the present position reads 2048.
    send(&mut s, &|b| sts::write(1, addr::TORQUE_ENABLE, &[128], b));
    assert_eq!(s.servos[0].present_position(), 2048);
    assert_eq!(s.servos[0].homing_offset(), 952);
}

#[test]
fn a_lerobot_calibration_file_loads_and_writes_back_the_same() {
    let c = calibration();
    assert_eq!(c.ids(), [1, 2, 3, 4, 5, 6]);
    let again = Calibration::parse(&c.to_json(), "round trip", &names()).unwrap();
    assert_eq!(again, c);
    let pan = c.motors[0].1;
    assert_eq!(pan.mid(), 2035.0);
    assert_eq!(pan.radians(2035), 0.0, "the middle of the range is the model's zero");
    assert!((pan.radians(2035 + 4095 / 4) - std::f64::consts::FRAC_PI_2).abs() < RAD_PER_COUNT, "a quarter turn");
}

#[test]
fn bad_calibration_files_are_errors_that_name_the_problem() {
    let cases = [
        ("{", "not a LeRobot calibration file"),
        (&LEROBOT_FILE.replace("\"gripper\"", "\"claw\"")[..], "motor `claw` is not one of this arm's motors"),
        (&LEROBOT_FILE.replace("\"id\": 6", "\"id\": 5")[..], "share id 5"),
        (&LEROBOT_FILE.replace("\"id\": 6", "\"id\": 0")[..], "id 0 is not a servo ID"),
        (&LEROBOT_FILE.replace("\"range_min\": 2030", "\"range_min\": 3480")[..], "range 3480..3480"),
        (&LEROBOT_FILE.replace("\"range_max\": 3310", "\"range_max\": 4096")[..], "is not a travel within 0..4095"),
        (&LEROBOT_FILE.replace("-1021", "-2048")[..], "homing_offset -2048 is beyond ±2047"),
        (
            &LEROBOT_FILE
                .replace("\"drive_mode\": 0, \"homing_offset\": 950", "\"drive_mode\": 1, \"homing_offset\": 950")[..],
            "drive_mode 1",
        ),
        (&LEROBOT_FILE.replace("\"id\": 1,", "\"id\": 1, \"calibrated\": true,")[..], "unknown field"),
    ];
    for (text, want) in cases {
        let e = Calibration::parse(text, "so101.json", &names()).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("so101.json"), "{want:?} not in: {e}");
    }
    let five: Vec<String> = names()[..5].to_vec();
    let e = Calibration::parse(LEROBOT_FILE, "f", &[five, vec!["jaw".into()]].concat()).unwrap_err().to_string();
    assert!(e.contains("`gripper` is not one of this arm's motors"), "{e}");
}

#[test]
fn the_bus_reads_positions_in_radians_and_moves_the_servos_to_goals() {
    let mut bus = bus();
    let mut joints = [ServoReading::default(); 5];
    let mut gripper = ServoReading::default();
    bus.read(&mut joints, &mut gripper).unwrap();
    for r in joints.iter().chain([&gripper]) {
        assert!(r.position.abs() < 1e-3, "every shaft starts at the middle of its range: {}", r.position);
        assert_eq!(r.temperature, 30.0);
    }
    let goals = [0.3f32, -0.2, 0.5, -0.4, 1.0];
    bus.set_torque(true).unwrap();
    bus.write_targets(&goals, 0.25).unwrap();
    for _ in 0..100 {
        bus.transport().bus.step(0.01);
    }
    bus.read(&mut joints, &mut gripper).unwrap();
    for (r, g) in joints.iter().zip(goals) {
        assert!((r.position - g).abs() < 2.0 * RAD_PER_COUNT as f32, "{} vs {g}", r.position);
    }
    assert!((gripper.position - 0.25).abs() < 2.0 * RAD_PER_COUNT as f32);
    assert_eq!(bus.stats.failures, 0);
}

#[test]
fn replies_that_never_come_are_retried_then_name_the_servo() {
    let mut bus = bus();
    bus.transport().bus.servo_mut(3).unwrap().fault.drop_replies = 2;
    bus.read_state().expect("two lost replies are within the two retries");
    assert_eq!(bus.stats.retries, 2);
    bus.transport().bus.servo_mut(3).unwrap().fault.silent = true;
    assert_eq!(bus.read_state().unwrap_err(), BusFault::NoReply(3));
    assert_eq!(bus.stats.failures, 1);
    bus.transport().bus.servo_mut(3).unwrap().fault = ServoFault { gone: true, ..ServoFault::default() };
    assert_eq!(bus.ping(3).unwrap_err(), BusFault::NoReply(3));
    assert!(bus.ping(4).is_ok(), "the others still answer");
    bus.transport().bus.servo_mut(5).unwrap().fault = ServoFault { bad_checksum: true, ..ServoFault::default() };
    assert_eq!(bus.ping(5).unwrap_err(), BusFault::BadChecksum(5));
}

#[test]
fn every_servo_error_byte_is_read_and_reported() {
    let mut bus = bus();
    bus.transport().bus.servo_mut(6).unwrap().fault.error_bits = error_bit::OVERLOAD;
    let e = bus.ping(6).unwrap_err();
    assert_eq!(e, BusFault::ServoError { id: 6, bits: error_bit::OVERLOAD });
    assert!(e.to_string().contains("servo 6 reports overload"), "{e}");
    // The state read hands the bits to the controller core in each reading.
    let state = bus.read_state().unwrap();
    assert_eq!(state.iter().map(|r| r.error).collect::<Vec<_>>(), [0, 0, 0, 0, 0, error_bit::OVERLOAD]);
    assert_eq!(bus.last_errors, [0, 0, 0, 0, 0, error_bit::OVERLOAD]);
    // Over-temperature is the servo's own judgement against its EEPROM limit (70 °C).
    bus.transport().bus.servo_mut(6).unwrap().fault.error_bits = 0;
    bus.transport().bus.servo_mut(2).unwrap().temperature = 75.0;
    assert_eq!(bus.read_state().unwrap()[1].error, error_bit::OVERHEAT);
    assert_eq!(bus.ping(2).unwrap_err(), BusFault::ServoError { id: 2, bits: error_bit::OVERHEAT });
}

proptest! {
    #[test]
    fn counts_and_radians_round_trip_inside_the_range(c in 0u16..=4095) {
        let cal = calibration();
        for (_, m) in &cal.motors {
            let c = c.clamp(m.range_min, m.range_max);
            prop_assert_eq!(m.counts(m.radians(c as i32)), c);
        }
    }

    #[test]
    fn no_goal_is_ever_written_outside_its_calibrated_range(
        goals in prop::collection::vec(
            prop_oneof![any::<f64>(), -10.0f64..10.0, Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
            6..=6,
        ),
    ) {
        let mut bus = bus();
        bus.write_goals(&goals).unwrap();
        let cal = calibration();
        for (_, m) in &cal.motors {
            let goal = bus.transport().bus.servo(m.id).unwrap().goal();
            prop_assert!((m.range_min as i32..=m.range_max as i32).contains(&goal), "servo {} goal {goal}", m.id);
        }
    }
}

#[test]
fn a_hundred_thousand_adversarial_commands_write_no_goal_outside_the_ranges() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    let mut bus = bus();
    let cal = calibration();
    let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300, f64::MIN_POSITIVE];
    let mut outside = 0;
    for _ in 0..100_000 / 6 + 1 {
        let goals: Vec<f64> = (0..6)
            .map(|_| {
                if rng.random_bool(0.2) {
                    specials[rng.random_range(0..specials.len())]
                } else {
                    rng.random_range(-20.0..20.0)
                }
            })
            .collect();
        bus.write_goals(&goals).unwrap();
        for (_, m) in &cal.motors {
            let goal = bus.transport().bus.servo(m.id).unwrap().goal();
            outside += usize::from(!(m.range_min as i32..=m.range_max as i32).contains(&goal));
        }
    }
    assert_eq!(outside, 0);
}

#[test]
fn sign_magnitude_offsets_make_the_present_position_the_shaft_minus_the_offset() {
    let m =
        MotorCalibration { id: 1, drive_mode: 0, homing_offset: -1021, range_min: 760, range_max: 3310, travel: None };
    let mut s = VirtualServo::new(1, 100.0);
    let raw = sts::to_sign_magnitude(m.homing_offset, sts::sign_bit::HOMING_OFFSET).unwrap();
    s.set_reg(addr::HOMING_OFFSET, raw.to_le_bytes()[0]);
    s.set_reg(addr::HOMING_OFFSET + 1, raw.to_le_bytes()[1]);
    assert_eq!(s.homing_offset(), -1021);
    assert_eq!(s.present_position(), 1121, "100 − (−1021)");
    // Multi-turn feedback (Phase bit 4, as some STS3215 ship) reads outside 0..4095.
    s.set_shaft(-3000.0, 0.0);
    assert_eq!(s.present_position(), (-3000 + 1021i32).rem_euclid(4096));
    s.set_reg(addr::PHASE, 0x10);
    assert_eq!(s.present_position(), -3000 + 1021);
}

#[test]
fn torque_on_first_sets_each_goal_to_where_the_servo_is() {
    let mut bus = bus();
    // A stale goal from an earlier session, far from the shaft.
    for (_, m) in calibration().motors {
        let s = bus.transport().bus.servo_mut(m.id).unwrap();
        s.set_reg(addr::GOAL_POSITION, m.range_max.to_le_bytes()[0]);
        s.set_reg(addr::GOAL_POSITION + 1, m.range_max.to_le_bytes()[1]);
    }
    bus.set_torque(true).unwrap();
    for _ in 0..50 {
        bus.transport().bus.step(0.01);
    }
    for (_, m) in calibration().motors {
        let s = bus.transport().bus.servo(m.id).unwrap();
        assert!(s.torque_on());
        assert_eq!(s.goal(), s.present_position(), "servo {} holds where it was", m.id);
        assert!((s.present_position() as f64 - m.mid()).abs() <= 1.0, "servo {} did not move", m.id);
    }
}

/// Factory-fresh servos with the calibration's IDs, shafts mid-range (not yet configured).
fn factory_arm() -> FeetechBus<VirtualLink> {
    let servos =
        calibration().motors.iter().map(|(_, m)| VirtualServo::new(m.id, m.mid() + m.homing_offset as f64)).collect();
    FeetechBus::new(VirtualLink::new(VirtualBus::new(servos)), calibration(), BusConfig::default())
}

#[test]
fn setup_configures_factory_servos_once_and_the_values_survive_a_power_cycle() {
    let mut bus = factory_arm();
    let cfg = SetupConfig::so101(6);
    let first = setup(&mut bus, &cfg).unwrap();
    assert_eq!(first.firmware, (3, 10));
    let changed = |r: &str, motor: &str| first.changes.iter().any(|c| c.register == r && c.motor == motor);
    assert!(changed("Return_Delay_Time", "shoulder_pan") && changed("P_Coefficient", "elbow_flex"));
    assert!(changed("Homing_Offset", "wrist_roll") && changed("Min_Position_Limit", "shoulder_pan"));
    assert!(changed("Max_Torque_Limit", "gripper") && changed("Torque_Limit", "gripper"));
    assert!(!changed("Max_Torque_Limit", "shoulder_pan"), "the body keeps the factory torque cap");
    // Nothing is written twice: a second connect finds everything in place.
    assert_eq!(setup(&mut bus, &cfg).unwrap().changes, vec![]);
    for s in &mut bus.transport().bus.servos {
        s.power_cycle();
        assert_eq!(s.reg(addr::LOCK), 1, "locked again");
        assert_eq!(s.reg(addr::P_COEFFICIENT), 16, "servo {}: saved to EEPROM", s.id());
    }
    // After the power cycle the live gripper cap comes from EEPROM, and the present positions
    // are calibrated: every shaft reads the middle of its range.
    assert_eq!(bus.transport().bus.servo(6).unwrap().word(addr::TORQUE_LIMIT), 500);
    assert_eq!(setup(&mut bus, &cfg).unwrap().changes, vec![]);
    let state = bus.read_state().unwrap();
    assert!(state.iter().all(|r| r.position.abs() < 1e-3), "{state:?}");
    assert!(bus.transport().bus.servos.iter().all(|s| !s.torque_on()), "setup leaves torque off");
}

#[test]
fn setup_clears_multi_turn_feedback_and_refuses_what_it_cannot_fix() {
    let cfg = SetupConfig::so101(6);
    let mut bus = factory_arm();
    bus.transport().bus.servo_mut(5).unwrap().set_reg(addr::PHASE, 0x10);
    setup(&mut bus, &cfg).unwrap();
    assert_eq!(bus.transport().bus.servo(5).unwrap().reg(addr::PHASE), 0, "Phase bit 4 cleared");

    let mut bus = factory_arm();
    bus.transport().bus.servo_mut(4).unwrap().fault.gone = true;
    let e = setup(&mut bus, &cfg).unwrap_err().to_string();
    assert!(e.contains("servo 4 (wrist_flex)") && e.contains("no status packet"), "{e}");

    let mut bus = factory_arm();
    let s = bus.transport().bus.servo_mut(2).unwrap();
    s.set_reg(addr::MODEL_NUMBER, 0x19);
    s.set_reg(addr::MODEL_NUMBER + 1, 0x0B); // 2841
    let e = setup(&mut bus, &cfg).unwrap_err().to_string();
    assert!(e.contains("servo 2 (shoulder_lift) is model 2841, not 777"), "{e}");

    let mut bus = factory_arm();
    bus.transport().bus.servo_mut(6).unwrap().set_reg(addr::FIRMWARE_MINOR, 9);
    let e = setup(&mut bus, &cfg).unwrap_err().to_string();
    assert!(e.contains("different firmware versions") && e.contains("gripper 3.9"), "{e}");

    let mut bus = factory_arm();
    bus.transport().bus.servo_mut(3).unwrap().fault.eeprom_stuck = true;
    let e = setup(&mut bus, &cfg).unwrap_err().to_string();
    assert!(e.contains("servo 3 (elbow_flex): wrote Return_Delay_Time = 0 but it reads back 250"), "{e}");
}

/// The controller core over the Feetech bus (in process, no port): each fault kind, injected
/// while the arm moves, ends with every servo's torque off at the tick that detects it.
#[test]
fn every_injected_fault_ends_in_torque_off_at_the_tick_that_detects_it() {
    use regrasp_firmware::controller::Controller;
    use regrasp_firmware::protocol::{Frame, JointLimit, MAX_JOINTS, Message, ModeCode, fault};
    use regrasp_hardware::feetech::core_config;

    type Inject = fn(&mut VirtualBus);
    let kinds: [(&str, Inject, u16); 7] = [
        ("overload bit", |b| b.servo_mut(2).unwrap().fault.error_bits = error_bit::OVERLOAD, fault::SERVO_ERROR),
        ("voltage", |b| b.servo_mut(1).unwrap().voltage = 9.5, fault::SERVO_ERROR),
        ("over-temperature", |b| b.servo_mut(4).unwrap().temperature = 62.0, fault::OVERTEMP),
        ("stalled joint", |b| b.servo_mut(3).unwrap().fault.stalled = true, fault::OVERLOAD | fault::STALL),
        ("no status packet", |b| b.servo_mut(5).unwrap().fault.silent = true, fault::BUS),
        ("bad checksum", |b| b.servo_mut(6).unwrap().fault.bad_checksum = true, fault::BUS),
        ("servo gone", |b| b.servo_mut(2).unwrap().fault.gone = true, fault::BUS),
    ];
    let cal = calibration();
    let limit = |m: &MotorCalibration| {
        let (lo, hi) = m.range_radians();
        JointLimit { min: lo as f32, max: hi as f32, max_step: 0.02 }
    };
    let limits: Vec<JointLimit> = cal.motors[..5].iter().map(|(_, m)| limit(m)).collect();
    for (name, inject, expected) in kinds {
        let cfg = core_config(limit(&cal.motors[5].1), 50);
        let mut c = Controller::new(bus(), &limits, cfg).unwrap();
        let armed = c.handle(&Frame { seq: 1, message: Message::Arm }, 0);
        assert!(matches!(armed, Message::Ack { .. }), "{name}: {armed:?}");
        let mut positions = [0.0; MAX_JOINTS];
        positions[..5].copy_from_slice(&[0.8, -0.8, 0.8, -0.8, 0.8]);
        let mut detected = None;
        for tick in 1..200u32 {
            let t = tick * 20;
            let targets = Message::SetTargets { joints: 5, positions, gripper: 0.3, valid_for_ms: 100 };
            c.handle(&Frame { seq: tick as u16 + 1, message: targets }, t);
            if tick == 10 {
                inject(&mut c.bus.transport().bus);
            }
            c.bus.transport().bus.step(0.02);
            c.tick(t);
            if c.mode() == ModeCode::Faulted {
                detected = Some(tick);
                break;
            }
        }
        let tick = detected.unwrap_or_else(|| panic!("{name}: never faulted"));
        assert!(c.faults() & expected != 0, "{name}: faults {:#x}", c.faults());
        // Torque off on the wire in the same tick: a silent or gone servo cannot say so, the
        // others must.
        let bus = &c.bus.transport().bus;
        let answering: Vec<&VirtualServo> = bus.servos.iter().filter(|s| !s.fault.gone).collect();
        assert!(answering.iter().all(|s| !s.torque_on()), "{name}: torque still on after tick {tick}");
        if name == "stalled joint" {
            assert!(tick >= 10 + 25, "{name}: a stall is a lasting overload, faulted at tick {tick}");
        } else {
            assert!(tick <= 10 + 3, "{name}: detected at tick {tick}");
        }
    }
}

#[test]
fn the_gripper_maps_its_calibrated_sweep_onto_the_jaw_travel() {
    let cal = calibration().with_travel("gripper", -0.174533, 1.74533);
    let g = cal.motors[5].1;
    assert!((g.radians(2030) + 0.174533).abs() < 1e-9, "range_min is closed");
    assert!((g.radians(3480) - 1.74533).abs() < 1e-9, "range_max is open");
    assert_eq!(g.counts(-0.174533), 2030);
    assert_eq!(g.counts(1.74533), 3480);
    assert_eq!(g.counts(5.0), 3480, "clamped");
    for c in [2030, 2500, 3000, 3480] {
        assert_eq!(g.counts(g.radians(c)), c as u16);
    }
    // The body joints keep LeRobot's degrees mode.
    assert_eq!(cal.motors[0].1.radians(2035), 0.0);
    // Not part of the file.
    assert_eq!(Calibration::parse(&cal.to_json(), "f", &names()).unwrap(), calibration());
}

/// Adversarial policy outputs through the core and the bus (in process, 10⁵ commands, each
/// followed by a tick): targets that are NaN, infinite, huge or jumping. Not one goal reaches
/// a servo outside its calibrated range, and no goal moves more than a step per tick.
#[test]
fn adversarial_targets_through_the_core_never_put_a_goal_outside_the_calibrated_ranges() {
    use rand::{Rng, SeedableRng};
    use regrasp_firmware::controller::Controller;
    use regrasp_firmware::protocol::{Frame, MAX_JOINTS, Message};
    use regrasp_hardware::feetech::{core_config, core_limits};

    let arm = regrasp_sim::ArmModel::named("so101").unwrap();
    let cal = calibration().with_travel("gripper", -0.174533, 1.74533);
    let (limits, gripper) = core_limits(&arm, &cal, 0.025).unwrap();
    let bus = FeetechBus::new(VirtualLink::new(virtual_arm()), cal.clone(), BusConfig::default());
    let mut c = Controller::new(bus, &limits, core_config(gripper, 40)).unwrap();
    assert!(matches!(c.handle(&Frame { seq: 0, message: Message::Arm }, 0), Message::Ack { .. }));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, 0.0];
    let draw = |rng: &mut rand_chacha::ChaCha8Rng| {
        if rng.random_bool(0.03) {
            specials[rng.random_range(0..specials.len())]
        } else {
            rng.random_range(-10.0..10.0)
        }
    };
    // Each motor's largest goal change in one tick (counts): its step limit, plus rounding.
    let steps: Vec<f32> = limits.iter().map(|l| l.max_step).chain([gripper.max_step]).collect();
    let allowed: Vec<i32> = cal
        .motors
        .iter()
        .zip(&steps)
        .map(|((_, m), s)| (*s as f64 * (m.counts_unclamped(1.0) - m.counts_unclamped(0.0))).ceil() as i32 + 1)
        .collect();
    let (mut outside, mut over_step) = (0, Vec::new());
    let mut last: Vec<i32> =
        cal.motors.iter().map(|(_, m)| c.bus.transport().bus.servo(m.id).unwrap().goal()).collect();
    for k in 1..=100_000u32 {
        let mut positions = [0.0f32; MAX_JOINTS];
        for p in positions.iter_mut().take(5) {
            *p = draw(&mut rng);
        }
        let targets = Message::SetTargets { joints: 5, positions, gripper: draw(&mut rng), valid_for_ms: 100 };
        c.handle(&Frame { seq: k as u16, message: targets }, k * 25);
        c.bus.transport().bus.step(0.025);
        c.tick(k * 25);
        for (i, (_, m)) in cal.motors.iter().enumerate() {
            let goal = c.bus.transport().bus.servo(m.id).unwrap().goal();
            outside += usize::from(!(m.range_min as i32..=m.range_max as i32).contains(&goal));
            if (goal - last[i]).abs() > allowed[i] {
                over_step.push((k, m.id, goal - last[i]));
            }
            last[i] = goal;
        }
    }
    assert_eq!(outside, 0);
    assert!(
        over_step.is_empty(),
        "goals jumped more than a step in one tick (tick, servo, counts): {:?}",
        &over_step[..over_step.len().min(5)]
    );
    // About one command in six carries a special value; the rest keep the watchdog fed.
    assert_eq!(c.mode(), regrasp_firmware::protocol::ModeCode::Armed, "nothing here is a fault");
}

#[test]
fn scheduled_servo_faults_parse_strictly_and_do_what_they_name() {
    use regrasp_hardware::feetech::ScheduledFault;
    let f = ScheduledFault::parse("3:stall@1500", 6).unwrap();
    assert_eq!((f.id, f.kind, f.at_ms), (3, "stall", 1500));
    assert_eq!(ScheduledFault::parse("6:old-firmware", 6).unwrap().at_ms, 0);
    for bad in ["7:stall", "0:gone", "3", "3:melt", "3:stall@soon", "x:gone"] {
        let e = ScheduledFault::parse(bad, 6).unwrap_err();
        assert!(e.contains("ID:KIND") && e.contains("multi-turn"), "{bad}: {e}");
    }
    let mut bus = virtual_arm();
    for (kind, id) in ScheduledFault::KINDS.iter().zip([1u8, 2, 3, 4, 5, 6, 1, 2, 3]) {
        ScheduledFault::parse(&format!("{id}:{kind}"), 6).unwrap().apply(&mut bus);
    }
    let s = |id: u8| bus.servo(id).unwrap();
    assert!(s(1).fault.silent && s(1).fault.stalled && s(2).fault.gone && s(3).fault.bad_checksum);
    assert_eq!(s(4).fault.error_bits, error_bit::OVERLOAD);
    assert_eq!(s(5).error_bits(), error_bit::OVERHEAT);
    assert_eq!(s(6).error_bits(), error_bit::VOLTAGE);
    assert_eq!(s(2).reg(addr::FIRMWARE_MINOR), 9);
    assert_eq!(s(3).reg(addr::PHASE) & 0x10, 0x10);
}

#[test]
fn the_command_line_names_one_arm_or_says_what_to_give() {
    use regrasp_hardware::emulator::FaultConfig;
    use regrasp_hardware::rig::{Port, feetech_bus};
    use std::path::Path;
    assert_eq!(feetech_bus("feetech:/dev/ttyACM0").unwrap().as_deref(), Some("/dev/ttyACM0"));
    assert_eq!(feetech_bus("feetech").unwrap(), None);
    for bad in ["dynamixel:/dev/x", "feetech:", "FEETECH"] {
        assert!(feetech_bus(bad).unwrap_err().to_string().contains("feetech:PORT"), "{bad}");
    }
    let cal = Path::new("so101.json");
    let sc = regrasp_sim::ScenarioDistribution::default().sample(0);
    let emulated = || Some((sc, FaultConfig::default()));
    assert!(matches!(Port::choose(None, Some("/dev/ttyUSB0"), None, None).unwrap(), Port::Serial(_)));
    assert!(matches!(Port::choose(None, None, None, emulated()).unwrap(), Port::Emulated { .. }));
    assert!(matches!(Port::choose(Some("feetech"), None, None, emulated()).unwrap(), Port::EmulatedFeetech { .. }));
    match Port::choose(Some("feetech:/dev/ttyACM0"), None, Some(cal), None).unwrap() {
        Port::Feetech { port, calibration } => {
            assert_eq!((port.as_str(), calibration.as_path()), ("/dev/ttyACM0", cal))
        }
        other => panic!("{other:?}"),
    }
    let err = |b, c, e| Port::choose(b, None, c, e).unwrap_err().to_string();
    assert!(err(None, None, None).contains("give --link PORT"));
    assert!(err(Some("feetech:/dev/ttyACM0"), None, None).contains("needs --calibration FILE"));
    assert!(err(Some("feetech"), Some(cal), None).contains("needs a port"));
    assert!(err(Some("feetech:/dev/x"), None, emulated()).contains("without a port"));
}
