//! An arm's task: the scenario distribution it trains on, the env config it runs under, the
//! frozen suites it is judged on, and how its expert demonstrates and its policy explores, so
//! that each arm is trained and judged on objects it can grasp.
//!
//! One mechanism, layered TOML: an arm profile's `[task]` table holds *overrides* of the global
//! defaults (`[task.distribution]`, `[task.env]`), and every file a user passes for that arm
//! (`--env-config`, `--distribution`, a train or improve config, a suite part's
//! `distribution`) overrides the arm's values in turn ([`overlay`]). An arm without a `[task]`
//! table has exactly the global defaults.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::EnvConfig;
use crate::error::{Result, SimError};
use crate::scenario::ScenarioDistribution;
use crate::scripted::ExpertSettings;

/// What an arm profile says about its task (the `[task]` table; omitted = the global defaults).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Overrides of the default training distribution (fields as in examples/distribution.toml).
    #[serde(default)]
    pub distribution: toml::Table,
    /// Overrides of the default env config (fields as in examples/env.toml).
    #[serde(default)]
    pub env: toml::Table,
    /// The folder under `suites/` that holds the arm's own frozen suites (shipped arms only);
    /// absent = the shipped suites of `suites/`.
    #[serde(default)]
    pub suites: Option<String>,
    /// How the grasp expert behaves for this arm.
    #[serde(default)]
    pub expert: ExpertSettings,
    /// How a policy for this arm explores while it fine-tunes.
    #[serde(default)]
    pub exploration: Exploration,
}

/// An action log standard deviation (normalised action units): one value for every action
/// dimension, or one per dimension `[dx, dy, dz, dyaw, gripper]` (TOML: a number or an array of
/// 5). One value is written as a number, as before per-dimension values existed, so checkpoints
/// whose config holds one keep their hashes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum LogStd {
    /// The same in every dimension.
    Uniform(f32),
    /// Per dimension, in the order of [`crate::action::ACTION_NAMES`].
    PerDimension([f32; crate::ACTION_DIM]),
}

impl LogStd {
    /// The value of each dimension.
    pub fn values(&self) -> [f32; crate::ACTION_DIM] {
        match *self {
            LogStd::Uniform(v) => [v; crate::ACTION_DIM],
            LogStd::PerDimension(v) => v,
        }
    }

    /// The allowed range of every dimension, as written in errors (std 0.007–7.4 normalised units).
    pub const ALLOWED: &'static str = "[-5, 2] in every dimension";

    /// The first dimension's value outside [`Self::ALLOWED`] (or not finite), if any.
    pub fn out_of_range(&self) -> Option<f32> {
        self.values().into_iter().find(|v| !(v.is_finite() && (-5.0..=2.0).contains(v)))
    }

    /// Checks every dimension against [`Self::ALLOWED`]; `field` names the value in the error.
    pub fn validate(&self, src: &str, field: &str) -> Result<()> {
        match self.out_of_range() {
            Some(v) => Err(SimError::invalid(src, field, format!("{v} is out of range; allowed {}", Self::ALLOWED))),
            None => Ok(()),
        }
    }
}

/// How a policy for an arm explores while PPO fine-tunes it after the warm start (the
/// `[task.exploration]` table of an arm profile; omitted = regrasp-arm5's). A training or loop
/// config that sets `bc.finetune_log_std` overrides it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Exploration {
    /// Action log-std fine-tuning starts from (normalised units). regrasp-arm5's: std 0.14 on
    /// motion and 0.61 on the gripper (`[-2, -2, -2, -2, -0.5]`; +4.6 points on `train` over 8
    /// seeds, PREREGISTRATION.md, session 30).
    pub finetune_log_std: LogStd,
}

impl Default for Exploration {
    fn default() -> Self {
        Self { finetune_log_std: LogStd::PerDimension([-2.0, -2.0, -2.0, -2.0, -0.5]) }
    }
}

/// An arm's resolved task.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// The training distribution.
    pub distribution: ScenarioDistribution,
    /// The env config.
    pub env: EnvConfig,
    /// The folder of the arm's frozen suites under `suites/`, if it has its own.
    pub suites: Option<String>,
    /// How the grasp expert behaves for this arm.
    pub expert: ExpertSettings,
    /// How a policy for this arm explores while it fine-tunes.
    pub exploration: Exploration,
}

