//! The generation loop end to end on the smoke config (examples/improve-smoke.toml): it runs
//! every stage, keeps frozen scenarios out of training, records every decision, and an
//! interrupted run resumed later ends exactly like an uninterrupted one, and so does a run
//! whose budget is raised on resume, also after its final test was run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::BTreeMap;

use regrasp_curriculum::final_test::run_final_test;
use regrasp_curriculum::generators::{self, GeneratorKind};
use regrasp_curriculum::improve::{FrozenSuites, ImproveEvent};
use regrasp_curriculum::run::RunDir;
use regrasp_curriculum::vocabulary::{GenerationStatus, MetaKey, Suite};
use regrasp_curriculum::{ImproveConfig, ImproveOptions, Ledger, improve};
use regrasp_policy::eval::EpisodeId;
use regrasp_sim::ArmModel;
use regrasp_sim::suite::SeedSpace;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The smoke config with suite paths made absolute.
fn smoke() -> ImproveConfig {
    let mut c = ImproveConfig::from_path(&root().join("examples/improve-smoke.toml")).unwrap();
    for s in c.suites.all_mut() {
        *s = root().join(&*s).display().to_string();
    }
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("regrasp-improve-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn arm() -> Arc<ArmModel> {
    Arc::new(ArmModel::default_arm().unwrap())
}

/// (generation, challenger, status, reasons) of every generation, and the champion.
type RunOutcome = (Vec<(u32, Option<String>, GenerationStatus, Option<String>)>, Option<(String, u32)>);

fn outcome(dir: &Path) -> RunOutcome {
    let l = Ledger::open(&dir.join("ledger.sqlite")).unwrap();
    let gens = l
        .generations()
        .unwrap()
        .into_iter()
        .map(|g| (g.generation, g.challenger, g.status, g.decision.map(|d| d.reasons())))
        .collect();
    (gens, l.champion().unwrap())
}

#[test]
fn a_smoke_run_goes_through_every_stage_and_keeps_the_firewall() {
    let cfg = smoke();
    let out = tmp("full");
    let mut ended: BTreeMap<u32, u64> = BTreeMap::new();
    let mut evaluated: Vec<(String, Suite, PathBuf)> = Vec::new();
    let s = improve(cfg.clone(), arm(), &out, ImproveOptions::default(), &mut |e| match e {
        ImproveEvent::Training { generation, episodes: (n, _), .. } => *ended.entry(*generation).or_default() += n,
        ImproveEvent::Evaluated { policy, suite, episode_file: Some(f), .. } => {
            evaluated.push((policy.clone(), *suite, f.clone()))
        }
        _ => {}
    })
    .unwrap();
    assert_eq!(s.generations, 2);
    assert!(s.stop_reason.as_deref().is_some_and(|r| r.starts_with("budget")), "{:?}", s.stop_reason);

    let l = Ledger::open(&out.join("ledger.sqlite")).unwrap();
    let gens = l.generations().unwrap();
    assert_eq!(gens.len(), 2);
    let frozen = FrozenSuites::load(&cfg, &regrasp_sim::Task::default()).unwrap();
    let fw = frozen.firewall();
    for g in &gens {
        assert!(g.status == GenerationStatus::Promoted || g.status == GenerationStatus::RolledBack);
        let d = g.decision.as_ref().unwrap();
        assert_eq!(d.checks.len(), 8, "every gate check is recorded");
        let composition = g.curriculum.composition();
        assert!((composition.values().sum::<f64>() - 1.0).abs() < 1e-9);
        // The training distribution keeps its share whatever the bandit leads with.
        let uniform = composition[&GeneratorKind::Uniform];
        assert!(uniform >= cfg.generators.uniform_share - 1e-9, "uniform share {uniform}");
        fw.check("recorded curriculum", g.curriculum.explicit_scenarios()).unwrap();
        // Every generation was evaluated on all suites, champion and challenger alike.
        for policy in [&g.champion, g.challenger.as_ref().unwrap()] {
            for suite in Suite::GATE {
                assert!(l.evaluation(policy, suite).unwrap().is_some(), "{policy} {suite}");
            }
        }
    }
    // Every episode a challenger's rollouts ended is in the ledger, and the second generation
    // replays only scenarios the first one trained on, the most promising of them.
    for g in [1, 2] {
        assert_eq!(l.training_episodes(g).unwrap().len() as u64, ended[&g], "generation {g}");
    }
    assert!(ended[&1] > 0, "the smoke budget lets episodes end");
    let trained = generators::replay_candidates(&gens[0].curriculum, &l.training_episodes(1).unwrap());
    let replayed: Vec<_> = gens[1].curriculum.scenarios_of(GeneratorKind::Replay).collect();
    assert!(!replayed.is_empty() && replayed.len() <= cfg.generators.replay_size.min(trained.len()));
    let best = trained.iter().map(|c| c.score).fold(f64::NEG_INFINITY, f64::max);
    for s in &replayed {
        assert!(trained.iter().any(|c| c.scenario == **s), "replayed scenario {} was never trained on", s.seed);
    }
    assert!(
        replayed.iter().any(|s| trained.iter().any(|c| c.scenario == **s && c.score == best)),
        "the best-scoring scenario is replayed"
    );
    assert_eq!(
        gens[0].curriculum.scenarios_of(GeneratorKind::Replay).count(),
        0,
        "nothing trained on before generation 1"
    );

    // The archive holds only training-space probes.
    let archive = l.archive().unwrap();
    assert!(!archive.entries.is_empty());
    for e in &archive.entries {
        assert!(matches!(e.suite, Suite::Probe | Suite::Boundary(_)), "{}", e.suite);
        assert_eq!(SeedSpace::of(e.scenario.seed), Some(SeedSpace::Train));
    }
    // The targeted curriculum probed the boundary and updated the bandit.
    assert!(l.evaluation(&gens[0].champion, Suite::Boundary(1)).unwrap().is_some());
    assert!(l.bandit().unwrap().is_some());
    assert!(out.join("episodes").read_dir().unwrap().count() >= 8);

    // Regression: every episode id a recording of the loop's evaluations carries (built from
    // the Evaluated event, as `regrasp improve` records them) resolves in the run's episode
    // store, boundary probes included. The recorder used to rebuild the suite from the
    // episode file's stem, giving `<policy>/boundary-1/<i>`, which names no suite.
    let run = RunDir::open(&out).unwrap();
    assert!(evaluated.iter().any(|(_, s, _)| matches!(s, Suite::Boundary(_))), "{evaluated:?}");
    for (policy, suite, file) in &evaluated {
        let first = regrasp_policy::eval::read_episodes(file).unwrap().remove(0);
        let id = EpisodeId::in_run(policy, suite, 0);
        let stored = run.episode(&id.to_string().parse().unwrap()).unwrap();
        assert_eq!(stored.record, first, "{id}");
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        let from_stem = stem.strip_prefix(&format!("{policy}-")).unwrap().to_string();
        if matches!(suite, Suite::Boundary(_)) {
            let old = EpisodeId::in_run(policy, &from_stem, 0);
            let e = run.episode(&old).unwrap_err().to_string();
            assert!(e.contains("not a run suite"), "{e}");
        }
    }

    // A second start in the same directory is refused; resuming a finished run changes nothing.
    let e = improve(cfg.clone(), arm(), &out, ImproveOptions::default(), &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("--resume"), "{e}");
    let before = outcome(&out);
    improve(cfg, arm(), &out, ImproveOptions { resume: true, ..Default::default() }, &mut |_| {}).unwrap();
    assert_eq!(outcome(&out), before);

    // The report reads it.
    let rep = regrasp_curriculum::report::build(&out).unwrap();
    assert_eq!(rep.generations.len(), 2);
    assert_eq!(rep.champion_curve().len(), 3);
    let text = regrasp_curriculum::report::render(&rep);
    assert!(text.contains("stopped: budget"), "{text}");
    // It splits every training episode by the generator its scenario came from.
    assert!(text.contains("training episodes by the generator of their scenario"), "{text}");
    for (g, line) in rep.generations.iter().enumerate() {
        assert_eq!(line.training.values().map(|t| t.0).sum::<u64>(), ended[&(g as u32 + 1)]);
    }
    let png = out.join("report.png");
    regrasp_curriculum::report::plot(&rep, &png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
}

#[test]
fn an_interrupted_run_resumes_to_the_same_result() {
    let mut cfg = smoke();
    cfg.curriculum = regrasp_curriculum::CurriculumMode::Uniform;
    let straight = tmp("straight");
    improve(cfg.clone(), arm(), &straight, ImproveOptions::default(), &mut |_| {}).unwrap();

    let interrupted = tmp("interrupted");
    let first = improve(
        cfg.clone(),
        arm(),
        &interrupted,
        ImproveOptions { max_generations_now: Some(1), ..Default::default() },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(first.generations, 1);
    assert_eq!(first.stop_reason, None);
    // The final test takes only a finished run: this champion may still change.
    let e = run_final_test(&interrupted, arm(), &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("has not stopped"), "{e}");
    // (A kill -9 in the middle of a generation is drilled in the CLI tests.)
    improve(cfg.clone(), arm(), &interrupted, ImproveOptions { resume: true, ..Default::default() }, &mut |_| {})
        .unwrap();
    assert_eq!(outcome(&interrupted), outcome(&straight));

    // A run its budget stopped after one generation, resumed with a budget of two, is the run a
    // start with two would have made (the budget only decides when to stop).
    let short = tmp("short");
    let one = improve(
        ImproveConfig { max_generations: 1, ..cfg.clone() },
        arm(),
        &short,
        ImproveOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(one.stop_reason.as_deref().is_some_and(|r| r.starts_with("budget: 1 ")), "{:?}", one.stop_reason);
    // Its final test: the warm start and the champion (two policies when generation 1 promoted)
    // on both final-test suites, once; the episodes never reach the failure archive.
    let policies = if outcome(&short).0[0].2 == GenerationStatus::Promoted { 2 } else { 1 };
    assert_eq!(run_final_test(&short, arm(), &mut |_| {}).unwrap(), 2 * policies);
    assert_eq!(run_final_test(&short, arm(), &mut |_| {}).unwrap(), 0, "recorded evaluations are not run again");
    let test = regrasp_curriculum::report::build(&short).unwrap().test.expect("the final test is in the report");
    assert_eq!((test.final_result.0.episodes, test.final_result.1.episodes), (4, 4));
    assert_eq!(test.improvement.0.pairs, 4);
    {
        let l = Ledger::open(&short.join("ledger.sqlite")).unwrap();
        let archive = l.archive().unwrap();
        assert!(!archive.entries.is_empty() && archive.entries.iter().all(|e| !Suite::FINAL_TEST.contains(&e.suite)));
        let seeds: Vec<u64> = l
            .evaluations()
            .unwrap()
            .iter()
            .filter(|r| r.suite == Suite::TestHeldout)
            .flat_map(|r| l.judged(r.id).unwrap())
            .map(|j| j.seed)
            .collect();
        assert!(seeds.iter().all(|&s| SeedSpace::Heldout.contains(s)) && seeds.len() == 4 * policies);
    }
    // The extension below must still be the straight run: the final test changed nothing the
    // loop reads.
    let extend = ImproveOptions { resume: true, max_generations: Some(cfg.max_generations), ..Default::default() };
    let two = improve(cfg.clone(), arm(), &short, extend, &mut |_| {}).unwrap();
    assert_eq!(two.generations, 2);
    assert!(two.stop_reason.as_deref().is_some_and(|r| r.starts_with("budget: 2 ")), "{:?}", two.stop_reason);
    assert_eq!(outcome(&short), outcome(&straight));
    let l = Ledger::open(&short.join("ledger.sqlite")).unwrap();
    let stored = ImproveConfig::parse(&l.meta(MetaKey::Config).unwrap().unwrap(), "stored").unwrap();
    assert_eq!(stored, cfg, "the stored config is the extended one, nothing else changed");
    assert_eq!(l.meta(MetaKey::StopReason).unwrap(), two.stop_reason);
}

#[test]
fn a_leaked_heldout_suite_in_the_probe_slot_is_refused() {
    // A config whose canary suite is the held-out suite: the seed-space check refuses it.
    let mut cfg = smoke();
    cfg.suites.canary = cfg.suites.heldout.clone();
    let e = improve(cfg, arm(), &tmp("leak"), ImproveOptions::default(), &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("Heldout") && e.contains("Canary"), "{e}");
}
