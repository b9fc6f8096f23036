//! Helpers shared by the integration tests: nominal scenarios and a simple tool driver.
#![allow(dead_code)]

use std::sync::Arc;

use regrasp_sim::scenario::{ArmStart, ObjectPose, ObjectSpec, PhysicsPerturbation, SensingPerturbation, Shape};
use regrasp_sim::{Action, ArmModel, EnvConfig, GraspEnv, Outcome, Scenario};

pub fn arm() -> Arc<ArmModel> {
    Arc::new(ArmModel::default_arm().expect("default arm loads"))
}

pub fn env_with(cfg: EnvConfig) -> GraspEnv {
    GraspEnv::new(arm(), Arc::new(cfg)).expect("valid config")
}

pub fn env() -> GraspEnv {
    env_with(EnvConfig::default())
}

/// A nominal scenario (no perturbations) with `shape` resting at (x, y).
pub fn scenario(shape: Shape, mass: f64, x: f64, y: f64) -> Scenario {
    Scenario {
        seed: 1,
        object: ObjectSpec {
            shape,
            mass,
            friction: 0.8,
            pose: ObjectPose { x, y, yaw: 0.0, lying: matches!(shape, Shape::Capsule { .. }) },
        },
        arm_start: ArmStart::default(),
        physics: PhysicsPerturbation::default(),
        sensing: SensingPerturbation::default(),
    }
}

/// Drives the tool towards `goal` (m, world) with yaw 0 for up to `steps` control steps;
/// returns the outcome if the episode ends.
pub fn drive(env: &mut GraspEnv, goal: [f64; 3], gripper: f32, steps: usize) -> Option<Outcome> {
    for _ in 0..steps {
        let p = env.privileged().expect("running");
        let t = p.tool.translation.vector;
        let d = |i: usize| ((goal[i] - t[i]) * 0.5).clamp(-0.02, 0.02) as f32;
        let s = env.step(&Action { translation: [d(0), d(1), d(2)], yaw: 0.0, gripper }).expect("finite action");
        if s.done {
            return s.outcome;
        }
    }
    None
}

/// Holds still (gripper as given) until the episode ends or `steps` pass.
pub fn hold(env: &mut GraspEnv, gripper: f32, steps: usize) -> Option<Outcome> {
    for _ in 0..steps {
        let s = env.step(&Action { gripper, ..Action::default() }).expect("finite action");
        if s.done {
            return s.outcome;
        }
    }
    None
}

/// Runs the scripted grasp of `s` (already reset in `env`) until the object's centre is above
/// `z` (m, world); panics if the episode ends first.
pub fn grasp_until_above(env: &mut GraspEnv, s: &Scenario, z: f64) {
    let mut ctl =
        regrasp_sim::scripted::ScriptedGrasp::new(s, env.arm(), regrasp_sim::scripted::ScriptedParams::default());
    let limits = env.config().action;
    loop {
        let p = env.privileged().expect("running");
        if p.object.translation.z > z {
            return;
        }
        let step = env.step(&ctl.act(&p, &limits)).expect("finite action");
        assert!(!step.done, "ended early: {:?}", step.outcome);
    }
}
