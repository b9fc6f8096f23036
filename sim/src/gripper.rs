//! Grippers as one mechanism: an arm profile names its gripper's kind — `parallel` (two
//! prismatic fingers) or `rotating_jaw` (a jaw fixed to the wrist and one on a revolute joint)
//! — and [`Gripper`] is the one place that knows what that means: the command → jaw-target
//! mapping, the jaw motors' gains, the opening between the pads, which colliders are pads, the
//! grip force at full effort, where an object's centre must sit for both pads to meet it, and
//! the servo coordinate of the hardware path. Everything else asks it.

use nalgebra::{Isometry3, Point3, Unit, Vector3};
use serde::{Deserialize, Serialize};

use crate::arm::JointSpec;
use crate::config::MotorGains;

/// The most joints a gripper has (a parallel gripper's two fingers).
pub const MAX_GRIPPER_JOINTS: usize = 2;

/// Gap (m) a rotating jaw's grasp leaves between the fixed pad and the object as the tool comes
/// down beside it: the fixed jaw must not brush the object on the way down; the closing jaw
/// sweeps the object across this gap onto the fixed pad.
pub const FIXED_JAW_CLEARANCE: f64 = 0.008;

/// What an arm profile says about its gripper (the `[gripper]` table; omitted = `parallel`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GripperSpec {
    /// Two prismatic fingers (the profile's two `gripper_joints`), each joint's position the
    /// distance (m) of its pad from the centre line; every collider of a finger link is a pad.
    #[default]
    Parallel,
    /// One fixed jaw on the end-effector link and one jaw on a revolute joint (the profile's one
    /// `gripper_joints` entry), closing towards the lower joint limit.
    RotatingJaw {
        /// Jaw angle (rad) that the command −1 (fully open) drives to; the command +1 drives to
        /// the lower limit (closed), squeezing whatever lies between the jaws.
        open_position: f64,
        /// The fixed jaw's pad (on the end-effector link).
        fixed_pad: PadSpec,
        /// The moving jaw's pad (on the gripper joint's child link).
        moving_pad: PadSpec,
    },
}

/// One pad: a named URDF collision element of a link, and the midpoint of its inner face.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PadSpec {
    /// The link carrying the pad.
    pub link: String,
    /// The `name` of the pad's `<collision>` element in that link.
    pub collision: String,
    /// Midpoint of the pad's inner face in the link's frame (m).
    pub point: [f64; 3],
}

/// The colliders that are one pad: a link of the URDF robot (an index into
/// `UrdfRobot::links`) and which of its colliders (all of them, or the one at an index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PadColliders {
    /// Index into `UrdfRobot::links`.
    pub link_slot: usize,
    /// Index into that link's colliders; `None` = every collider of the link.
    pub collider: Option<usize>,
}

impl PadColliders {
    /// Whether collider `index` of link `link_slot` belongs to this pad.
    pub fn contains(&self, link_slot: usize, index: usize) -> bool {
        self.link_slot == link_slot && self.collider.is_none_or(|c| c == index)
    }
}

/// The geometry of a rotating jaw, in the end-effector link's frame.
#[derive(Clone, Debug, PartialEq)]
pub struct JawGeometry {
    /// Pose (m, rad) of the jaw joint's frame at angle 0 in the end-effector link.
    pub origin: Isometry3<f64>,
    /// Rotation axis in the jaw joint's frame.
    pub axis: Unit<Vector3<f64>>,
    /// The fixed pad's face midpoint (m, end-effector link).
    pub fixed_point: Point3<f64>,
    /// The moving pad's face midpoint (m, jaw link frame).
    pub moving_point: Point3<f64>,
    /// The closing direction (from the fixed pad towards the moving one) in the end-effector
    /// link: the tool frame's +Y.
    pub closing: Unit<Vector3<f64>>,
    /// Distance (m) of the moving pad's face midpoint from the jaw axis: the lever between
    /// the jaw torque and the grip force.
    pub lever: f64,
    /// The fixed pad face's offset (m) from the tool origin along `closing`.
    pub fixed_face_offset: f64,
}

/// What kind of gripper, with its geometry.
#[derive(Clone, Debug, PartialEq)]
pub enum GripperKind {
    /// Two prismatic fingers.
    Parallel,
    /// A fixed and a rotating jaw.
    RotatingJaw(JawGeometry),
}

