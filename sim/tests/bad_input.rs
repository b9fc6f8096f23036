//! Bad input: malformed URDFs, profiles, scenarios and configs are errors that name the file
//! and field (and the allowed range), and no scenario that deserialises can panic the env.

mod common;

use proptest::prelude::*;
use regrasp_sim::arm::{DEFAULT_PROFILE, DEFAULT_URDF};
use regrasp_sim::scenario::{
    ArmStart, Format, ObjectPose, ObjectSpec, PhysicsPerturbation, SensingPerturbation, Shape,
};
use regrasp_sim::{Action, ArmModel, EnvConfig, Scenario, ScenarioDistribution, SimError};

fn load(urdf: &str, profile: &str) -> Result<ArmModel, SimError> {
    ArmModel::from_strs(urdf, "arm.urdf", profile, "arm.toml")
}

fn err_text(r: Result<ArmModel, SimError>) -> String {
    r.expect_err("must be rejected").to_string()
}

#[test]
fn the_default_arm_loads_and_is_identified_by_its_content() {
    let a = load(DEFAULT_URDF, DEFAULT_PROFILE).unwrap();
    assert_eq!(a.dof(), 5);
    assert!((a.gripper.max_opening() - 0.10).abs() < 1e-12);
    let b = load(&DEFAULT_URDF.replace("effort=\"3.0\"", "effort=\"3.1\""), DEFAULT_PROFILE).unwrap();
    assert_ne!(a.content_hash, b.content_hash);
}

#[test]
fn truncated_urdf_names_the_file() {
    let e = err_text(load(&DEFAULT_URDF[..DEFAULT_URDF.len() / 2], DEFAULT_PROFILE));
    assert!(e.starts_with("arm.urdf:"), "{e}");
}

#[test]
fn urdf_joint_to_a_missing_link_names_the_joint() {
    let urdf = DEFAULT_URDF.replace("<child link=\"forearm\"/>", "<child link=\"forearm_typo\"/>");
    let e = err_text(load(&urdf, DEFAULT_PROFILE));
    assert!(e.contains("arm.urdf") && e.contains("joint[elbow_pitch].child") && e.contains("forearm_typo"), "{e}");
}

#[test]
fn urdf_massless_moving_link_is_rejected_with_the_range() {
    let urdf = DEFAULT_URDF.replacen("<mass value=\"0.15\"/>", "<mass value=\"0.0\"/>", 1);
    let e = err_text(load(&urdf, DEFAULT_PROFILE));
    assert!(e.contains("link[turret].inertial.mass") && e.contains("allowed"), "{e}");
}

#[test]
fn urdf_inverted_or_non_finite_limits_are_rejected() {
    let urdf = DEFAULT_URDF
        .replace("lower=\"-2.6\" upper=\"2.6\" effort=\"3.0\"", "lower=\"2.6\" upper=\"-2.6\" effort=\"3.0\"");
    let e = err_text(load(&urdf, DEFAULT_PROFILE));
    assert!(e.contains("joint[base_yaw].limit"), "{e}");
    let urdf = DEFAULT_URDF.replace("effort=\"4.0\"", "effort=\"NaN\"");
    let e = err_text(load(&urdf, DEFAULT_PROFILE));
    assert!(e.contains("joint[shoulder_pitch].limit.effort"), "{e}");
}

#[test]
fn urdf_cycle_is_rejected() {
    // Make the base a child of the palm: the joints now form a cycle.
    let urdf = DEFAULT_URDF.replace(
        "</robot>",
        "<joint name=\"loop\" type=\"fixed\"><parent link=\"palm\"/><child link=\"base_link\"/></joint></robot>",
    );
    let e = err_text(load(&urdf, DEFAULT_PROFILE));
    assert!(e.contains("cycle") || e.contains("root"), "{e}");
}

