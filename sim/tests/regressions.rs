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

/// Parry's capsule–box contacts take their normal from GJK between the capsule's core segment
/// and the box; with the segment parallel to a face (a lying capsule between the SO-101's flat
/// jaw pads) it came out 25° off the face's normal, and the pads pushed the capsule out along
/// its axis. The poses are the SO-101's fixed pad and a lying capsule (seed 62 of its training
/// distribution) with both jaws closed on it. [`ExactCapsuleContacts`] must give the normal of
/// the rounded shapes, which is the pad face's.
#[test]
fn a_capsule_against_a_flat_pad_gets_the_face_normal() {
    use rapier3d::parry::math::{Pose, Vector};
    use rapier3d::parry::query::{ContactManifold, DefaultQueryDispatcher, PersistentQueryDispatcher, QueryDispatcher};
    use rapier3d::parry::shape::{Capsule, Cuboid};
    use rapier3d::prelude::{ContactData, ContactManifoldData, Rotation};
    use regrasp_sim::contacts::ExactCapsuleContacts;

    let pad = Cuboid::new(Vector::new(0.0035, 0.0065, 0.0203));
    let pad_pose = Pose::from_parts(
        Vector::new(0.13784772, 0.015651505, 0.029730432),
        Rotation::from_xyzw(0.020000486, -0.04015474, 0.43326917, 0.9001471),
    );
    let capsule = Capsule::new_y(0.005, 0.016175615);
    let capsule_pose = Pose::from_parts(
        Vector::new(0.1495816, 0.030595133, 0.016173765),
        Rotation::from_xyzw(0.24223363, 0.11326583, -0.87309843, 0.40766773),
    );
    let pos12 = pad_pose.inv_mul(&capsule_pose);
    let face_normal = Vector::X; // the pad's inner face, in the pad's frame
    let angle = |n: Vector| n.normalize().dot(face_normal).clamp(-1.0, 1.0).acos().to_degrees();

    let exact = DefaultQueryDispatcher.contact(&pos12, &pad, &capsule, 0.002).unwrap().expect("they touch");
    assert!(angle(exact.normal1) < 2.0, "the rounded shapes' normal is {:.1}° off the face", angle(exact.normal1));

    let mut ours = ContactManifold::<ContactManifoldData, ContactData>::new();
    ExactCapsuleContacts.contact_manifold_convex_convex(&pos12, &pad, &capsule, None, None, 0.002, &mut ours).unwrap();
    assert!(angle(ours.local_n1) < 2.0, "our manifold's normal is {:.1}° off the face", angle(ours.local_n1));
    assert!(!ours.points.is_empty() && ours.points.iter().all(|p| p.dist < 0.0), "the pad presses on the capsule");
    // Both jaws squeeze the capsule from the sides: its contact points lie along its length.
    assert!(ours.points.len() == 2, "a line contact along the capsule: {} points", ours.points.len());

    let mut parrys = ContactManifold::<ContactManifoldData, ContactData>::new();
    DefaultQueryDispatcher
        .contact_manifold_convex_convex(&pos12, &pad, &capsule, None, None, 0.002, &mut parrys)
        .unwrap();
    assert!(
        angle(parrys.local_n1) > 10.0,
        "parry's own normal is now {:.1}° off the face: if parry fixed its capsule–box contacts, \
         `contact.exact_capsule_normals` may no longer be needed",
        angle(parrys.local_n1)
    );
}

