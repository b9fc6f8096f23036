//! The generation loop (`regrasp improve`): champion → evaluate on the probe set → mine its
//! failures → build a curriculum → train a challenger for a fixed env-step budget → evaluate
//! the challenger on the probe set and, with the champion, on the same frozen held-out, OOD and
//! canary scenarios → promote or roll back → repeat until the budget, the target or the
//! patience runs out. Every step is recorded in the ledger before the next begins and every
//! result is a pure function of the config and seed, so `--resume` after a crash at any moment
//! continues exactly as if nothing had happened.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use regrasp_policy::checkpoint::Checkpoint;
use regrasp_policy::eval::LoadedPolicy;
use regrasp_policy::ppo::stream_seed;
use regrasp_policy::run::{RunOptions, train};
use regrasp_sim::suite::{EvalSuite, SeedSpace};
use regrasp_sim::{ArmModel, Scenario, ScenarioDistribution, ScenarioSource, Task};
use serde::Serialize;

use crate::archive::{FailureArchive, Param, Side};
use crate::bandit::Exp3;
use crate::config::{CurriculumMode, ImproveConfig};
use crate::error::{CurriculumError, Result};
use crate::firewall::Firewall;
use crate::gate::{GateInput, Judged, judge};
use crate::generators::{self, CurriculumPart, CurriculumPlan, GeneratorKind, Proposal};
use crate::ledger::{EvaluationRow, GenerationRow};
use crate::run::{LEDGER_FILE, RunDir, io};
use crate::vocabulary::{GenerationStatus, Suite};

/// Seed streams of a run (mixed with the run seed).
mod stream {
    pub const PROBE: u64 = 101;
    pub const CHALLENGER: u64 = 102;
    pub const BANDIT: u64 = 103;
    pub const BOUNDARY: u64 = 104;
    pub const MUTATE: u64 = 105;
    pub const PARAMETERS: u64 = 106;
}

/// The probe set of a run: `probe_size` training-space scenarios of the training distribution.
pub fn probe_scenarios(cfg: &ImproveConfig) -> Vec<Scenario> {
    let base = &cfg.train.distribution;
    (0..cfg.probe_size)
        .map(|i| base.sample(SeedSpace::training_seed(stream_seed(cfg.seed, stream::PROBE, 0), i)))
        .collect()
}

/// The frozen suites of a run, each checked to lie in its own seed space.
#[derive(Clone, Debug)]
pub struct FrozenSuites {
    /// Held-out scenarios.
    pub heldout: Vec<Scenario>,
    /// OOD scenarios.
    pub ood: Vec<Scenario>,
    /// Canary scenarios.
    pub canary: Vec<Scenario>,
}

impl FrozenSuites {
    /// Loads the suites a config names, for an arm with `task` (shipped names resolve to the
    /// arm's own suites).
    pub fn load(cfg: &ImproveConfig, task: &Task) -> Result<Self> {
        let get = |name: &str, space: SeedSpace| -> Result<Vec<Scenario>> {
            let s = EvalSuite::load(name, task)?;
            if s.seed_space != space {
                return Err(CurriculumError::Config {
                    source_name: name.into(),
                    message: format!(
                        "suite `{}` lies in the {:?} seed space; this slot needs {space:?}",
                        s.name, s.seed_space
                    ),
                });
            }
            Ok(s.scenarios())
        };
        Ok(Self {
            heldout: get(&cfg.suites.heldout, SeedSpace::Heldout)?,
            ood: get(&cfg.suites.ood, SeedSpace::Ood)?,
            canary: get(&cfg.suites.canary, SeedSpace::Canary)?,
        })
    }

    /// The firewall around them.
    pub fn firewall(&self) -> Firewall {
        Firewall::new([
            ("heldout", self.heldout.as_slice()),
            ("ood", self.ood.as_slice()),
            ("canary", self.canary.as_slice()),
        ])
    }
}

