//! Sweeps on the smoke config: a plan's units run in any order, interrupted or twice, give the
//! same merged comparison; a unit run twice adds no ledger row; a merge with a unit missing
//! names it and merges nothing; a final test before its run is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use regrasp_curriculum::report::render_comparison;
use regrasp_curriculum::sweep::{PLAN_FILE, SweepPlan, SweepSpec, UnitOutcome, merge, plan, run_unit};
use regrasp_curriculum::{ImproveConfig, ImproveOptions, improve};
use regrasp_sim::ArmModel;

fn root() -> PathBuf {
    std::path::absolute(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("regrasp-sweep-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn arm() -> Arc<ArmModel> {
    Arc::new(ArmModel::default_arm().unwrap())
}

/// A spec of both curricula × one seed on the smoke config (suite files absolute).
fn spec_file(dir: &Path) -> PathBuf {
    let r = root();
    let suite = |name: &str| r.join(format!("examples/suites/smoke-{name}.toml")).display().to_string();
    let text = format!(
        "name = \"smoke\"\ncurricula = [\"targeted\", \"uniform\"]\nseeds = [3]\nconfig = \"{}\"\n\n[overrides.suites]\n\
         heldout = \"{}\"\nood = \"{}\"\ncanary = \"{}\"\ntest_heldout = \"{}\"\ntest_ood = \"{}\"\n",
        r.join("examples/improve-smoke.toml").display(),
        suite("heldout"),
        suite("ood"),
        suite("canary"),
        suite("test-heldout"),
        suite("test-ood"),
    );
    let p = dir.join("spec.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn planned(name: &str) -> (PathBuf, SweepPlan) {
    let base = tmp(name);
    let spec_path = spec_file(&base);
    let p = plan(SweepSpec::from_path(&spec_path).unwrap(), &spec_path, &arm()).unwrap();
    let dir = base.join("sweep");
    p.save(&dir).unwrap();
    (dir.clone(), SweepPlan::load(&dir).unwrap())
}

fn rows(run: &Path) -> (i64, i64) {
    let l = regrasp_curriculum::Ledger::open(&run.join("ledger.sqlite")).unwrap();
    let count = |table: &str| -> i64 {
        l.connection().query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    };
    (count("generations"), count("evaluations"))
}

fn run(dir: &Path, p: &SweepPlan, index: usize) -> UnitOutcome {
    run_unit(dir, p, index, arm(), &mut |_| {}, &mut |_| {}).unwrap()
}

#[test]
fn units_in_any_order_interrupted_or_repeated_merge_to_the_same_comparison() {
    let (a, plan_a) = planned("a");
    assert_eq!(plan_a.units.len(), 4, "two improve runs, then their two final tests");
    assert!(std::fs::read_to_string(a.join(PLAN_FILE)).unwrap().contains("final_test"));

    // Nothing done: the merge names every unit and merges nothing.
    let e = merge(&a, &plan_a).unwrap_err().to_string();
    assert!(e.contains("4 of 4 units are not done") && e.contains("unit 0") && e.contains("unit 3"), "{e}");
    // A final test before its run is refused, naming the unit it needs.
    let e = run_unit(&a, &plan_a, 2, arm(), &mut |_| {}, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("needs unit 0"), "{e}");

    // Sweep A: unit 0 killed after one generation (its ledger left behind), then every unit.
    let mut cfg = ImproveConfig::parse(&plan_a.config, "plan").unwrap();
    cfg.seed = 3;
    let killed = ImproveOptions { resume: false, max_generations_now: Some(1), max_generations: None };
    improve(cfg, arm(), &a.join(plan_a.units[0].run()), killed, &mut |_| {}).unwrap();
    for i in 0..4 {
        assert_eq!(run(&a, &plan_a, i), UnitOutcome::Ran, "unit {i}");
    }
    let merged_a = render_comparison(&merge(&a, &plan_a).unwrap().comparison.unwrap());

    // A unit run again does nothing and adds no ledger row.
    let before = rows(&a.join(plan_a.units[0].run()));
    assert_eq!(run(&a, &plan_a, 0), UnitOutcome::AlreadyDone);
    assert_eq!(run(&a, &plan_a, 2), UnitOutcome::AlreadyDone);
    assert_eq!(rows(&a.join(plan_a.units[0].run())), before);

    // Sweep B: the same plan, units in another order, uninterrupted.
    let (b, plan_b) = planned("b");
    assert_eq!(plan_b.units, plan_a.units);
    for i in [1, 3, 0, 2] {
        run(&b, &plan_b, i);
    }
    let merged_b = render_comparison(&merge(&b, &plan_b).unwrap().comparison.unwrap());
    assert_eq!(merged_a, merged_b, "the comparison depends on no order, interruption or directory");
    assert!(merged_a.contains("improve-targeted-s3") && merged_a.contains("improve-uniform-s3"));
}

#[test]
fn bad_specs_name_the_problem() {
    let d = tmp("bad");
    let write = |text: &str| {
        let p = d.join("s.toml");
        std::fs::write(&p, text).unwrap();
        p
    };
    let e = SweepSpec::from_path(&write("name = \"x\"\ncurricula = []\nseeds = [1]\n")).unwrap_err().to_string();
    assert!(e.contains("both"), "{e}");
    let e = SweepSpec::from_path(&write("name = \"x\"\ncurricula = []\nseeds = []\n")).unwrap_err().to_string();
    assert!(e.contains("nothing to run"), "{e}");
    let e = SweepSpec::from_path(&write("name = \"x\"\ncurricula = [\"targeted\"]\nseeds = [1, 1]\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("twice"), "{e}");
    let e =
        SweepSpec::from_path(&write("name = \"x\"\ncurricula = [\"greedy\"]\nseeds = [1]\n")).unwrap_err().to_string();
    assert!(e.contains("greedy"), "{e}");
    let p = write("name = \"x\"\ncurricula = [\"targeted\"]\nseeds = [1]\n[overrides]\nmax_generations = 0\n");
    let e = plan(SweepSpec::from_path(&p).unwrap(), &p, &arm()).unwrap_err().to_string();
    assert!(e.contains("max_generations"), "{e}");
    let (dir, p) = planned("index");
    let e = run_unit(&dir, &p, 9, arm(), &mut |_| {}, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("unit 9 does not exist"), "{e}");
}

/// A large evaluation split into slices, run in any order, merges into the report of the whole
/// suite evaluated at once, episode for episode.
#[test]
fn evaluation_slices_merge_to_the_whole_evaluation() {
    // A checkpoint to evaluate: the smoke run's champion.
    let (dir, p) = planned("slices-run");
    run(&dir, &p, 0);
    let run_dir = dir.join(p.units[0].run());
    let champion =
        regrasp_curriculum::Ledger::open(&run_dir.join("ledger.sqlite")).unwrap().champion().unwrap().unwrap().0;
    let ckpt = regrasp_curriculum::run::RunDir::open(&run_dir).unwrap().checkpoint_dir(&champion).unwrap();
    let base = tmp("slices");
    let suite = root().join("examples/suites/smoke-test-heldout.toml");
    let spec_path = base.join("spec.toml");
    std::fs::write(
        &spec_path,
        format!(
            "name = \"slices\"\ncurricula = []\nseeds = []\n[[evaluations]]\npolicy = \"{}\"\nsuite = \"{}\"\nslices = 3\n",
            ckpt.display(),
            suite.display()
        ),
    )
    .unwrap();
    let p = plan(SweepSpec::from_path(&spec_path).unwrap(), &spec_path, &arm()).unwrap();
    let sweep = base.join("sweep");
    p.save(&sweep).unwrap();
    assert_eq!(p.units.len(), 3);
    assert!(merge(&sweep, &p).unwrap_err().to_string().contains("3 of 3 units are not done"));
    for i in [2, 0, 1] {
        assert_eq!(run(&sweep, &p, i), UnitOutcome::Ran);
    }
    assert_eq!(run(&sweep, &p, 1), UnitOutcome::AlreadyDone);
    let merged = merge(&sweep, &p).unwrap();
    assert!(merged.comparison.is_none());
    let [e] = merged.evaluations.as_slice() else { panic!("one evaluation") };

    let a = arm();
    let whole = regrasp_sim::suite::EvalSuite::load(&suite.display().to_string(), &a.task).unwrap();
    let loaded =
        regrasp_policy::eval::LoadedPolicy::load(&ckpt, &a, regrasp_sim::ObsLayout::new(a.dof()).len()).unwrap();
    let cfg = Arc::new(a.task.env.clone());
    let (want, records) =
        regrasp_policy::eval::evaluate(&loaded, &a, &cfg, &whole.name, &whole.scenarios(), &|| ()).unwrap();
    assert_eq!((e.suite.as_str(), e.episodes, e.successes), (want.suite.as_str(), want.episodes, want.successes));
    assert_eq!((e.outcomes.clone(), e.ci95, e.policy_hash.clone()), (want.outcomes, want.ci95, want.policy_hash));
    let mut sliced = Vec::new();
    for u in &p.units {
        sliced.extend(regrasp_policy::eval::read_episodes(&sweep.join(u.run())).unwrap());
    }
    assert_eq!(
        sliced.iter().map(|r| (r.scenario.seed, r.final_state_hash)).collect::<Vec<_>>(),
        records.iter().map(|r| (r.scenario.seed, r.final_state_hash)).collect::<Vec<_>>()
    );
}
