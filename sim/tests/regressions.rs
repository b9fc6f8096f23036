//! One regression test per physics bug found, rapier-style.

mod common;

use common::*;
use regrasp_sim::scenario::Shape;
use regrasp_sim::Action;

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