/// What the loop reports as it goes.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ImproveEvent {
    /// Something started.
    Stage {
        /// Generation.
        generation: u32,
        /// What, in words.
        what: String,
    },
    /// A challenger's PPO iteration finished.
    Training {
        /// Generation.
        generation: u32,
        /// Env steps so far.
        env_steps: u64,
        /// Env-step budget.
        budget: u64,
        /// Episodes that ended in the iteration's rollout, and their successes.
        episodes: (u64, u64),
        /// Env steps per second of the rollout.
        env_steps_per_s: f64,
        /// Everything the PPO iteration measured.
        stats: regrasp_policy::ppo::IterationStats,
    },
    /// An evaluation finished (or was found in the ledger).
    Evaluated {
        /// Policy hash.
        policy: String,
        /// Suite.
        suite: Suite,
        /// Success rate.
        success_rate: f64,
        /// Episodes.
        episodes: u64,
        /// The episode file (JSON lines), for recording; `None` when found in the ledger.
        episode_file: Option<PathBuf>,
    },
    /// The gate decided a generation.
    Decided {
        /// Generation.
        generation: u32,
        /// Promoted (else rolled back).
        promoted: bool,
        /// Champion and challenger held-out success.
        heldout: (f64, f64),
        /// p-value.
        p_value: f64,
        /// Reasons.
        reasons: String,
        /// Curriculum shares by generator.
        composition: Vec<(String, f64)>,
        /// Champion and challenger success per suite (`probe`, `heldout`, `ood`, `canary`).
        success: BTreeMap<String, (f64, f64)>,
        /// The champion's probe failures per mode (what the curriculum aimed at).
        champion_failures: BTreeMap<String, u64>,
        /// Samples of each scenario parameter under the curriculum (`Param::label`, values; for
        /// sizes the largest dimension).
        parameters: Vec<(String, Vec<f64>)>,
    },
    /// The loop stopped.
    Stopped {
        /// Why.
        reason: String,
    },
}

/// How `improve` ended.
#[derive(Clone, Debug, Serialize)]
pub struct ImproveSummary {
    /// Run directory.
    pub run: PathBuf,
    /// Final champion.
    pub champion: String,
    /// Generations decided.
    pub generations: u32,
    /// Promotions.
    pub promotions: u32,
    /// Why it stopped (`None` if stopped early on request).
    pub stop_reason: Option<String>,
}

/// Options of [`improve`].
#[derive(Clone, Debug, Default)]
pub struct ImproveOptions {
    /// Continue the run in `out` (its ledger's config wins).
    pub resume: bool,
    /// Stop after deciding this many generations in this invocation (tests, crash drills).
    pub max_generations_now: Option<u32>,
    /// With `resume`: the run's budget becomes this many generations (raised to continue a run
    /// its budget stopped, or lowered). The budget only decides when the loop stops, so an
    /// extended run is the run a start with this budget would have made; nothing else of the
    /// stored config can change on resume.
    pub max_generations: Option<u32>,
}

struct Run<'a> {
    cfg: ImproveConfig,
    dir: RunDir,
    arm: Arc<ArmModel>,
    env_cfg: Arc<regrasp_sim::EnvConfig>,
    suites: FrozenSuites,
    probe: Vec<Scenario>,
    on_event: &'a mut dyn FnMut(&ImproveEvent),
}

/// A policy's episodes on the suites every champion and challenger is judged on, by suite.
#[derive(Default)]
struct GateEpisodes {
    probe: Vec<Judged>,
    heldout: Vec<Judged>,
    ood: Vec<Judged>,
    canary: Vec<Judged>,
}

impl GateEpisodes {
    fn of(&self, suite: Suite) -> &[Judged] {
        match suite {
            Suite::Probe => &self.probe,
            Suite::Heldout => &self.heldout,
            Suite::Ood => &self.ood,
            Suite::Canary => &self.canary,
            _ => &[],
        }
    }

    fn of_mut(&mut self, suite: Suite) -> Option<&mut Vec<Judged>> {
        match suite {
            Suite::Probe => Some(&mut self.probe),
            Suite::Heldout => Some(&mut self.heldout),
            Suite::Ood => Some(&mut self.ood),
            Suite::Canary => Some(&mut self.canary),
            _ => None,
        }
    }
}

