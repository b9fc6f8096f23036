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
        let mut ctls: Vec<ScriptedGrasp> =
            scen.iter().map(|s| ScriptedGrasp::new(s, &arm, ScriptedParams::default())).collect();
        let start = Instant::now();
        for _ in 0..control_steps {
            let actions: Vec<_> = v
                .envs()
                .iter()
                .zip(ctls.iter_mut())
                .map(|(e, c)| e.privileged().map(|p| c.act(&p, &limits)).unwrap_or(crate::action::Action::HOLD_OPEN))
                .collect();
            let steps = v.step(&actions);
            for (i, s) in steps.into_iter().enumerate() {
                if s?.done {
                    next_seed += 1;
                    scen[i] = dist.sample(next_seed);
                    v.envs_mut()[i].reset(&scen[i])?;
                    ctls[i] = ScriptedGrasp::new(&scen[i], &arm, ScriptedParams::default());
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let total = (control_steps * envs) as f64;
        Ok(Throughput {
            threads,
            envs,
            control_steps_per_s: total / secs,
            physics_steps_per_s: total * cfg.substeps() as f64 / secs,
            control_steps_per_s_per_thread: total / secs / threads as f64,
        })
    })
}
