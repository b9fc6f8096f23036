//! The safety envelope: no adversarial policy output puts an out-of-envelope command out.

use std::sync::Arc;

use proptest::prelude::*;
use regrasp_hardware::envelope::{fingertip_position, intervention};
use regrasp_hardware::{EnvelopeConfig, JointCommand, Response, SafetyEnvelope};
use regrasp_sim::ArmModel;

fn arm() -> Arc<ArmModel> {
    Arc::new(ArmModel::default_arm().unwrap())
}

/// A pose well inside the workspace: the IK solution of the arm's home tool position.
fn home(arm: &ArmModel) -> Vec<f64> {
    let env = regrasp_sim::GraspEnv::new(Arc::new(arm.clone()), Arc::new(regrasp_sim::EnvConfig::default())).unwrap();
    let s = regrasp_sim::ScenarioDistribution::default().sample(1);
    env.start_configuration(&s, "test").unwrap()
}

struct Limits {
    lower: Vec<f64>,
    upper: Vec<f64>,
    step: Vec<f64>,
}

fn limits(arm: &ArmModel, cfg: &EnvelopeConfig) -> Limits {
    Limits {
        lower: arm.arm_joints.iter().map(|j| j.lower + cfg.joint_margin).collect(),
        upper: arm.arm_joints.iter().map(|j| j.upper - cfg.joint_margin).collect(),
        step: arm.arm_joints.iter().map(|j| j.velocity * cfg.velocity_scale * cfg.period_s).collect(),
    }
}

/// One adversarial value: NaN, infinities, huge, tiny, sign flips of the last value, big jumps,
/// or a plausible target.
fn adversarial() -> impl Strategy<Value = (u8, f64)> {
    (0u8..9, -4.0f64..4.0)
}

fn materialise(kind: u8, v: f64, last: f64) -> f64 {
    match kind {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => v * 1e30,
        4 => -last,
        5 => last + v * 10.0,
        6 => f64::MIN_POSITIVE * v,
        _ => v,
    }
}

proptest! {
    // 1,000 sequences of 100 proposals: 100,000 adversarial policy outputs.
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn no_adversarial_output_leaves_the_envelope(
        seq in proptest::collection::vec((proptest::collection::vec(adversarial(), 5), adversarial(), 0.0f64..2.0), 100),
    ) {
        let arm = arm();
        let cfg = EnvelopeConfig::default();
        let lim = limits(&arm, &cfg);
        let mut env = SafetyEnvelope::new(Arc::clone(&arm), cfg.clone()).unwrap();
        let start = home(&arm);
        env.start_from(&start, 0.04).unwrap();
        let (mut prev, mut prev_g) = (start.clone(), 0.04);
        let mut last_raw = vec![0.0; 5];
        for (joints, (gk, gv), load) in seq {
            let positions: Vec<f64> = joints.iter().zip(&last_raw).map(|((k, v), l)| materialise(*k, *v, *l)).collect();
            last_raw = positions.iter().map(|p| if p.is_finite() { *p } else { 0.0 }).collect();
            let proposed = JointCommand { positions, gripper: materialise(gk, gv * 0.05, prev_g) };
            let v = env.check(&proposed, load);
            let c = v.command.expect("clamp mode always yields a command once started");
            prop_assert_eq!(c.positions.len(), 5);
            for (i, &q) in c.positions.iter().enumerate() {
                prop_assert!(q.is_finite(), "joint {} not finite", i);
                prop_assert!(q >= lim.lower[i] - 1e-12 && q <= lim.upper[i] + 1e-12, "joint {} at {} outside [{}, {}]", i, q, lim.lower[i], lim.upper[i]);
                prop_assert!((q - prev[i]).abs() <= lim.step[i] + 1e-12, "joint {} jumped {}", i, q - prev[i]);
            }
            let p = arm.chain.fk(&c.positions).translation.vector;
            for k in 0..3 {
                prop_assert!(p[k] >= cfg.workspace_min[k] - 1e-9 && p[k] <= cfg.workspace_max[k] + 1e-9, "tool {:?} outside the box", p);
            }
            let tips = fingertip_position(&arm, &c.positions);
            prop_assert!(tips.z >= cfg.table_clearance - 1e-9, "fingertips {} m above the table", tips.z);
            prop_assert!(c.gripper.is_finite() && c.gripper >= cfg.gripper_range[0] && c.gripper <= cfg.gripper_range[1]);
            prop_assert!((c.gripper - prev_g).abs() <= cfg.gripper_speed * cfg.period_s + 1e-12);
            if !(load <= cfg.max_gripper_load) {
                prop_assert!(c.gripper >= prev_g, "squeezed harder over the force limit");
            }
            prev = c.positions;
            prev_g = c.gripper;
        }
    }
}

