//! The run ledger: one SQLite file per run (`runs/<id>/ledger.sqlite`, bundled SQLite) holding
//! the config, checkpoints and their lineage, generations with their curriculum, every
//! evaluation and its episodes, gate decisions with reasons, and the bandit's state. Each
//! state change is one transaction, so a crash at any moment leaves the previous state intact.
//! The schema version is SQLite's `user_version`; an unknown version is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regrasp_policy::eval::{EpisodeMetrics, EpisodeRecord, EvalReport};
use regrasp_policy::ppo::TrainingEpisode;
use regrasp_sim::{OutcomeKind, Scenario};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::archive::{ArchiveEntry, FailureArchive};
use crate::bandit::Exp3;
use crate::error::{CurriculumError, Result};
use crate::gate::{Decision, Judged};
use crate::generators::CurriculumPlan;
use crate::vocabulary::{GenerationStatus, MetaKey, Suite};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = 3;

/// Migrations from version `i + 1` to `i + 2`. A new ledger is created at version 1 and
/// migrated, so every ledger has gone through the same steps.
const MIGRATIONS: &[&str] = &[
    // 1 → 2: real-world trials (`regrasp hw validate`): the operator's verdict and the
    // host's evidence for each episode of a `real/…` evaluation.
    "CREATE TABLE real_trials (
        evaluation INTEGER NOT NULL REFERENCES evaluations(id), idx INTEGER NOT NULL,
        verdict TEXT NOT NULL, evidence TEXT NOT NULL, PRIMARY KEY (evaluation, idx));",
    // 2 → 3: the episodes each challenger's PPO rollouts ended, with PLR's score (the
    // learner's own failures and learning potential, which `replay` draws on).
    "CREATE TABLE training_episodes (
        generation INTEGER NOT NULL, iteration INTEGER NOT NULL, idx INTEGER NOT NULL, seed INTEGER NOT NULL,
        success INTEGER NOT NULL, steps INTEGER NOT NULL, episode_return REAL NOT NULL,
        positive_value_loss REAL NOT NULL, PRIMARY KEY (generation, iteration, idx));",
];

/// One physical episode of a real-world evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RealTrial {
    /// The operator's verdict (an outcome name, e.g. `success`, `missed_grasp`).
    pub verdict: String,
    /// What the host measured (stop reason, gripper opening and load, lift), as JSON.
    pub evidence: serde_json::Value,
}

const SCHEMA_V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE checkpoints (
    hash TEXT PRIMARY KEY, parent TEXT, stage TEXT NOT NULL, env_steps INTEGER NOT NULL, path TEXT NOT NULL);
CREATE TABLE champion (id INTEGER PRIMARY KEY CHECK (id = 1), hash TEXT NOT NULL REFERENCES checkpoints(hash),
    generation INTEGER NOT NULL);
CREATE TABLE generations (
    generation INTEGER PRIMARY KEY, champion TEXT NOT NULL, seed INTEGER NOT NULL, budget INTEGER NOT NULL,
    lead TEXT, curriculum TEXT NOT NULL, status TEXT NOT NULL, challenger TEXT, promoted INTEGER,
    reasons TEXT, decision TEXT, heldout_gain REAL, p_value REAL);
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY, policy TEXT NOT NULL, suite TEXT NOT NULL, generation INTEGER NOT NULL,
    episodes INTEGER NOT NULL, successes INTEGER NOT NULL, ci_lo REAL NOT NULL, ci_hi REAL NOT NULL,
    outcomes TEXT NOT NULL, mean_time_to_lift REAL, episode_file TEXT, UNIQUE (policy, suite));
CREATE TABLE episodes (
    evaluation INTEGER NOT NULL REFERENCES evaluations(id), idx INTEGER NOT NULL, seed INTEGER NOT NULL,
    outcome TEXT NOT NULL, scenario TEXT NOT NULL, metrics TEXT NOT NULL, final_state_hash TEXT NOT NULL,
    PRIMARY KEY (evaluation, idx));
CREATE TABLE bandit (generation INTEGER PRIMARY KEY, state TEXT NOT NULL);
";

