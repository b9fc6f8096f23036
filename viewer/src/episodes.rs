//! Episode mode: stored episodes (the JSON-lines episode store that `eval` and `improve`
//! write) are listed with failures grouped by mode; the chosen one is re-simulated exactly —
//! its final state hash must equal the stored one — and every control step's scene is kept, so
//! the timeline can be scrubbed freely.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use regrasp_curriculum::run::{LEDGER_FILE, RunDir};
use regrasp_policy::eval::{EpisodeId, EpisodeRecord, LoadedPolicy, file_episodes};
use regrasp_policy::inference::Scratch;
use regrasp_sim::replay::{ReplayObserver, replay_exact};
use regrasp_sim::scene::{SceneGeometry, SceneState};
use regrasp_sim::{Action, GraspEnv, Outcome};

use crate::live::{describe_action, describe_scenario};

/// A stored episode, the id it is known by everywhere (`<policy>/<suite>/<index>` in a run,
/// `<index>` in an episode file), and the directory of the checkpoint that acted, if found.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Id.
    pub id: EpisodeId,
    /// The record.
    pub record: EpisodeRecord,
    /// The acting policy's checkpoint directory, when it is at hand.
    pub checkpoint: Option<PathBuf>,
}

/// Reads the episodes at `path`: an `improve` run directory (its episode store, through the
/// run's ledger), an episode file, or a directory holding `episodes.jsonl`.
pub fn load(path: &Path) -> Result<Vec<Entry>> {
    let entries: Vec<Entry> = if path.join(LEDGER_FILE).is_file() {
        let run = RunDir::open(path)?;
        run.episodes()?
            .into_iter()
            .map(|e| {
                let checkpoint = run.checkpoint_dir(&e.record.policy_hash).ok().filter(|d| d.is_dir());
                Entry { id: e.id, record: e.record, checkpoint }
            })
            .collect()
    } else {
        let file = if path.is_file() {
            path.to_path_buf()
        } else if path.join("episodes.jsonl").is_file() {
            path.join("episodes.jsonl")
        } else {
            bail!(
                "{}: not an episode file, nor a directory holding episodes.jsonl, nor an improve run (with \
                 {LEDGER_FILE})",
                path.display()
            );
        };
        file_episodes(&file)?
            .into_iter()
            .map(|e| {
                // A checkpoint directory above the file (`<run>/checkpoints/<hash>`), if any.
                let checkpoint = file
                    .ancestors()
                    .skip(1)
                    .map(|d| d.join("checkpoints").join(&e.record.policy_hash))
                    .find(|p| p.is_dir());
                Entry { id: e.id, record: e.record, checkpoint }
            })
            .collect()
    };
    if entries.is_empty() {
        bail!("{}: holds no episodes", path.display());
    }
    Ok(entries)
}

/// Failed entries grouped by failure mode (entry indices, in order).
pub fn failures_by_mode(entries: &[Entry]) -> BTreeMap<&'static str, Vec<usize>> {
    let mut m: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.record.outcome.kind.is_failure() {
            m.entry(e.record.outcome.kind.name()).or_default().push(i);
        }
    }
    m
}

/// A replayed episode: the scene after the reset and after every step.
#[derive(Clone, Debug)]
pub struct Playback {
    /// Bodies of the episode.
    pub geometry: Arc<SceneGeometry>,
    /// `states[k]` is the scene after `k` steps (`actions.len() + 1` states).
    pub states: Vec<SceneState>,
    /// The actions taken; `actions[k]` led from state `k` to `k + 1`.
    pub actions: Vec<Action>,
    /// The policy's value estimate at each state before the last (when the policy is at hand).
    pub values: Option<Vec<f32>>,
    /// How it ended (equal to the stored outcome).
    pub outcome: Outcome,
}

