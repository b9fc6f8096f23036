//! Grippers as one mechanism: each kind (regrasp-arm5's parallel fingers, the SO-101's
//! rotating jaw) closes on a box and holds it while lifting through its pads' contacts and
//! friction alone, and the classifier reads a rotating jaw's success, slip and missed grasp
//! from the same signals as a parallel gripper's.

mod common;

use std::sync::Arc;

use regrasp_sim::gripper::GripperKind;
use regrasp_sim::scenario::Shape;
use regrasp_sim::scripted::ScriptedParams;
use regrasp_sim::vec_env::run_scripted_episode;
use regrasp_sim::{Action, ArmModel, GraspEnv, NamedArm, OutcomeKind, Scenario};

use common::{grasp_until_above, hold, scenario};

/// An env for a shipped arm under its own task's env config.
fn env_for(arm: NamedArm) -> GraspEnv {
    let arm = Arc::new(arm.load().unwrap());
    let cfg = Arc::new(arm.task.env.clone());
    GraspEnv::new(arm, cfg).unwrap()
}

/// A 3 cm box of 100 g where each arm grasps comfortably.
fn box_for(arm: NamedArm) -> Scenario {
    let x = if arm == NamedArm::So101 { 0.18 } else { 0.2 };
    scenario(Shape::Box { size: [0.03, 0.03, 0.03] }, 0.1, x, 0.0)
}

#[test]
fn the_shipped_arms_have_one_gripper_of_each_kind() {
    let arm5 = NamedArm::RegraspArm5.load().unwrap();
    let so101 = NamedArm::So101.load().unwrap();
    assert!(matches!(arm5.gripper.kind, GripperKind::Parallel));
    assert_eq!(arm5.gripper.joint_count(), 2);
    let GripperKind::RotatingJaw(jaw) = &so101.gripper.kind else { panic!("the SO-101 has a rotating jaw") };
    assert_eq!(so101.gripper.joint_count(), 1);
    // The pads are 19.7 mm apart at the jaw's zero (real-arms.md §4.1: the fingers' inner faces
    // are about 16 mm apart at their tips, wider above), close to 8 mm at -10°, and the grip
    // force at full effort is the jaw torque over its lever, on both pads.
    assert!((jaw.opening(0.0) - 0.0197).abs() < 5e-4, "{}", jaw.opening(0.0));
    assert!(so101.gripper.opening(&[so101.gripper.closed]) < 0.01);
    assert!((so101.gripper.max_opening() - 0.080).abs() < 1e-3);
    let force = so101.gripper.full_grip_force(1.0);
    assert!((force - 2.0 * 0.81 / jaw.lever).abs() < 1e-9 && force > 20.0, "{force}");
    // Commands map onto the jaw's range and back.
    for g in [-1.0f32, -0.3, 0.0, 0.7, 1.0] {
        let jaw_target = so101.gripper.jaw_goal(g as f64);
        assert!((so101.gripper.command_for_jaw(jaw_target) - g).abs() < 1e-6);
    }
    assert_eq!(so101.gripper.jaw_goal(-1.0), so101.gripper.open);
    assert_eq!(so101.gripper.jaw_goal(1.0), so101.gripper.closed);
}

#[test]
fn each_gripper_kind_closes_on_a_box_and_holds_it_while_lifting() {
    for arm in NamedArm::ALL {
        let mut env = env_for(arm);
        let s = box_for(arm);
        let e = run_scripted_episode(&mut env, &s, ScriptedParams::default()).unwrap();
        assert_eq!(e.outcome.kind, OutcomeKind::Success, "{}: {:?}", arm.name(), e.outcome);
        let lift = env.config().outcome.success_lift;
        assert!(e.outcome.evidence.lift >= lift, "{}: {:?}", arm.name(), e.outcome.evidence);
        // Held by both pads, pressing: the grip is contact, not construction.
        let p = env.privileged().unwrap();
        assert_eq!(p.finger_contact, [true, true], "{}", arm.name());
        assert!(p.grip_force > 1.0, "{}: grip {} N", arm.name(), p.grip_force);
        assert!(p.gripper_opening > 0.025 && p.gripper_opening < 0.035, "{}: {}", arm.name(), p.gripper_opening);
    }
}

#[test]
fn without_friction_neither_gripper_holds() {
    for arm in NamedArm::ALL {
        let mut env = env_for(arm);
        let mut s = box_for(arm);
        s.object.friction = 0.05;
        s.physics.friction_scale = 0.1;
        let e = run_scripted_episode(&mut env, &s, ScriptedParams::default()).unwrap();
        assert_ne!(e.outcome.kind, OutcomeKind::Success, "{}: {:?}", arm.name(), e.outcome);
        assert!(e.outcome.evidence.lift < env.config().outcome.success_lift, "{}", arm.name());
    }
}

#[test]
fn opening_a_rotating_jaw_after_lifting_is_a_slip() {
    let mut env = env_for(NamedArm::So101);
    let s = box_for(NamedArm::So101);
    env.reset(&s).unwrap();
    grasp_until_above(&mut env, &s, s.rest_height() + 0.025);
    let o = hold(&mut env, -1.0, 40).expect("the drop ends the episode");
    assert_eq!(o.kind, OutcomeKind::SlipDuringLift, "{o:?}");
}

#[test]
fn closing_a_rotating_jaw_beside_the_object_is_a_missed_grasp() {
    let arm = NamedArm::So101;
    let mut env = env_for(arm);
    let s = box_for(arm);
    env.reset(&s).unwrap();
    // Tool 3.5 cm behind the box along x, jaws closing sideways: their pads pass 13 mm clear.
    let goal = |z: f64| [0.145, 0.0, z];
    for (z, steps) in [(0.06, 40), (0.02, 30)] {
        for _ in 0..steps {
            let p = env.privileged().unwrap();
            let t = p.tool.translation.vector;
            let d = |i: usize| ((goal(z)[i] - t[i]) * 0.5).clamp(-0.02, 0.02) as f32;
            let st = env.step(&Action { translation: [d(0), d(1), d(2)], yaw: 0.0, gripper: -1.0 }).unwrap();
            assert!(!st.done, "ended early: {:?}", st.outcome);
        }
    }
    let o = hold(&mut env, 1.0, 40).expect("ends");
    assert_eq!(o.kind, OutcomeKind::MissedGrasp, "{o:?}");
    assert!(o.evidence.gripper_opening < 0.03 - 0.005, "{o:?}");
}

#[test]
fn the_observation_reports_the_opening_between_the_pads() {
    for arm in NamedArm::ALL {
        let mut env = env_for(arm);
        let obs = env.reset(&box_for(arm)).unwrap();
        let model: &ArmModel = env.arm();
        let opening = obs[env.layout().gripper()] as f64;
        assert!((opening - model.gripper.max_opening()).abs() < 2e-3, "{}: {opening}", arm.name());
    }
}
