//! Headless tests of the viewer: the ECS mirror (bodies spawned from the simulation's geometry,
//! transforms that follow its poses), the live and episode sources, key bindings, overlays and
//! the orbit camera. No window, no GPU.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use regrasp_policy::eval::{EpisodeMetrics, EpisodeRecord, write_episodes};
use regrasp_sim::scene::BodyKind;
use regrasp_sim::scripted::ScriptedParams;
use regrasp_sim::vec_env::run_scripted_episode;
use regrasp_sim::{Action, ArmModel, EnvConfig, GraspEnv, ScenarioDistribution};
use regrasp_viewer::Source;
use regrasp_viewer::convert;
use regrasp_viewer::episodes::{self, Episodes};
use regrasp_viewer::live::{Live, Pilot, Scenarios};
use regrasp_viewer::mirror::{BodyIndex, FORCE_ARROW_M_PER_N, MirrorPlugin, Overlays, SceneFrame, contact_marks};
use regrasp_viewer::orbit::{DISTANCE_RANGE, MAX_PITCH, Orbit};
use regrasp_viewer::workbench::{Command, ShowHelp, apply, commands_from_keys};

fn arm_cfg() -> (Arc<ArmModel>, Arc<EnvConfig>) {
    (Arc::new(ArmModel::default_arm().unwrap()), Arc::new(EnvConfig::default()))
}

fn live(seed: u64) -> Live {
    let (arm, cfg) = arm_cfg();
    Live::new(arm, cfg, Pilot::Scripted, Scenarios::Seeds { distribution: ScenarioDistribution::default() }, seed)
        .unwrap()
}

/// A headless app with the mirror and the asset stores it needs.
fn mirror_app(frame: SceneFrame) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default(), TransformPlugin))
        .init_asset::<Mesh>()
        .init_asset::<StandardMaterial>()
        .add_plugins(MirrorPlugin)
        .insert_resource(frame);
    app
}

fn bodies(app: &mut App) -> Vec<(usize, Transform, Handle<Mesh>)> {
    let mut q = app.world_mut().query::<(&BodyIndex, &Transform, &Mesh3d)>();
    let mut v: Vec<_> = q.iter(app.world()).map(|(i, t, m)| (i.0, *t, m.0.clone())).collect();
    v.sort_by_key(|b| b.0);
    v
}

fn assert_mirrors(app: &mut App, frame: &SceneFrame) {
    let b = bodies(app);
    assert_eq!(b.len(), frame.geometry.bodies.len(), "one entity per simulated body");
    for (i, t, _) in &b {
        let want = convert::transform(&frame.state.body_poses[*i]);
        assert!(
            t.translation.distance(want.translation) < 1e-6,
            "body {i}: {:?} vs {:?}",
            t.translation,
            want.translation
        );
        assert!(t.rotation.angle_between(want.rotation) < 1e-5, "body {i} rotation");
    }
}

#[test]
fn bodies_are_spawned_from_the_simulation_and_follow_its_poses() {
    let mut source = Source::Live(Box::new(live(3)));
    let mut frame = source.frame();
    let mut app = mirror_app(frame.clone());
    app.update();
    assert_mirrors(&mut app, &frame);
    // Every body kind of the world is there.
    let kinds: Vec<BodyKind> = frame.geometry.bodies.iter().map(|b| b.kind).collect();
    for k in [BodyKind::Table, BodyKind::Base, BodyKind::Link, BodyKind::Finger, BodyKind::Object] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
    // Each mesh holds the body's triangles (flat shaded: three vertices per triangle).
    let meshes: Vec<(usize, Handle<Mesh>)> = bodies(&mut app).into_iter().map(|(i, _, m)| (i, m)).collect();
    let store = app.world().resource::<Assets<Mesh>>();
    for (i, h) in &meshes {
        let m = store.get(h).expect("mesh stored");
        assert_eq!(m.count_vertices(), frame.geometry.bodies[*i].mesh.triangles.len() * 3, "body {i}");
    }

    // The arm moves: the transforms follow the simulation, and no body is spawned twice.
    let before = bodies(&mut app);
    let Source::Live(l) = &mut source else { unreachable!() };
    for _ in 0..30 {
        l.step().unwrap();
    }
    let version = frame.geometry_version;
    source.publish(&mut frame);
    assert_eq!(frame.geometry_version, version, "same episode, same geometry");
    app.insert_resource(frame.clone());
    app.update();
    assert_mirrors(&mut app, &frame);
    let after = bodies(&mut app);
    let moved = before.iter().zip(&after).filter(|(a, b)| a.1.translation.distance(b.1.translation) > 1e-3).count();
    assert!(moved >= 2, "the arm's links moved in 30 steps ({moved} bodies moved)");
    let ids = |v: &[(usize, Transform, Handle<Mesh>)]| v.iter().map(|b| b.2.id()).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before), "same entities, same meshes");

    // A new scenario brings new geometry: the old bodies are replaced, none left behind.
    let Source::Live(l) = &mut source else { unreachable!() };
    l.next_scenario().unwrap();
    source.publish(&mut frame);
    assert_eq!(frame.geometry_version, version + 1);
    app.insert_resource(frame.clone());
    app.update();
    assert_mirrors(&mut app, &frame);
    assert!(ids(&bodies(&mut app)).iter().all(|id| !ids(&before).contains(id)), "all bodies respawned");
}