/// Keeps the scene after the reset and after every step, and the policy's value estimate at
/// each state an action was taken in, as the replay engine runs.
struct Keeper<'a> {
    states: Vec<SceneState>,
    values: Option<Vec<f32>>,
    policy: Option<&'a LoadedPolicy>,
    scratch: Scratch,
}

impl Keeper<'_> {
    fn keep(&mut self, env: &GraspEnv) {
        if let Some(s) = env.scene_state() {
            self.states.push(s);
        }
    }
}

impl ReplayObserver for Keeper<'_> {
    fn on_reset(&mut self, env: &GraspEnv, _obs: &[f32]) {
        self.keep(env);
    }

    fn before_step(&mut self, _k: usize, _env: &GraspEnv, obs: &[f32], _action: &Action) {
        if let (Some(p), Some(v)) = (self.policy, self.values.as_mut()) {
            let mut x = vec![0.0f32; obs.len()];
            p.norm.apply(obs, &mut x);
            v.push(p.net.value(&x, &mut self.scratch));
        }
    }

    fn after_step(&mut self, _k: usize, env: &GraspEnv, _step: &regrasp_sim::Step) {
        self.keep(env);
    }
}

/// Re-simulates `record` on `env` with the one replay engine ([`regrasp_sim::replay`]),
/// keeping every step's scene. The final state hash and the outcome must equal the stored
/// ones, or the record (or the code, arm or config) differs from the run that stored it and
/// the replay is refused. With `policy` (it must be the record's), its value estimate at each
/// state is kept too.
pub fn replay(env: &mut GraspEnv, record: &EpisodeRecord, policy: Option<&LoadedPolicy>) -> Result<Playback> {
    let policy = policy.filter(|p| p.hash == record.policy_hash);
    let mut keeper = Keeper {
        states: Vec::with_capacity(record.actions.len() + 1),
        values: policy.map(|_| Vec::with_capacity(record.actions.len())),
        policy,
        scratch: Scratch::default(),
    };
    let r = &record;
    let replayed = replay_exact(env, &r.scenario, &r.actions, r.final_state_hash, r.outcome.kind, &mut keeper)?;
    let geometry = Arc::new(env.scene_geometry().context("no episode after the replay")?);
    if keeper.states.len() != record.actions.len() + 1 {
        bail!("the scene was not available at every step of the replay");
    }
    Ok(Playback {
        geometry,
        states: keeper.states,
        actions: record.actions.clone(),
        values: keeper.values,
        outcome: replayed.outcome,
    })
}

/// Episode mode's state: the list, the chosen episode and the timeline cursor.
pub struct Episodes {
    /// Every stored episode.
    pub entries: Vec<Entry>,
    /// The chosen entry.
    pub selected: usize,
    /// Its replay.
    pub playback: Playback,
    /// The state shown: 0 ..= `playback.actions.len()`.
    pub cursor: usize,
    /// Whether the timeline plays at real time.
    pub playing: bool,
    /// Control period (s), to play at real time.
    pub period_s: f64,
    pending_s: f64,
    env: GraspEnv,
    policies: Vec<LoadedPolicy>,
}

impl Episodes {
    /// Episode mode over `entries`, starting with entry `first`.
    pub fn new(mut env: GraspEnv, entries: Vec<Entry>, first: usize, policies: Vec<LoadedPolicy>) -> Result<Self> {
        let first = first.min(entries.len().saturating_sub(1));
        let entry = entries.get(first).context("no episodes")?;
        let playback = replay(&mut env, &entry.record, policies.iter().find(|p| p.hash == entry.record.policy_hash))
            .with_context(|| format!("episode {}", entry.id))?;
        let period_s = env.config().control_dt();
        Ok(Self {
            entries,
            selected: first,
            playback,
            cursor: 0,
            playing: false,
            period_s,
            pending_s: 0.0,
            env,
            policies,
        })
    }

