//! A run directory (`runs/<id>/`, what `regrasp improve` makes): the one owner of its layout,
//! its ledger, its stored config and the arm it was made for; the one path that evaluates a
//! policy, stores the episodes and records the evaluation; and the certificate rule, the only
//! way to obtain a [`Certified`] policy, which is the only kind `regrasp-hardware` lets drive
//! an arm.
//!
//! Layout: `ledger.sqlite` (every decision and evaluation), `checkpoints/<hash>/`,
//! `episodes/<hash>-<suite>.jsonl` (exact-replay records), `warmstart/`, `rerun/*.rrd`,
//! `report.txt`, `report.png`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use regrasp_policy::eval::{
    EpisodeId, LoadedPolicy, StoredEpisode, evaluate, file_episode, read_episodes, write_episodes,
};
use regrasp_sim::{ArmModel, EnvConfig, ObsLayout, OutcomeKind, Scenario};
use serde::{Deserialize, Serialize};

use crate::config::ImproveConfig;
use crate::error::{CurriculumError, Result};
use crate::ledger::{EvaluationRow, Ledger};
use crate::vocabulary::{GenerationStatus, MetaKey, Suite};

/// The ledger's file name in a run directory.
pub const LEDGER_FILE: &str = "ledger.sqlite";

/// An open run directory.
pub struct RunDir {
    dir: PathBuf,
    ledger: Ledger,
}

/// An evaluation as [`RunDir::evaluated`] found or made it.
#[derive(Clone, Debug)]
pub struct Evaluated {
    /// The ledger's row.
    pub row: EvaluationRow,
    /// The episode file written now (absolute); `None` when the evaluation was recorded before.
    pub written: Option<PathBuf>,
}

impl RunDir {
    /// Creates a new run in `dir` for `cfg` and `arm`. The ledger appears complete (schema,
    /// config, curriculum, arm hash) or not at all: it is built aside, then renamed into place.
    /// An existing run is refused.
    pub fn create(dir: &Path, cfg: &ImproveConfig, arm: &ArmModel) -> Result<Self> {
        let path = dir.join(LEDGER_FILE);
        if path.exists() {
            return Err(CurriculumError::Run {
                path: dir.into(),
                message: "a run already exists here; pass --resume to continue it, or choose another --out".into(),
            });
        }
        cfg.validate("improve config")?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let fresh = dir.join(format!("{LEDGER_FILE}.new"));
        if fresh.exists() {
            std::fs::remove_file(&fresh).map_err(io(&fresh))?;
        }
        let l = Ledger::open(&fresh)?;
        l.set_meta(MetaKey::Config, &cfg.to_toml())?;
        l.set_meta(MetaKey::Curriculum, cfg.curriculum.name())?;
        l.set_meta(MetaKey::ArmHash, &arm_hash(arm))?;
        drop(l);
        std::fs::rename(&fresh, &path).map_err(io(&path))?;
        Self::open(dir)
    }

