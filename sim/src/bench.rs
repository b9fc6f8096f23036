//! Simulation benchmarks: control and physics steps per second on the default scene, on one
//! thread and on all cores. Printed by `regrasp bench sim`; never asserted in tests.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::arm::ArmModel;
use crate::config::EnvConfig;
use crate::error::Result;
use crate::scripted::{ScriptedGrasp, ScriptedParams};
use crate::vec_env::VecEnv;

/// Throughput of one configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Throughput {
    /// Worker threads.
    pub threads: usize,
    /// Envs stepped together.
    pub envs: usize,
    /// Control steps per second, all envs together.
    pub control_steps_per_s: f64,
    /// Physics steps per second, all envs together.
    pub physics_steps_per_s: f64,
    /// Control steps per second per thread.
    pub control_steps_per_s_per_thread: f64,
    /// Where one thread's time went (measured on one thread only; `None` on several).
    pub breakdown: Option<Breakdown>,
}

/// Where the wall time of a one-thread run went, as fractions of it, and the physics alone as
/// a rate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Breakdown {
    /// Physics steps per second of the physics alone (motor commands, rapier's step, contact
    /// readout): the figure to set beside another engine's bare step.
    pub physics_only_steps_per_s: f64,
    /// Fraction of the wall time in the physics steps.
    pub physics: f64,
    /// Fraction in resets: the world rebuilt for the next scenario, the start pose's inverse
    /// kinematics, the first observation.
    pub reset: f64,
    /// Fraction in the scripted controller choosing actions.
    pub controller: f64,
    /// The rest: per control step the tool controller's inverse kinematics, the outcome
    /// classifier, the reward, the observation and the vector env's bookkeeping.
    pub env_rest: f64,
    /// Contact points the solver worked with, on average, sampled after each control step.
    pub contacts_per_step: f64,
}

/// Steps `envs` envs for `control_steps` steps each under the scripted grasp (so contacts,
/// grasps and lifts are all exercised), resetting finished envs with the next scenario.
pub fn measure(
    arm: Arc<ArmModel>,
    cfg: Arc<EnvConfig>,
    envs: usize,
    threads: usize,
    control_steps: usize,
) -> Result<Throughput> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| crate::error::SimError::invalid("threads", "threads", e.to_string()))?;
    let dist = arm.task.distribution.clone();
    let limits = cfg.action;
    pool.install(|| -> Result<Throughput> {
        let mut v = VecEnv::new(Arc::clone(&arm), Arc::clone(&cfg), envs)?;
        let mut next_seed = 0u64;
        let mut scen: Vec<_> = (0..envs)
            .map(|_| {
                next_seed += 1;
                dist.sample(next_seed)
            })
            .collect();
        for r in v.reset(&scen) {
            r?;
        }
        let physics_before: u64 = v.envs().iter().map(|e| e.counters().physics_nanos).sum();
        let (mut controller_s, mut reset_s) = (0.0, 0.0);
        let mut contact_points = 0usize;
        let mut ctls: Vec<ScriptedGrasp> =
            scen.iter().map(|s| ScriptedGrasp::new(s, &arm, ScriptedParams::default())).collect();
        let start = Instant::now();
        for _ in 0..control_steps {
            let t = Instant::now();
            let actions: Vec<_> = v
                .envs()
                .iter()
                .zip(ctls.iter_mut())
                .map(|(e, c)| e.privileged().map(|p| c.act(&p, &limits)).unwrap_or(crate::action::Action::HOLD_OPEN))
                .collect();
            controller_s += t.elapsed().as_secs_f64();
            let steps = v.step(&actions);
            if threads == 1 {
                contact_points +=
                    v.envs().iter().filter_map(|e| e.world()).map(|w| w.active_contact_points()).sum::<usize>();
            }
            for (i, s) in steps.into_iter().enumerate() {
                if s?.done {
                    let t = Instant::now();
                    next_seed += 1;
                    scen[i] = dist.sample(next_seed);
                    v.envs_mut()[i].reset(&scen[i])?;
                    ctls[i] = ScriptedGrasp::new(&scen[i], &arm, ScriptedParams::default());
                    reset_s += t.elapsed().as_secs_f64();
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let total = (control_steps * envs) as f64;
        let physics_s =
            (v.envs().iter().map(|e| e.counters().physics_nanos).sum::<u64>() - physics_before) as f64 * 1e-9;
        let physics_steps = total * cfg.substeps() as f64;
        let breakdown = (threads == 1).then(|| Breakdown {
            physics_only_steps_per_s: physics_steps / physics_s.max(1e-12),
            physics: physics_s / secs,
            reset: reset_s / secs,
            controller: controller_s / secs,
            env_rest: (1.0 - (physics_s + reset_s + controller_s) / secs).max(0.0),
            contacts_per_step: contact_points as f64 / total,
        });
        Ok(Throughput {
            threads,
            envs,
            control_steps_per_s: total / secs,
            physics_steps_per_s: physics_steps / secs,
            control_steps_per_s_per_thread: total / secs / threads as f64,
            breakdown,
        })
    })
}
