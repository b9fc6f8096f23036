//! `EnvConfig`: rates, action bounds, workspace, motor gains, outcome thresholds and reward
//! weights, all with serde defaults (TOML) and validated with named fields and ranges.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError, check_range};
use crate::outcome::OutcomeThresholds;
use crate::reward::RewardWeights;

/// Bounds of one action (per control step).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ActionLimits {
    /// Largest tool displacement per axis per control step (m); 0.02 m at 20 Hz is 0.4 m/s.
    pub max_translation: f64,
    /// Largest tool yaw change per control step (rad).
    pub max_yaw: f64,
    /// The tool target never leads the measured tool by more than this (m), so a blocked arm
    /// does not wind up.
    pub max_target_lead: f64,
}

impl Default for ActionLimits {
    fn default() -> Self {
        Self { max_translation: 0.02, max_yaw: 0.15, max_target_lead: 0.03 }
    }
}

/// The box (m, world frame) the tool target is kept inside, and how far above the table top
/// the fingertips are kept.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Workspace {
    /// Lower corner (m).
    pub min: [f64; 3],
    /// Upper corner (m).
    pub max: [f64; 3],
    /// Height (m) the fingertips are kept above the table top: the tool target never goes below
    /// the arm's `fingertip_offset` plus this, so no command drives the fingers into the table
    /// (negative values let it, for tests of the collision classifier).
    pub fingertip_clearance: f64,
}

impl Default for Workspace {
    fn default() -> Self {
        Self { min: [-0.10, -0.40, 0.005], max: [0.42, 0.40, 0.40], fingertip_clearance: 0.002 }
    }
}

impl Workspace {
    /// The lowest tool-target height (m) for an arm whose fingertips lie `fingertip_offset` (m)
    /// beyond the tool frame.
    pub fn floor(&self, fingertip_offset: f64) -> f64 {
        self.min[2].max(fingertip_offset + self.fingertip_clearance)
    }
}

/// Joint motor gains. Motors are force-based PD servos whose output is capped by the URDF
/// effort limit (times the gripper force scale for the fingers).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MotorGains {
    /// Arm joints saturate at their effort limit at this position error (rad): stiffness is
    /// effort / saturation error (N·m/rad).
    pub arm_saturation_error: f64,
    /// Arm damping as a time constant (s): damping = stiffness × this (N·m·s/rad).
    pub arm_damping_time: f64,
    /// Finger stiffness (N/m).
    pub finger_stiffness: f64,
    /// Finger damping (N·s/m).
    pub finger_damping: f64,
}

impl Default for MotorGains {
    fn default() -> Self {
        Self { arm_saturation_error: 0.05, arm_damping_time: 0.02, finger_stiffness: 2000.0, finger_damping: 20.0 }
    }
}

/// Contact compliance. Rapier's contacts are soft springs whose stiffness scales with the
/// effective mass at the contact (k ≈ m·(2πf)²); with its defaults (30 Hz) a 20 N grip on a
/// light object sinks the fingers about 1 cm into it. Stiffer contacts keep the grip honest.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ContactSoftness {
    /// Natural frequency of contacts between moving bodies (Hz); contacts with the fixed table
    /// use twice this.
    pub natural_frequency: f64,
    /// Damping ratio of contacts.
    pub damping_ratio: f64,
    /// Compute capsule–box contacts from the rounded shapes instead of parry's core-segment GJK,
    /// whose normal can be tens of degrees off a flat face (see [`crate::contacts`]). Off by
    /// default, so that arm5's stored episodes replay bit for bit; the SO-101's task turns it on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exact_capsule_normals: bool,
}

impl Default for ContactSoftness {
    fn default() -> Self {
        Self { natural_frequency: 120.0, damping_ratio: 2.0, exact_capsule_normals: false }
    }
}

/// Configuration of a [`crate::GraspEnv`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnvConfig {
    /// Physics rate (Hz); must be a whole multiple of `control_hz`.
    pub physics_hz: f64,
    /// Control rate (Hz).
    pub control_hz: f64,
    /// Episode length (s); the episode times out after it.
    pub episode_seconds: f64,
    /// Rapier solver substeps per physics step. Measured on 500 scripted episodes: 4 gives
    /// 99.2 % success with 2 slips, 2 gives 97 % with 13 slips (the grasp gets weaker), so 4.
    pub solver_iterations: usize,
    /// Contact compliance.
    pub contact: ContactSoftness,
    /// Damped-least-squares iterations per control step.
    pub ik_iterations: usize,
    /// Action bounds.
    pub action: ActionLimits,
    /// Tool target workspace.
    pub workspace: Workspace,
    /// Motor gains.
    pub motors: MotorGains,
    /// Outcome classifier thresholds.
    pub outcome: OutcomeThresholds,
    /// Reward weights.
    pub reward: RewardWeights,
}