#[test]
fn non_finite_poses_leave_the_last_good_transform() {
    let frame = Source::Live(Box::new(live(5))).frame();
    let mut app = mirror_app(frame.clone());
    app.update();
    let mut bad = frame.clone();
    bad.state.body_poses[1].translation.vector.x = f64::NAN;
    app.insert_resource(bad);
    app.update();
    assert_mirrors(&mut app, &frame);
}

#[test]
fn live_commands_pause_step_reset_next_and_push() {
    let mut source = Source::Live(Box::new(live(7)));
    let (mut overlays, mut help) = (Overlays::default(), ShowHelp(true));
    let Source::Live(l) = &source else { unreachable!() };
    let first_seed = l.scenario.seed;
    apply(Command::TogglePlay, &mut source, &mut overlays, &mut help).unwrap();
    source.advance(1.0).unwrap();
    let Source::Live(l) = &source else { unreachable!() };
    assert!(l.paused && l.steps == 0, "paused: time does not run");
    apply(Command::Step, &mut source, &mut overlays, &mut help).unwrap();
    apply(Command::Step, &mut source, &mut overlays, &mut help).unwrap();
    let Source::Live(l) = &mut source else { unreachable!() };
    assert_eq!(l.steps, 2);
    l.paused = false;
    // Real time: 0.26 s at 20 Hz is 5 control steps (at most 4 per frame).
    assert_eq!(l.advance(0.26, 4).unwrap(), 4);
    assert_eq!(l.advance(0.0, 4).unwrap(), 0);
    apply(Command::Reset, &mut source, &mut overlays, &mut help).unwrap();
    let Source::Live(l) = &source else { unreachable!() };
    assert_eq!((l.steps, l.scenario.seed), (0, first_seed));
    apply(Command::Next, &mut source, &mut overlays, &mut help).unwrap();
    let Source::Live(l) = &source else { unreachable!() };
    assert_ne!(l.scenario.seed, first_seed, "the next scenario");

    // A poke along +x moves the object further along +x than the same episode without one.
    let object_x = |l: &Live| {
        let s = l.state();
        s.body_poses.last().unwrap().translation.vector.x
    };
    let (mut pushed, mut plain) = (live(9), live(9));
    pushed.push(nalgebra::Vector3::x()).unwrap();
    for _ in 0..4 {
        pushed.step().unwrap();
        plain.step().unwrap();
    }
    assert!(object_x(&pushed) > object_x(&plain) + 1e-3, "pushed {} vs {}", object_x(&pushed), object_x(&plain));
    assert!(pushed.describe().contains("pushed 1"));
    assert!(pushed.push(nalgebra::Vector3::zeros()).is_err(), "a push needs a direction");

    // Overlay and help toggles.
    apply(Command::ToggleForces, &mut source, &mut overlays, &mut help).unwrap();
    apply(Command::ToggleContacts, &mut source, &mut overlays, &mut help).unwrap();
    apply(Command::ToggleHelp, &mut source, &mut overlays, &mut help).unwrap();
    assert_eq!((overlays, help), (Overlays { contacts: false, forces: true }, ShowHelp(false)));
}

