//! Evaluation: a policy's deterministic actions (the action mean) on every scenario of a suite,
//! in parallel; success rate with its 95 % Wilson interval, counts per outcome, mean time to
//! lift, and one record per episode (scenario + actions + final state hash) for exact replay.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use regrasp_sim::outcome::OutcomeKind;
use regrasp_sim::{Action, ArmModel, EnvConfig, EpisodeSafety, GraspEnv, Outcome, Scenario};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::error::{PolicyError, Result};
use crate::inference::{PolicyNet, Scratch};
use crate::normalizer::RunningNorm;
use crate::stats::wilson95;

/// A policy ready to act: the inference net, its normaliser and its identity.
#[derive(Clone, Debug)]
pub struct LoadedPolicy {
    /// Inference weights.
    pub net: PolicyNet,
    /// Observation normaliser.
    pub norm: RunningNorm,
    /// Content hash of the checkpoint.
    pub hash: String,
}

impl LoadedPolicy {
    /// Loads a checkpoint directory and checks that it fits `arm` and `obs_dim`.
    pub fn load(path: &Path, arm: &ArmModel, obs_dim: usize) -> Result<Self> {
        let c = Checkpoint::load(path)?;
        c.check_fits(path, arm, obs_dim)?;
        Self::from_checkpoint(&c)
    }

    /// A freshly initialised policy of `hidden` units per layer for `obs_dim` observations
    /// (seeded by `seed`): what an untrained network costs, for benchmarks.
    pub fn untrained(obs_dim: usize, hidden: usize, seed: u64) -> Self {
        let model = crate::model::ActorCriticConfig::new(obs_dim, regrasp_sim::ACTION_DIM)
            .with_hidden(hidden)
            .init(seed, &burn::prelude::Device::flex());
        Self { net: model.to_inference(), norm: RunningNorm::new(obs_dim), hash: "untrained".into() }
    }

    /// Times `actions` deterministic actions on this thread for a slowly changing observation
    /// of `obs_dim` values; returns microseconds per action and a checksum of the actions (so
    /// the work cannot be optimised away).
    pub fn time_actions(
        &self,
        obs_dim: usize,
        actions: usize,
        limits: &regrasp_sim::config::ActionLimits,
    ) -> Result<(f64, f32)> {
        let mut s = Scratch::default();
        let mut obs = vec![0.1f32; obs_dim.max(1)];
        let n = actions.max(1);
        let start = Instant::now();
        let mut checksum = 0.0f32;
        for i in 0..n {
            let k = i % obs.len();
            obs[k] += 1e-3;
            checksum += self.act(&obs, limits, &mut s)?.gripper;
        }
        Ok((start.elapsed().as_secs_f64() * 1e6 / n as f64, checksum))
    }

    /// From a checkpoint in memory.
    pub fn from_checkpoint(c: &Checkpoint) -> Result<Self> {
        let model = c.model(&burn::prelude::Device::flex())?;
        Ok(Self { net: model.to_inference(), norm: c.normalizer.clone(), hash: c.meta.content_hash.clone() })
    }

    /// The deterministic action for a raw observation; a non-finite output is an error.
    pub fn act(&self, obs: &[f32], limits: &regrasp_sim::config::ActionLimits, s: &mut Scratch) -> Result<Action> {
        let a = self.net.act(&self.norm, obs, s);
        if a.iter().any(|v| !v.is_finite()) {
            return Err(PolicyError::NonFiniteAction(a));
        }
        Ok(Action::from_normalized(&a, limits))
    }
}

/// What an evaluated episode measured beyond its outcome: safety figures for the promotion
/// gate and the learning signal that prioritised replay ranks scenarios by.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct EpisodeMetrics {
    /// Peak contact forces (N) and joint-limit steps.
    pub safety: EpisodeSafety,
    /// Mean squared second difference of successive normalised actions (the actions command
    /// tool velocity, so this is jerk × control period², in normalised units).
    pub action_jerk: f64,
    /// Discounted return of the episode (the env's reward and γ).
    pub discounted_return: f64,
    /// The policy's value estimate of the first observation.
    pub initial_value: f64,
}