impl Default for EnvConfig {
    fn default() -> Self {
        Self {
            physics_hz: 240.0,
            control_hz: 20.0,
            episode_seconds: 10.0,
            solver_iterations: 4,
            contact: ContactSoftness::default(),
            ik_iterations: 8,
            action: ActionLimits::default(),
            workspace: Workspace::default(),
            motors: MotorGains::default(),
            outcome: OutcomeThresholds::default(),
            reward: RewardWeights::default(),
        }
    }
}

impl EnvConfig {
    /// Loads and validates a TOML config file; absent fields take their defaults.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io { path: path.to_path_buf(), source })?;
        let name = path.display().to_string();
        let c: EnvConfig =
            toml::from_str(&text).map_err(|e| SimError::Parse { source_name: name.clone(), message: e.to_string() })?;
        c.validate(&name)?;
        Ok(c)
    }

    /// Physics steps per control step.
    pub fn substeps(&self) -> usize {
        (self.physics_hz / self.control_hz).round() as usize
    }

    /// Physics time step (s).
    pub fn physics_dt(&self) -> f64 {
        1.0 / self.physics_hz
    }

    /// Control period (s).
    pub fn control_dt(&self) -> f64 {
        1.0 / self.control_hz
    }

    /// Control steps per episode.
    pub fn max_steps(&self) -> u32 {
        (self.episode_seconds * self.control_hz).round() as u32
    }

    /// Checks every field; the error names the field and its allowed range.
    pub fn validate(&self, src: &str) -> Result<()> {
        check_range(src, "physics_hz", self.physics_hz, 30.0, 5000.0, "Hz")?;
        check_range(src, "control_hz", self.control_hz, 1.0, 1000.0, "Hz")?;
        let ratio = self.physics_hz / self.control_hz;
        if (ratio - ratio.round()).abs() > 1e-9 || ratio.round() < 1.0 {
            return Err(SimError::invalid(src, "physics_hz", "must be a whole multiple of control_hz"));
        }
        check_range(src, "episode_seconds", self.episode_seconds, 0.1, 600.0, "s")?;
        check_range(src, "solver_iterations", self.solver_iterations as f64, 1.0, 64.0, "")?;
        check_range(src, "contact.natural_frequency", self.contact.natural_frequency, 1.0, 1e4, "Hz")?;
        check_range(src, "contact.damping_ratio", self.contact.damping_ratio, 0.01, 100.0, "")?;
        check_range(src, "ik_iterations", self.ik_iterations as f64, 1.0, 200.0, "")?;
        let a = &self.action;
        check_range(src, "action.max_translation", a.max_translation, 1e-4, 0.2, "m")?;
        check_range(src, "action.max_yaw", a.max_yaw, 1e-4, 1.0, "rad")?;
        check_range(src, "action.max_target_lead", a.max_target_lead, 1e-3, 0.5, "m")?;
        for i in 0..3 {
            check_range(src, &format!("workspace.min[{i}]"), self.workspace.min[i], -2.0, 2.0, "m")?;
            check_range(src, &format!("workspace.max[{i}]"), self.workspace.max[i], -2.0, 2.0, "m")?;
            if self.workspace.min[i] >= self.workspace.max[i] {
                return Err(SimError::invalid(src, format!("workspace.max[{i}]"), "must exceed workspace.min"));
            }
        }
        check_range(src, "workspace.fingertip_clearance", self.workspace.fingertip_clearance, -0.05, 0.1, "m")?;
        let m = &self.motors;
        check_range(src, "motors.arm_saturation_error", m.arm_saturation_error, 1e-4, 1.0, "rad")?;
        check_range(src, "motors.arm_damping_time", m.arm_damping_time, 0.0, 1.0, "s")?;
        check_range(src, "motors.finger_stiffness", m.finger_stiffness, 1.0, 1e6, "N/m")?;
        check_range(src, "motors.finger_damping", m.finger_damping, 0.0, 1e4, "N·s/m")?;
        self.outcome.validate(src)?;
        self.reward.validate(src)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_toml_round_trips() {
        let c = EnvConfig::default();
        c.validate("default").unwrap();
        assert_eq!(c.substeps(), 12);
        let text = toml::to_string(&c).unwrap();
        let back: EnvConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn non_multiple_rates_are_rejected() {
        let c = EnvConfig { physics_hz: 250.0, ..Default::default() };
        let e = c.validate("cfg").unwrap_err().to_string();
        assert!(e.contains("physics_hz"), "{e}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = toml::from_str::<EnvConfig>("physics_hz = 240.0\nphysic_hz = 3\n").unwrap_err().to_string();
        assert!(e.contains("physic_hz"), "{e}");
    }
}
