//! One regression test per physics bug found, rapier-style.

mod common;

use common::*;
use regrasp_sim::Action;
use regrasp_sim::scenario::Shape;

/// Rapier's exact cylinder, lying on its side, rolled away from rest by itself (9 cm in 2 s).
/// Cylinders are now 32-sided prisms: at rest they must stay put.
#[test]
fn a_lying_cylinder_at_rest_stays_put() {
    for yaw in [0.0, 0.7, 2.0] {
        let mut s = scenario(Shape::Cylinder { radius: 0.0285, height: 0.047 }, 0.3, 0.2, 0.1);
        s.object.pose.lying = true;
        s.object.pose.yaw = yaw;
        let mut env = env();
        env.reset(&s).unwrap();
        for _ in 0..40 {
            env.step(&Action::HOLD_OPEN).unwrap();
        }
        let p = env.privileged().unwrap().object.translation.vector;
        let moved = (p.x - 0.2).hypot(p.y - 0.1);
        assert!(moved < 1e-3, "yaw {yaw}: the cylinder moved {moved} m by itself");
    }
}

/// With rapier's default contact softness (30 Hz) a 20 N grip sank the fingers ~9 mm into a
/// 3.7 cm object. The gripper opening while holding must stay close to the object's width.
#[test]
fn fingers_do_not_sink_into_a_gripped_object() {
    let s = scenario(Shape::Box { size: [0.05, 0.037, 0.04] }, 0.3, 0.2, 0.0);
    let mut env = env();
    env.reset(&s).unwrap();
    assert!(drive(&mut env, [0.2, 0.0, 0.1], -1.0, 40).is_none());
    assert!(drive(&mut env, [0.2, 0.0, 0.03], -1.0, 20).is_none());
    assert!(hold(&mut env, 1.0, 20).is_none());
    let p = env.privileged().unwrap();
    assert!(p.finger_contact[0] && p.finger_contact[1]);
    assert!(p.grip_force > 30.0, "grip force {} N", p.grip_force);
    assert!(p.gripper_opening > 0.037 - 0.004, "fingers sank {} m into the box", 0.037 - p.gripper_opening);
}

/// The workspace floor held the tool frame 5 mm above the table, but the fingertips lie 15 mm
/// beyond it: a policy could command them 10 mm into the table, and the arm's servos pressed
/// them down past the collision force. Every one of 21 table collisions of a fine-tuned policy
/// on the `train` suite had its fingertips on the table and its target 1–10 mm below it. The
/// tool target now keeps the fingertips `fingertip_clearance` above the table top.
#[test]
fn commanding_straight_down_never_presses_the_fingers_into_the_table() {
    let mut env = env();
    // An object well away from where the tool descends.
    env.reset(&scenario(Shape::Sphere { radius: 0.02 }, 0.1, 0.30, 0.25)).unwrap();
    let down = Action { translation: [0.0, 0.0, -0.02], yaw: 0.0, gripper: -1.0 };
    let floor = env.config().workspace.floor(env.arm().profile.fingertip_offset);
    for _ in 0..80 {
        let step = env.step(&down).unwrap();
        let p = env.privileged().unwrap();
        assert!(p.tool_target.z >= floor - 1e-12, "target {} below the floor {floor}", p.tool_target.z);
        if let Some(o) = step.outcome {
            panic!("pressing down ended the episode: {:?}", o.kind);
        }
    }
    let peak = env.safety().unwrap().peak_table_force;
    assert!(peak < env.config().outcome.table_force / 3.0, "the fingers pressed on the table with {peak} N");
}