/// How a stored episode is known, with one text form: `<policy>/<suite>/<index>` in a run
/// (the suite may itself contain `/`, as `boundary/3` does), `<index>` (0-based) in an
/// episode file. Recordings, `regrasp replay` and the viewer all print and parse it here.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EpisodeId {
    /// Episode `index` of the evaluation of `policy` (a content hash) on `suite` in a run.
    InRun {
        /// The policy's content hash.
        policy: String,
        /// The suite, as the run's ledger names it.
        suite: String,
        /// 0-based position in the evaluation's episode file.
        index: usize,
    },
    /// Episode `index` (0-based) of an episode file.
    InFile {
        /// 0-based line among the file's episodes.
        index: usize,
    },
}

impl EpisodeId {
    /// Episode `index` of `policy` on `suite` in a run.
    pub fn in_run(policy: impl Into<String>, suite: impl std::fmt::Display, index: usize) -> Self {
        EpisodeId::InRun { policy: policy.into(), suite: suite.to_string(), index }
    }

    /// The 0-based index in its evaluation or file.
    pub fn index(&self) -> usize {
        match self {
            EpisodeId::InRun { index, .. } | EpisodeId::InFile { index } => *index,
        }
    }
}

impl std::fmt::Display for EpisodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EpisodeId::InRun { policy, suite, index } => write!(f, "{policy}/{suite}/{index}"),
            EpisodeId::InFile { index } => write!(f, "{index}"),
        }
    }
}

impl std::str::FromStr for EpisodeId {
    type Err = String;
    fn from_str(id: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "episode id `{id}`: expected <policy>/<suite>/<index> in a run (e.g. 0123abcd4567ef89/heldout/17) or \
                 <index> in an episode file"
            )
        };
        let Some((policy, rest)) = id.split_once('/') else {
            return id.parse().map(|index| EpisodeId::InFile { index }).map_err(|_| bad());
        };
        let (suite, index) = rest.rsplit_once('/').ok_or_else(bad)?;
        let index = index.parse().map_err(|_| bad())?;
        if policy.is_empty() || suite.is_empty() {
            return Err(bad());
        }
        Ok(EpisodeId::InRun { policy: policy.into(), suite: suite.into(), index })
    }
}

impl Serialize for EpisodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A stored episode and the id it is known by.
#[derive(Clone, Debug)]
pub struct StoredEpisode {
    /// Its id.
    pub id: EpisodeId,
    /// The record.
    pub record: EpisodeRecord,
}

/// The episodes of an episode file, each known by its index.
pub fn file_episodes(path: &Path) -> Result<Vec<StoredEpisode>> {
    Ok(read_episodes(path)?
        .into_iter()
        .enumerate()
        .map(|(index, record)| StoredEpisode { id: EpisodeId::InFile { index }, record })
        .collect())
}

/// Episode `index` of the episode file `path`; an index past its end names how many it holds.
pub fn file_episode(path: &Path, index: usize, id: &EpisodeId) -> Result<StoredEpisode> {
    let records = read_episodes(path)?;
    let n = records.len();
    let record = records.into_iter().nth(index).ok_or_else(|| PolicyError::NoEpisode {
        id: id.to_string(),
        why: format!("{} holds only {n} episodes", path.display()),
    })?;
    Ok(StoredEpisode { id: id.clone(), record })
}

/// One evaluated episode: enough to replay it exactly.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpisodeRecord {
    /// The scenario.
    pub scenario: Scenario,
    /// Content hash of the policy that acted.
    pub policy_hash: String,
    /// The actions, in order.
    pub actions: Vec<Action>,
    /// Hash of the final state.
    pub final_state_hash: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Safety and learning figures (absent in records written before they existed).
    #[serde(default)]
    pub metrics: EpisodeMetrics,
}

impl EpisodeRecord {
    /// The record of an episode of `scenario` run by a privileged controller named `label`
    /// (`expert`, `scripted`: its "policy").
    pub fn of_controller(scenario: Scenario, run: regrasp_sim::vec_env::EpisodeSummary, label: &str) -> Self {
        EpisodeRecord {
            scenario,
            policy_hash: label.to_string(),
            actions: run.actions,
            final_state_hash: run.final_state_hash,
            outcome: run.outcome,
            metrics: EpisodeMetrics::default(),
        }
    }
}

