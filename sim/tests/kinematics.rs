//! IK and FK against rapier's multibody, for every shipped arm: the arm's own kinematic model
//! must agree with the physics, and damped-least-squares IK must reach random reachable
//! targets. The SO-101's chain must match the published one.

use nalgebra::Vector3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regrasp_sim::kinematics::{Chain, IkParams};
use regrasp_sim::scenario::ScenarioDistribution;
use regrasp_sim::world::{SimWorld, to_iso};
use regrasp_sim::{ArmModel, EnvConfig, NamedArm};

fn shipped_arms() -> Vec<ArmModel> {
    NamedArm::ALL.iter().map(|a| a.load().unwrap()).collect()
}

#[test]
fn so101_zero_pose_matches_the_published_chain_within_1_mm() {
    // real-arms.md §4.1, derived from so101_new_calib.urdf: at q = 0 the wrist-roll joint (the
    // gripper link's origin) lies at (0.293, 0, 0.234) m and the TCP (gripper_frame_link) at
    // (0.391, 0, 0.227) m, pointing along +x.
    let arm = ArmModel::named("so101").unwrap();
    let q = vec![0.0; arm.dof()];
    let tool = arm.chain.fk(&q);
    let ee = arm.chain.link_pose(&q);
    for (what, got, want) in [
        ("tool", tool.translation.vector, Vector3::new(0.391, 0.0, 0.227)),
        ("gripper link", ee.translation.vector, Vector3::new(0.293, 0.0, 0.234)),
    ] {
        assert!((got - want).norm() < 1e-3, "{what} at {got:?}, published {want:?}");
    }
    // The approach axis (tool +Z) points forward and the jaws close vertically (+Y), turned by
    // the published wrist-roll zero (0.0487 rad about the approach axis).
    let approach = tool.rotation * Vector3::z();
    assert!((approach - Vector3::x()).norm() < 0.06, "approach {approach:?}");
    let closing = tool.rotation * Vector3::y();
    assert!(closing.z > 0.99 && (closing.y.abs() - 0.0487_f64.sin()).abs() < 0.01, "closing {closing:?}");
}

fn random_q(chain: &Chain, rng: &mut ChaCha8Rng, spread: f64) -> Vec<f64> {
    (0..chain.dof())
        .map(|i| {
            let mid = 0.5 * (chain.lower[i] + chain.upper[i]);
            let half = 0.5 * (chain.upper[i] - chain.lower[i]) * spread;
            mid + half * (2.0 * rng.random::<f64>() - 1.0)
        })
        .collect()
}

#[test]
fn ik_reaches_100_random_reachable_targets_within_5_mm() {
    for arm in shipped_arms() {
        let chain = &arm.chain;
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let params = IkParams { max_iterations: 300, ..Default::default() };
        let mut worst: f64 = 0.0;
        for k in 0..100 {
            // Reachable by construction: the forward kinematics of a configuration inside the limits.
            let q_true = random_q(chain, &mut rng, 0.6);
            let target = chain.fk(&q_true);
            // Start from a nearby but different configuration, as the env does every control step.
            let q0: Vec<f64> = q_true.iter().map(|q| q + 0.3 * (2.0 * rng.random::<f64>() - 1.0)).collect();
            let sol = chain.solve_ik(&target, &q0, &params);
            let reached = chain.fk(&sol.q);
            let err = (reached.translation.vector - target.translation.vector).norm();
            worst = worst.max(err);
            assert!(
                err < 0.005,
                "{}: target {k}: position error {err} m (rotation {} rad)",
                arm.profile.name,
                sol.rotation_error
            );
            for (i, q) in sol.q.iter().enumerate() {
                assert!(*q >= chain.lower[i] && *q <= chain.upper[i], "joint {i} out of limits: {q}");
            }
        }
        assert!(worst < 0.005);
    }
}

#[test]
fn ik_result_never_leaves_the_joint_limits_even_for_unreachable_targets() {
    let arm = ArmModel::default_arm().unwrap();
    let chain = &arm.chain;
    let far = nalgebra::Isometry3::translation(2.0, -3.0, 5.0);
    let q0 = vec![0.0; chain.dof()];
    let sol = chain.solve_ik(&far, &q0, &IkParams::default());
    assert!(sol.position_error > 1.0, "an unreachable target cannot be reached");
    for (i, q) in sol.q.iter().enumerate() {
        assert!(*q >= chain.lower[i] && *q <= chain.upper[i]);
    }
}

#[test]
fn own_forward_kinematics_matches_rapier_multibody_link_poses() {
    for arm in shipped_arms() {
        let cfg = EnvConfig::default();
        let scenario = ScenarioDistribution::default().sample(3);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // The end-effector link is the parent of the gripper joints.
        let ee_slot = arm.urdf_robot.joints[arm.gripper.joint_slots[0]].link1;
        for _ in 0..20 {
            let q = random_q(&arm.chain, &mut rng, 0.9);
            let world = SimWorld::build(&arm, &cfg, &scenario, &q);
            let body = &world.physics.bodies[world.link_bodies[ee_slot]];
            let rapier_pose = to_iso(body.position());
            let ours = arm.chain.link_pose(&q);
            let dp = (rapier_pose.translation.vector - ours.translation.vector).norm();
            let dr = rapier_pose.rotation.angle_to(&ours.rotation);
            assert!(dp < 1e-4, "position differs by {dp} m at q = {q:?}");
            assert!(dr < 1e-3, "rotation differs by {dr} rad at q = {q:?}");
            // And the joint readings round-trip.
            for (a, b) in world.arm_positions().iter().zip(&q) {
                assert!((a - b).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn jacobian_matches_finite_differences() {
    for arm in shipped_arms() {
        let chain = &arm.chain;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..10 {
            let q = random_q(chain, &mut rng, 0.8);
            let (tool, jac) = chain.jacobian(&q);
            for i in 0..chain.dof() {
                let mut qp = q.clone();
                let h = 1e-6;
                qp[i] += h;
                let moved = chain.fk(&qp);
                let dp: Vector3<f64> = (moved.translation.vector - tool.translation.vector) / h;
                let col = jac.column(i);
                let lin = Vector3::new(col[0], col[1], col[2]);
                assert!((dp - lin).norm() < 1e-4, "joint {i}: fd {dp:?} vs jacobian {lin:?}");
            }
        }
    }
}