/// The same bug seen from the grasp: the SO-101's scripted grasp of that lying capsule (seed 62
/// of its training distribution restricted to capsules) lifts it with the rounded shapes'
/// normals and leaves it on the table with parry's own.
#[test]
fn the_so101_lifts_a_lying_capsule_it_used_to_leave_behind() {
    use regrasp_sim::scripted::ScriptedParams;
    use regrasp_sim::vec_env::run_scripted_episode;
    use regrasp_sim::{ArmModel, GraspEnv, OutcomeKind};
    use std::sync::Arc;

    let arm = Arc::new(ArmModel::named("so101").unwrap());
    let mut capsules = arm.task.distribution.clone();
    capsules.shapes = vec![regrasp_sim::scenario::ShapeKind::Capsule];
    // The task's masses when the bug was found (20–250 g), so the scenario stays the one it was.
    capsules.mass = regrasp_sim::scenario::Interval { lo: 0.02, hi: 0.25 };
    let scenario = capsules.sample(62);
    assert!(matches!(scenario.object.shape, Shape::Capsule { .. }) && scenario.object.pose.lying);
    assert!(arm.task.env.contact.exact_capsule_normals, "the SO-101's task uses the exact normals");
    let run = |exact: bool| {
        let mut cfg = arm.task.env.clone();
        cfg.contact.exact_capsule_normals = exact;
        let mut env = GraspEnv::new(Arc::clone(&arm), Arc::new(cfg)).unwrap();
        run_scripted_episode(&mut env, &scenario, ScriptedParams::default()).unwrap().outcome
    };
    let with = run(true);
    assert_eq!(with.kind, OutcomeKind::Success, "{}", with.evidence.note);
    let without = run(false);
    assert_ne!(without.kind, OutcomeKind::Success, "parry's own normals held it: {}", without.evidence.note);
}

/// The SO-101's grasp expert closed on objects its own jaws had swept aside: it descended while
/// the wrist roll was still turning the jaws through more than a quarter turn to the grasp yaw.
/// This lying capsule (seed 28 of the SO-101's training distribution) is lifted by the expert
/// that waits for the yaw (`[task.expert] wait_for_yaw`, the SO-101's setting) and missed by
/// the one that does not (regrasp-arm5's, kept so its demonstrations stay as they were).
#[test]
fn the_so101_expert_waits_for_its_jaws_to_turn_before_it_descends() {
    use regrasp_sim::scenario::Format;
    use regrasp_sim::scripted::ScriptedParams;
    use regrasp_sim::vec_env::run_expert_episode;
    use regrasp_sim::{ArmModel, GraspEnv, OutcomeKind, Scenario};
    use std::sync::Arc;

    let scenario = Scenario::parse(
        r#"
seed = 28
[object]
mass = 0.06475242619861649
friction = 0.8560197090154402
shape = { kind = "capsule", radius = 0.019032312733630055, length = 0.04806462546726011 }
pose = { x = 0.1370295131921748, y = -0.13791455707834102, yaw = -0.5659529784967736, lying = true }
[arm_start]
tool_offset = [0.002900947069794723, 0.0017361044380547128, 0.0039414942733535276]
tool_yaw = 0.14605067721434756
[physics]
friction_scale = 1.093895834491472
gripper_force_scale = 1.092392589066544
joint_damping_scale = 1.1376561816196946
[sensing]
observation_noise = 0.0004425493400106215
action_latency = 0
"#,
        "seed 28",
        Format::Toml,
    )
    .unwrap();
    let so101 = ArmModel::named("so101").unwrap();
    assert!(so101.task.expert.wait_for_yaw, "the SO-101's task waits for the yaw");
    let run = |wait: bool| {
        let mut arm = so101.clone();
        arm.task.expert.wait_for_yaw = wait;
        let arm = Arc::new(arm);
        let mut env = GraspEnv::new(Arc::clone(&arm), Arc::new(arm.task.env.clone())).unwrap();
        run_expert_episode(&mut env, &scenario, ScriptedParams::default()).unwrap().outcome
    };
    let waits = run(true);
    assert_eq!(waits.kind, OutcomeKind::Success, "{}", waits.evidence.note);
    let turns_while_descending = run(false);
    assert_eq!(turns_while_descending.kind, OutcomeKind::MissedGrasp, "{}", turns_while_descending.evidence.note);
}
