//! GraspEnv behaviour: outcomes produced by real physics, the scripted grasp, determinism
//! (replay and thread counts), and rejection of non-finite actions.

mod common;

use std::sync::Arc;

use common::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regrasp_sim::outcome::OutcomeKind;
use regrasp_sim::scenario::Shape;
use regrasp_sim::scripted::ScriptedParams;
use regrasp_sim::vec_env::{replay, run_scripted, run_scripted_episode};
use regrasp_sim::{Action, EnvConfig, ScenarioDistribution, SimError, VecEnv};

#[test]
fn observation_has_the_documented_length_and_is_finite() {
    let mut env = env();
    let obs = env.reset(&ScenarioDistribution::default().sample(5)).unwrap();
    assert_eq!(obs.len(), 43);
    assert_eq!(env.obs_dim(), 43);
    assert!(obs.iter().all(|v| v.is_finite()));
    let l = env.layout();
    // Gripper starts fully open (2 × 0.05 m).
    assert!((obs[l.gripper()] - 0.10).abs() < 1e-3, "opening {}", obs[l.gripper()]);
    // One-hot shape.
    assert_eq!(obs[l.shape()..l.shape() + 4].iter().sum::<f32>(), 1.0);
}

/// The observation space a Gymnasium env declares must hold every observation: random actions
/// (extreme ones included) and the expert's grasps on both shipped arms, noise and all.
#[test]
fn every_observation_lies_within_the_layout_bounds() {
    use regrasp_sim::{ArmModel, GraspEnv};
    for name in ["regrasp-arm5", "so101"] {
        let arm = Arc::new(ArmModel::named(name).unwrap());
        let cfg = Arc::new(arm.task.env.clone());
        let dist = arm.task.distribution.clone();
        let mut env = GraspEnv::new(Arc::clone(&arm), Arc::clone(&cfg)).unwrap();
        let (low, high) = env.layout().bounds();
        assert_eq!(low.len(), env.obs_dim());
        let check = |obs: &[f32], what: &str| {
            for (k, v) in obs.iter().enumerate() {
                assert!(
                    *v >= low[k] && *v <= high[k],
                    "{name} {what}: entry {k} = {v} outside [{}, {}]",
                    low[k],
                    high[k]
                );
            }
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for seed in 0..6 {
            let s = dist.sample(seed);
            check(&env.reset(&s).unwrap(), "reset");
            for _ in 0..60 {
                let mut a = [0.0f32; 5];
                for v in a.iter_mut() {
                    *v = rng.random_range(-1.5..1.5);
                }
                let step = env.step(&Action::from_normalized(&a, &cfg.action)).unwrap();
                check(&step.obs, "random step");
                if step.done {
                    break;
                }
            }
            let params = ScriptedParams::default();
            let run = regrasp_sim::vec_env::run_expert_episode(&mut env, &s, params).unwrap();
            let mut obs = env.reset(&s).unwrap();
            for a in &run.actions {
                check(&obs, "expert step");
                obs = env.step(a).unwrap().obs;
            }
            check(&obs, "expert end");
        }
    }
}

#[test]
fn scripted_grasp_succeeds_on_a_sample() {
    // A fixed sample from the default training distribution; the full 500-episode figure is in
    // the README (`regrasp scripted --episodes 500`).
    let scenarios: Vec<_> = (0..40).map(|s| ScenarioDistribution::default().sample(9000 + s)).collect();
    let results = run_scripted(arm(), Arc::new(EnvConfig::default()), &scenarios, 2, &|| {}).unwrap();
    let ok = results.iter().filter(|r| r.outcome.kind == OutcomeKind::Success).count();
    assert!(
        ok >= 38,
        "only {ok}/40 scripted grasps succeeded: {:?}",
        results.iter().filter(|r| r.outcome.kind.is_failure()).map(|r| (r.seed, r.outcome.kind)).collect::<Vec<_>>()
    );
    for r in &results {
        let e = &r.outcome.evidence;
        match r.outcome.kind {
            // A success really lifted the object 10 cm and held it for a second.
            OutcomeKind::Success => assert!(e.lift >= 0.10 && e.held_time >= 1.0 - 1e-9, "{e:?}"),
            // Failures are classified by their evidence.
            OutcomeKind::SlipDuringLift => assert!(e.max_held_lift >= 0.02 && e.lift <= 0.01, "{e:?}"),
            OutcomeKind::ObjectPushedAway => assert!(e.displacement > 0.05, "{e:?}"),
            OutcomeKind::TableCollision => assert!(e.max_table_force > 30.0, "{e:?}"),
            _ => {}
        }
    }
}

#[test]
fn a_grasp_holds_only_by_friction() {
    // The same grasp on a frictionless-ish, heavy object fails: nothing but friction holds it.
    let mut s = scenario(Shape::Box { size: [0.04, 0.03, 0.04] }, 0.4, 0.2, 0.0);
    let mut env = env();
    let ok = run_scripted_episode(&mut env, &s, ScriptedParams::default()).unwrap();
    assert_eq!(ok.outcome.kind, OutcomeKind::Success, "{:?}", ok.outcome);
    s.object.friction = 0.05;
    s.physics.friction_scale = 0.1;
    let slippery = run_scripted_episode(&mut env, &s, ScriptedParams::default()).unwrap();
    assert_ne!(slippery.outcome.kind, OutcomeKind::Success, "{:?}", slippery.outcome);
    assert!(slippery.outcome.evidence.lift < 0.10);
}

#[test]
fn opening_the_gripper_after_lifting_is_a_slip() {
    let s = scenario(Shape::Box { size: [0.04, 0.03, 0.04] }, 0.1, 0.2, 0.0);
    let mut env = env();
    env.reset(&s).unwrap();
    // Grasp and lift until 5 cm up.
    grasp_until_above(&mut env, &s, 0.02 + 0.05);
    let o = hold(&mut env, -1.0, 40).expect("the drop ends the episode");
    assert_eq!(o.kind, OutcomeKind::SlipDuringLift, "{o:?}");
}

#[test]
fn pressing_into_the_table_is_a_table_collision() {
    let s = scenario(Shape::Sphere { radius: 0.02 }, 0.1, 0.15, 0.15);
    // The controller keeps the fingertips above the table by default; a negative clearance lets
    // the target go 5 cm into it, as a policy could before that floor existed.
    let mut cfg = EnvConfig::default();
    cfg.workspace.min[2] = -0.05;
    cfg.workspace.fingertip_clearance = -0.05;
    let mut env = env_with(cfg);
    env.reset(&s).unwrap();
    let o = drive(&mut env, [0.2, -0.05, -0.05], -1.0, 120).expect("ends");
    assert_eq!(o.kind, OutcomeKind::TableCollision, "{o:?}");
    assert!(o.evidence.max_table_force > 30.0);
}

#[test]
fn turning_the_wrist_past_its_limit_is_a_joint_limit() {
    let s = scenario(Shape::Sphere { radius: 0.02 }, 0.1, 0.15, 0.15);
    let mut env = env();
    env.reset(&s).unwrap();
    let mut outcome = None;
    for _ in 0..80 {
        let st = env.step(&Action { yaw: 0.15, gripper: -1.0, ..Action::default() }).unwrap();
        if st.done {
            outcome = st.outcome;
            break;
        }
    }
    let o = outcome.expect("ends");
    assert_eq!(o.kind, OutcomeKind::JointLimit, "{o:?}");
    assert_eq!(o.evidence.joint, Some(4), "the wrist roll is joint 4");
}

#[test]
fn closing_beside_the_object_is_a_missed_grasp() {
    let s = scenario(Shape::Box { size: [0.03, 0.03, 0.03] }, 0.1, 0.2, 0.0);
    let mut env = env();
    env.reset(&s).unwrap();
    // 3 cm beside the box along x: the 2 cm wide pads pass 5 mm clear of it.
    assert!(drive(&mut env, [0.23, 0.0, 0.1], -1.0, 40).is_none());
    assert!(drive(&mut env, [0.23, 0.0, 0.025], -1.0, 20).is_none());
    let o = hold(&mut env, 1.0, 30).expect("ends");
    assert_eq!(o.kind, OutcomeKind::MissedGrasp, "{o:?}");
}

#[test]
fn sweeping_through_a_ball_pushes_it_away() {
    let s = scenario(Shape::Sphere { radius: 0.02 }, 0.05, 0.2, 0.0);
    let mut env = env();
    env.reset(&s).unwrap();
    // Open fingers (10 cm apart along y) sweep along y: the leading finger hits the ball.
    assert!(drive(&mut env, [0.2, -0.08, 0.1], -1.0, 40).is_none());
    assert!(drive(&mut env, [0.2, -0.08, 0.03], -1.0, 20).is_none());
    let o = drive(&mut env, [0.2, 0.15, 0.03], -1.0, 60).expect("ends");
    assert_eq!(o.kind, OutcomeKind::ObjectPushedAway, "{o:?}");
}

#[test]
fn sweeping_the_top_of_a_tall_box_knocks_it_over() {
    let s = scenario(Shape::Box { size: [0.025, 0.025, 0.08] }, 0.05, 0.2, 0.0);
    let mut env = env();
    env.reset(&s).unwrap();
    assert!(drive(&mut env, [0.2, -0.08, 0.085], -1.0, 40).is_none());
    let o = drive(&mut env, [0.2, 0.15, 0.085], -1.0, 60).expect("ends");
    assert_eq!(o.kind, OutcomeKind::KnockedOver, "{o:?}");
}

#[test]
fn doing_nothing_times_out() {
    let cfg = EnvConfig { episode_seconds: 1.0, ..EnvConfig::default() };
    let mut env = env_with(cfg);
    env.reset(&ScenarioDistribution::default().sample(1)).unwrap();
    let o = hold(&mut env, -1.0, 100).expect("ends");
    assert_eq!(o.kind, OutcomeKind::Timeout);
    assert!((o.evidence.time - 1.0).abs() < 1e-9);
}

#[test]
fn stepping_after_the_end_or_before_reset_is_an_error() {
    let mut env = env();
    assert!(matches!(env.step(&Action::HOLD_OPEN), Err(SimError::NotRunning(_))));
    let cfg = EnvConfig { episode_seconds: 0.1, ..EnvConfig::default() };
    let mut env = env_with(cfg);
    env.reset(&ScenarioDistribution::default().sample(1)).unwrap();
    assert!(hold(&mut env, -1.0, 5).is_some());
    assert!(matches!(env.step(&Action::HOLD_OPEN), Err(SimError::NotRunning(_))));
}

#[test]
fn non_finite_actions_never_reach_the_physics() {
    let mut env = env();
    env.reset(&ScenarioDistribution::default().sample(3)).unwrap();
    env.step(&Action { translation: [0.01, 0.0, 0.0], ..Action::HOLD_OPEN }).unwrap();
    let before = env.state_hash();
    let bad = [
        Action { translation: [f32::NAN, 0.0, 0.0], ..Action::HOLD_OPEN },
        Action { translation: [0.0, f32::INFINITY, 0.0], ..Action::HOLD_OPEN },
        Action { translation: [0.0, 0.0, f32::NEG_INFINITY], ..Action::HOLD_OPEN },
        Action { yaw: f32::NAN, ..Action::HOLD_OPEN },
        Action { gripper: f32::NAN, ..Action::HOLD_OPEN },
    ];
    for (i, a) in bad.iter().enumerate() {
        let e = env.step(a).unwrap_err();
        assert!(matches!(e, SimError::NonFiniteAction { .. }), "{e}");
        assert_eq!(env.state_hash(), before, "a rejected action moved the world");
        assert_eq!(env.counters().rejected_actions, i as u64 + 1);
    }
    // The episode goes on normally afterwards.
    env.step(&Action::HOLD_OPEN).unwrap();
    assert_ne!(env.state_hash(), before);
}

#[test]
fn huge_actions_are_clipped_to_their_bounds() {
    let mut a = env();
    let mut b = env();
    let s = ScenarioDistribution::default().sample(8);
    a.reset(&s).unwrap();
    b.reset(&s).unwrap();
    for _ in 0..5 {
        a.step(&Action { translation: [1e30, -1e30, 5.0], yaw: -1e9, gripper: 7.0 }).unwrap();
        b.step(&Action { translation: [0.02, -0.02, 0.02], yaw: -0.15, gripper: 1.0 }).unwrap();
    }
    assert_eq!(a.state_hash(), b.state_hash());
}

fn random_actions(seed: u64, n: usize) -> Vec<Action> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut u = || 2.0 * rng.random::<f32>() - 1.0;
    (0..n)
        .map(|_| Action { translation: [0.02 * u(), 0.02 * u(), 0.02 * u()], yaw: 0.15 * u(), gripper: u() })
        .collect()
}