#[test]
fn the_live_scripted_grasp_reaches_an_outcome_and_stops() {
    let mut l = live(11);
    let mut n = 0;
    while l.step().unwrap() {
        n += 1;
        assert!(n < 10_000, "no outcome");
    }
    let o = l.outcome.clone().expect("outcome");
    assert!(l.describe().contains(o.kind.name()));
    assert!(!l.step().unwrap(), "no steps after the outcome");
    assert_eq!(l.advance(1.0, 4).unwrap(), 0);
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("regrasp-viewer-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Stores scripted episodes of seeds `seeds` as an episode file in `dir`.
fn store(dir: &std::path::Path, seeds: &[u64]) -> Vec<EpisodeRecord> {
    let (arm, cfg) = arm_cfg();
    let mut env = GraspEnv::new(arm, cfg).unwrap();
    let dist = ScenarioDistribution::default();
    let records: Vec<EpisodeRecord> = seeds
        .iter()
        .map(|&s| {
            let scenario = dist.sample(s);
            let e = run_scripted_episode(&mut env, &scenario, ScriptedParams::default()).unwrap();
            EpisodeRecord {
                scenario,
                policy_hash: "scripted".into(),
                actions: e.actions,
                final_state_hash: e.final_state_hash,
                outcome: e.outcome,
                metrics: EpisodeMetrics::default(),
            }
        })
        .collect();
    write_episodes(&dir.join("episodes.jsonl"), &records).unwrap();
    records
}

#[test]
fn episode_mode_replays_exactly_and_scrubs_the_timeline() {
    let dir = tmp("episodes");
    let records = store(&dir, &[1, 2, 3]);
    let entries = episodes::load(&dir).unwrap();
    // The one episode-id format: an index in an episode file.
    assert_eq!(entries.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(), ["0", "1", "2"]);
    let (arm, cfg) = arm_cfg();
    let env = GraspEnv::new(Arc::clone(&arm), Arc::clone(&cfg)).unwrap();
    let mut e = Episodes::new(env, entries.clone(), 1, Vec::new()).unwrap();
    assert_eq!(e.playback.states.len(), records[1].actions.len() + 1);
    assert_eq!(e.playback.outcome.kind, records[1].outcome.kind);

    // The last state is the simulation's own final state.
    let mut check = GraspEnv::new(arm, cfg).unwrap();
    let (hash, _) = regrasp_sim::vec_env::replay(&mut check, &records[1].scenario, &records[1].actions).unwrap();
    assert_eq!(hash, records[1].final_state_hash);
    assert_eq!(e.playback.states.last().unwrap(), &check.scene_state().unwrap());

    // Scrubbing and seeking stay on the timeline.
    e.scrub(-5);
    assert_eq!(e.cursor, 0);
    e.scrub(7);
    assert_eq!(e.cursor, 7);
    e.seek(1.0);
    assert_eq!(e.cursor, e.last());
    e.seek(f64::NAN);
    assert_eq!(e.cursor, 0);
    e.seek(0.5);
    assert_eq!(e.cursor, (e.last() as f64 * 0.5).round() as usize);
    // Playing at real time: 0.5 s at 20 Hz is 10 states.
    e.cursor = 0;
    e.playing = true;
    e.advance(0.5);
    assert_eq!(e.cursor, 10);
    e.advance(1e6);
    assert_eq!((e.cursor, e.playing), (e.last(), false), "stops at the end");

    // Next and previous wrap around.
    assert_eq!(e.neighbour(true, false), Some(2));
    assert_eq!(e.neighbour(false, false), Some(0));
    e.select(2).unwrap();
    assert_eq!((e.selected, e.cursor), (2, 0));
    assert_eq!(e.neighbour(true, false), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_altered_episode_is_refused_and_the_shown_one_stays() {
    let dir = tmp("altered");
    let mut records = store(&dir, &[4, 5]);
    records[1].actions[2].translation[0] += 0.001;
    write_episodes(&dir.join("episodes.jsonl"), &records).unwrap();
    let entries = episodes::load(&dir).unwrap();
    let (arm, cfg) = arm_cfg();
    let mut e = Episodes::new(GraspEnv::new(arm, cfg).unwrap(), entries, 0, Vec::new()).unwrap();
    e.scrub(3);
    let err = e.select(1).unwrap_err();
    assert!(format!("{err:#}").contains("diverged"), "{err:#}");
    assert_eq!((e.selected, e.cursor), (0, 3), "nothing changed");

    // The same through a key: the error is returned for the panel, the source unchanged.
    let mut source = Source::Episodes(Box::new(e));
    let r = apply(Command::Next, &mut source, &mut Overlays::default(), &mut ShowHelp(true));
    assert!(r.is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_episode_paths_and_files_name_what_is_wrong() {
    let dir = tmp("bad");
    let err = episodes::load(&dir.join("nothing")).unwrap_err().to_string();
    assert!(err.contains("nothing") && err.contains("not an episode file"), "{err}");
    std::fs::write(dir.join("episodes.jsonl"), "{\"scenario\": 1}\n").unwrap();
    let err = format!("{:#}", episodes::load(&dir).unwrap_err());
    assert!(err.contains("episodes.jsonl") && err.contains("line 1"), "{err}");
    std::fs::write(dir.join("episodes.jsonl"), "\n").unwrap();
    let err = episodes::load(&dir).unwrap_err().to_string();
    assert!(err.contains("no episodes"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn failures_are_grouped_by_mode() {
    let dir = tmp("failures");
    let mut records = store(&dir, &[6]);
    let success = records[0].clone();
    let fail = |kind| {
        let mut r = success.clone();
        r.outcome.kind = kind;
        r
    };
    use regrasp_sim::OutcomeKind as K;
    records = vec![fail(K::SlipDuringLift), success.clone(), fail(K::MissedGrasp), fail(K::SlipDuringLift)];
    write_episodes(&dir.join("episodes.jsonl"), &records).unwrap();
    let entries = episodes::load(&dir).unwrap();
    let m = episodes::failures_by_mode(&entries);
    assert_eq!(m.get(K::SlipDuringLift.name()), Some(&vec![0, 3]));
    assert_eq!(m.get(K::MissedGrasp.name()), Some(&vec![2]));
    assert_eq!(m.values().map(Vec::len).sum::<usize>(), 3);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn contact_overlays_mark_contacts_and_scale_forces() {
    // Run the scripted grasp until the fingers hold the object.
    let mut l = live(12);
    let mut state = l.state();
    for _ in 0..400 {
        if !l.step().unwrap() {
            break;
        }
        state = l.state();
        if state.contacts.iter().any(|c| c.kind == regrasp_sim::scene::ContactKind::FingerObject) {
            break;
        }
    }
    assert!(!state.contacts.is_empty(), "contacts after a grasp");
    let both = contact_marks(&state, Overlays { contacts: true, forces: true });
    assert_eq!(both.len(), state.contacts.len());
    for (m, c) in both.iter().zip(&state.contacts) {
        let len = m.arrow_end.unwrap().distance(m.at);
        assert!((len - c.force as f32 * FORCE_ARROW_M_PER_N).abs() < 1e-4, "{len} vs {}", c.force);
    }
    assert!(contact_marks(&state, Overlays { contacts: true, forces: false }).iter().all(|m| m.arrow_end.is_none()));
    assert!(contact_marks(&state, Overlays { contacts: false, forces: false }).is_empty());
    let mut bad = state.clone();
    bad.contacts[0].force = f64::NAN;
    assert_eq!(
        contact_marks(&bad, Overlays::default()).len(),
        state.contacts.len() - 1,
        "non-finite contacts are not drawn"
    );
}

#[test]
fn keys_map_to_commands_by_mode() {
    let mut keys = ButtonInput::<KeyCode>::default();
    keys.press(KeyCode::ArrowRight);
    keys.press(KeyCode::Space);
    let live = commands_from_keys(&keys, false);
    assert!(live.contains(&Command::Push(Vec3::X)) && live.contains(&Command::TogglePlay));
    assert_eq!(commands_from_keys(&keys, true).iter().filter(|c| **c == Command::Scrub(1)).count(), 1);
    keys.press(KeyCode::ShiftLeft);
    keys.clear_just_pressed(KeyCode::Space);
    assert_eq!(commands_from_keys(&keys, true), vec![Command::Scrub(10)], "shift scrubs by ten");
    keys.clear();
    assert!(commands_from_keys(&keys, true).is_empty());
}

#[test]
fn the_orbit_camera_keeps_its_distance_and_limits() {
    let mut o = Orbit::default();
    let t = o.transform();
    assert!((t.translation.distance(o.target) - o.distance).abs() < 1e-5);
    assert!(t.forward().dot((o.target - t.translation).normalize()) > 0.9999, "looks at the target");
    o.rotate(Vec2::new(0.0, 1e6));
    assert_eq!(o.pitch, MAX_PITCH);
    o.zoom(1e3);
    assert_eq!(o.distance, DISTANCE_RANGE.0);
    o.zoom(-1e3);
    assert_eq!(o.distance, DISTANCE_RANGE.1);
    let before = o.target;
    o.pan(Vec2::new(100.0, 0.0));
    let moved = o.target - before;
    assert!((moved.length() - 0.1 * o.distance).abs() < 1e-4, "100 px pans a tenth of the distance: {moved:?}");
    assert!(moved.dot(o.transform().forward().as_vec3()).abs() < 1e-4, "in the view plane");
}

#[test]
fn actions_are_described_in_millimetres_and_degrees() {
    let a = Action { translation: [0.001, -0.002, 0.0], yaw: 0.1, gripper: 0.5 };
    let s = regrasp_viewer::live::describe_action(Some(&a));
    assert!(s.contains("+1.0") && s.contains("-2.0") && s.contains("+5.7 deg") && s.contains("+0.50"), "{s}");
}