/// Which episodes to keep by how they ended: `success`, `failure`, or one outcome kind by
/// name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeFilter {
    /// Successes.
    Success,
    /// Every failure.
    Failure,
    /// One outcome kind.
    Kind(OutcomeKind),
}

impl OutcomeFilter {
    /// Whether an episode that ended as `kind` is kept.
    pub fn keeps(self, kind: OutcomeKind) -> bool {
        match self {
            OutcomeFilter::Success => !kind.is_failure(),
            OutcomeFilter::Failure => kind.is_failure(),
            OutcomeFilter::Kind(k) => k == kind,
        }
    }
}

impl std::str::FromStr for OutcomeFilter {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "success" => Ok(OutcomeFilter::Success),
            "failure" => Ok(OutcomeFilter::Failure),
            _ => s.parse().map(OutcomeFilter::Kind).map_err(|e| format!("{e} (or `success`, `failure`)")),
        }
    }
}

/// The result of evaluating a policy on a suite.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EvalReport {
    /// Suite name.
    pub suite: String,
    /// Policy content hash.
    pub policy_hash: String,
    /// Episodes.
    pub episodes: u64,
    /// Successes.
    pub successes: u64,
    /// Success rate.
    pub success_rate: f64,
    /// 95 % Wilson interval of the success rate.
    pub ci95: [f64; 2],
    /// Episodes per outcome (every outcome listed).
    pub outcomes: BTreeMap<String, u64>,
    /// Mean time (s) from the start until the object reached the success height, over successes.
    pub mean_time_to_lift_s: Option<f64>,
    /// Wall-clock seconds.
    pub wall_s: f64,
}

/// Runs `policy` on every scenario (in parallel; results do not depend on the thread count).
pub fn evaluate(
    policy: &LoadedPolicy,
    arm: &Arc<ArmModel>,
    env_cfg: &Arc<EnvConfig>,
    suite: &str,
    scenarios: &[Scenario],
    on_done: &(dyn Fn() + Sync),
) -> Result<(EvalReport, Vec<EpisodeRecord>)> {
    let start = Instant::now();
    let records: Vec<EpisodeRecord> = scenarios
        .par_iter()
        .map(|s| -> Result<EpisodeRecord> {
            let mut env = GraspEnv::new(Arc::clone(arm), Arc::clone(env_cfg))?;
            let mut obs = env.reset(s)?;
            let limits = env.config().action;
            let mut scratch = Scratch::default();
            let mut x = vec![0.0f32; obs.len()];
            policy.norm.apply(&obs, &mut x);
            let initial_value = policy.net.value(&x, &mut scratch) as f64;
            let gamma = env.config().reward.gamma;
            let (mut ret, mut discount, mut jerk_sum) = (0.0f64, 1.0f64, 0.0f64);
            let mut normalized: Vec<[f32; regrasp_sim::ACTION_DIM]> = Vec::new();
            let mut actions = Vec::new();
            loop {
                let a = policy.act(&obs, &limits, &mut scratch)?;
                let step = env.step(&a)?;
                ret += discount * step.reward;
                discount *= gamma;
                normalized.push(a.to_normalized(&limits));
                if let [.., p2, p1, p0] = normalized.as_slice() {
                    jerk_sum += (0..regrasp_sim::ACTION_DIM)
                        .map(|k| ((p0[k] - 2.0 * p1[k] + p2[k]) as f64).powi(2))
                        .sum::<f64>();
                }
                actions.push(a);
                obs = step.obs;
                if let Some(outcome) = step.outcome {
                    on_done();
                    let metrics = EpisodeMetrics {
                        safety: env.safety().unwrap_or_default(),
                        action_jerk: jerk_sum / normalized.len().saturating_sub(2).max(1) as f64,
                        discounted_return: ret,
                        initial_value,
                    };
                    return Ok(EpisodeRecord {
                        scenario: *s,
                        policy_hash: policy.hash.clone(),
                        actions,
                        final_state_hash: env.state_hash(),
                        outcome,
                        metrics,
                    });
                }
            }
        })
        .collect::<Result<_>>()?;
    let report = EvalReport::tally(suite, &policy.hash, &records, start.elapsed().as_secs_f64());
    Ok((report, records))
}