impl Run<'_> {
    fn policy(&self, hash: &str) -> Result<(LoadedPolicy, PathBuf)> {
        Ok((self.dir.load_policy(hash, &self.arm)?, self.dir.checkpoint_dir(hash)?))
    }

    /// The evaluation of `policy` on `suite`, from the ledger or run now and recorded.
    fn evaluated(
        &mut self,
        policy: &LoadedPolicy,
        suite: Suite,
        generation: u32,
        scenarios: &[Scenario],
    ) -> Result<EvaluationRow> {
        let on_event = &mut *self.on_event;
        let e = self.dir.evaluated(policy, suite, generation, &self.arm, &self.env_cfg, scenarios, &mut |what| {
            on_event(&ImproveEvent::Stage { generation, what: what.to_string() })
        })?;
        if let Some(file) = e.written {
            (self.on_event)(&ImproveEvent::Evaluated {
                policy: policy.hash.clone(),
                suite,
                success_rate: e.row.success_rate(),
                episodes: e.row.episodes,
                episode_file: Some(file),
            });
        }
        Ok(e.row)
    }

    /// Evaluates a policy on the probe set and the frozen suites.
    fn evaluate_all(&mut self, policy: &LoadedPolicy, generation: u32) -> Result<GateEpisodes> {
        let probe = self.probe.clone();
        let frozen = self.suites.clone();
        let mut out = GateEpisodes::default();
        for (suite, scenarios) in [
            (Suite::Probe, &probe),
            (Suite::Heldout, &frozen.heldout),
            (Suite::Ood, &frozen.ood),
            (Suite::Canary, &frozen.canary),
        ] {
            let row = self.evaluated(policy, suite, generation, scenarios)?;
            if let Some(slot) = out.of_mut(suite) {
                *slot = self.dir.ledger().judged(row.id)?;
            }
        }
        Ok(out)
    }

    /// Generation 0: behaviour cloning + DAgger from the expert gives the first champion.
    fn warm_start(&mut self) -> Result<String> {
        if let Some((hash, _)) = self.dir.ledger().champion()? {
            return Ok(hash);
        }
        (self.on_event)(&ImproveEvent::Stage { generation: 0, what: "warm start: behaviour cloning + DAgger".into() });
        let dir = self.dir.path().join("warmstart");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        let mut tc = self.cfg.train.clone();
        tc.seed = self.cfg.seed;
        tc.total_env_steps = 0;
        let c = train(
            tc,
            Arc::clone(&self.arm),
            &dir,
            RunOptions { warm_start_bc: true, ..RunOptions::default() },
            &mut |_| {},
        )?;
        let rel = format!("checkpoints/{}", c.meta.content_hash);
        c.save(&self.dir.path().join(&rel))?;
        let ledger = self.dir.ledger();
        ledger.record_checkpoint(&c.meta.content_hash, None, "bc", c.meta.env_steps, &rel)?;
        self.dir.set_warm_start_env_steps(c.meta.env_steps)?;
        ledger.set_initial_champion(&c.meta.content_hash)?;
        Ok(c.meta.content_hash)
    }

    /// Why the loop should stop before generation `next`, if it should.
    fn stop_reason(&self, decided: &[GenerationRow], champion_heldout: f64) -> Option<String> {
        if champion_heldout >= self.cfg.target_heldout {
            return Some(format!(
                "target: champion held-out success {:.1}% reached the target {:.1}%",
                100.0 * champion_heldout,
                100.0 * self.cfg.target_heldout
            ));
        }
        let k = self.cfg.patience as usize;
        if decided.len() >= k && decided[decided.len() - k..].iter().all(|g| g.status == GenerationStatus::RolledBack) {
            return Some(format!("patience: {k} generations in a row without a promotion"));
        }
        if decided.len() as u32 >= self.cfg.max_generations {
            return Some(format!(
                "budget: {} generations of {} env steps spent",
                decided.len(),
                self.cfg.generation_env_steps
            ));
        }
        None
    }

    /// Builds generation `g`'s curriculum against the champion `champion`.
    fn curriculum(
        &mut self,
        g: u32,
        champion: &LoadedPolicy,
        history: &[GenerationRow],
    ) -> Result<(CurriculumPlan, Option<String>)> {
        let base = self.cfg.train.distribution.clone();
        if self.cfg.curriculum == CurriculumMode::Uniform {
            return Ok((CurriculumPlan::uniform(&base), None));
        }
        let gc = self.cfg.generators.clone();
        // Boundary: probe the edges of the current ranges with the champion.
        let current = history
            .iter()
            .rev()
            .flat_map(|r| r.curriculum.parts.iter())
            .find_map(|p| match (&p.generator, &p.proposal) {
                (GeneratorKind::Boundary, Proposal::Distribution { distribution }) => Some(distribution.clone()),
                _ => None,
            })
            .unwrap_or_else(|| base.clone());
        let probes = generators::boundary_probes(
            &current,
            stream_seed(self.cfg.seed, stream::BOUNDARY, g as u64),
            gc.boundary_probes_per_edge,
        );
        let scenarios: Vec<Scenario> = probes.iter().map(|(_, _, s)| *s).collect();
        let seen: Vec<(Param, Side, bool)> = if scenarios.is_empty() {
            Vec::new()
        } else {
            let row = self.evaluated(champion, Suite::Boundary(g), g, &scenarios)?;
            let judged = self.dir.ledger().judged(row.id)?;
            probes.iter().zip(&judged).map(|((p, side, _), j)| (*p, *side, j.success())).collect()
        };
        let (widened, _) = generators::boundary(&current, &base, &seen, &gc);

        // Mutate edits the champion's own probe failures; replay draws on the scenarios the
        // learner trained on in the last generation, scored by its own rollouts.
        let ledger = self.dir.ledger();
        let all = ledger.archive()?;
        let mine = FailureArchive { entries: all.entries.into_iter().filter(|e| e.policy == champion.hash).collect() };
        let candidates = match history.iter().rev().find(|r| r.status.is_decided()) {
            Some(last) => generators::replay_candidates(&last.curriculum, &ledger.training_episodes(last.generation)?),
            None => Vec::new(),
        };
        let mut last_replayed: HashMap<u64, u32> = HashMap::new();
        for r in history {
            for s in r.curriculum.scenarios_of(GeneratorKind::Replay) {
                last_replayed.insert(s.seed, r.generation);
            }
        }
        let proposals = [
            (GeneratorKind::Uniform, generators::uniform(&base)),
            (GeneratorKind::Replay, generators::replay(&candidates, g, &last_replayed, &gc)),
            (GeneratorKind::Boundary, Proposal::Distribution { distribution: widened }),
            (
                GeneratorKind::Mutate,
                generators::mutate(&mine, stream_seed(self.cfg.seed, stream::MUTATE, g as u64), &gc),
            ),
        ];
        let bandit = ledger.bandit()?.unwrap_or_else(|| Exp3::new(&GeneratorKind::ALL, gc.bandit_gamma));
        let lead = bandit.pick(&mut ChaCha8Rng::seed_from_u64(stream_seed(self.cfg.seed, stream::BANDIT, g as u64)));
        Ok(mix(&base, proposals, &bandit.probabilities(), lead, &gc))
    }

    /// Trains generation `g`'s challenger (resuming its own run directory if it has one).
    fn train_challenger(&mut self, row: &GenerationRow, champion_dir: &Path) -> Result<String> {
        let dir = self.dir.path().join("generations").join(row.generation.to_string());
        let resume = dir.join("latest").exists();
        if !resume && dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        (self.on_event)(&ImproveEvent::Stage {
            generation: row.generation,
            what: format!(
                "{} challenger: {} env steps of PPO from {}",
                if resume { "resuming" } else { "training" },
                row.budget,
                row.champion
            ),
        });
        let mut tc = self.cfg.train.clone();
        tc.seed = row.seed;
        tc.total_env_steps = row.budget;
        let opts = RunOptions {
            resume,
            init: Some(champion_dir.to_path_buf()),
            source: Some(Arc::new(row.curriculum.clone())),
            ..RunOptions::default()
        };
        let on_event = &mut *self.on_event;
        let ledger = self.dir.ledger_mut();
        let (generation, budget) = (row.generation, row.budget);
        // The first ledger error while training; training cannot stop on it, so it is returned
        // after (the generation stays `training`, and `--resume` re-runs from its checkpoint).
        let mut recording: Result<()> = Ok(());
        let trained = train(tc, Arc::clone(&self.arm), &dir, opts, &mut |e| match e {
            regrasp_policy::run::Event::Iteration(it) => on_event(&ImproveEvent::Training {
                generation,
                env_steps: it.env_steps,
                budget,
                episodes: (it.episodes, it.successes),
                env_steps_per_s: it.env_steps_per_s,
                stats: it.clone(),
            }),
            regrasp_policy::run::Event::Episodes { iteration, episodes } if recording.is_ok() => {
                recording = ledger.record_training_episodes(generation, *iteration, episodes);
            }
            _ => {}
        });
        let c: Checkpoint = trained?;
        recording?;
        let rel = format!("checkpoints/{}", c.meta.content_hash);
        c.save(&self.dir.path().join(&rel))?;
        self.dir.ledger().record_checkpoint(
            &c.meta.content_hash,
            Some(&row.champion),
            "challenger",
            c.meta.env_steps,
            &rel,
        )?;
        self.dir.ledger().set_challenger(row.generation, &c.meta.content_hash)?;
        Ok(c.meta.content_hash)
    }
}