#[test]
fn profile_errors_name_the_field() {
    let e = err_text(load(DEFAULT_URDF, "name = 3\n"));
    assert!(e.starts_with("arm.toml:"), "{e}");
    let e = err_text(load(DEFAULT_URDF, &DEFAULT_PROFILE.replace("\"elbow_pitch\"", "\"elbow\"")));
    assert!(e.contains("arm.toml") && e.contains("arm_joints[2]") && e.contains("`elbow`"), "{e}");
    let e = err_text(load(
        DEFAULT_URDF,
        &DEFAULT_PROFILE
            .replace("gripper_joints = [\"finger_left\", \"finger_right\"]", "gripper_joints = [\"finger_left\"]"),
    ));
    assert!(e.contains("gripper_joints") && e.contains("exactly 2"), "{e}");
    let e = err_text(load(DEFAULT_URDF, &DEFAULT_PROFILE.replace("finger_friction = 1.0", "finger_friction = -1.0")));
    assert!(e.contains("finger_friction") && e.contains("[0.01, 5]"), "{e}");
    let e = err_text(load(
        DEFAULT_URDF,
        &DEFAULT_PROFILE.replace("end_effector_link = \"palm\"", "end_effector_link = \"hand\""),
    ));
    assert!(e.contains("end_effector_link") && e.contains("hand"), "{e}");
    // A gripper joint listed as an arm joint is the wrong type.
    let e =
        err_text(load(DEFAULT_URDF, &DEFAULT_PROFILE.replace("\"wrist_roll\"]", "\"wrist_roll\", \"finger_left\"]")));
    assert!(e.contains("finger_left"), "{e}");
    // Unknown fields are typos, not silently ignored.
    let e = err_text(load(DEFAULT_URDF, &format!("{DEFAULT_PROFILE}\nfinger_fricton = 2.0\n")));
    assert!(e.contains("finger_fricton"), "{e}");
    let e = err_text(load(DEFAULT_URDF, &format!("{DEFAULT_PROFILE}\n[task.expert]\nwait_for_yew = true\n")));
    assert!(e.contains("arm.toml") && e.contains("wait_for_yew"), "{e}");
    let e = err_text(load(DEFAULT_URDF, &format!("{DEFAULT_PROFILE}\n[task.expert]\nwait_for_yaw = 1\n")));
    assert!(e.contains("arm.toml") && e.contains("wait_for_yaw"), "{e}");
    // Exploration noise: out of range, the wrong length, or a typo, each named.
    for (bad, named) in [
        ("finetune_log_std = 3.0", "task.exploration.finetune_log_std"),
        ("finetune_log_std = [-2.0, -2.0, -2.0, -2.0, nan]", "task.exploration.finetune_log_std"),
        ("finetune_log_std = [-2.0, -2.0]", "finetune_log_std"),
        ("finetune_log_sd = -2.0", "finetune_log_sd"),
    ] {
        let e = err_text(load(DEFAULT_URDF, &format!("{DEFAULT_PROFILE}\n[task.exploration]\n{bad}\n")));
        assert!(e.contains("arm.toml") && e.contains(named), "{bad}: {e}");
    }
    let ok = load(DEFAULT_URDF, &format!("{DEFAULT_PROFILE}\n[task.exploration]\nfinetune_log_std = -1.5\n")).unwrap();
    assert_eq!(ok.task.exploration.finetune_log_std.values(), [-1.5; 5]);
}

#[test]
fn arm_files_that_do_not_exist_name_the_path() {
    let e = ArmModel::from_files("/nonexistent/arm.urdf".as_ref(), "/nonexistent/arm.toml".as_ref()).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/arm.urdf"), "{e}");
}

fn valid() -> Scenario {
    ScenarioDistribution::default().sample(1)
}

