//! `Action`: a bounded tool displacement (m), a yaw change (rad) and a gripper command, plus
//! its normalised `[-1, 1]⁵` form that policies emit.

use serde::{Deserialize, Serialize};

use crate::config::ActionLimits;
use crate::error::{Result, SimError};

/// Number of action components.
pub const ACTION_DIM: usize = 5;

/// Names of the action's components, in order: the tool's displacement along world x, y, z,
/// its yaw change, and the gripper command.
pub const ACTION_NAMES: [&str; ACTION_DIM] = ["dx", "dy", "dz", "dyaw", "gripper"];

/// One control-step action.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Action {
    /// Tool displacement in the world frame (m), each within ±`max_translation`.
    pub translation: [f32; 3],
    /// Tool yaw change about the vertical (rad), within ±`max_yaw`.
    pub yaw: f32,
    /// Gripper command in [−1, 1]: −1 fully open, +1 fully closed (squeezing at the force limit).
    pub gripper: f32,
}

impl Action {
    /// Stand still with the gripper open.
    pub const HOLD_OPEN: Action = Action { translation: [0.0; 3], yaw: 0.0, gripper: -1.0 };

    /// From normalised components `[dx, dy, dz, dyaw, gripper]`, each in [−1, 1] (clipped).
    pub fn from_normalized(a: &[f32; ACTION_DIM], limits: &ActionLimits) -> Action {
        let c = |v: f32| if v.is_nan() { v } else { v.clamp(-1.0, 1.0) };
        let t = limits.max_translation as f32;
        Action {
            translation: [c(a[0]) * t, c(a[1]) * t, c(a[2]) * t],
            yaw: c(a[3]) * limits.max_yaw as f32,
            gripper: c(a[4]),
        }
    }

    /// The normalised components `[dx, dy, dz, dyaw, gripper]`.
    pub fn to_normalized(&self, limits: &ActionLimits) -> [f32; ACTION_DIM] {
        let t = limits.max_translation as f32;
        [
            self.translation[0] / t,
            self.translation[1] / t,
            self.translation[2] / t,
            self.yaw / limits.max_yaw as f32,
            self.gripper,
        ]
    }

    /// Rejects NaN or infinite components, naming the first one.
    pub fn check_finite(&self) -> Result<()> {
        let parts = [
            ("dx", self.translation[0]),
            ("dy", self.translation[1]),
            ("dz", self.translation[2]),
            ("dyaw", self.yaw),
            ("gripper", self.gripper),
        ];
        for (name, v) in parts {
            if !v.is_finite() {
                return Err(SimError::NonFiniteAction { component: name, value: v.to_string() });
            }
        }
        Ok(())
    }

    /// Clipped into the bounds (the action must be finite).
    pub fn clipped(&self, limits: &ActionLimits) -> Action {
        let t = limits.max_translation as f32;
        let y = limits.max_yaw as f32;
        Action {
            translation: self.translation.map(|v| v.clamp(-t, t)),
            yaw: self.yaw.clamp(-y, y),
            gripper: self.gripper.clamp(-1.0, 1.0),
        }
    }
}