/// Runs (or resumes) the self-improvement loop in `out`.
pub fn improve(
    cfg: ImproveConfig,
    arm: Arc<ArmModel>,
    out: &Path,
    opts: ImproveOptions,
    on_event: &mut dyn FnMut(&ImproveEvent),
) -> Result<ImproveSummary> {
    if opts.resume && !out.join(LEDGER_FILE).exists() {
        return Err(CurriculumError::Run {
            path: out.into(),
            message: format!("no {LEDGER_FILE} here to resume; start a run without --resume"),
        });
    }
    let (dir, cfg) = if opts.resume {
        let mut dir = RunDir::open(out)?;
        let stored = dir.config()?;
        dir.check_arm(&arm)?;
        let cfg = match opts.max_generations {
            Some(g) if g != stored.max_generations => {
                let mut changed = stored.clone();
                changed.max_generations = g;
                changed.validate("--generations on resume")?;
                // The old stop reason no longer holds; the loop records the new one.
                dir.ledger_mut().set_budget(&changed.to_toml())?;
                changed
            }
            _ => stored,
        };
        (dir, cfg)
    } else {
        (RunDir::create(out, &cfg, &arm)?, cfg)
    };
    let env_cfg = Arc::new(cfg.train.env.clone());
    let suites = FrozenSuites::load(&cfg, &arm.task)?;
    let probe = probe_scenarios(&cfg);
    let firewall = suites.firewall();
    firewall.check("probe set", &probe)?;
    let mut run = Run { cfg, dir, arm, env_cfg, suites, probe, on_event };

    run.warm_start()?;
    let mut decided_now = 0u32;
    let stop_reason = loop {
        let history = run.dir.ledger().generations()?;
        let decided: Vec<GenerationRow> = history.iter().filter(|g| g.status.is_decided()).cloned().collect();
        let pending = history.iter().find(|g| !g.status.is_decided()).cloned();
        let (champion_hash, _) = run.dir.ledger().champion()?.ok_or_else(|| CurriculumError::Corrupt {
            path: run.dir.ledger().path().into(),
            what: "no champion".into(),
        })?;
        let (champion, champion_dir) = run.policy(&champion_hash)?;
        let g = decided.len() as u32 + 1;
        let champ = run.evaluate_all(&champion, g - 1)?;
        if pending.is_none() {
            if let Some(reason) = run.stop_reason(&decided, crate::gate::success_rate(&champ.heldout)) {
                run.dir.set_stop_reason(&reason)?;
                break Some(reason);
            }
            if opts.max_generations_now.is_some_and(|m| decided_now >= m) {
                break None;
            }
        }
        let row = match pending {
            Some(row) => row,
            None => {
                (run.on_event)(&ImproveEvent::Stage { generation: g, what: "building the curriculum".into() });
                let (plan, lead) = run.curriculum(g, &champion, &history)?;
                let row = GenerationRow {
                    generation: g,
                    champion: champion_hash.clone(),
                    seed: stream_seed(run.cfg.seed, stream::CHALLENGER, g as u64),
                    budget: run.cfg.generation_env_steps,
                    lead,
                    curriculum: plan,
                    status: GenerationStatus::Training,
                    challenger: None,
                    decision: None,
                };
                // Checked before it is recorded, so a leaking curriculum never enters the ledger.
                firewall.check(&format!("generation {g} curriculum"), row.curriculum.explicit_scenarios())?;
                run.dir.ledger().start_generation(&row)?;
                row
            }
        };
        // And again before training, for a generation resumed from the ledger.
        firewall.check(&format!("generation {g} curriculum"), row.curriculum.explicit_scenarios())?;
        let challenger_hash = run.train_challenger(&row, &champion_dir)?;
        let (challenger, _) = run.policy(&challenger_hash)?;
        let chall = run.evaluate_all(&challenger, g)?;
        let input = GateInput {
            probe: (&champ.probe, &chall.probe),
            heldout: (&champ.heldout, &chall.heldout),
            ood: (&champ.ood, &chall.ood),
            canary: (&champ.canary, &chall.canary),
            table_force: run.cfg.train.env.outcome.table_force,
        };
        let decision = judge(&input, &run.cfg.gate);
        let bandit = match (&row.lead, run.cfg.curriculum) {
            (Some(lead), CurriculumMode::Targeted) => {
                let mut b = run
                    .dir
                    .ledger()
                    .bandit()?
                    .unwrap_or_else(|| Exp3::new(&GeneratorKind::ALL, run.cfg.generators.bandit_gamma));
                if let Some(i) = b.arms.iter().position(|a| a.name() == lead) {
                    b.update(i, Exp3::reward_of_gain(decision.heldout_gain, run.cfg.generators.bandit_full_gain));
                }
                Some(b)
            }
            _ => None,
        };
        run.dir.ledger_mut().decide(g, &challenger_hash, &decision, bandit.as_ref())?;
        decided_now += 1;
        let composition = row.curriculum.composition().into_iter().map(|(k, v)| (k.name().to_string(), v)).collect();
        let rate = crate::gate::success_rate;
        let success = Suite::GATE.iter().map(|s| (s.to_string(), (rate(champ.of(*s)), rate(chall.of(*s))))).collect();
        let mut champion_failures = BTreeMap::new();
        for j in champ.probe.iter().filter(|j| j.outcome.is_failure()) {
            *champion_failures.entry(j.outcome.name().to_string()).or_insert(0u64) += 1;
        }
        (run.on_event)(&ImproveEvent::Decided {
            generation: g,
            promoted: decision.promote,
            heldout: (rate(&champ.heldout), rate(&chall.heldout)),
            p_value: decision.p_value,
            reasons: decision.reasons(),
            composition,
            success,
            champion_failures,
            parameters: parameter_samples(&row.curriculum, stream_seed(run.cfg.seed, stream::PARAMETERS, g as u64)),
        });
    };
    if let Some(reason) = &stop_reason {
        (run.on_event)(&ImproveEvent::Stopped { reason: reason.clone() });
    }
    let gens = run.dir.ledger().generations()?;
    let (champion, _) = run.dir.ledger().champion()?.unwrap_or_default();
    Ok(ImproveSummary {
        run: out.to_path_buf(),
        champion,
        generations: gens.iter().filter(|g| g.status.is_decided()).count() as u32,
        promotions: gens.iter().filter(|g| g.status == GenerationStatus::Promoted).count() as u32,
        stop_reason,
    })
}