#[test]
fn scenario_out_of_range_names_field_and_range() {
    let mut s = valid();
    s.object.mass = 5.0;
    let e = s.validate("scene.toml").unwrap_err().to_string();
    assert!(e.contains("scene.toml") && e.contains("object.mass") && e.contains("[0.005, 2] kg"), "{e}");
    let mut s = valid();
    s.sensing.action_latency = 3;
    let e = s.validate("scene.toml").unwrap_err().to_string();
    assert!(e.contains("sensing.action_latency") && e.contains("[0, 2]"), "{e}");
    let mut s = valid();
    s.object.pose.x = 0.0;
    s.object.pose.y = 0.0;
    let e = s.validate("scene.toml").unwrap_err().to_string();
    assert!(e.contains("object.pose") && e.contains("[0.08, 0.4] m"), "{e}");
    let mut s = valid();
    s.object.shape = Shape::Box { size: [0.1, 0.1, 0.05] };
    s.object.pose.x = 0.09;
    s.object.pose.y = 0.0;
    let e = s.validate("scene.toml").unwrap_err().to_string();
    assert!(e.contains("base axis"), "{e}");
    let mut s = valid();
    s.object.friction = f64::NAN;
    assert!(s.validate("s").unwrap_err().to_string().contains("object.friction"));
    let mut s = valid();
    s.object.shape = Shape::Capsule { radius: 0.02, length: 0.05 };
    s.object.pose.lying = false;
    assert!(s.validate("s").unwrap_err().to_string().contains("cannot rest standing"));
}

#[test]
fn scenario_files_with_unknown_or_mistyped_fields_are_errors() {
    let text = toml::to_string(&valid()).unwrap();
    let e = Scenario::parse(&text.replace("mass =", "mas ="), "scene.toml", Format::Toml).unwrap_err().to_string();
    assert!(e.contains("scene.toml") && e.contains("mas"), "{e}");
    let e = Scenario::parse("{\"seed\": \"one\"}", "scene.json", Format::Json).unwrap_err().to_string();
    assert!(e.contains("scene.json"), "{e}");
    let e = Scenario::from_path("scene.yaml".as_ref()).unwrap_err().to_string();
    assert!(e.contains(".toml or .json"), "{e}");
}

#[test]
fn env_rejects_an_invalid_scenario_without_touching_its_state() {
    let mut env = common::env();
    env.reset(&valid()).unwrap();
    env.step(&Action::HOLD_OPEN).unwrap();
    let before = env.state_hash();
    let mut s = valid();
    s.object.mass = -1.0;
    assert!(env.reset(&s).is_err());
    assert_eq!(env.state_hash(), before);
}

#[test]
fn config_errors_name_the_field() {
    let c = EnvConfig { control_hz: 0.0, ..EnvConfig::default() };
    assert!(c.validate("cfg.toml").unwrap_err().to_string().contains("control_hz"));
    let mut c = EnvConfig::default();
    c.workspace.min[2] = 1.0;
    assert!(c.validate("cfg.toml").unwrap_err().to_string().contains("workspace.max[2]"));
    let mut c = EnvConfig::default();
    c.outcome.table_force = f64::INFINITY;
    let e = c.validate("cfg.toml").unwrap_err().to_string();
    assert!(e.contains("outcome.table_force") && e.contains("N"), "{e}");
    assert!(regrasp_sim::GraspEnv::new(common::arm(), std::sync::Arc::new(c)).is_err());
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1.0f64..1.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(-f64::INFINITY),
        1 => -1e6f64..1e6,
        2 => 0.0f64..0.1,
    ]
}

fn any_shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        [any_f64(), any_f64(), any_f64()].prop_map(|size| Shape::Box { size }),
        (any_f64(), any_f64()).prop_map(|(radius, height)| Shape::Cylinder { radius, height }),
        any_f64().prop_map(|radius| Shape::Sphere { radius }),
        (any_f64(), any_f64()).prop_map(|(radius, length)| Shape::Capsule { radius, length }),
    ]
}