#[test]
fn replay_reproduces_every_state_bit_for_bit() {
    let dist = ScenarioDistribution::default();
    let mut env = env();
    for seed in 0..12 {
        let s = dist.sample(seed);
        let actions = random_actions(seed, 60);
        // Record the hash after every step, then replay twice and compare all of them.
        let mut run = || {
            env.reset(&s).unwrap();
            let mut hashes = vec![env.state_hash()];
            for a in &actions {
                let st = env.step(a).unwrap();
                hashes.push(env.state_hash());
                if st.done {
                    break;
                }
            }
            hashes
        };
        let first = run();
        let second = run();
        assert_eq!(first, second, "seed {seed}");
        assert!(first.windows(2).any(|w| w[0] != w[1]), "the state must actually change");
        let (h, _) = replay(&mut env, &s, &actions[..first.len() - 1]).unwrap();
        assert_eq!(h, *first.last().unwrap());
    }
}

#[test]
fn scripted_episodes_replay_from_their_actions() {
    let mut env = env();
    for seed in [1u64, 2, 3] {
        let s = ScenarioDistribution::default().sample(seed);
        let ep = run_scripted_episode(&mut env, &s, ScriptedParams::default()).unwrap();
        let (h, o) = replay(&mut env, &s, &ep.actions).unwrap();
        assert_eq!(h, ep.final_state_hash);
        assert_eq!(o.as_ref(), Some(&ep.outcome));
    }
}

