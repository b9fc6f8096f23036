//! Exact replay of stored episodes, and recording them in full: the scenario is re-simulated
//! with its stored actions, every control step is (optionally) logged — scene, contacts, tool
//! target and IK result, the action with the policy's distribution and value estimate, the
//! reward — and the final state hash must equal the stored one, or the replay is an error.

use std::sync::Arc;

use rayon::prelude::*;
use regrasp_policy::eval::{EpisodeId, LoadedPolicy};
use regrasp_policy::inference::Scratch;
use regrasp_sim::replay::{ReplayObserver, replay_exact};
use regrasp_sim::scene::SceneGeometry;
use regrasp_sim::{Action, ArmModel, EnvConfig, GraspEnv, Outcome, SimError, Step};
use rerun::RecordingStream;
use serde::Serialize;

use crate::error::{LogsError, Result};
use crate::paths;
use crate::recorder::Recorder;
use crate::scene;

pub use regrasp_policy::eval::StoredEpisode;

/// What a replay reproduced.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Replayed {
    /// Episode id.
    pub id: EpisodeId,
    /// Control steps replayed.
    pub steps: usize,
    /// Final state hash (equal to the stored one, or the replay failed).
    pub final_state_hash: u64,
    /// The outcome reached (equal to the stored one).
    pub outcome: Outcome,
    /// First value of the `frame` timeline it was logged at (when recorded).
    pub first_frame: Option<i64>,
}

/// Where one episode's steps go in a recording.
#[derive(Clone, Copy)]
pub struct EpisodeSlot<'a> {
    /// The stream.
    pub stream: &'a RecordingStream,
    /// `frame` of the state after reset; step k is logged at `first_frame + k`.
    pub first_frame: i64,
    /// Ordinal of the episode in the recording (the `episode` timeline).
    pub ordinal: i64,
    /// Guards the one-time static logging of the arm and table meshes.
    pub static_scene: &'a std::sync::Once,
}

/// What one replayed episode showed, step by step, for the recording.
#[derive(Default)]
struct Trace {
    scene: scene::SceneTrace,
    /// Normalised actions taken, 5 per step.
    taken: Vec<f64>,
    /// The policy's mean (5 per step), standard deviation (5: it does not depend on the state)
    /// and value estimate (per step).
    mean: Vec<f64>,
    std: Vec<f64>,
    value: Vec<f64>,
    /// Reward and running return after each step.
    reward: Vec<f64>,
    ret: Vec<f64>,
}

/// Collects what the recording shows of each step, as the replay engine runs.
struct Tracer<'a> {
    trace: Trace,
    limits: regrasp_sim::config::ActionLimits,
    policy: Option<&'a LoadedPolicy>,
    scratch: Scratch,
    x: Vec<f32>,
    ret: f64,
}

impl Tracer<'_> {
    fn observe(&mut self, env: &GraspEnv) {
        if let (Some(state), Some(p)) = (env.scene_state(), env.privileged()) {
            let ik = env.arm().chain.fk(&p.q_cmd).translation.vector;
            self.trace.scene.push(state, [p.tool_target, ik, p.tool.translation.vector]);
        }
    }
}

impl ReplayObserver for Tracer<'_> {
    fn on_reset(&mut self, env: &GraspEnv, _obs: &[f32]) {
        self.observe(env);
    }

    fn before_step(&mut self, _k: usize, _env: &GraspEnv, obs: &[f32], a: &Action) {
        self.trace.taken.extend(a.to_normalized(&self.limits).iter().map(|v| *v as f64));
        if let Some(p) = self.policy {
            let mut mean = [0.0f32; regrasp_sim::ACTION_DIM];
            self.x.resize(obs.len(), 0.0);
            p.norm.apply(obs, &mut self.x);
            p.net.mean_into(&self.x, &mut self.scratch, &mut mean);
            self.trace.mean.extend(mean.iter().map(|v| *v as f64));
            if self.trace.std.is_empty() {
                self.trace
                    .std
                    .extend((0..regrasp_sim::ACTION_DIM).map(|i| p.net.log_std.get(i).map_or(0.0, |l| l.exp() as f64)));
            }
            self.trace.value.push(p.net.value(&self.x, &mut self.scratch) as f64);
        }
    }

    fn after_step(&mut self, _k: usize, env: &GraspEnv, step: &Step) {
        self.ret += step.reward;
        self.trace.reward.push(step.reward);
        self.trace.ret.push(self.ret);
        self.observe(env);
    }
}

