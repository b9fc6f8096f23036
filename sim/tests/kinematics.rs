//! IK and FK against rapier's multibody: the arm's own kinematic model must agree with the
//! physics, and damped-least-squares IK must reach random reachable targets.

use nalgebra::Vector3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regrasp_sim::kinematics::{Chain, IkParams};
use regrasp_sim::scenario::ScenarioDistribution;
use regrasp_sim::world::{SimWorld, to_iso};
use regrasp_sim::{ArmModel, EnvConfig};

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
    let arm = ArmModel::default_arm().unwrap();
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
        assert!(err < 0.005, "target {k}: position error {err} m (rotation {} rad)", sol.rotation_error);
        for (i, q) in sol.q.iter().enumerate() {
            assert!(*q >= chain.lower[i] && *q <= chain.upper[i], "joint {i} out of limits: {q}");
        }
    }
    assert!(worst < 0.005);
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
    let arm = ArmModel::default_arm().unwrap();
    let cfg = EnvConfig::default();
    let scenario = ScenarioDistribution::default().sample(3);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // The end-effector link is the parent of the finger joints.
    let ee_slot = arm.urdf_robot.joints[arm.gripper_joint_slots[0]].link1;
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

#[test]
fn jacobian_matches_finite_differences() {
    let arm = ArmModel::default_arm().unwrap();
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