/// A loaded, validated gripper.
#[derive(Clone, Debug, PartialEq)]
pub struct Gripper {
    /// Its kind and geometry.
    pub kind: GripperKind,
    /// The gripper joints in profile order (2 prismatic, or 1 revolute).
    pub joints: Vec<JointSpec>,
    /// Index into `UrdfRobot::joints` of each gripper joint.
    pub joint_slots: Vec<usize>,
    /// The two pads: the left finger and the right (parallel), or the fixed jaw and the
    /// moving one (rotating jaw). Contact flags keep this order.
    pub pads: [PadColliders; 2],
    /// Jaw target (m or rad) of the command +1: the joints' lower limit.
    pub closed: f64,
    /// Jaw target (m or rad) of the command −1.
    pub open: f64,
}

impl Gripper {
    /// Number of gripper joints.
    pub fn joint_count(&self) -> usize {
        self.joints.len()
    }

    /// The jaw target (m for each parallel finger, rad for a rotating jaw) of a gripper
    /// command `g` in [−1, 1]: −1 open, +1 closed.
    pub fn jaw_goal(&self, g: f64) -> f64 {
        self.closed + (1.0 - g) / 2.0 * (self.open - self.closed)
    }

    /// The jaw target's rate limit (m/s or rad/s): the first gripper joint's velocity limit.
    pub fn velocity(&self) -> f64 {
        self.joints[0].velocity
    }

    /// Motor stiffness and damping of the gripper joints: `MotorGains`' finger gains act at the
    /// pads, so a rotating jaw's are multiplied by its lever squared (N·m/rad, N·m·s/rad).
    pub fn motor_gains(&self, gains: &MotorGains) -> (f64, f64) {
        match &self.kind {
            GripperKind::Parallel => (gains.finger_stiffness, gains.finger_damping),
            GripperKind::RotatingJaw(j) => {
                let l2 = j.lever * j.lever;
                (gains.finger_stiffness * l2, gains.finger_damping * l2)
            }
        }
    }

    /// The opening (m) between the pads with the gripper joints at `positions` (m or rad):
    /// the fingers' positions summed (parallel), or the moving pad's face midpoint's distance
    /// from the fixed one's along the closing direction (rotating jaw).
    pub fn opening(&self, positions: &[f64]) -> f64 {
        match &self.kind {
            GripperKind::Parallel => positions[0] + positions[1],
            GripperKind::RotatingJaw(j) => j.opening(positions[0]),
        }
    }

    /// The jaw coordinate (m or rad) that the gripper joints at `positions` stand at: the wider
    /// parallel finger's position, or the jaw angle.
    pub fn jaw_position(&self, positions: &[f64]) -> f64 {
        match self.kind {
            GripperKind::Parallel => positions[0].max(positions[1]),
            GripperKind::RotatingJaw(_) => positions[0],
        }
    }

    /// The widest opening (m): at the open jaw target.
    pub fn max_opening(&self) -> f64 {
        match &self.kind {
            GripperKind::Parallel => self.joints.iter().map(|g| g.upper).sum(),
            GripperKind::RotatingJaw(j) => j.opening(self.open),
        }
    }

    /// The total normal force (N) the pads press on an object with at full effort, both pads
    /// summed, for a gripper force scale `force_scale`.
    pub fn full_grip_force(&self, force_scale: f64) -> f64 {
        match &self.kind {
            GripperKind::Parallel => self.joints.iter().map(|g| g.effort).sum::<f64>() * force_scale,
            GripperKind::RotatingJaw(j) => 2.0 * self.joints[0].effort / j.lever * force_scale,
        }
    }

    /// Where (m, tool frame) the centre of an object `width` (m) wide across the jaws must lie
    /// so that both pads meet it as the gripper closes: the tool origin for a parallel
    /// gripper; for a rotating jaw, half the width plus [`FIXED_JAW_CLEARANCE`] beyond the
    /// fixed pad's face.
    pub fn grasp_point(&self, width: f64) -> Vector3<f64> {
        match &self.kind {
            GripperKind::Parallel => Vector3::zeros(),
            GripperKind::RotatingJaw(j) => {
                Vector3::new(0.0, j.fixed_face_offset + 0.5 * width + FIXED_JAW_CLEARANCE, 0.0)
            }
        }
    }

    /// Where the two pads' inner faces lie (m) along the closing direction (the tool frame's
    /// +Y) when they stand `opening` (m) apart: symmetric about the tool origin for a parallel
    /// gripper; from the fixed pad's face for a rotating jaw. Whatever the pads hold lies
    /// between them.
    pub fn pad_faces(&self, opening: f64) -> (f64, f64) {
        match &self.kind {
            GripperKind::Parallel => (-0.5 * opening, 0.5 * opening),
            GripperKind::RotatingJaw(j) => (j.fixed_face_offset, j.fixed_face_offset + opening),
        }
    }