/// Mixes the generators' proposals (in `GeneratorKind::ALL` order) into a plan:
/// `uniform_share` stays on the training distribution; of the rest, the bandit's `lead` gets
/// `lead_share` and everything is shared by the bandit's probabilities `probs`; empty
/// proposals drop out and the shares are renormalised. A lead with nothing to propose (replay
/// before anything was trained on, mutate without failures) cannot lead: then no generator
/// leads, the targeted part is shared by the probabilities alone, and none is credited.
/// Returns the plan and the lead's name.
pub fn mix(
    base: &ScenarioDistribution,
    proposals: [(GeneratorKind, Proposal); 4],
    probs: &[f64],
    lead: usize,
    gc: &crate::config::GeneratorsConfig,
) -> (CurriculumPlan, Option<String>) {
    let lead = proposals.get(lead).filter(|(_, p)| !p.is_empty()).map(|_| lead);
    let name = lead.map(|i| proposals[i].0.name().to_string());
    let mut parts: Vec<CurriculumPart> = proposals
        .into_iter()
        .enumerate()
        .map(|(i, (generator, proposal))| {
            let p = probs.get(i).copied().unwrap_or(0.0);
            let targeted = match lead {
                Some(l) => (1.0 - gc.lead_share) * p + if i == l { gc.lead_share } else { 0.0 },
                None => p,
            };
            let share = (1.0 - gc.uniform_share) * targeted
                + if generator == GeneratorKind::Uniform { gc.uniform_share } else { 0.0 };
            CurriculumPart { generator, share, proposal }
        })
        .filter(|p| !p.proposal.is_empty() && p.share > 0.0)
        .collect();
    let total: f64 = parts.iter().map(|p| p.share).sum();
    if parts.is_empty() || total <= 0.0 {
        return (CurriculumPlan::uniform(base), name);
    }
    parts.iter_mut().for_each(|p| p.share /= total);
    (CurriculumPlan { base: base.clone(), parts }, name)
}