#[test]
fn nothing_passes_before_start_or_after_a_stop() {
    let arm = arm();
    let mut env = SafetyEnvelope::new(Arc::clone(&arm), EnvelopeConfig::default()).unwrap();
    let q = home(&arm);
    let v = env.check(&JointCommand { positions: q.clone(), gripper: 0.04 }, 0.0);
    assert!(v.command.is_none() && v.interventions & intervention::NOT_STARTED != 0);
    assert!(env.start_from(&[f64::NAN; 5], 0.0).is_err());
    assert!(env.start_from(&q[..4], 0.0).is_err());
    env.start_from(&q, 0.04).unwrap();
    assert!(env.check(&JointCommand { positions: q.clone(), gripper: 0.04 }, 0.0).command.is_some());

    let mut stop =
        SafetyEnvelope::new(Arc::clone(&arm), EnvelopeConfig { response: Response::Stop, ..Default::default() })
            .unwrap();
    stop.start_from(&q, 0.04).unwrap();
    let mut far = q.clone();
    far[0] += 1.0;
    let v = stop.check(&JointCommand { positions: far, gripper: 0.04 }, 0.0);
    assert!(v.command.is_none() && v.interventions & intervention::ACCELERATION != 0);
    // After a stop, the arm must be re-measured.
    let v = stop.check(&JointCommand { positions: q.clone(), gripper: 0.04 }, 0.0);
    assert!(v.command.is_none() && v.interventions & intervention::NOT_STARTED != 0);
    assert!(stop.counts[4] >= 1 && stop.counts[0] >= 1);
}

#[test]
fn a_nan_holds_the_last_pose_and_is_counted() {
    let arm = arm();
    let mut env = SafetyEnvelope::new(Arc::clone(&arm), EnvelopeConfig::default()).unwrap();
    let q = home(&arm);
    env.start_from(&q, 0.04).unwrap();
    let mut bad = q.clone();
    bad[2] = f64::NAN;
    let v = env.check(&JointCommand { positions: bad, gripper: 0.04 }, 0.0);
    assert_eq!(v.command.unwrap().positions, q);
    assert!(v.interventions & intervention::NON_FINITE != 0);
    assert_eq!(env.counts[1], 1);
}

#[test]
fn the_tool_is_stopped_at_the_table() {
    let arm = arm();
    let cfg = EnvelopeConfig::default();
    let mut env = SafetyEnvelope::new(Arc::clone(&arm), cfg.clone()).unwrap();
    let q = home(&arm);
    env.start_from(&q, 0.04).unwrap();
    // Ask for a tool pose 5 cm under the table top: the tool must stop above it.
    let below = nalgebra::Isometry3::from_parts(
        nalgebra::Translation3::new(0.25, 0.0, -0.05),
        regrasp_sim::kinematics::top_down_rotation(0.0),
    );
    let params = regrasp_sim::kinematics::IkParams { max_iterations: 200, ..Default::default() };
    let target = arm.chain.solve_ik(&below, &q, &params).q;
    assert!(arm.chain.fk(&target).translation.vector.z < 0.0, "the IK target lies under the table");
    let mut saw_cut = false;
    for _ in 0..500 {
        let v = env.check(&JointCommand { positions: target.clone(), gripper: 0.04 }, 0.0);
        saw_cut |= v.interventions & intervention::WORKSPACE != 0;
        let c = v.command.unwrap();
        assert!(fingertip_position(&arm, &c.positions).z >= cfg.table_clearance - 1e-9);
    }
    assert!(saw_cut, "the workspace must have cut the motion");
}

#[test]
fn bad_configs_are_refused() {
    let arm = arm();
    for cfg in [
        EnvelopeConfig { period_s: 0.0, ..Default::default() },
        EnvelopeConfig { velocity_scale: 2.0, ..Default::default() },
        EnvelopeConfig { joint_margin: 10.0, ..Default::default() },
        EnvelopeConfig { workspace_min: [1.0, 0.0, 0.0], workspace_max: [0.0, 1.0, 1.0], ..Default::default() },
        EnvelopeConfig { max_acceleration: f64::NAN, ..Default::default() },
    ] {
        assert!(SafetyEnvelope::new(Arc::clone(&arm), cfg).is_err());
    }
}

/// The envelope kept the tool frame 5 mm above the table, but the fingertips lie 15 mm beyond
/// it: a tool 10 mm up put the fingers 5 mm into the table and passed. The clearance now holds
/// for the fingertips.
#[test]
fn the_fingertips_not_just_the_tool_are_kept_above_the_table() {
    let arm = arm();
    let cfg = EnvelopeConfig::for_arm(&arm, 0.02, 0.05);
    let mut env = SafetyEnvelope::new(Arc::clone(&arm), cfg.clone()).unwrap();
    let q = home(&arm);
    env.start_from(&q, 0.04).unwrap();
    let tool_z = 0.010;
    let goal = nalgebra::Isometry3::from_parts(
        nalgebra::Translation3::new(0.22, 0.0, tool_z),
        regrasp_sim::kinematics::top_down_rotation(0.0),
    );
    let params = regrasp_sim::kinematics::IkParams { max_iterations: 200, ..Default::default() };
    let target = arm.chain.solve_ik(&goal, &q, &params).q;
    assert!(arm.chain.fk(&target).translation.vector.z > 0.005, "the tool itself is above the old clearance");
    assert!(fingertip_position(&arm, &target).z < 0.0, "but the fingertips are under the table top");
    let mut saw_cut = false;
    let mut lowest = f64::INFINITY;
    for _ in 0..500 {
        let v = env.check(&JointCommand { positions: target.clone(), gripper: 0.04 }, 0.0);
        saw_cut |= v.interventions & intervention::WORKSPACE != 0;
        lowest = lowest.min(fingertip_position(&arm, &v.command.unwrap().positions).z);
    }
    assert!(saw_cut, "the envelope must cut the descent");
    assert!(lowest >= cfg.table_clearance - 1e-9, "fingertips reached {lowest} m");
    assert!(lowest < cfg.table_clearance + 0.01, "and it still lets them come close ({lowest} m)");
}
