//! The observation: a fixed-length `f32` vector whose layout depends only on the arm's number
//! of joints `n` (43 entries for the default 5-joint arm). In order:
//!
//! | entries | content | unit |
//! |---|---|---|
//! | n | arm joint positions (+ noise) | rad or m |
//! | n | arm joint velocities | rad/s or m/s |
//! | 1 | gripper opening | m |
//! | 3 | tool position, world frame | m |
//! | 6 | tool orientation: first two columns of its rotation matrix | – |
//! | 3 | object position in the tool frame (+ noise) | m |
//! | 6 | object orientation in the tool frame: first two columns | – |
//! | 3 | object extents (x, y, z; symmetry axis along z) | m |
//! | 4 | object shape one-hot (box, cylinder, sphere, capsule) | – |
//! | 2 | left / right finger touches the object (0 or 1) | – |
//! | 5 | previous action, normalised to [−1, 1] | – |
//!
//! The tool pose is computed from the (noisy) joint positions, as a real arm would.

/// Offsets of each block in the observation vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObsLayout {
    /// Number of arm joints.
    pub n: usize,
}

impl ObsLayout {
    /// Layout for an arm with `n` joints.
    pub fn new(n: usize) -> Self {
        Self { n }
    }
    /// Joint positions start.
    pub fn joint_pos(&self) -> usize {
        0
    }
    /// Joint velocities start.
    pub fn joint_vel(&self) -> usize {
        self.n
    }
    /// Gripper opening.
    pub fn gripper(&self) -> usize {
        2 * self.n
    }
    /// Tool position start.
    pub fn tool_pos(&self) -> usize {
        2 * self.n + 1
    }
    /// Tool orientation start.
    pub fn tool_rot(&self) -> usize {
        2 * self.n + 4
    }
    /// Object position (tool frame) start.
    pub fn object_pos(&self) -> usize {
        2 * self.n + 10
    }
    /// Object orientation (tool frame) start.
    pub fn object_rot(&self) -> usize {
        2 * self.n + 13
    }
    /// Object extents start.
    pub fn object_size(&self) -> usize {
        2 * self.n + 19
    }
    /// Shape one-hot start.
    pub fn shape(&self) -> usize {
        2 * self.n + 22
    }
    /// Finger contact flags start.
    pub fn contacts(&self) -> usize {
        2 * self.n + 26
    }
    /// Previous action start.
    pub fn prev_action(&self) -> usize {
        2 * self.n + 28
    }
    /// Total length.
    pub fn len(&self) -> usize {
        2 * self.n + 33
    }
    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bounds `(low, high)` of every entry, in order: the rotation-matrix entries lie in
    /// [−1, 1], the shape one-hot and the contact flags in [0, 1], the previous action (normalised
    /// and clipped) in [−1, 1]; positions (m), velocities (m/s, rad/s) and extents (m) are
    /// unbounded (±∞). What a Gymnasium `Box` observation space declares.
    pub fn bounds(&self) -> (Vec<f32>, Vec<f32>) {
        let mut low = vec![f32::NEG_INFINITY; self.len()];
        let mut high = vec![f32::INFINITY; self.len()];
        let mut put = |start: usize, len: usize, lo: f32, hi: f32| {
            low[start..start + len].fill(lo);
            high[start..start + len].fill(hi);
        };
        put(self.tool_rot(), 6, -1.0, 1.0);
        put(self.object_rot(), 6, -1.0, 1.0);
        put(self.shape(), 4, 0.0, 1.0);
        put(self.contacts(), 2, 0.0, 1.0);
        put(self.prev_action(), 5, -1.0, 1.0);
        (low, high)
    }

    /// Every entry's name and unit, in order, for `arm` (whose joint count must be `n`): what
    /// exported datasets and policies document about the observation.
    pub fn entries(&self, arm: &crate::arm::ArmModel) -> Vec<ObsEntry> {
        let mut v = Vec::with_capacity(self.len());
        let mut push = |name: String, unit: &'static str| v.push(ObsEntry { name, unit });
        for j in &arm.arm_joints {
            push(format!("{}.pos", j.name), if j.prismatic { "m" } else { "rad" });
        }
        for j in &arm.arm_joints {
            push(format!("{}.vel", j.name), if j.prismatic { "m/s" } else { "rad/s" });
        }
        push("gripper.opening".into(), "m");
        for a in ["x", "y", "z"] {
            push(format!("tool.pos.{a}"), "m");
        }
        for c in ["r00", "r10", "r20", "r01", "r11", "r21"] {
            push(format!("tool.rot.{c}"), "1");
        }
        for a in ["x", "y", "z"] {
            push(format!("object.pos_in_tool.{a}"), "m");
        }
        for c in ["r00", "r10", "r20", "r01", "r11", "r21"] {
            push(format!("object.rot_in_tool.{c}"), "1");
        }
        for a in ["x", "y", "z"] {
            push(format!("object.extent.{a}"), "m");
        }
        for s in ["box", "cylinder", "sphere", "capsule"] {
            push(format!("object.shape.{s}"), "1");
        }
        for p in ["first_pad", "second_pad"] {
            push(format!("contact.{p}"), "1");
        }
        for a in crate::action::ACTION_NAMES {
            push(format!("prev_action.{a}"), "1");
        }
        v
    }
}

/// One observation entry: its name (`shoulder_pan.pos`, `tool.pos.x`, …) and unit (`1` for
/// dimensionless).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ObsEntry {
    /// Name.
    pub name: String,
    /// Unit.
    pub unit: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_arm_layout_is_43_long_and_contiguous() {
        let l = ObsLayout::new(5);
        assert_eq!(l.len(), 43);
        let starts = [
            l.joint_pos(),
            l.joint_vel(),
            l.gripper(),
            l.tool_pos(),
            l.tool_rot(),
            l.object_pos(),
            l.object_rot(),
            l.object_size(),
            l.shape(),
            l.contacts(),
            l.prev_action(),
            l.len(),
        ];
        let sizes = [5, 5, 1, 3, 6, 3, 6, 3, 4, 2, 5];
        for i in 0..sizes.len() {
            assert_eq!(starts[i] + sizes[i], starts[i + 1], "block {i}");
        }
    }
}