/// A generation's row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GenerationRow {
    /// Generation number (1-based; 0 is the warm start).
    pub generation: u32,
    /// Champion the challenger started from.
    pub champion: String,
    /// Training seed of the challenger.
    pub seed: u64,
    /// PPO env steps of the challenger.
    pub budget: u64,
    /// Lead generator, if the bandit picked one.
    pub lead: Option<String>,
    /// The curriculum.
    pub curriculum: CurriculumPlan,
    /// Training until decided, then promoted or rolled back.
    pub status: GenerationStatus,
    /// The challenger's checkpoint hash, once trained.
    pub challenger: Option<String>,
    /// The gate's verdict, once decided.
    pub decision: Option<Decision>,
}

/// An evaluation's row (without its episodes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EvaluationRow {
    /// Row id.
    pub id: i64,
    /// Policy hash.
    pub policy: String,
    /// Suite.
    pub suite: Suite,
    /// Generation in which it was evaluated.
    pub generation: u32,
    /// Episodes.
    pub episodes: u64,
    /// Successes.
    pub successes: u64,
    /// 95 % Wilson interval.
    pub ci95: [f64; 2],
    /// Episodes per outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Mean time to lift (s), over successes.
    pub mean_time_to_lift_s: Option<f64>,
    /// The episode file (JSON lines of `EpisodeRecord`), relative to the run directory.
    pub episode_file: Option<String>,
}

impl EvaluationRow {
    /// Success rate.
    pub fn success_rate(&self) -> f64 {
        if self.episodes == 0 { 0.0 } else { self.successes as f64 / self.episodes as f64 }
    }
}

/// The open ledger of a run.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

/// Sets one `meta` value (key ?1, value ?2), inserting or replacing it.
const SET_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2";