/// Scenarios drawn from a curriculum to show its parameter distributions.
pub const PARAMETER_SAMPLES: usize = 512;

/// Samples of every scenario parameter (`Param`) under `plan`, from training seeds derived from
/// `seed` (drawn for display only: nothing trains on them).
pub fn parameter_samples(plan: &CurriculumPlan, seed: u64) -> Vec<(String, Vec<f64>)> {
    let scenarios: Vec<Scenario> =
        (0..PARAMETER_SAMPLES as u64).map(|i| plan.scenario(SeedSpace::training_seed(seed, i))).collect();
    Param::ALL.iter().map(|p| (p.label(), scenarios.iter().map(|s| p.value(s, Side::Hi)).collect())).collect()
}

/// The training distribution a config uses (for reports).
pub fn base_distribution(cfg: &ImproveConfig) -> &ScenarioDistribution {
    &cfg.train.distribution
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GeneratorsConfig;

    fn proposals(replay: Vec<(Scenario, f64)>) -> [(GeneratorKind, Proposal); 4] {
        let base = ScenarioDistribution::default();
        [
            (GeneratorKind::Uniform, generators::uniform(&base)),
            (GeneratorKind::Replay, Proposal::Scenarios { scenarios: replay }),
            (GeneratorKind::Boundary, generators::uniform(&base)),
            (GeneratorKind::Mutate, Proposal::Scenarios { scenarios: vec![(base.sample(9), 1.0)] }),
        ]
    }

    /// Regression (session 17): in generation 1 replay has nothing to propose; a bandit that
    /// drew it as lead still credited it with the generation's held-out gain.
    #[test]
    fn a_generator_with_nothing_to_propose_does_not_lead_and_shares_stay_whole() {
        let base = ScenarioDistribution::default();
        let gc = GeneratorsConfig::default();
        let probs = [0.25; 4];
        let (plan, lead) = mix(&base, proposals(Vec::new()), &probs, 1, &gc);
        assert_eq!(lead, None, "empty replay cannot lead");
        let c = plan.composition();
        assert!((c.values().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(c[&GeneratorKind::Replay], 0.0);
        assert!((c[&GeneratorKind::Uniform] - (0.5 + 0.5 * 0.25) / (1.0 - 0.5 * 0.25)).abs() < 1e-12, "{c:?}");
        // With something to replay, replay leads with lead_share of the targeted half.
        let (plan, lead) = mix(&base, proposals(vec![(base.sample(3), 1.0)]), &probs, 1, &gc);
        assert_eq!(lead.as_deref(), Some("replay"));
        let c = plan.composition();
        assert!((c[&GeneratorKind::Replay] - 0.5 * (0.5 * 0.25 + 0.5)).abs() < 1e-12, "{c:?}");
        assert!((c[&GeneratorKind::Uniform] - (0.5 + 0.5 * 0.5 * 0.25)).abs() < 1e-12, "{c:?}");
    }
}