    /// Opens the run in `dir`; a directory without a ledger is refused with what it needs.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(LEDGER_FILE);
        if !path.exists() {
            return Err(CurriculumError::Run {
                path: dir.into(),
                message: format!(
                    "no {LEDGER_FILE} here; is this a `regrasp improve` run? (only an improve run has a champion, \
                     a report or a certificate)"
                ),
            });
        }
        Ok(Self { dir: dir.to_path_buf(), ledger: Ledger::open(&path)? })
    }

    /// The run directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The ledger, to record in.
    pub fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }

    /// The config the run was started with (its budget as last changed on resume).
    pub fn config(&self) -> Result<ImproveConfig> {
        let text = self.ledger.meta(MetaKey::Config)?.ok_or_else(|| self.corrupt("no config recorded"))?;
        ImproveConfig::parse(&text, &format!("{} (stored config)", self.ledger.path().display()))
    }

    /// The content hash of the arm the run was made for (16 hex digits; empty in a ledger
    /// without one).
    pub fn made_for(&self) -> Result<String> {
        Ok(self.ledger.meta(MetaKey::ArmHash)?.unwrap_or_default())
    }

    /// Refuses `arm` unless the run was made for it (same content hash).
    pub fn check_arm(&self, arm: &ArmModel) -> Result<()> {
        let stored = self.made_for()?;
        let this = arm_hash(arm);
        if stored != this {
            let shipped = regrasp_sim::NamedArm::ALL
                .into_iter()
                .find(|a| a.load().is_ok_and(|m| arm_hash(&m) == stored))
                .map_or(String::new(), |a| format!(" (the shipped `{}`: pass `--arm {}`)", a.name(), a.name()));
            return Err(CurriculumError::Run {
                path: self.dir.clone(),
                message: format!("the run was made for arm {stored}{shipped}, not this arm {this}"),
            });
        }
        Ok(())
    }

    /// Why the loop stopped; `None` while the run may go on (its champion may still change).
    pub fn stop_reason(&self) -> Result<Option<String>> {
        self.ledger.meta(MetaKey::StopReason)
    }

    /// Env steps the warm start took (0 before it ran); a stored value that is not a number is
    /// a corrupt ledger.
    pub fn warm_start_env_steps(&self) -> Result<u64> {
        match self.ledger.meta(MetaKey::WarmStartEnvSteps)? {
            None => Ok(0),
            Some(s) => s.parse().map_err(|_| self.corrupt(format!("warm_start_env_steps `{s}` is not a number"))),
        }
    }

    /// Records the env steps the warm start took.
    pub fn set_warm_start_env_steps(&self, env_steps: u64) -> Result<()> {
        self.ledger.set_meta(MetaKey::WarmStartEnvSteps, &env_steps.to_string())
    }

    /// Records why the loop stopped.
    pub fn set_stop_reason(&self, reason: &str) -> Result<()> {
        self.ledger.set_meta(MetaKey::StopReason, reason)
    }

    /// Generations the gate has decided.
    pub fn decided_generations(&self) -> Result<u32> {
        Ok(self.ledger.generations()?.iter().filter(|g| g.status.is_decided()).count() as u32)
    }

    /// The directory of checkpoint `hash`, as the ledger records it.
    pub fn checkpoint_dir(&self, hash: &str) -> Result<PathBuf> {
        let (rel, _, _) =
            self.ledger.checkpoint(hash)?.ok_or_else(|| self.corrupt(format!("checkpoint {hash} is not recorded")))?;
        Ok(self.dir.join(rel))
    }

    /// Loads checkpoint `hash` for `arm` (its content hash is verified on load).
    pub fn load_policy(&self, hash: &str, arm: &ArmModel) -> Result<LoadedPolicy> {
        Ok(LoadedPolicy::load(&self.checkpoint_dir(hash)?, arm, ObsLayout::new(arm.dof()).len())?)
    }

    /// Where the episodes of `policy` on `suite` are stored, relative to the run directory.
    pub fn episode_file(policy: &str, suite: Suite) -> String {
        format!("episodes/{policy}-{}.jsonl", suite.file_stem())
    }

    /// The folder of the run's recordings (`rerun/`).
    pub fn recordings(&self) -> PathBuf {
        self.dir.join("rerun")
    }

    /// The evaluation of `policy` on `suite`: from the ledger, or run now on `scenarios`, its
    /// episodes written to [`Self::episode_file`] and recorded at `generation`. `on_start` hears
    /// when an evaluation starts. This is the one path by which a run's evaluations are made.
    pub fn evaluated(
        &mut self,
        policy: &LoadedPolicy,
        suite: Suite,
        generation: u32,
        arm: &Arc<ArmModel>,
        env_cfg: &Arc<EnvConfig>,
        scenarios: &[Scenario],
        on_start: &mut dyn FnMut(&str),
    ) -> Result<Evaluated> {
        if let Some(row) = self.ledger.evaluation(&policy.hash, suite)? {
            return Ok(Evaluated { row, written: None });
        }
        on_start(&format!("evaluating {} on {suite} ({} scenarios)", policy.hash, scenarios.len()));
        let (report, records) = evaluate(policy, arm, env_cfg, &suite.to_string(), scenarios, &|| {})?;
        let rel = Self::episode_file(&policy.hash, suite);
        let file = self.dir.join(&rel);
        write_episodes(&file, &records)?;
        self.ledger.record_evaluation(generation, &report, &records, Some(&rel))?;
        let row = self
            .ledger
            .evaluation(&policy.hash, suite)?
            .ok_or_else(|| self.corrupt(format!("evaluation {} / {suite} vanished after recording", policy.hash)))?;
        Ok(Evaluated { row, written: Some(file) })
    }

    /// The episode file of an evaluation (absolute).
    fn episode_file_of(&self, row: &EvaluationRow) -> Result<PathBuf> {
        let rel = row
            .episode_file
            .as_ref()
            .ok_or_else(|| self.corrupt(format!("evaluation {} / {} stored no episode file", row.policy, row.suite)))?;
        Ok(self.dir.join(rel))
    }

    /// The stored episode `id` (`<policy>/<suite>/<index>`); an id that names no evaluation or
    /// an index past its end says what there is.
    pub fn episode(&self, id: &EpisodeId) -> Result<StoredEpisode> {
        let EpisodeId::InRun { policy, suite, index } = id else {
            return Err(CurriculumError::Run {
                path: self.dir.clone(),
                message: format!("episode id `{id}`: a run's episodes are <policy>/<suite>/<index>"),
            });
        };
        let no = |why: String| CurriculumError::Run { path: self.dir.clone(), message: format!("episode {id}: {why}") };
        let suite: Suite = suite.parse().map_err(no)?;
        let row = self.ledger.evaluation(policy, suite)?.ok_or_else(|| {
            no(format!("{} has no evaluation of policy {policy} on suite {suite}", self.ledger.path().display()))
        })?;
        Ok(file_episode(&self.episode_file_of(&row)?, *index, id)?)
    }

    /// Every stored episode of the run, in evaluation order (evaluations without an episode
    /// file, such as real-world trials, hold none to replay).
    pub fn episodes(&self) -> Result<Vec<StoredEpisode>> {
        self.episodes_of(None)
    }

    /// [`Self::episodes`], only those of `suite` when one is given.
    pub fn episodes_of(&self, suite: Option<Suite>) -> Result<Vec<StoredEpisode>> {
        let mut out = Vec::new();
        let rows = self.ledger.evaluations()?;
        for row in rows.iter().filter(|r| r.episode_file.is_some() && suite.is_none_or(|s| r.suite == s)) {
            let records = read_episodes(&self.episode_file_of(row)?)?;
            out.extend(
                records.into_iter().enumerate().map(|(index, record)| StoredEpisode {
                    id: EpisodeId::in_run(&row.policy, row.suite, index),
                    record,
                }),
            );
        }
        Ok(out)
    }

    /// Every stored episode that failed, in evaluation order, optionally only of one
    /// generation, suite or failure mode; at most `limit`.
    pub fn failures(
        &self,
        generation: Option<u32>,
        suite: Option<Suite>,
        mode: Option<OutcomeKind>,
        limit: usize,
    ) -> Result<Vec<StoredEpisode>> {
        let mut out = Vec::new();
        let rows = self.ledger.evaluations()?;
        let wanted = rows.iter().filter(|r| {
            generation.is_none_or(|g| r.generation == g)
                && suite.is_none_or(|s| r.suite == s)
                && r.episodes > r.successes
        });
        for row in wanted {
            let file = self.episode_file_of(row)?;
            for (index, record) in read_episodes(&file)?.into_iter().enumerate() {
                let kind = record.outcome.kind;
                if kind.is_failure() && mode.is_none_or(|m| m == kind) && out.len() < limit {
                    out.push(StoredEpisode { id: EpisodeId::in_run(&row.policy, row.suite, index), record });
                }
            }
        }
        Ok(out)
    }

    /// The certificate rule: checkpoint `hash` (default: the champion) may drive `arm` only if
    /// this run's ledger records a generation that promoted it through the gate, the run was
    /// made for this arm, and the checkpoint on disk is the one promoted (its content hash is
    /// verified on load). There is no override; this is the only constructor of [`Certified`].
    pub fn certify(&self, hash: Option<&str>, arm: &ArmModel) -> Result<Certified> {
        let ledger_path = self.ledger.path();
        let hash = match hash {
            Some(h) => h.to_string(),
            None => self
                .ledger
                .champion()?
                .map(|(h, _)| h)
                .ok_or_else(|| uncertified(format!("{} has no champion", ledger_path.display())))?,
        };
        let (rel, _, _) = self
            .ledger
            .checkpoint(&hash)?
            .ok_or_else(|| uncertified(format!("checkpoint {hash} is not in {}", ledger_path.display())))?;
        let dir = self.dir.join(rel);
        let promoted = self.ledger.generations()?.into_iter().find(|g| {
            g.status == GenerationStatus::Promoted
                && g.challenger.as_deref() == Some(hash.as_str())
                && g.decision.as_ref().is_some_and(|d| d.promote)
        });
        let Some(generation) = promoted else {
            return Err(uncertified(format!(
                "checkpoint {hash} ({}) was never promoted through the simulation gates",
                dir.display()
            )));
        };
        let stored_arm = self.ledger.meta(MetaKey::ArmHash)?.unwrap_or_default();
        let this_arm = arm_hash(arm);
        if stored_arm != this_arm {
            return Err(uncertified(format!(
                "checkpoint {hash} was promoted in {} for arm {stored_arm}, not for this arm ({this_arm})",
                ledger_path.display()
            )));
        }
        let policy = LoadedPolicy::load(&dir, arm, ObsLayout::new(arm.dof()).len())
            .map_err(|e| uncertified(format!("{}: {e}", dir.display())))?;
        if policy.hash != hash {
            return Err(uncertified(format!(
                "{} holds checkpoint {}, but the ledger promoted {hash}",
                dir.display(),
                policy.hash
            )));
        }
        let certificate = Certificate {
            checkpoint: hash,
            arm_hash: this_arm,
            source: format!("{} generation {}", ledger_path.display(), generation.generation),
            evidence: generation
                .decision
                .map(|d| d.checks.iter().map(|c| format!("{}: {}", c.name, c.detail)).collect::<Vec<_>>().join("; "))
                .unwrap_or_default(),
        };
        Ok(Certified { policy, certificate })
    }

    fn corrupt(&self, what: impl Into<String>) -> CurriculumError {
        CurriculumError::Corrupt { path: self.ledger.path().into(), what: what.into() }
    }
}

