//! The command-line contract: verbs print one JSON object with `--json`, and bad input is a
//! clear error naming the file, with a non-zero exit status and no panic.

use std::process::Command;

fn regrasp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_regrasp")).args(args).output().expect("runs")
}

#[test]
fn scripted_json_reports_rate_outcomes_and_speed() {
    let out = regrasp(&["scripted", "--episodes", "4", "--seed", "20", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert_eq!(v["episodes"], 4);
    let per_outcome: u64 = v["outcomes"].as_object().unwrap().values().map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(per_outcome, 4, "every episode has exactly one outcome");
    assert_eq!(v["successes"], v["outcomes"]["success"]);
    assert!(v["episodes_per_s"].as_f64().unwrap() > 0.0);
}

/// The simulation is pinned: 24 training scenarios per arm and controller end in exactly the
/// final states recorded when the rapier patch began to build the multibody's mass matrix once
/// per physics step (change 4, session 27; rapier3d 0.36.1 as released, and the patch's
/// bit-identical changes alone, gave a75236ffe222e7b6, 470da47165bd4e4f, 37642b2eea0600e7 and
/// 193e4dddad1600c9), on one thread or two. A change to the physics, an arm, a controller or a
/// training distribution breaks this on purpose: record new digests only with the change stated.
#[test]
fn final_states_are_the_recorded_ones() {
    for (arm, controller, threads, recorded) in [
        ("regrasp-arm5", "scripted", "1", "bf25f0749f8ee1d0"),
        ("regrasp-arm5", "expert", "2", "27768cbfdde0965e"),
        ("so101", "scripted", "2", "ffe48dcf14aa3b1a"),
        ("so101", "expert", "1", "f5edd5e3f51f854f"),
    ] {
        let out = regrasp(&[
            "scripted",
            "--arm",
            arm,
            "--controller",
            controller,
            "--episodes",
            "24",
            "--threads",
            threads,
            "--json",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["final_states_digest"], recorded,
            "{arm}, {controller}: the final states differ from the recorded ones"
        );
    }
}

#[test]
fn bench_sim_json_reports_one_thread_and_all_cores() {
    let out = regrasp(&["bench", "sim", "--envs", "2", "--steps", "20", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["single_thread"]["threads"], 1);
    assert!(v["single_thread"]["control_steps_per_s"].as_f64().unwrap() > 0.0);
    let ratio = v["all_cores"]["physics_steps_per_s"].as_f64().unwrap()
        / v["all_cores"]["control_steps_per_s"].as_f64().unwrap();
    assert!((ratio - 12.0).abs() < 1e-6, "240 Hz physics / 20 Hz control");
    // The one-thread breakdown: shares of the wall time that add up to at most the whole, and
    // the physics alone no slower than the whole control step around it.
    let b = &v["single_thread"]["breakdown"];
    let share = |k: &str| b[k].as_f64().unwrap();
    let parts = ["physics", "reset", "controller", "env_rest"].map(share);
    assert!(parts.iter().all(|p| (0.0..=1.0).contains(p)), "{b}");
    assert!(parts.iter().sum::<f64>() <= 1.0 + 1e-9, "{b}");
    assert!(share("physics") > 0.0, "{b}");
    assert!(share("physics_only_steps_per_s") >= v["single_thread"]["physics_steps_per_s"].as_f64().unwrap(), "{b}");
    assert!(v["all_cores"]["breakdown"].is_null(), "no breakdown across threads");

    let out = regrasp(&["bench", "sim", "--single-thread", "--steps", "20", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["all_cores"].is_null() && v["single_thread"]["breakdown"].is_object(), "{v}");
}

#[test]
fn missing_arm_file_is_a_clear_error() {
    let out = regrasp(&[
        "scripted",
        "--episodes",
        "1",
        "--arm",
        "/nonexistent/a.urdf",
        "--arm-profile",
        "/nonexistent/a.toml",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/a.urdf") && !err.contains("panicked"), "{err}");
}

#[test]
fn bad_env_config_names_the_file_and_field() {
    let dir = std::env::temp_dir().join(format!("regrasp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("env.toml");
    std::fs::write(&cfg, "control_hz = 7.0\n").unwrap();
    let out = regrasp(&["scripted", "--episodes", "1", "--env-config", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("env.toml") && err.contains("physics_hz"), "{err}");
    std::fs::write(&cfg, "[outcome]\ntable_force = -3.0\n").unwrap();
    let out = regrasp(&["scripted", "--episodes", "1", "--env-config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("outcome.table_force") && err.contains("[0.1, 10000] N"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn custom_arm_files_load_through_the_cli() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = regrasp(&[
        "scripted",
        "--episodes",
        "2",
        "--json",
        "--arm",
        &format!("{root}/sim/assets/regrasp_arm5.urdf"),
        "--arm-profile",
        &format!("{root}/sim/assets/regrasp_arm5.toml"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn shipped_example_scenarios_run_and_a_broken_one_names_its_field() {
    let root = env!("CARGO_MANIFEST_DIR");
    for f in ["mug_sized_cylinder.toml", "slippery_capsule.json"] {
        let out = regrasp(&[
            "scripted",
            "--json",
            "--episodes",
            "1",
            "--scenario",
            &format!("{root}/examples/scenarios/{f}"),
        ]);
        assert!(out.status.success(), "{f}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["episodes_listed"].as_array().unwrap().len(), 1, "{f}");
    }
    let dir = std::env::temp_dir().join(format!("regrasp-cli-scn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(format!("{root}/examples/scenarios/mug_sized_cylinder.toml")).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, text.replace("mass = 0.25", "mass = 25.0")).unwrap();
    let out = regrasp(&["scripted", "--scenario", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("bad.toml")
            && err.contains("object.mass")
            && err.contains("[0.005, 2] kg"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn train_then_eval_stores_replayable_episodes() {
    let dir = std::env::temp_dir().join(format!("regrasp-cli-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("train.toml");
    std::fs::write(&cfg, "envs = 2\nrollout_steps = 8\ntotal_env_steps = 700\n[model]\nhidden = 16\n[ppo]\nminibatch = 8\n[bc]\nepisodes = 4\nepochs = 2\ndagger_rounds = 1\ndagger_episodes = 2\ndagger_epochs = 1\n").unwrap();
    let out = dir.join("run");
    let r =
        regrasp(&["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--warm-start", "bc"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let hash = std::fs::read_to_string(out.join("latest")).unwrap();
    let ckpt = out.join("checkpoints").join(hash.trim());
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).unwrap();
    assert!(log.contains("behaviour_cloning") && log.contains("\"iteration\""), "{log}");
    // Training scalars went to rerun; the same run without recording trains the same policy.
    let rrd = regrasp_logs::rrd::read_rrd(&out.join("rerun").join("train.rrd")).unwrap();
    assert!(rrd.entity_paths.contains("/train/losses/entropy") && rrd.timelines.contains("env_steps"), "{rrd:?}");
    let quiet = dir.join("run-no-record");
    let r = regrasp(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        quiet.to_str().unwrap(),
        "--warm-start",
        "bc",
        "--no-record",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read_to_string(quiet.join("latest")).unwrap(), hash, "recording must not change training");
    assert!(!quiet.join("rerun").exists());
    // `--init` fine-tunes a checkpoint: PPO from its weights, and the lineage says so.
    let ft = dir.join("fine-tune");
    let r = regrasp(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        ft.to_str().unwrap(),
        "--init",
        ckpt.to_str().unwrap(),
        "--no-record",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let tuned = std::fs::read_to_string(ft.join("latest")).unwrap();
    assert_ne!(tuned.trim(), hash.trim());
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ft.join("checkpoints").join(tuned.trim()).join("meta.json")).unwrap())
            .unwrap();
    let first: serde_json::Value = serde_json::from_slice(
        std::fs::read(ft.join("train_log.jsonl")).unwrap().split(|&b| b == b'\n').next().unwrap(),
    )
    .unwrap();
    assert_eq!(first["event"], "iteration", "no warm start when fine-tuning");
    assert!(meta["env_steps"].as_u64().unwrap() >= 700, "{meta}");
    let r = regrasp(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.join("both").to_str().unwrap(),
        "--init",
        ckpt.to_str().unwrap(),
        "--warm-start",
        "bc",
    ]);
    assert!(
        !r.status.success() && String::from_utf8_lossy(&r.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );

    // `export policy`: the three files, the sidecar's layouts and test vectors, the same bytes
    // twice; a checkpoint for another arm, or no checkpoint, is refused naming the problem.
    let export = dir.join("export");
    let args = ["export", "policy", ckpt.to_str().unwrap(), "--out", export.to_str().unwrap(), "--json"];
    let r = regrasp(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let side: serde_json::Value = serde_json::from_slice(&std::fs::read(export.join("policy.json")).unwrap()).unwrap();
    assert_eq!(side["policy"].as_str(), Some(hash.trim()));
    assert_eq!(side["observation"].as_array().unwrap().len(), 43, "the 5-joint arm's observation");
    assert_eq!(side["observation"][0]["name"], "base_yaw.pos");
    assert_eq!(side["action"][4]["name"], "gripper");
    assert!(side["test_vectors"]["rows"].as_u64().unwrap() >= 1000, "{}", side["test_vectors"]);
    let onnx = std::fs::read(export.join("policy.onnx")).unwrap();
    let weights = std::fs::read(export.join("policy.safetensors")).unwrap();
    let r = regrasp(&args);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("not empty") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(export.join("policy.onnx")).unwrap(), onnx, "a refused export leaves the old one");
    assert!(regrasp(&[&args[..], &["--force"]].concat()).status.success());
    assert_eq!(std::fs::read(export.join("policy.onnx")).unwrap(), onnx, "an export is deterministic");
    assert_eq!(std::fs::read(export.join("policy.safetensors")).unwrap(), weights);
    let other = dir.join("export-so101");
    let r = regrasp(&["export", "policy", ckpt.to_str().unwrap(), "--arm", "so101", "--out", other.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("arm description hash") && err.contains("regrasp-arm5"), "{err}");
    assert!(!other.exists(), "a refused export leaves nothing behind");
    let r = regrasp(&["export", "policy", dir.join("nothing").to_str().unwrap(), "--out", other.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("nothing") && err.contains("not a checkpoint directory"), "{err}");
    // An altered checkpoint is refused by its hashes.
    let altered = dir.join("altered");
    std::fs::create_dir_all(&altered).unwrap();
    for f in std::fs::read_dir(&ckpt).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, altered.join(f.file_name().unwrap())).unwrap();
    }
    let mut norm = std::fs::read(altered.join("normalizer.json")).unwrap();
    norm.push(b' ');
    std::fs::write(altered.join("normalizer.json"), norm).unwrap();
    let r = regrasp(&["export", "policy", altered.to_str().unwrap(), "--out", other.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("normalizer.json") && err.contains("altered"), "{err}");
    assert!(!other.exists());

    // `locality`: every scenario's neighbours are tallied under its own outcome, repeatably.
    let args = ["locality", "--policy", ckpt.to_str().unwrap(), "--scenarios", "6", "--neighbours", "2", "--json"];
    let r = regrasp(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(regrasp(&args).stdout, r.stdout, "the same seed must give the same measurement");
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!((v["scenarios"].as_u64(), v["policy"].as_str()), (Some(6), Some(hash.trim())));
    let n = |kind: &str, of: &str, i: usize| v[kind][of][i].as_u64().unwrap();
    assert_eq!(n("new_seed", "of_failures", 1) + n("new_seed", "of_successes", 1), 12, "{v}");
    assert_eq!(n("new_seed", "of_failures", 1), 2 * v["failures"].as_u64().unwrap(), "{v}");
    assert!(n("edited", "of_failures", 1) + n("edited", "of_successes", 1) <= 12, "{v}");

    let suite = dir.join("tiny.toml");
    std::fs::write(&suite, "name = \"tiny\"\nseed_space = \"heldout\"\n[[part]]\ncount = 3\n").unwrap();
    let episodes = dir.join("episodes.jsonl");
    let r = regrasp(&[
        "eval",
        "--policy",
        ckpt.to_str().unwrap(),
        "--suite",
        suite.to_str().unwrap(),
        "--json",
        "--episodes-out",
        episodes.to_str().unwrap(),
        "--record-every",
        "1",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["episodes"], 3);
    assert_eq!(v["policy_hash"].as_str().unwrap(), hash.trim());
    let lo = v["ci95"][0].as_f64().unwrap();
    let hi = v["ci95"][1].as_f64().unwrap();
    let rate = v["success_rate"].as_f64().unwrap();
    assert!(lo <= rate && rate <= hi);
    // Every stored episode replays to its recorded final state.
    let arm = std::sync::Arc::new(regrasp_sim::ArmModel::default_arm().unwrap());
    let mut env = regrasp_sim::GraspEnv::new(arm, std::sync::Arc::new(regrasp_sim::EnvConfig::default())).unwrap();
    let text = std::fs::read_to_string(&episodes).unwrap();
    assert_eq!(text.lines().count(), 3);
    for line in text.lines() {
        let rec: regrasp_policy::eval::EpisodeRecord = serde_json::from_str(line).unwrap();
        let (h, o) = regrasp_sim::vec_env::replay(&mut env, &rec.scenario, &rec.actions).unwrap();
        assert_eq!(h, rec.final_state_hash);
        assert_eq!(o.as_ref(), Some(&rec.outcome));
    }
    // Every episode was recorded in full (--record-every 1), with the policy's value estimates.
    assert_eq!(v["recorded_episodes"], 3);
    let rrd = regrasp_logs::rrd::read_rrd(&dir.join("eval.rrd")).unwrap();
    assert!(
        rrd.entity_paths.contains("/world/object") && rrd.entity_paths.contains("/episode/signals/value"),
        "{rrd:?}"
    );
    // `export lerobot` of the stored episodes: all three, each replayed; what selects nothing,
    // a source that is not there, or an unknown outcome is an error naming it.
    let ds = dir.join("dataset");
    let r = regrasp(&["export", "lerobot", episodes.to_str().unwrap(), "--out", ds.to_str().unwrap(), "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["episodes"], 3);
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(ds.join("meta/info.json")).unwrap()).unwrap();
    assert_eq!((info["total_episodes"].as_u64(), info["codebase_version"].as_str()), (Some(3), Some("v3.0")));
    let none = dir.join("dataset-none");
    let mode = if text.contains("\"physics_unstable\"") { "knocked_over" } else { "physics_unstable" };
    let r =
        regrasp(&["export", "lerobot", episodes.to_str().unwrap(), "--outcome", mode, "--out", none.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("selects nothing") && !none.exists(), "{err}");
    let r =
        regrasp(&["export", "lerobot", dir.join("missing.jsonl").to_str().unwrap(), "--out", none.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("missing.jsonl") && err.contains("not an episode file"), "{err}");
    let r = regrasp(&[
        "export",
        "lerobot",
        episodes.to_str().unwrap(),
        "--outcome",
        "wobble",
        "--out",
        none.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("wobble") && err.contains("--outcome"), "{err}");

    // `replay` re-simulates a stored episode exactly and writes a recording.
    let r = regrasp(&["replay", episodes.to_str().unwrap(), "--episode", "2", "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["episodes"][0]["id"], "2");
    let stored: regrasp_policy::eval::EpisodeRecord = serde_json::from_str(text.lines().nth(2).unwrap()).unwrap();
    assert_eq!(v["episodes"][0]["final_state_hash"].as_u64().unwrap(), stored.final_state_hash);
    assert!(dir.join("replay.rrd").exists());
    // A tampered record is an error, not a warning.
    let mut bad = stored.clone();
    bad.actions[0].translation[2] += 1e-3;
    let tampered = dir.join("tampered.jsonl");
    std::fs::write(&tampered, serde_json::to_string(&bad).unwrap() + "\n").unwrap();
    let r = regrasp(&["replay", tampered.to_str().unwrap(), "--episode", "0"]);
    assert!(
        !r.status.success() && String::from_utf8_lossy(&r.stderr).contains("replay diverged"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let r = regrasp(&["replay", episodes.to_str().unwrap(), "--episode", "9"]);
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("holds only 3 episodes"));
    // A broken checkpoint path is a clear error.
    let r = regrasp(&["eval", "--policy", dir.join("nope").to_str().unwrap(), "--suite", "heldout"]);
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("not a checkpoint directory"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_policy_reports_microseconds_per_action() {
    let out = regrasp(&["bench", "policy", "--actions", "200", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["us_per_action"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_closed_stdout_ends_quietly_instead_of_panicking() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_regrasp"))
        .args(["scripted", "--episodes", "3", "--show-failures"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`: nobody reads stdout
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
}

/// (generation, challenger, status) of every generation of a run, and its champion.
type RunOutcome = (Vec<(u32, Option<String>, String)>, Option<(String, u32)>);

fn improve_outcome(dir: &std::path::Path) -> RunOutcome {
    let l = regrasp_curriculum::Ledger::open(&dir.join("ledger.sqlite")).unwrap();
    let gens =
        l.generations().unwrap().into_iter().map(|g| (g.generation, g.challenger, g.status.to_string())).collect();
    (gens, l.champion().unwrap())
}

#[test]
fn improve_killed_at_any_moment_resumes_to_the_same_result() {
    let base = std::env::temp_dir().join(format!("regrasp-cli-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let straight = base.join("straight");
    let o =
        regrasp(&["improve", "--config", "examples/improve-smoke.toml", "--out", straight.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["generations"], 2);
    assert!(straight.join("report.png").exists() && straight.join("report.txt").exists());
    // `export lerobot` of a run: its held-out episodes, every policy's, replayed exactly.
    let heldout_lines: usize = std::fs::read_dir(straight.join("episodes"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("-heldout.jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    let ds = base.join("dataset");
    let args = ["export", "lerobot", straight.to_str().unwrap(), "--suite", "heldout", "--out", ds.to_str().unwrap()];
    let o = regrasp(&[&args[..], &["--json"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(heldout_lines > 0 && d["episodes"].as_u64() == Some(heldout_lines as u64), "{d} vs {heldout_lines}");
    let o = regrasp(&[
        "export",
        "lerobot",
        straight.to_str().unwrap(),
        "--suite",
        "nonsense",
        "--out",
        ds.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--suite nonsense"), "{err}");

    // kill -9 as soon as each of these appears: the ledger (warm start running), the first
    // challenger's first checkpoint (training), its episode files (evaluating), the second
    // generation's directory.
    let crashed = base.join("crashed");
    let triggers = [
        crashed.join("ledger.sqlite"),
        crashed.join("generations/1/latest"),
        crashed.join("generations/2"),
        crashed.join("generations/2/latest"),
    ];
    let mut kills = 0;
    for (i, trigger) in triggers.iter().enumerate() {
        // The first start names the config; a resume reads it from the ledger.
        let mut args = vec!["improve", "--out", crashed.to_str().unwrap()];
        if i == 0 {
            args.extend(["--config", "examples/improve-smoke.toml"]);
        } else {
            args.push("--resume");
        }
        let log = base.join(format!("stderr-{i}.txt"));
        std::fs::create_dir_all(&base).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_regrasp"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let status = loop {
            if trigger.exists() && child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                child.wait().unwrap();
                break None;
            }
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            std::thread::yield_now();
        };
        // Every run that was not killed must have succeeded.
        if let Some(status) = status {
            assert!(status.success(), "run {i}: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
    }
    assert!(kills >= 2, "only {kills} kills landed before the run finished");
    let o = regrasp(&["improve", "--out", crashed.to_str().unwrap(), "--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(improve_outcome(&crashed), improve_outcome(&straight));
    // A resume keeps the stored config: an override other than the budget is refused, not ignored.
    let o = regrasp(&["improve", "--out", crashed.to_str().unwrap(), "--resume", "--seed", "1"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--seed cannot be given with --resume"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The report verb reads both runs; a directory without a ledger is a clear error.
    let o = regrasp(&["report", crashed.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["generations"].as_array().map(|a| a.len()), Some(2));
    let o = regrasp(&["report", straight.to_str().unwrap(), crashed.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["runs"].as_array().map(|a| a.len()), Some(2));
    assert_eq!(c["means"]["targeted"][0], 2);
    assert_eq!(c["runs"][0]["final_result"], c["runs"][1]["final_result"]);
    let o = regrasp(&["report", base.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no ledger.sqlite"));
}

/// `regrasp hw run` drives an arm only with a checkpoint that an `improve` ledger records as
/// promoted for this arm: no ledger, an unpromoted champion, altered weights and another arm
/// are each refused with the reason, before any port is opened.
#[test]
fn hw_run_refuses_uncertified_and_altered_checkpoints() {
    use regrasp_curriculum::ledger::Ledger;
    use regrasp_curriculum::vocabulary::MetaKey;
    let dir = std::env::temp_dir().join(format!("regrasp-cli-hw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("train.toml");
    std::fs::write(&cfg, "envs = 2\nrollout_steps = 8\ntotal_env_steps = 0\n[model]\nhidden = 16\n[bc]\nepisodes = 2\nepochs = 1\ndagger_rounds = 0\n").unwrap();
    let run = dir.join("run");
    let r = regrasp(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        run.join("train").to_str().unwrap(),
        "--warm-start",
        "bc",
        "--no-record",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let hash = std::fs::read_to_string(run.join("train/latest")).unwrap().trim().to_string();
    let rel = format!("train/checkpoints/{hash}");
    let hw_run = |extra: &[&str]| {
        let mut args =
            vec!["hw", "run", "--run", run.to_str().unwrap(), "--link", "/dev/regrasp-no-such-port", "--no-record"];
        args.extend_from_slice(extra);
        let r = regrasp(&args);
        assert!(!r.status.success());
        String::from_utf8_lossy(&r.stderr).to_string()
    };
    let err = hw_run(&[]);
    assert!(err.contains("ledger.sqlite") && err.contains("improve"), "{err}");

    // A ledger whose champion is the warm start: never promoted through the gates.
    let arm = regrasp_sim::ArmModel::default_arm().unwrap();
    let mut ledger = Ledger::open(&run.join("ledger.sqlite")).unwrap();
    ledger.set_meta(MetaKey::ArmHash, &format!("{:016x}", arm.content_hash)).unwrap();
    // The run's config names the frozen suites the validation protocol keeps real trials off.
    ledger.set_meta(MetaKey::Config, &regrasp_curriculum::ImproveConfig::default().to_toml()).unwrap();
    ledger.record_checkpoint(&hash, None, "warm_start", 0, &rel).unwrap();
    ledger.set_initial_champion(&hash).unwrap();
    let err = hw_run(&[]);
    assert!(err.contains("never promoted") && err.contains(&hash), "{err}");

    // Promoted through the gate (as the loop records it): the certificate passes and the next
    // gate, the pre-flight simulation, has its say about this barely trained policy.
    regrasp_curriculum::testing::record_gate_decision(&mut ledger, 1, &hash, true).unwrap();
    drop(ledger);
    let err = hw_run(&["--seed", "3"]);
    assert!(!err.contains("not certified"), "{err}");
    assert!(err.contains("pre-flight") || err.contains("/dev/regrasp-no-such-port"), "{err}");

    // Validation refuses frozen-suite scenarios (real trials feed the curriculum), and records
    // nothing when the pre-flight refuses every trial.
    let heldout_seed = regrasp_sim::suite::SeedSpace::Heldout.range().0.to_string();
    let v = regrasp(&[
        "hw",
        "validate",
        "--run",
        run.to_str().unwrap(),
        "--emulate",
        "--seed",
        &heldout_seed,
        "--no-record",
    ]);
    let err = String::from_utf8_lossy(&v.stderr).to_string();
    assert!(!v.status.success() && err.contains("Heldout seed space"), "{err}");
    let v = regrasp(&["hw", "validate", "--run", run.to_str().unwrap(), "--emulate", "--seed", "3", "--no-record"]);
    let err = String::from_utf8_lossy(&v.stderr).to_string();
    assert!(!v.status.success() && err.contains("pre-flight refused") && err.contains("no trial was run"), "{err}");
    let ledger = Ledger::open(&run.join("ledger.sqlite")).unwrap();
    assert!(
        ledger
            .evaluations()
            .unwrap()
            .iter()
            .all(|e| !matches!(e.suite, regrasp_curriculum::vocabulary::Suite::Real(_)))
    );
    drop(ledger);

    // Promoted, but for another arm description.
    let ledger = Ledger::open(&run.join("ledger.sqlite")).unwrap();
    ledger.set_meta(MetaKey::ArmHash, "ffffffffffffffff").unwrap();
    let err = hw_run(&[]);
    assert!(err.contains("not for this arm"), "{err}");
    ledger.set_meta(MetaKey::ArmHash, &format!("{:016x}", arm.content_hash)).unwrap();
    drop(ledger);

    // Altered weights: the content hash no longer matches.
    let model = run.join(&rel).join("model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    let k = bytes.len() / 2;
    bytes[k] ^= 0x10;
    std::fs::write(&model, bytes).unwrap();
    let err = hw_run(&[]);
    assert!(err.contains("not certified"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sweep_plans_its_units_and_a_merge_names_those_not_done() {
    let dir = std::env::temp_dir().join(format!("regrasp-cli-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.display().to_string();
    let out = regrasp(&["sweep", "plan", "examples/sweeps/smoke.toml", "--out", &d, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["units"].as_array().unwrap().len(), 8);
    assert_eq!(v["units"][4]["kind"], "final_test");
    // Planning again into the same directory is the same plan: allowed; another spec is not.
    assert!(regrasp(&["sweep", "plan", "examples/sweeps/smoke.toml", "--out", &d]).status.success());
    let other = regrasp(&["sweep", "plan", "examples/sweeps/benchmark-improve.toml", "--out", &d]);
    assert!(!other.status.success() && String::from_utf8_lossy(&other.stderr).contains("another sweep"));
    let merged = regrasp(&["sweep", "merge", &d]);
    let err = String::from_utf8_lossy(&merged.stderr);
    assert!(!merged.status.success() && merged.stdout.is_empty(), "{err}");
    assert!(err.contains("8 of 8 units are not done") && err.contains("unit 7: final test"), "{err}");
    let bad = regrasp(&["sweep", "run-unit", &d, "--index", "8"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unit 8 does not exist"));
    let early = regrasp(&["sweep", "run-unit", &d, "--index", "5"]);
    assert!(String::from_utf8_lossy(&early.stderr).contains("needs unit 1"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `hw lockstep` refuses bad settings before it opens anything, naming the flag and what to give.
#[test]
fn hw_lockstep_names_a_bad_setting() {
    for (flag, value, said) in [
        ("--start", "sideways", "give `homed` or `placed`"),
        ("--object", "radar", "give `estimate` or `camera`"),
        ("--stall", "2-1.5", "give JOINT@SECONDS"),
        ("--stall", "9@1.0", "stall joint 9"),
        ("--core-hz", "0.5", "core tick"),
    ] {
        let out = regrasp(&["hw", "lockstep", "--arm", "so101", "--run", "/nonexistent", "--seed", "0", flag, value]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} {value} was accepted");
        assert!(err.contains(said), "{flag} {value}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