fn any_scenario() -> impl Strategy<Value = Scenario> {
    (
        any::<u64>(),
        any_shape(),
        (any_f64(), any_f64()),
        (any_f64(), any_f64(), any_f64(), any::<bool>()),
        ([any_f64(), any_f64(), any_f64()], any_f64()),
        (any_f64(), any_f64(), any_f64()),
        (any_f64(), 0u32..5),
    )
        .prop_map(
            |(
                seed,
                shape,
                (mass, friction),
                (x, y, yaw, lying),
                (tool_offset, tool_yaw),
                (fs, gs, ds),
                (noise, lat),
            )| {
                Scenario {
                    seed,
                    object: ObjectSpec { shape, mass, friction, pose: ObjectPose { x, y, yaw, lying } },
                    arm_start: ArmStart { tool_offset, tool_yaw },
                    physics: PhysicsPerturbation {
                        friction_scale: fs,
                        gripper_force_scale: gs,
                        joint_damping_scale: ds,
                    },
                    sensing: SensingPerturbation { observation_noise: noise, action_latency: lat },
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever deserialises either resets cleanly or is rejected with an error; a reset that
    /// succeeds steps without panicking and stays finite.
    #[test]
    fn no_deserialisable_scenario_panics_the_env(s in any_scenario(), a in prop::array::uniform5(-1.5f32..1.5)) {
        let mut env = common::env();
        // Round trip through JSON first: this is exactly what a file could contain
        // (serde_json writes non-finite floats as null, which then fails to parse: also fine).
        let text = serde_json::to_string(&s).unwrap();
        let parsed = Scenario::parse(&text, "p.json", Format::Json);
        match env.reset(&s) {
            Ok(obs) => {
                prop_assert!(parsed.is_ok());
                prop_assert!(obs.iter().all(|v| v.is_finite()));
                let action = Action::from_normalized(&a, &env.config().action);
                for _ in 0..3 {
                    match env.step(&action) {
                        Ok(st) => {
                            prop_assert!(st.obs.iter().all(|v| v.is_finite()));
                            if st.done { break; }
                        }
                        Err(e) => prop_assert!(false, "valid episode failed to step: {}", e),
                    }
                }
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(!text.is_empty());
            }
        }
    }
}

fn in_range_scenario() -> impl Strategy<Value = Scenario> {
    use regrasp_sim::scenario::limits::*;
    let size = SIZE.0..SIZE.1;
    let shape = prop_oneof![
        [size.clone(), size.clone(), size.clone()].prop_map(|size| (Shape::Box { size }, false)),
        (size.clone(), size.clone(), any::<bool>())
            .prop_map(|(d, height, lying)| (Shape::Cylinder { radius: d / 2.0, height }, lying)),
        size.clone().prop_map(|d| (Shape::Sphere { radius: d / 2.0 }, false)),
        (size.clone(), size.clone()).prop_map(|(d, l)| (Shape::Capsule { radius: d / 2.0, length: l.max(d) }, true)),
    ];
    (
        any::<u64>(),
        shape,
        (MASS.0..MASS.1, FRICTION.0..FRICTION.1),
        (0.12f64..RADIUS.1, -1.2f64..1.2, -3.0f64..3.0),
        [TOOL_OFFSET.0..TOOL_OFFSET.1, TOOL_OFFSET.0..TOOL_OFFSET.1, TOOL_OFFSET.0..TOOL_OFFSET.1],
        (SCALE.0..SCALE.1, SCALE.0..SCALE.1, DAMPING_SCALE.0..DAMPING_SCALE.1, NOISE.0..NOISE.1, 0u32..=LATENCY_MAX),
    )
        .prop_map(
            |(seed, (shape, lying), (mass, friction), (r, az, yaw), tool_offset, (fs, gs, ds, noise, lat))| Scenario {
                seed,
                object: ObjectSpec {
                    shape,
                    mass,
                    friction,
                    pose: ObjectPose { x: r * az.cos(), y: r * az.sin(), yaw, lying },
                },
                arm_start: ArmStart { tool_offset, tool_yaw: 0.0 },
                physics: PhysicsPerturbation { friction_scale: fs, gripper_force_scale: gs, joint_damping_scale: ds },
                sensing: SensingPerturbation { observation_noise: noise, action_latency: lat },
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Extreme but valid scenarios (every field anywhere in its allowed range) with saturated
    /// actions never panic and never produce a non-finite observation.
    #[test]
    fn extreme_valid_scenarios_run_without_panics(s in in_range_scenario(), a in prop::array::uniform5(-1.0f32..1.0)) {
        let mut env = common::env();
        // Objects too close to the base are rejected with an error, never a panic.
        let Ok(obs) = env.reset(&s) else { return Ok(()); };
        prop_assert!(obs.iter().all(|v| v.is_finite()));
        let action = Action::from_normalized(&a.map(|v| v.signum()), &env.config().action);
        for _ in 0..10 {
            let st = env.step(&action).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(st.obs.iter().all(|v| v.is_finite()));
            prop_assert!(st.reward.is_finite());
            if st.done { break; }
        }
    }
}

#[test]
fn shipped_example_configs_document_the_defaults() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let env = EnvConfig::from_path(format!("{root}/env.toml").as_ref()).unwrap();
    assert_eq!(env, EnvConfig::default(), "examples/env.toml drifted from EnvConfig::default()");
    let text = std::fs::read_to_string(format!("{root}/distribution.toml")).unwrap();
    let d: ScenarioDistribution = toml::from_str(&text).unwrap();
    assert_eq!(d, ScenarioDistribution::default(), "examples/distribution.toml drifted");
}

mod so101_profile {
    //! The gripper description's own errors: each names the profile and the field.
    use regrasp_sim::arm::{SO101_PROFILE, SO101_URDF};

    use super::{err_text, load};

    #[test]
    fn the_so101_loads() {
        let a = load(SO101_URDF, SO101_PROFILE).unwrap();
        assert_eq!(a.dof(), 5);
        assert_eq!(a.gripper.joint_count(), 1);
    }

    #[test]
    fn an_unknown_gripper_kind_is_named() {
        let p = SO101_PROFILE.replace("kind = \"rotating_jaw\"", "kind = \"suction_cup\"");
        let e = err_text(load(SO101_URDF, &p));
        assert!(e.contains("arm.toml") && e.contains("suction_cup") && e.contains("rotating_jaw"), "{e}");
    }

    #[test]
    fn a_jaw_joint_that_is_not_revolute_is_named() {
        let urdf = SO101_URDF
            .replace("<joint name=\"gripper\" type=\"revolute\">", "<joint name=\"gripper\" type=\"prismatic\">");
        let e = err_text(load(&urdf, SO101_PROFILE));
        assert!(e.contains("joint[gripper].type") && e.contains("revolute"), "{e}");
        let p =
            SO101_PROFILE.replace("gripper_joints = [\"gripper\"]", "gripper_joints = [\"gripper\", \"wrist_roll\"]");
        let e = err_text(load(SO101_URDF, &p));
        assert!(e.contains("gripper_joints") && e.contains("exactly 1 revolute"), "{e}");
    }

    #[test]
    fn a_pad_that_does_not_exist_is_named() {
        let p = SO101_PROFILE.replace("collision = \"moving_jaw_pad\"", "collision = \"moving_jaw_padd\"");
        let e = err_text(load(SO101_URDF, &p));
        assert!(e.contains("gripper.moving_pad.collision") && e.contains("moving_jaw_padd"), "{e}");
        let p = SO101_PROFILE.replace("fixed_pad = { link = \"gripper_link\"", "fixed_pad = { link = \"wrist_link\"");
        let e = err_text(load(SO101_URDF, &p));
        assert!(e.contains("gripper.fixed_pad.link") && e.contains("gripper_link"), "{e}");
    }

    #[test]
    fn limits_that_cannot_close_on_anything_are_named() {
        // The jaw opens only to its closed limit: the pads never separate.
        let p = SO101_PROFILE.replace("open_position = 1.0", "open_position = -0.17");
        let e = err_text(load(SO101_URDF, &p));
        assert!(e.contains("gripper") && e.contains("cannot close on anything"), "{e}");
        // Outside the joint's limits.
        let p = SO101_PROFILE.replace("open_position = 1.0", "open_position = 2.5");
        let e = err_text(load(SO101_URDF, &p));
        assert!(e.contains("gripper.open_position") && e.contains("2.5"), "{e}");
    }

    #[test]
    fn a_bad_task_override_is_named() {
        let p = SO101_PROFILE.replace("outcome = { success_lift = 0.03 }", "outcome = { sucess_lift = 0.03 }");
        let e = err_text(load(SO101_URDF, &p));
        assert!(e.contains("task.env") && e.contains("sucess_lift"), "{e}");
        let p = SO101_PROFILE.replace("suites = \"so101\"", "suites = \"so100\"");
        let e = err_text(load(SO101_URDF, &p));
        assert!(e.contains("task.suites") && e.contains("so100"), "{e}");
    }
}