/// Evidence that a checkpoint passed the simulation gates for an arm model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    /// Content hash of the promoted checkpoint.
    pub checkpoint: String,
    /// Content hash of the arm description it was promoted for (16 hex digits).
    pub arm_hash: String,
    /// Where the promotion is recorded (ledger path and generation).
    pub source: String,
    /// The gate's reasons for the promotion.
    pub evidence: String,
}

/// A policy that the certificate rule ([`RunDir::certify`]) admitted for an arm, with its
/// certificate. Its fields are private and it has no other constructor, so holding one proves
/// the rule was applied.
#[derive(Clone)]
pub struct Certified {
    policy: LoadedPolicy,
    certificate: Certificate,
}

impl Certified {
    /// The admitted policy.
    pub fn policy(&self) -> &LoadedPolicy {
        &self.policy
    }

    /// Why it was admitted.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

impl std::fmt::Debug for Certified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certified").field("certificate", &self.certificate).finish_non_exhaustive()
    }
}

/// An arm's content hash as runs store it (16 hex digits).
pub fn arm_hash(arm: &ArmModel) -> String {
    format!("{:016x}", arm.content_hash)
}

fn uncertified(why: String) -> CurriculumError {
    CurriculumError::Uncertified(why)
}

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> CurriculumError + '_ {
    move |source| CurriculumError::Io { path: path.to_path_buf(), source }
}