    /// The gripper command (in [−1, 1]) a grasp of an object `width` (m) wide across the jaws
    /// opens with before closing: fully open (−1) for a parallel gripper; for a rotating jaw,
    /// just wide enough that the moving pad clears the object's far side by
    /// [`FIXED_JAW_CLEARANCE`] (it then sweeps a short, nearly horizontal arc instead of coming
    /// down over the object's top from a wide-open, steeply inclined jaw).
    pub fn pregrasp_command(&self, width: f64) -> f32 {
        match &self.kind {
            GripperKind::Parallel => -1.0,
            GripperKind::RotatingJaw(j) => {
                let want = width + 2.0 * FIXED_JAW_CLEARANCE;
                // The opening grows steadily with the jaw angle (checked on load): bisect.
                let (mut lo, mut hi) = (self.closed, self.open);
                if j.opening(hi) <= want {
                    return -1.0;
                }
                for _ in 0..40 {
                    let mid = 0.5 * (lo + hi);
                    if j.opening(mid) < want { lo = mid } else { hi = mid }
                }
                self.command_for_jaw(hi)
            }
        }
    }

    /// The gripper command (in [−1, 1]) whose jaw target is `jaw` (m or rad): the inverse of
    /// [`Self::jaw_goal`].
    pub fn command_for_jaw(&self, jaw: f64) -> f32 {
        (1.0 - 2.0 * (jaw - self.closed) / (self.open - self.closed)).clamp(-1.0, 1.0) as f32
    }

    /// The hardware servo coordinate (m of opening, or rad of jaw) of a jaw target: a parallel
    /// gripper's one servo sets the opening (both fingers' travel), a rotating jaw's its angle.
    pub fn servo_from_jaw(&self, jaw: f64) -> f64 {
        match self.kind {
            GripperKind::Parallel => 2.0 * jaw,
            GripperKind::RotatingJaw(_) => jaw,
        }
    }

    /// The jaw target of a hardware servo coordinate (inverse of [`Self::servo_from_jaw`]).
    pub fn jaw_from_servo(&self, servo: f64) -> f64 {
        match self.kind {
            GripperKind::Parallel => 0.5 * servo,
            GripperKind::RotatingJaw(_) => servo,
        }
    }

    /// The servo reading (m or rad) of gripper joints at `positions`: the opening (parallel)
    /// or the jaw angle (rotating jaw).
    pub fn servo_reading(&self, positions: &[f64]) -> f64 {
        match self.kind {
            GripperKind::Parallel => self.opening(positions),
            GripperKind::RotatingJaw(_) => positions[0],
        }
    }

    /// The opening (m) between the pads with the servo at `servo` (m or rad).
    pub fn servo_opening(&self, servo: f64) -> f64 {
        match &self.kind {
            GripperKind::Parallel => servo,
            GripperKind::RotatingJaw(j) => j.opening(servo),
        }
    }

    /// The unit of the servo coordinate: "m" (a parallel gripper's opening) or "rad" (a jaw).
    pub fn servo_unit(&self) -> &'static str {
        match self.kind {
            GripperKind::Parallel => "m",
            GripperKind::RotatingJaw(_) => "rad",
        }
    }

    /// The servo's speed limit (m/s or rad/s): the jaw target's rate limit in servo units.
    pub fn servo_speed(&self) -> f64 {
        self.servo_from_jaw(self.velocity())
    }

    /// The servo's range (m or rad): both fingers' travel, or the jaw joint's limits.
    pub fn servo_range(&self) -> (f64, f64) {
        let j = &self.joints[0];
        (self.servo_from_jaw(j.lower), self.servo_from_jaw(j.upper))
    }
}

impl JawGeometry {
    /// The moving pad's face midpoint (m, end-effector link) at jaw angle `q` (rad).
    pub fn moving_point_at(&self, q: f64) -> Point3<f64> {
        let turn = nalgebra::UnitQuaternion::from_axis_angle(&self.axis, q);
        self.origin * (turn * self.moving_point)
    }

    /// The opening (m) between the pads' face midpoints along the closing direction at `q`.
    pub fn opening(&self, q: f64) -> f64 {
        (self.moving_point_at(q) - self.fixed_point).dot(&self.closing)
    }
}
