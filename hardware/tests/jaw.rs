//! The hardware path through the gripper description: a rotating jaw's servo is its angle
//! (rad), a parallel gripper's its opening (m), in the firmware's limits, the safety envelope
//! and the sim twin alike.

use std::sync::Arc;

use regrasp_firmware::servo::{ServoBus, ServoReading};
use regrasp_hardware::EnvelopeConfig;
use regrasp_hardware::twin::Twin;
use regrasp_sim::{ArmModel, NamedArm};

fn reading() -> ServoReading {
    ServoReading::default()
}

#[test]
fn each_gripper_kind_has_its_servo_coordinate_in_every_limit() {
    let so101 = NamedArm::So101.load().unwrap();
    let arm5 = NamedArm::RegraspArm5.load().unwrap();
    let (jaw_lo, jaw_hi) = (so101.gripper.joints[0].lower, so101.gripper.joints[0].upper);
    let fw = Twin::gripper_limit(&so101, 0.025);
    assert_eq!((fw.min as f64, fw.max as f64), (jaw_lo as f32 as f64, jaw_hi as f32 as f64));
    let env = EnvelopeConfig::for_arm(&so101, 0.02, 0.05);
    assert_eq!(env.gripper_range, [jaw_lo, jaw_hi], "the SO-101's servo range is the jaw's, in rad");
    assert!((env.gripper_speed - so101.gripper.velocity()).abs() < 1e-12);
    // arm5: both fingers' travel, as an opening in m.
    let env = EnvelopeConfig::for_arm(&arm5, 0.02, 0.05);
    assert_eq!(env.gripper_range, [0.0, 0.1]);
}

#[test]
fn the_twin_drives_a_rotating_jaw_to_the_angle_written_and_reads_it_back() {
    let arm: Arc<ArmModel> = Arc::new(NamedArm::So101.load().unwrap());
    let cfg = arm.task.env.clone();
    let scenario = arm.task.distribution.sample(3);
    let twin = Twin::new(Arc::clone(&arm), &cfg, &scenario, 0.025).unwrap();
    let mut bus = twin.bus();
    let mut joints = vec![reading(); arm.dof()];
    let mut gripper = reading();
    bus.read(&mut joints, &mut gripper).unwrap();
    assert!((gripper.position as f64 - arm.gripper.open).abs() < 1e-3, "starts open: {}", gripper.position);
    bus.set_torque(true).unwrap();
    let q: Vec<f32> = joints.iter().map(|j| j.position).collect();
    // Close the jaw to 0.2 rad: the opening between the pads follows the jaw's geometry.
    bus.write_targets(&q, 0.2).unwrap();
    for _ in 0..40 {
        bus.advance(0.025);
    }
    bus.read(&mut joints, &mut gripper).unwrap();
    assert!((gripper.position - 0.2).abs() < 0.02, "jaw at {} rad", gripper.position);
    let truth = twin.truth().unwrap();
    let expected = arm.gripper.opening(&[gripper.position as f64]);
    assert!((truth.gripper_opening - expected).abs() < 1e-6, "{} vs {expected}", truth.gripper_opening);
}