impl Ledger {
    fn err(&self) -> impl Fn(rusqlite::Error) -> CurriculumError + '_ {
        move |source| CurriculumError::Ledger { path: self.path.clone(), source }
    }

    fn corrupt(&self, what: impl Into<String>) -> CurriculumError {
        CurriculumError::Corrupt { path: self.path.clone(), what: what.into() }
    }

    /// Opens a ledger, creating the schema in a new file; refuses an unknown schema version.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|source| CurriculumError::Ledger { path: path.into(), source })?;
        let mut l = Ledger { conn, path: path.to_path_buf() };
        l.conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(l.err())?;
        l.conn.pragma_update(None, "foreign_keys", true).map_err(l.err())?;
        let version: i64 = l.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(l.err())?;
        let tables: i64 = l
            .conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))
            .map_err(l.err())?;
        if version == 0 && tables == 0 {
            let tx = l.conn.transaction().map_err(|source| CurriculumError::Ledger { path: path.into(), source })?;
            tx.execute_batch(SCHEMA_V1).map_err(|source| CurriculumError::Ledger { path: path.into(), source })?;
            tx.pragma_update(None, "user_version", 1)
                .map_err(|source| CurriculumError::Ledger { path: path.into(), source })?;
            tx.commit().map_err(|source| CurriculumError::Ledger { path: path.into(), source })?;
            l.migrate(1)?;
            return Ok(l);
        }
        if version > SCHEMA_VERSION {
            return Err(CurriculumError::Schema {
                path: path.into(),
                found: version,
                supported: SCHEMA_VERSION,
                hint: "it was written by a newer regrasp; use that version to read it",
            });
        }
        if version < 1 {
            return Err(CurriculumError::Schema {
                path: path.into(),
                found: version,
                supported: SCHEMA_VERSION,
                hint: "this is not a regrasp ledger",
            });
        }
        if version < SCHEMA_VERSION {
            l.migrate(version)?;
        }
        Ok(l)
    }

    fn migrate(&mut self, from: i64) -> Result<()> {
        let path = self.path.clone();
        let e = |source| CurriculumError::Ledger { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip((from - 1) as usize) {
            tx.execute_batch(sql).map_err(e)?;
            tx.pragma_update(None, "user_version", i as i64 + 2).map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `meta` value.
    pub fn meta(&self, key: MetaKey) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key.as_str()], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// Sets a `meta` value.
    pub fn set_meta(&self, key: MetaKey, value: &str) -> Result<()> {
        self.conn.execute(SET_META, [key.as_str(), value]).map(|_| ()).map_err(self.err())
    }

    /// Replaces the stored config by `config_toml` (a changed budget) and forgets the stop
    /// reason, in one transaction.
    pub fn set_budget(&mut self, config_toml: &str) -> Result<()> {
        let path = self.path.clone();
        let e = |source| CurriculumError::Ledger { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        tx.execute(SET_META, [MetaKey::Config.as_str(), config_toml]).map_err(e)?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [MetaKey::StopReason.as_str()]).map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Records a checkpoint (idempotent).
    pub fn record_checkpoint(
        &self,
        hash: &str,
        parent: Option<&str>,
        stage: &str,
        env_steps: u64,
        path: &str,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO checkpoints (hash, parent, stage, env_steps, path) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, parent, stage, env_steps as i64, path],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// A checkpoint's directory (relative to the run) and env steps.
    pub fn checkpoint(&self, hash: &str) -> Result<Option<(String, u64, Option<String>)>> {
        self.conn
            .query_row("SELECT path, env_steps, parent FROM checkpoints WHERE hash = ?1", [hash], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, Option<String>>(2)?))
            })
            .optional()
            .map_err(self.err())
    }

    /// Sets the first champion (generation 0).
    pub fn set_initial_champion(&self, hash: &str) -> Result<()> {
        self.conn
            .execute("INSERT OR IGNORE INTO champion (id, hash, generation) VALUES (1, ?1, 0)", [hash])
            .map(|_| ())
            .map_err(self.err())
    }

    /// The champion's hash and the generation that made it champion.
    pub fn champion(&self) -> Result<Option<(String, u32)>> {
        self.conn
            .query_row("SELECT hash, generation FROM champion WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u32))
            })
            .optional()
            .map_err(self.err())
    }

    /// Starts a generation (idempotent: an existing row is kept).
    pub fn start_generation(&self, g: &GenerationRow) -> Result<()> {
        let plan = serde_json::to_string(&g.curriculum).map_err(|e| self.corrupt(e.to_string()))?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO generations (generation, champion, seed, budget, lead, curriculum, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    g.generation,
                    g.champion,
                    g.seed as i64,
                    g.budget as i64,
                    g.lead,
                    plan,
                    GenerationStatus::Training.as_str()
                ],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Notes the challenger of a generation once trained.
    pub fn set_challenger(&self, generation: u32, hash: &str) -> Result<()> {
        self.conn
            .execute("UPDATE generations SET challenger = ?2 WHERE generation = ?1", params![generation, hash])
            .map(|_| ())
            .map_err(self.err())
    }

    fn row_to_generation(
        &self,
        r: &rusqlite::Row,
    ) -> rusqlite::Result<(GenerationRow, String, String, Option<String>)> {
        Ok((
            GenerationRow {
                generation: r.get::<_, i64>(0)? as u32,
                champion: r.get(1)?,
                seed: r.get::<_, i64>(2)? as u64,
                budget: r.get::<_, i64>(3)? as u64,
                lead: r.get(4)?,
                curriculum: CurriculumPlan::uniform(&Default::default()),
                status: GenerationStatus::Training,
                challenger: r.get(7)?,
                decision: None,
            },
            r.get::<_, String>(6)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<String>>(8)?,
        ))
    }

    /// Every generation, in order.
    pub fn generations(&self) -> Result<Vec<GenerationRow>> {
        let mut st = self
            .conn
            .prepare("SELECT generation, champion, seed, budget, lead, curriculum, status, challenger, decision FROM generations ORDER BY generation")
            .map_err(self.err())?;
        let rows: Vec<_> = st
            .query_map([], |r| self.row_to_generation(r))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(|(mut g, status, plan, decision)| {
                g.status = status.parse().map_err(|e| self.corrupt(format!("generation {}: {e}", g.generation)))?;
                g.curriculum = serde_json::from_str(&plan)
                    .map_err(|e| self.corrupt(format!("generation {} curriculum: {e}", g.generation)))?;
                g.decision = match decision {
                    Some(d) => Some(
                        serde_json::from_str(&d)
                            .map_err(|e| self.corrupt(format!("generation {} decision: {e}", g.generation)))?,
                    ),
                    None => None,
                };
                Ok(g)
            })
            .collect()
    }

    /// An evaluation, if it was recorded.
    pub fn evaluation(&self, policy: &str, suite: Suite) -> Result<Option<EvaluationRow>> {
        Ok(self.evaluations_where("WHERE policy = ?1 AND suite = ?2", &[policy, &suite.to_string()])?.pop())
    }

    /// Every recorded evaluation, in the order they were made (the episode index of a run).
    pub fn evaluations(&self) -> Result<Vec<EvaluationRow>> {
        self.evaluations_where("ORDER BY id", &[])
    }

    fn evaluations_where(&self, clause: &str, params: &[&str]) -> Result<Vec<EvaluationRow>> {
        let sql = format!(
            "SELECT id, policy, suite, generation, episodes, successes, ci_lo, ci_hi, outcomes, mean_time_to_lift, episode_file
             FROM evaluations {clause}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    [r.get::<_, f64>(6)?, r.get::<_, f64>(7)?],
                    r.get::<_, String>(8)?,
                    r.get::<_, Option<f64>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ))
            })
            .map_err(self.err())?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(|(id, policy, suite, generation, episodes, successes, ci95, outcomes, ttl, file)| {
                let outcomes = serde_json::from_str(&outcomes)
                    .map_err(|e| self.corrupt(format!("evaluation {id} outcomes: {e}")))?;
                let suite = suite.parse().map_err(|e| self.corrupt(format!("evaluation {id}: {e}")))?;
                Ok(EvaluationRow {
                    id,
                    policy,
                    suite,
                    generation: generation as u32,
                    episodes: episodes as u64,
                    successes: successes as u64,
                    ci95,
                    outcomes,
                    mean_time_to_lift_s: ttl,
                    episode_file: file,
                })
            })
            .collect()
    }

    /// Records a simulated evaluation (`report.suite` must be a [`Suite`]) and its episodes in
    /// one transaction; returns its id. Simulated evaluations are deterministic, so when another
    /// writer (a second `report --test` on the same run) recorded the same policy on the same
    /// suite first, its row stands and its id is returned; a recorded row that disagrees with
    /// this one is an error.
    pub fn record_evaluation(
        &mut self,
        generation: u32,
        report: &EvalReport,
        records: &[EpisodeRecord],
        episode_file: Option<&str>,
    ) -> Result<i64> {
        let suite: Suite =
            report.suite.parse().map_err(|e| self.corrupt(format!("evaluation of {}: {e}", report.policy_hash)))?;
        if matches!(suite, Suite::Real(_)) {
            return Err(self.corrupt(format!("{suite} is a real-world suite: record it with its trials")));
        }
        self.record_evaluation_with(generation, Some(suite), report, records, episode_file, &[]).map(|(id, _)| id)
    }

    /// Records a real-world evaluation as the next `real/N` of its policy (chosen inside the
    /// transaction, so two validations never share one): the episodes as the operator judged
    /// them and each trial's verdict and evidence, in one transaction; returns its id and
    /// suite. Its failures join the failure archive. `report.suite` is ignored.
    pub fn record_real_evaluation(
        &mut self,
        generation: u32,
        report: &EvalReport,
        records: &[EpisodeRecord],
        trials: &[RealTrial],
    ) -> Result<(i64, Suite)> {
        if trials.len() != records.len() || trials.is_empty() {
            return Err(self.corrupt(format!(
                "a real-world evaluation needs one trial per episode and at least one, not {} trials for {} episodes",
                trials.len(),
                records.len()
            )));
        }
        self.record_evaluation_with(generation, None, report, records, None, trials)
    }

    /// The trials of a real-world evaluation, in order.
    pub fn real_trials(&self, evaluation: i64) -> Result<Vec<RealTrial>> {
        let mut st = self
            .conn
            .prepare("SELECT verdict, evidence FROM real_trials WHERE evaluation = ?1 ORDER BY idx")
            .map_err(self.err())?;
        let rows: Vec<(String, String)> = st
            .query_map([evaluation], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(|(verdict, ev)| {
                let evidence =
                    serde_json::from_str(&ev).map_err(|e| self.corrupt(format!("real trial evidence: {e}")))?;
                Ok(RealTrial { verdict, evidence })
            })
            .collect()
    }

    /// Records an evaluation on `suite` (or, with `None`, on the policy's next `real/N`).
    fn record_evaluation_with(
        &mut self,
        generation: u32,
        suite: Option<Suite>,
        report: &EvalReport,
        records: &[EpisodeRecord],
        episode_file: Option<&str>,
        trials: &[RealTrial],
    ) -> Result<(i64, Suite)> {
        let path = self.path.clone();
        let e = |source| CurriculumError::Ledger { path: path.clone(), source };
        // IMMEDIATE takes the write lock before the check below, so of two writers the second
        // sees the first's row instead of failing on the UNIQUE (policy, suite) constraint.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(e)?;
        let suite = match suite {
            Some(suite) => suite,
            None => {
                let mut st =
                    tx.prepare("SELECT suite FROM evaluations WHERE policy = ?1 AND suite LIKE 'real/%'").map_err(e)?;
                let taken: Vec<String> = st
                    .query_map([&report.policy_hash], |r| r.get(0))
                    .map_err(e)?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(e)?;
                let last = taken.iter().filter_map(|s| match s.parse() {
                    Ok(Suite::Real(n)) => Some(n),
                    _ => None,
                });
                Suite::Real(last.max().unwrap_or(0) + 1)
            }
        };
        let existing: Option<(i64, i64, i64)> = tx
            .query_row(
                "SELECT id, episodes, successes FROM evaluations WHERE policy = ?1 AND suite = ?2",
                params![report.policy_hash, suite.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(e)?;
        if let Some((id, episodes, successes)) = existing {
            if episodes as u64 == report.episodes && successes as u64 == report.successes {
                return Ok((id, suite));
            }
            return Err(CurriculumError::Corrupt {
                path: path.clone(),
                what: format!(
                    "policy {} on {suite} is recorded already as evaluation {id} ({successes}/{episodes} succeeded), \
                 which disagrees with this evaluation ({}/{}); the run's episodes are not reproducible",
                    report.policy_hash, report.successes, report.episodes
                ),
            });
        }
        let outcomes = serde_json::to_string(&report.outcomes).unwrap_or_default();
        tx.execute(
            "INSERT INTO evaluations (policy, suite, generation, episodes, successes, ci_lo, ci_hi, outcomes, mean_time_to_lift, episode_file)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                report.policy_hash,
                suite.to_string(),
                generation,
                report.episodes as i64,
                report.successes as i64,
                report.ci95[0],
                report.ci95[1],
                outcomes,
                report.mean_time_to_lift_s,
                episode_file
            ],
        )
        .map_err(e)?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare("INSERT INTO episodes (evaluation, idx, seed, outcome, scenario, metrics, final_state_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .map_err(e)?;
            for (i, r) in records.iter().enumerate() {
                st.execute(params![
                    id,
                    i as i64,
                    r.scenario.seed as i64,
                    r.outcome.kind.name(),
                    serde_json::to_string(&r.scenario).unwrap_or_default(),
                    serde_json::to_string(&r.metrics).unwrap_or_default(),
                    format!("{:016x}", r.final_state_hash),
                ])
                .map_err(e)?;
            }
            let mut st = tx
                .prepare("INSERT INTO real_trials (evaluation, idx, verdict, evidence) VALUES (?1, ?2, ?3, ?4)")
                .map_err(e)?;
            for (i, t) in trials.iter().enumerate() {
                st.execute(params![id, i as i64, t.verdict, t.evidence.to_string()]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok((id, suite))
    }

    /// The episodes of an evaluation, in order: (scenario, outcome, metrics).
    pub fn episodes(&self, evaluation: i64) -> Result<Vec<(Scenario, OutcomeKind, EpisodeMetrics)>> {
        let mut st = self
            .conn
            .prepare("SELECT outcome, scenario, metrics FROM episodes WHERE evaluation = ?1 ORDER BY idx")
            .map_err(self.err())?;
        let rows: Vec<(String, String, String)> = st
            .query_map([evaluation], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        rows.into_iter()
            .enumerate()
            .map(|(i, (o, s, m))| {
                let kind: OutcomeKind =
                    o.parse().map_err(|e| self.corrupt(format!("evaluation {evaluation} episode {i}: {e}")))?;
                let sc: Scenario = serde_json::from_str(&s)
                    .map_err(|e| self.corrupt(format!("evaluation {evaluation} episode {i} scenario: {e}")))?;
                let me: EpisodeMetrics = serde_json::from_str(&m)
                    .map_err(|e| self.corrupt(format!("evaluation {evaluation} episode {i} metrics: {e}")))?;
                Ok((sc, kind, me))
            })
            .collect()
    }

    /// The episodes of an evaluation as the gate sees them.
    pub fn judged(&self, evaluation: i64) -> Result<Vec<Judged>> {
        Ok(self
            .episodes(evaluation)?
            .into_iter()
            .map(|(s, outcome, metrics)| Judged { seed: s.seed, outcome, metrics })
            .collect())
    }

    /// The failure archive: every probe, boundary-probe and real-world (`hw validate`) episode,
    /// in evaluation order. Frozen suites (held-out, OOD, canary) are never read here.
    pub fn archive(&self) -> Result<FailureArchive> {
        let mut st = self
            .conn
            .prepare("SELECT id, policy, suite, generation FROM evaluations ORDER BY id")
            .map_err(self.err())?;
        let evals: Vec<(i64, String, String, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        let mut entries = Vec::new();
        for (id, policy, suite, generation) in evals {
            let suite: Suite = suite.parse().map_err(|e| self.corrupt(format!("evaluation {id}: {e}")))?;
            if !suite.feeds_archive() {
                continue;
            }
            for (scenario, outcome, metrics) in self.episodes(id)? {
                entries.push(ArchiveEntry {
                    generation: generation as u32,
                    policy: policy.clone(),
                    suite,
                    scenario,
                    outcome,
                    metrics,
                });
            }
        }
        Ok(FailureArchive { entries })
    }

    /// Records the episodes a generation's challenger ended in one PPO iteration, in one
    /// transaction. Idempotent: a resumed run re-runs iterations bit for bit and rewrites the
    /// same rows.
    pub fn record_training_episodes(
        &mut self,
        generation: u32,
        iteration: u64,
        episodes: &[TrainingEpisode],
    ) -> Result<()> {
        let path = self.path.clone();
        let e = |source| CurriculumError::Ledger { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        for (idx, ep) in episodes.iter().enumerate() {
            tx.execute(
                "INSERT OR REPLACE INTO training_episodes
                 (generation, iteration, idx, seed, success, steps, episode_return, positive_value_loss)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    generation,
                    iteration as i64,
                    idx as i64,
                    ep.seed as i64,
                    ep.success,
                    ep.steps,
                    ep.episode_return,
                    ep.positive_value_loss
                ],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// The episodes a generation's challenger ended in training, as (iteration, episode), in
    /// the order they ended.
    pub fn training_episodes(&self, generation: u32) -> Result<Vec<(u64, TrainingEpisode)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT iteration, seed, success, steps, episode_return, positive_value_loss FROM training_episodes
                 WHERE generation = ?1 ORDER BY iteration, idx",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([generation], |r| {
                let seed: i64 = r.get(1)?;
                let iteration: i64 = r.get(0)?;
                Ok((
                    iteration as u64,
                    TrainingEpisode {
                        seed: seed as u64,
                        success: r.get(2)?,
                        steps: r.get(3)?,
                        episode_return: r.get(4)?,
                        positive_value_loss: r.get(5)?,
                    },
                ))
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// The bandit's state after the latest decided generation.
    pub fn bandit(&self) -> Result<Option<Exp3>> {
        let s: Option<String> = self
            .conn
            .query_row("SELECT state FROM bandit ORDER BY generation DESC LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(self.err())?;
        s.map(|s| serde_json::from_str(&s).map_err(|e| self.corrupt(format!("bandit state: {e}")))).transpose()
    }

    /// Decides a generation in one transaction: its verdict, the new champion if promoted, and
    /// the bandit's new state. A crash before the commit leaves everything as it was.
    pub fn decide(
        &mut self,
        generation: u32,
        challenger: &str,
        decision: &Decision,
        bandit: Option<&Exp3>,
    ) -> Result<()> {
        let path = self.path.clone();
        let e = |source| CurriculumError::Ledger { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(e)?;
        let status = if decision.promote { GenerationStatus::Promoted } else { GenerationStatus::RolledBack };
        tx.execute(
            "UPDATE generations SET status = ?2, challenger = ?3, promoted = ?4, reasons = ?5, decision = ?6, heldout_gain = ?7, p_value = ?8
             WHERE generation = ?1",
            params![
                generation,
                status.as_str(),
                challenger,
                decision.promote,
                decision.reasons(),
                serde_json::to_string(decision).unwrap_or_default(),
                decision.heldout_gain,
                decision.p_value
            ],
        )
        .map_err(e)?;
        if decision.promote {
            tx.execute("UPDATE champion SET hash = ?1, generation = ?2 WHERE id = 1", params![challenger, generation])
                .map_err(e)?;
        }
        if let Some(b) = bandit {
            tx.execute(
                "INSERT OR REPLACE INTO bandit (generation, state) VALUES (?1, ?2)",
                params![generation, serde_json::to_string(b).unwrap_or_default()],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// Direct access for tests and reports.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("regrasp-ledger-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("ledger.sqlite")
    }

    #[test]
    fn a_new_ledger_gets_the_current_schema_and_reopens() {
        let p = tmp("new");
        let l = Ledger::open(&p).unwrap();
        l.set_meta(MetaKey::Curriculum, "v").unwrap();
        drop(l);
        let l = Ledger::open(&p).unwrap();
        assert_eq!(l.meta(MetaKey::Curriculum).unwrap().as_deref(), Some("v"));
        let v: i64 = l.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    /// A version-2 ledger (runs made before training episodes were kept) is migrated, and
    /// recording an iteration again (a resumed run re-runs it bit for bit) replaces its rows.
    #[test]
    fn a_version_2_ledger_is_migrated_and_training_episodes_are_recorded_idempotently() {
        let p = tmp("v2");
        {
            let c = Connection::open(&p).unwrap();
            c.execute_batch(SCHEMA_V1).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 2).unwrap();
        }
        let mut l = Ledger::open(&p).unwrap();
        assert!(l.training_episodes(1).unwrap().is_empty());
        let ep = |seed: u64, success: bool, pvl: f64| TrainingEpisode {
            seed,
            success,
            steps: 90,
            episode_return: 1.5,
            positive_value_loss: pvl,
        };
        l.record_training_episodes(1, 1, &[ep(u64::MAX - 3, true, 0.25), ep(5, false, 0.75)]).unwrap();
        l.record_training_episodes(1, 2, &[ep(6, false, 0.5)]).unwrap();
        l.record_training_episodes(1, 2, &[ep(6, false, 0.5)]).unwrap();
        l.record_training_episodes(2, 1, &[ep(7, true, 0.0)]).unwrap();
        let got = l.training_episodes(1).unwrap();
        assert_eq!(got, vec![(1, ep(u64::MAX - 3, true, 0.25)), (1, ep(5, false, 0.75)), (2, ep(6, false, 0.5))]);
        assert_eq!(l.training_episodes(2).unwrap().len(), 1);
    }

    #[test]
    fn a_version_1_ledger_is_migrated_and_real_trials_join_the_archive() {
        let p = tmp("v1");
        {
            let c = Connection::open(&p).unwrap();
            c.execute_batch(SCHEMA_V1).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
        }
        let mut l = Ledger::open(&p).unwrap();
        let v: i64 = l.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION, "migrated through every step");
        let scenario = regrasp_sim::ScenarioDistribution::default().sample(3);
        let outcome = |kind| regrasp_sim::Outcome { kind, evidence: Default::default() };
        let record = |kind| EpisodeRecord {
            scenario,
            policy_hash: "p".into(),
            actions: vec![],
            final_state_hash: 0,
            outcome: outcome(kind),
            metrics: Default::default(),
        };
        let records = vec![record(OutcomeKind::Success), record(OutcomeKind::MissedGrasp)];
        let report = EvalReport {
            suite: "real/1".into(),
            policy_hash: "p".into(),
            episodes: 2,
            successes: 1,
            success_rate: 0.5,
            ci95: [0.1, 0.9],
            outcomes: BTreeMap::new(),
            mean_time_to_lift_s: None,
            wall_s: 1.0,
        };
        let trials: Vec<RealTrial> = ["success", "missed_grasp"]
            .iter()
            .map(|v| RealTrial { verdict: v.to_string(), evidence: serde_json::json!({ "final_gripper": 0.02 }) })
            .collect();
        assert!(l.record_real_evaluation(1, &report, &records, &trials[..1]).is_err(), "one trial per episode");
        let (id, suite) = l.record_real_evaluation(1, &report, &records, &trials).unwrap();
        assert_eq!(suite, Suite::Real(1));
        assert_eq!(l.real_trials(id).unwrap(), trials);
        let archive = l.archive().unwrap();
        assert_eq!(archive.entries.len(), 2);
        assert!(archive.entries.iter().any(|e| e.outcome == OutcomeKind::MissedGrasp && e.suite == Suite::Real(1)));
        // A second validation of the same policy is the next real suite, never merged into the first.
        let (second, suite) = l.record_real_evaluation(1, &report, &records, &trials).unwrap();
        assert_eq!(suite, Suite::Real(2));
        assert_ne!(second, id);
        assert_eq!(l.archive().unwrap().entries.len(), 4);
    }

    fn sim_report(suite: &str, successes: u64) -> (EvalReport, Vec<EpisodeRecord>) {
        let scenario = regrasp_sim::ScenarioDistribution::default().sample(3);
        let record = EpisodeRecord {
            scenario,
            policy_hash: "p".into(),
            actions: vec![],
            final_state_hash: 7,
            outcome: regrasp_sim::Outcome { kind: OutcomeKind::Success, evidence: Default::default() },
            metrics: Default::default(),
        };
        let report = EvalReport {
            suite: suite.into(),
            policy_hash: "p".into(),
            episodes: 1,
            successes,
            success_rate: successes as f64,
            ci95: [0.0, 1.0],
            outcomes: BTreeMap::new(),
            mean_time_to_lift_s: None,
            wall_s: 1.0,
        };
        (report, vec![record])
    }

    /// Regression: two `report --test` processes on one run both found (policy, test-heldout)
    /// missing, evaluated it, and the second insert failed on the UNIQUE constraint. Two
    /// handles on one file stand for the two processes: both checked before either recorded.
    #[test]
    fn two_writers_recording_the_same_evaluation_both_succeed_with_one_row() {
        let p = tmp("two-writers");
        let mut first = Ledger::open(&p).unwrap();
        let mut second = Ledger::open(&p).unwrap();
        assert!(first.evaluation("p", Suite::TestHeldout).unwrap().is_none());
        assert!(second.evaluation("p", Suite::TestHeldout).unwrap().is_none());
        let (report, records) = sim_report("test-heldout", 1);
        let a = first.record_evaluation(2, &report, &records, Some("episodes/p-test-heldout.jsonl")).unwrap();
        let b = second.record_evaluation(2, &report, &records, Some("episodes/p-test-heldout.jsonl")).unwrap();
        assert_eq!(a, b);
        assert_eq!(first.evaluations().unwrap().len(), 1);
        assert_eq!(first.episodes(a).unwrap().len(), 1);
        // A second writer whose result disagrees is not silently dropped.
        let (other, records) = sim_report("test-heldout", 0);
        let e = second.record_evaluation(2, &other, &records, None).unwrap_err().to_string();
        assert!(e.contains("recorded already") && e.contains("disagrees"), "{e}");
        // Names that are not run suites are refused before anything is written.
        let (bad, records) = sim_report("boundary-3", 1);
        let e = second.record_evaluation(2, &bad, &records, None).unwrap_err().to_string();
        assert!(e.contains("boundary-3") && e.contains("not a run suite"), "{e}");
        assert_eq!(first.evaluations().unwrap().len(), 1);
    }

    #[test]
    fn unknown_schema_versions_are_refused_clearly() {
        let p = tmp("newer");
        drop(Ledger::open(&p).unwrap());
        Connection::open(&p).unwrap().pragma_update(None, "user_version", 7).unwrap();
        let e = Ledger::open(&p).err().unwrap().to_string();
        assert!(e.contains("schema version 7") && e.contains("reads version 3") && e.contains("newer regrasp"), "{e}");

        let p = tmp("foreign");
        Connection::open(&p).unwrap().execute_batch("CREATE TABLE x (y INTEGER);").unwrap();
        let e = Ledger::open(&p).err().unwrap().to_string();
        assert!(e.contains("schema version 0") && e.contains("not a regrasp ledger"), "{e}");
    }

    #[test]
    fn a_garbage_file_is_an_error_not_a_panic() {
        let p = tmp("garbage");
        std::fs::write(&p, b"this is not sqlite at all, just some bytes that go on for a while ........").unwrap();
        let e = Ledger::open(&p).err().unwrap().to_string();
        assert!(e.contains("ledger") && e.contains("ledger.sqlite"), "{e}");
    }
}