#[test]
fn vectorised_envs_give_identical_results_on_1_and_2_threads() {
    let dist = ScenarioDistribution::default();
    let scenarios: Vec<_> = (0..6).map(|i| dist.sample(100 + i)).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut v = VecEnv::new(arm(), Arc::new(EnvConfig::default()), scenarios.len()).unwrap();
            for r in v.reset(&scenarios) {
                r.unwrap();
            }
            let per_env: Vec<Vec<Action>> = (0..scenarios.len()).map(|i| random_actions(i as u64, 40)).collect();
            let mut trace = Vec::new();
            for t in 0..40 {
                let actions: Vec<Action> = per_env.iter().map(|a| a[t]).collect();
                let steps = v.step(&actions);
                trace.push(
                    steps
                        .into_iter()
                        .map(|s| match s {
                            Ok(s) => {
                                (s.reward.to_bits(), s.done, s.obs.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
                            }
                            Err(_) => (0, true, vec![]),
                        })
                        .collect::<Vec<_>>(),
                );
                trace.push(vec![(0, false, v.state_hashes().iter().map(|h| *h as u32).collect())]);
            }
            trace
        })
    };
    assert_eq!(run(1), run(2));
    let scripted = |threads| run_scripted(arm(), Arc::new(EnvConfig::default()), &scenarios, threads, &|| {}).unwrap();
    assert_eq!(scripted(1), scripted(2));
}