impl Default for Task {
    /// The global defaults (regrasp-arm5's task).
    fn default() -> Self {
        Self {
            distribution: ScenarioDistribution::default(),
            env: EnvConfig::default(),
            suites: None,
            expert: ExpertSettings::default(),
            exploration: Exploration::default(),
        }
    }
}

impl Task {
    /// Resolves a profile's task table; `src` names the profile in errors.
    pub fn resolve(spec: &TaskSpec, src: &str) -> Result<Self> {
        let base = Task::default();
        let distribution: ScenarioDistribution =
            overlay(&base.distribution, &spec.distribution, &format!("{src}: task.distribution"))?;
        distribution.validate(&format!("{src}: task.distribution"))?;
        let env: EnvConfig = overlay(&base.env, &spec.env, &format!("{src}: task.env"))?;
        env.validate(&format!("{src}: task.env"))?;
        if let Some(s) = &spec.suites
            && crate::suite::shipped::for_arm(s).is_none()
        {
            return Err(SimError::invalid(
                src,
                "task.suites",
                format!(
                    "`{s}` is not a folder of shipped suites (one of: {})",
                    crate::suite::shipped::ARM_FOLDERS.map(|(f, _)| f).join(", ")
                ),
            ));
        }
        spec.exploration.finetune_log_std.validate(src, "task.exploration.finetune_log_std")?;
        Ok(Self { distribution, env, suites: spec.suites.clone(), expert: spec.expert, exploration: spec.exploration })
    }

    /// The env config: the arm's, or `path`'s fields over it (validated).
    pub fn env_config(&self, path: Option<&Path>) -> Result<EnvConfig> {
        over_optional_file(&self.env, path, EnvConfig::validate)
    }

    /// The training distribution: the arm's, or `path`'s fields over it (validated).
    pub fn scenario_distribution(&self, path: Option<&Path>) -> Result<ScenarioDistribution> {
        over_optional_file(&self.distribution, path, ScenarioDistribution::validate)
    }
}

/// `base`, or the fields of the file at `path` over it, validated by `validate` (which names the
/// file in its errors).
fn over_optional_file<T: Serialize + DeserializeOwned + Clone>(
    base: &T,
    path: Option<&Path>,
    validate: impl Fn(&T, &str) -> Result<()>,
) -> Result<T> {
    let Some(p) = path else { return Ok(base.clone()) };
    let t = overlay_file(base, p)?;
    validate(&t, &p.display().to_string())?;
    Ok(t)
}

/// `base` with the fields of `over` put over it, table by table (a value in `over` replaces
/// the one in `base`; a table merges into the one in `base`); `src` names `over` in errors.
pub fn overlay<T: Serialize + DeserializeOwned>(base: &T, over: &toml::Table, src: &str) -> Result<T> {
    let mut merged = toml::Table::try_from(base)
        .map_err(|e| SimError::Parse { source_name: src.to_string(), message: format!("defaults: {e}") })?;
    merge(&mut merged, over);
    T::deserialize(merged).map_err(|e| SimError::Parse { source_name: src.to_string(), message: e.to_string() })
}

/// [`overlay`] with the fields of a TOML text.
pub fn overlay_text<T: Serialize + DeserializeOwned>(base: &T, text: &str, src: &str) -> Result<T> {
    let over: toml::Table =
        toml::from_str(text).map_err(|e| SimError::Parse { source_name: src.to_string(), message: e.to_string() })?;
    overlay(base, &over, src)
}

/// [`overlay`] with the fields of a TOML file.
pub fn overlay_file<T: Serialize + DeserializeOwned>(base: &T, path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::Io { path: path.to_path_buf(), source })?;
    overlay_text(base, &text, &path.display().to_string())
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_overlay_is_the_base_and_fields_replace_table_by_table() {
        let base = EnvConfig::default();
        assert_eq!(overlay(&base, &toml::Table::new(), "t").unwrap(), base);
        let c: EnvConfig = overlay_text(&base, "[outcome]\nsuccess_lift = 0.04\n", "t").unwrap();
        assert_eq!(c.outcome.success_lift, 0.04);
        assert_eq!(c.outcome.table_force, base.outcome.table_force, "a sibling field is kept");
        assert_eq!(c.workspace, base.workspace);
    }

    #[test]
    fn a_bad_overlay_names_its_source_and_field() {
        let e = overlay_text(&EnvConfig::default(), "[outcome]\nsucces_lift = 0.04\n", "arm.toml").unwrap_err();
        let e = e.to_string();
        assert!(e.contains("arm.toml") && e.contains("succes_lift"), "{e}");
    }
}