    /// Replays entry `i` and shows its first state. On error nothing changes.
    pub fn select(&mut self, i: usize) -> Result<()> {
        let entry = self.entries.get(i).with_context(|| format!("no episode {i}: there are {}", self.entries.len()))?;
        let policy = self.policies.iter().find(|p| p.hash == entry.record.policy_hash);
        self.playback =
            replay(&mut self.env, &entry.record, policy).with_context(|| format!("episode {}", entry.id))?;
        self.selected = i;
        self.cursor = 0;
        self.pending_s = 0.0;
        Ok(())
    }

    /// The next (or, with `forward` false, previous) entry, wrapping around; only failures when
    /// `failures_only`.
    pub fn neighbour(&self, forward: bool, failures_only: bool) -> Option<usize> {
        let n = self.entries.len();
        (1..=n)
            .map(|k| if forward { (self.selected + k) % n } else { (self.selected + n - k % n) % n })
            .find(|&i| !failures_only || self.entries[i].record.outcome.kind.is_failure())
    }

    /// The last state index.
    pub fn last(&self) -> usize {
        self.playback.states.len() - 1
    }

    /// Moves the cursor by `delta` states, clamped to the timeline.
    pub fn scrub(&mut self, delta: i64) {
        self.cursor = (self.cursor as i64 + delta).clamp(0, self.last() as i64) as usize;
    }

    /// Puts the cursor at `fraction` ∈ [0, 1] of the timeline.
    pub fn seek(&mut self, fraction: f64) {
        let f = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        self.cursor = (f * self.last() as f64).round() as usize;
    }

    /// Plays at real time for `dt_s` seconds (stops at the end).
    pub fn advance(&mut self, dt_s: f64) {
        if !self.playing || !dt_s.is_finite() || dt_s <= 0.0 {
            self.pending_s = 0.0;
            return;
        }
        self.pending_s += dt_s;
        let steps = (self.pending_s / self.period_s).floor();
        self.pending_s -= steps * self.period_s;
        self.scrub(steps as i64);
        if self.cursor == self.last() {
            self.playing = false;
        }
    }

    /// The scene at the cursor.
    pub fn state(&self) -> &SceneState {
        &self.playback.states[self.cursor]
    }

    /// The panel's text: the episode, its scenario, the action and value at the cursor, and the
    /// outcome.
    pub fn describe(&self) -> String {
        let e = &self.entries[self.selected];
        let mut s = String::new();
        let _ = writeln!(
            s,
            "EPISODE {}  [{}/{}]  policy {}",
            e.id,
            self.selected + 1,
            self.entries.len(),
            e.record.policy_hash
        );
        s.push_str(&describe_scenario(&e.record.scenario));
        let _ = writeln!(
            s,
            "t = {:.2} s  (state {}/{}){}",
            self.cursor as f64 * self.period_s,
            self.cursor,
            self.last(),
            if self.playing { "  PLAYING" } else { "" }
        );
        s.push_str(&describe_action(self.playback.actions.get(self.cursor)));
        if let Some(v) = self.playback.values.as_ref().and_then(|v| v.get(self.cursor)) {
            let _ = writeln!(s, "value estimate {v:.3}");
        }
        let o = &self.playback.outcome;
        let _ = writeln!(s, "OUTCOME {} after {:.2} s (replayed bit for bit)", o.kind.name(), o.evidence.time);
        s
    }

    /// The failures listed by mode (counts and the first ids), for the side panel.
    pub fn describe_failures(&self) -> String {
        let failures = failures_by_mode(&self.entries);
        let total: usize = failures.values().map(Vec::len).sum();
        let mut s = format!("failures: {total} of {} episodes (F: next)\n", self.entries.len());
        for (mode, list) in &failures {
            let _ = writeln!(s, "{mode}: {}", list.len());
            for &i in list.iter().take(3) {
                let mark = if i == self.selected { ">" } else { " " };
                let _ = writeln!(s, " {mark} {}", self.entries[i].id);
            }
            if list.len() > 3 {
                let _ = writeln!(s, "   ... {} more", list.len() - 3);
            }
        }
        s
    }
}