#[test]
fn action_latency_delays_the_effect_by_whole_control_steps() {
    let mut s = scenario(Shape::Sphere { radius: 0.02 }, 0.1, 0.15, 0.15);
    let push = Action { translation: [0.0, 0.0, 0.02], ..Action::HOLD_OPEN };
    let mut target_z = |latency: u32, steps: usize| {
        s.sensing.action_latency = latency;
        let mut env = env();
        env.reset(&s).unwrap();
        for _ in 0..steps {
            env.step(&push).unwrap();
        }
        env.privileged().unwrap().tool_target.z
    };
    let z0 = target_z(0, 0);
    assert!((target_z(0, 1) - z0 - 0.02).abs() < 1e-6);
    assert!((target_z(2, 2) - z0).abs() < 1e-9, "with 2 steps of latency nothing moves for 2 steps");
    assert!((target_z(2, 3) - z0 - 0.02).abs() < 1e-6);
}

#[test]
fn a_push_moves_the_object_through_physics_and_bad_pushes_are_refused() {
    let mut env = env();
    let s = ScenarioDistribution::default().sample(5);
    assert!(matches!(env.push_object(nalgebra::Vector3::x() * 0.02), Err(SimError::NotRunning(_))));
    env.reset(&s).unwrap();
    let x0 = env.world().unwrap().object_pose().translation.x;
    for bad in [nalgebra::Vector3::new(f64::NAN, 0.0, 0.0), nalgebra::Vector3::new(0.0, 2.0, 0.0)] {
        let hash = env.state_hash();
        assert!(env.push_object(bad).is_err(), "{bad:?}");
        assert_eq!(env.state_hash(), hash, "a refused push changes nothing");
    }
    env.push_object(nalgebra::Vector3::x() * 0.05).unwrap();
    // The impulse only sets a velocity: the object is where it was until the physics steps.
    assert_eq!(env.world().unwrap().object_pose().translation.x, x0);
    hold(&mut env, -1.0, 4);
    let moved = env.world().unwrap().object_pose().translation.x - x0;
    assert!(moved > 1e-3, "the object slid {moved} m along +x");
}

/// The sim twin's operator clears the table between trials: the object leaves the scene and no
/// outcome is decided after it, where the same episode left alone times out.
#[test]
fn an_object_taken_away_is_out_of_reach_and_nothing_is_judged_after() {
    let s = ScenarioDistribution::default().sample(5);
    let run = |take_away: bool| {
        let mut env = env();
        assert!(matches!(env.take_object_away(), Err(SimError::NotRunning(_))));
        env.reset(&s).unwrap();
        let q = env.privileged().unwrap().q;
        let open = env.arm().gripper.open;
        if take_away {
            env.take_object_away().unwrap();
        }
        for _ in 0..env.config().max_steps() + 5 {
            env.step_targets(&q, open, true).unwrap();
        }
        (env.outcome().map(|o| o.kind), env.privileged().unwrap().object.translation)
    };
    let (left, _) = run(false);
    assert_eq!(left, Some(OutcomeKind::Timeout));
    let (taken, at) = run(true);
    assert_eq!(taken, None);
    let away = regrasp_sim::world::OBJECT_AWAY;
    assert_eq!([at.x as f32, at.y as f32, at.z as f32], away, "the object stays where it was put");
}