/// Replays one episode on `env` with the one replay engine ([`regrasp_sim::replay`]). With
/// `slot`, every step is recorded; with `policy`, so are the policy's action mean, standard
/// deviation and value estimate at each step (its hash must be the record's, or the figures
/// would describe another policy).
pub fn replay_episode(
    env: &mut GraspEnv,
    episode: &StoredEpisode,
    policy: Option<&LoadedPolicy>,
    slot: Option<EpisodeSlot<'_>>,
) -> Result<Replayed> {
    let r = &episode.record;
    let diverged = |e: SimError| match e {
        SimError::Diverged(source) => LogsError::Diverged { id: episode.id.to_string(), source },
        other => LogsError::Sim(other),
    };
    let replayed = match slot {
        None => replay_exact(env, &r.scenario, &r.actions, r.final_state_hash, r.outcome.kind, &mut ()),
        Some(s) => {
            let mut tracer = Tracer {
                trace: Trace::default(),
                limits: env.config().action,
                policy: policy.filter(|p| p.hash == r.policy_hash),
                scratch: Scratch::default(),
                x: Vec::new(),
                ret: 0.0,
            };
            let out = replay_exact(env, &r.scenario, &r.actions, r.final_state_hash, r.outcome.kind, &mut tracer);
            if let Ok(o) = &out {
                let geometry = env.scene_geometry().ok_or(regrasp_sim::SimError::NotRunning("no episode to record"))?;
                send_episode(s, episode, &geometry, &tracer.trace, &o.outcome);
            }
            out
        }
    }
    .map_err(diverged)?;
    Ok(Replayed {
        id: episode.id.clone(),
        steps: replayed.steps,
        final_state_hash: replayed.final_state_hash,
        outcome: replayed.outcome,
        first_frame: slot.map(|s| s.first_frame),
    })
}

/// Sends a replayed episode: meshes, scenario and outcome at its first and last frame; the
/// trace as one chunk per entity (states at frames 0..=n, actions at the state they were taken
/// in, rewards at the state they led to).
fn send_episode(
    s: EpisodeSlot<'_>,
    episode: &StoredEpisode,
    geometry: &SceneGeometry,
    trace: &Trace,
    outcome: &Outcome,
) {
    let n = trace.reward.len();
    let states: Vec<i64> = (0..=n as i64).map(|k| s.first_frame + k).collect();
    let (acted, rewarded) = (&states[..n], &states[1..]);
    s.stream.set_time_sequence("frame", s.first_frame);
    s.stream.set_time_sequence("episode", s.ordinal);
    let poses = trace.scene.first_poses();
    s.static_scene.call_once(|| scene::log_geometry(s.stream, geometry, &poses, true));
    scene::log_geometry(s.stream, geometry, &poses, false);
    let text = format!(
        "# episode {}\n\npolicy `{}`\n\n```json\n{}\n```\n",
        episode.id,
        episode.record.policy_hash,
        serde_json::to_string_pretty(&episode.record.scenario).unwrap_or_default()
    );
    let _ = s.stream.log(paths::SCENARIO, &rerun::TextDocument::from_markdown(text));
    trace.scene.send(s.stream, geometry, &states, s.ordinal);
    let per_step = std::iter::repeat_n(regrasp_sim::ACTION_DIM, n);
    for (path, values) in [(paths::ACTION_TAKEN, &trace.taken), (paths::ACTION_MEAN, &trace.mean)] {
        if values.len() == n * regrasp_sim::ACTION_DIM && n > 0 {
            scene::send(
                s.stream,
                path,
                acted,
                s.ordinal,
                rerun::Scalars::new(values.iter().copied()).columns(per_step.clone()),
            );
        }
    }
    // The policy's standard deviation does not depend on the state: once per episode.
    if let Some(std) = trace.std.get(..regrasp_sim::ACTION_DIM) {
        let _ = s.stream.log(paths::ACTION_STD, &rerun::Scalars::new(std.iter().copied()));
    }
    let signals =
        [("value", &trace.value, acted), ("reward", &trace.reward, rewarded), ("return", &trace.ret, rewarded)];
    for (name, values, frames) in signals {
        if values.len() == frames.len() && !values.is_empty() {
            let column = rerun::Scalars::new(values.iter().copied()).columns_of_unit_batches();
            scene::send(s.stream, format!("{}/{name}", paths::EPISODE_SIGNALS), frames, s.ordinal, column);
        }
    }
    s.stream.set_time_sequence("frame", s.first_frame + n as i64);
    let level = if outcome.kind.is_failure() { rerun::TextLogLevel::WARN } else { rerun::TextLogLevel::INFO };
    let text = format!(
        "{}: {} after {:.2} s — {}",
        episode.id,
        outcome.kind.name(),
        outcome.evidence.time,
        serde_json::to_string(&outcome.evidence).unwrap_or_default()
    );
    let _ = s.stream.log(paths::OUTCOME, &rerun::TextLog::new(text).with_level(level));
}