impl EvalReport {
    /// One line: the suite, successes of episodes with the rate and its 95 % interval (%), and
    /// the policy.
    pub fn headline(&self) -> String {
        format!(
            "{}: {}/{} succeeded ({:.1} %, 95 % CI {:.1}–{:.1} %), policy {}",
            self.suite,
            self.successes,
            self.episodes,
            100.0 * self.success_rate,
            100.0 * self.ci95[0],
            100.0 * self.ci95[1],
            self.policy_hash
        )
    }

    /// The report of `records` (episodes of policy `policy_hash` on `suite`, in `wall_s`
    /// seconds): successes with their 95 % Wilson interval, every outcome counted, and the mean
    /// time to lift over the successes whose evidence measured a hold (simulated ones; a
    /// real-world verdict carries none).
    pub fn tally(suite: &str, policy_hash: &str, records: &[EpisodeRecord], wall_s: f64) -> Self {
        let outcomes = OutcomeKind::tally(records.iter().map(|r| r.outcome.kind));
        let lift_times: Vec<f64> = records
            .iter()
            .filter(|r| r.outcome.kind == OutcomeKind::Success && r.outcome.evidence.held_time > 0.0)
            .map(|r| r.outcome.evidence.time - r.outcome.evidence.held_time)
            .collect();
        let n = records.len() as u64;
        let successes = outcomes[OutcomeKind::Success.name()];
        let (lo, hi) = wilson95(successes, n);
        EvalReport {
            suite: suite.to_string(),
            policy_hash: policy_hash.to_string(),
            episodes: n,
            successes,
            success_rate: if n > 0 { successes as f64 / n as f64 } else { 0.0 },
            ci95: [lo, hi],
            outcomes,
            mean_time_to_lift_s: if lift_times.is_empty() {
                None
            } else {
                Some(lift_times.iter().sum::<f64>() / lift_times.len() as f64)
            },
            wall_s,
        }
    }
}

/// Reads an episode file (JSON lines, as [`write_episodes`] writes them); a bad line is an
/// error that names the file and the line.
pub fn read_episodes(path: &Path) -> Result<Vec<EpisodeRecord>> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io { path: path.to_path_buf(), source })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| PolicyError::BadRecord {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Writes episode records as JSON lines.
pub fn write_episodes(path: &Path, records: &[EpisodeRecord]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        let line = serde_json::to_string(r)
            .map_err(|e| PolicyError::Config { source_name: path.display().to_string(), message: e.to_string() })?;
        text.push_str(&line);
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| PolicyError::Io { path: dir.to_path_buf(), source })?;
    }
    // Written aside, then renamed into place: a reader (or a second writer of the same,
    // deterministic episodes) never sees a half-written file.
    let aside = path.with_extension(format!("jsonl.{}.tmp", std::process::id()));
    std::fs::write(&aside, text).map_err(|source| PolicyError::Io { path: aside.clone(), source })?;
    std::fs::rename(&aside, path).map_err(|source| PolicyError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_ids_print_and_parse_back_with_suites_that_contain_a_slash() {
        for id in [
            EpisodeId::in_run("0123abcd4567ef89", "heldout", 17),
            EpisodeId::in_run("0123abcd4567ef89", "boundary/3", 0),
            EpisodeId::in_run("p", "real/12", 4),
            EpisodeId::InFile { index: 2 },
        ] {
            assert_eq!(id.to_string().parse::<EpisodeId>(), Ok(id.clone()));
            assert_eq!(serde_json::to_value(&id).unwrap(), serde_json::json!(id.to_string()));
        }
        assert_eq!("p/boundary/3/9".parse::<EpisodeId>().unwrap(), EpisodeId::in_run("p", "boundary/3", 9));
        for bad in ["", "x", "-1", "p/heldout", "/heldout/1", "p//1", "p/heldout/x", "p/heldout/-2"] {
            let e = bad.parse::<EpisodeId>().unwrap_err();
            assert!(e.contains(&format!("`{bad}`")) && e.contains("<policy>/<suite>/<index>"), "{e}");
        }
    }
}