/// Replays `episodes` on all cores, logging each in full to `recorder` (each gets its own span
/// of the `frame` timeline, in the given order). `policies` supplies action distributions and
/// value estimates for the records whose policy it contains. Stops at the first episode that
/// does not reproduce.
pub fn replay_all(
    arm: &Arc<ArmModel>,
    env_cfg: &Arc<EnvConfig>,
    episodes: &[StoredEpisode],
    policies: &[LoadedPolicy],
    recorder: &Recorder,
) -> Result<Vec<Replayed>> {
    let slots: Vec<Option<(i64, i64)>> = episodes
        .iter()
        .map(|e| {
            recorder
                .stream()
                .map(|_| (recorder.reserve_frames(e.record.actions.len() as u64 + 1), recorder.reserve_ordinal()))
        })
        .collect();
    let results: Vec<Result<Replayed>> = episodes
        .par_iter()
        .zip(slots.par_iter())
        .map(|(e, slot)| {
            let mut env = GraspEnv::new(Arc::clone(arm), Arc::clone(env_cfg))?;
            let policy = policies.iter().find(|p| p.hash == e.record.policy_hash);
            let slot = match (recorder.stream(), slot) {
                (Some(stream), Some((first_frame, ordinal))) => Some(EpisodeSlot {
                    stream,
                    first_frame: *first_frame,
                    ordinal: *ordinal,
                    static_scene: &recorder.static_scene,
                }),
                _ => None,
            };
            replay_episode(&mut env, e, policy, slot)
        })
        .collect();
    results.into_iter().collect()
}

/// Records the episodes of one evaluation that `sampling` picks, in full (by exact replay),
/// each as `id(index)`; returns how many. Nothing is replayed when recording is off.
pub fn record_evaluation(
    recorder: &Recorder,
    arm: &Arc<ArmModel>,
    env_cfg: &Arc<EnvConfig>,
    records: &[regrasp_policy::eval::EpisodeRecord],
    sampling: crate::store::Sampling,
    id: impl Fn(usize) -> EpisodeId,
    policies: &[LoadedPolicy],
) -> Result<usize> {
    if !recorder.is_on() {
        return Ok(0);
    }
    let picked: Vec<StoredEpisode> =
        sampling.select(records).into_iter().map(|i| StoredEpisode { id: id(i), record: records[i].clone() }).collect();
    replay_all(arm, env_cfg, &picked, policies, recorder)?;
    Ok(picked.len())
}
