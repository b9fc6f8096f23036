//! The arm model: a URDF (parsed by urdf-rs, loaded into rapier by rapier3d-urdf) plus an
//! [`ArmProfile`] naming the arm joints, the gripper (its kind and joints, see
//! [`crate::gripper`]), the end-effector link and the tool frame. Everything is validated
//! before rapier sees it, so a bad file is an error naming the file and field, never a panic
//! inside the loader. The shipped arms are [`NamedArm`]s.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use nalgebra::{Isometry3, Translation3, Unit, UnitQuaternion, Vector3};
use rapier3d_urdf::urdf_rs;
use rapier3d_urdf::{UrdfLoaderOptions, UrdfRobot};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError, check_range};
use crate::gripper::{Gripper, GripperKind, GripperSpec, JawGeometry, PadColliders, PadSpec};
use crate::hash::Fnv64;
use crate::kinematics::{Chain, ChainJoint, JointKind};
use crate::task::{Task, TaskSpec};

/// The default arm's URDF, shipped in `sim/assets/`.
pub const DEFAULT_URDF: &str = include_str!("../assets/regrasp_arm5.urdf");
/// The default arm's profile, shipped in `sim/assets/`.
pub const DEFAULT_PROFILE: &str = include_str!("../assets/regrasp_arm5.toml");
/// The SO-101's URDF, shipped in `sim/assets/`.
pub const SO101_URDF: &str = include_str!("../assets/so101.urdf");
/// The SO-101's profile, shipped in `sim/assets/`.
pub const SO101_PROFILE: &str = include_str!("../assets/so101.toml");

/// An arm shipped with regrasp, selected by name (`--arm so101`) instead of file paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedArm {
    /// `regrasp-arm5`: regrasp's own 5-DoF arm with a parallel gripper (the default).
    RegraspArm5,
    /// `so101`: the SO-101 (six Feetech STS3215 servos) with its rotating jaw.
    So101,
}

impl NamedArm {
    /// Every shipped arm, the default first.
    pub const ALL: [NamedArm; 2] = [NamedArm::RegraspArm5, NamedArm::So101];

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            NamedArm::RegraspArm5 => "regrasp-arm5",
            NamedArm::So101 => "so101",
        }
    }

    /// The shipped arm called `name`, if any.
    pub fn from_name(name: &str) -> Option<NamedArm> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Every name, comma-separated (for error messages).
    pub fn names() -> String {
        Self::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
    }

    /// The URDF and profile texts.
    pub fn texts(self) -> (&'static str, &'static str) {
        match self {
            NamedArm::RegraspArm5 => (DEFAULT_URDF, DEFAULT_PROFILE),
            NamedArm::So101 => (SO101_URDF, SO101_PROFILE),
        }
    }

    /// Loads it.
    pub fn load(self) -> Result<ArmModel> {
        let (urdf, profile) = self.texts();
        let n = self.name();
        ArmModel::from_strs(urdf, &format!("<{n} URDF>"), profile, &format!("<{n} profile>"))
    }
}

/// A pose given as URDF-style `xyz` (m) and fixed-axis `rpy` (rad).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FrameSpec {
    /// Translation (m).
    pub xyz: [f64; 3],
    /// Roll, pitch, yaw (rad), applied as Rz(yaw)·Ry(pitch)·Rx(roll).
    #[serde(default)]
    pub rpy: [f64; 3],
}

impl FrameSpec {
    /// As an isometry.
    pub fn isometry(&self) -> Isometry3<f64> {
        pose_from_xyz_rpy(self.xyz, self.rpy)
    }
}

fn pose_from_xyz_rpy(xyz: [f64; 3], rpy: [f64; 3]) -> Isometry3<f64> {
    Isometry3::from_parts(
        Translation3::new(xyz[0], xyz[1], xyz[2]),
        UnitQuaternion::from_euler_angles(rpy[0], rpy[1], rpy[2]),
    )
}

/// What the URDF alone does not say about an arm (TOML, see `sim/assets/regrasp_arm5.toml`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArmProfile {
    /// Display name.
    pub name: String,
    /// Actuated arm joints from base to wrist; their order is the joint-vector order.
    pub arm_joints: Vec<String>,
    /// The gripper's joints: two prismatic fingers (each position its pad's distance (m) from
    /// the centre line) for a parallel gripper, the one revolute jaw joint for a rotating jaw.
    pub gripper_joints: Vec<String>,
    /// Link carrying the tool frame and the fingers.
    pub end_effector_link: String,
    /// Tool frame (grasp centre) in the end-effector link frame; +Z is the approach direction.
    pub tool_frame: FrameSpec,
    /// Distance (m) from the tool frame to the fingertips along the approach axis.
    pub fingertip_offset: f64,
    /// Distance (m) from the tool frame back to the palm's near face along the approach axis.
    pub palm_offset: f64,
    /// Coulomb friction coefficient of the finger pads.
    pub finger_friction: f64,
    /// Tool position (m, world) of the home pose, tool pointing down.
    pub home_tool_position: [f64; 3],
    /// Tool yaw (rad) relative to an object's bearing at which the wrist roll sits mid-range:
    /// of two grasp yaws a half turn apart, the one nearer it is taken, and the tool turns
    /// towards it without passing the wrist's seam half a turn away. When omitted: the
    /// bearing itself, and turns take the shorter way (regrasp-arm5, whose published
    /// demonstrations were made so).
    #[serde(default)]
    pub natural_yaw: Option<f64>,
    /// Reflected rotor inertia (kg·m² or kg) added to every actuated joint; 0 when omitted.
    #[serde(default)]
    pub armature: f64,
    /// The gripper's kind and geometry (the `[gripper]` table); `parallel` when omitted, so
    /// profiles written before grippers had kinds load unchanged, with the same hash.
    #[serde(default)]
    pub gripper: GripperSpec,
    /// The task the arm trains on and is judged on (the `[task]` table, see [`crate::task`]);
    /// the global defaults when omitted.
    #[serde(default)]
    pub task: TaskSpec,
}

/// Limits and dynamics of one actuated joint, from the URDF.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JointSpec {
    /// URDF joint name.
    pub name: String,
    /// Revolute (rad) or prismatic (m).
    pub prismatic: bool,
    /// Lower position limit (rad or m).
    pub lower: f64,
    /// Upper position limit (rad or m).
    pub upper: f64,
    /// Effort limit (N·m or N).
    pub effort: f64,
    /// Velocity limit (rad/s or m/s).
    pub velocity: f64,
    /// Viscous damping (N·m·s/rad or N·s/m).
    pub damping: f64,
}

/// A loaded, validated arm.
#[derive(Clone, Debug)]
pub struct ArmModel {
    /// The profile.
    pub profile: ArmProfile,
    /// Where the URDF came from (file path or `<default arm>`).
    pub urdf_source: String,
    /// The rapier description, cloned into each new physics world.
    pub urdf_robot: UrdfRobot,
    /// Arm joints in profile order.
    pub arm_joints: Vec<JointSpec>,
    /// Index into `urdf_robot.joints` of each arm joint.
    pub arm_joint_slots: Vec<usize>,
    /// The gripper: its joints, pads and everything that depends on its kind.
    pub gripper: Gripper,
    /// The task (distribution, env config, suites) the arm trains on and is judged on.
    pub task: Task,
    /// The kinematic chain base → tool.
    pub chain: Chain,
    /// FNV-1a hash of the URDF and profile texts: identifies the arm description.
    pub content_hash: u64,
    /// The URDF name of each link of `urdf_robot.links`, in that order.
    pub link_names: Vec<String>,
}

impl ArmModel {
    /// The default 5-DoF arm shipped with regrasp.
    pub fn default_arm() -> Result<Self> {
        Self::from_strs(DEFAULT_URDF, "<default arm URDF>", DEFAULT_PROFILE, "<default arm profile>")
    }

    /// The arm a command line names (`--arm`, `--arm-profile`): a shipped arm by name, or with
    /// `profile` a URDF file and its profile; the default arm when neither is given.
    pub fn from_arg(arm: Option<&str>, profile: Option<&Path>) -> Result<Self> {
        match (arm, profile) {
            (Some(urdf), Some(profile)) => Self::from_files(Path::new(urdf), profile),
            (Some(name), None) => Self::named(name),
            (None, _) => Self::default_arm(),
        }
    }

    /// A shipped arm by name (see [`NamedArm`]).
    pub fn named(name: &str) -> Result<Self> {
        NamedArm::from_name(name)
            .ok_or_else(|| {
                SimError::invalid(
                    "--arm",
                    "name",
                    format!(
                        "`{name}` is not a shipped arm (one of: {}); to load an arm from files give --arm URDF \
                         --arm-profile PROFILE",
                        NamedArm::names()
                    ),
                )
            })?
            .load()
    }

    /// Loads an arm from a URDF file and a profile file.
    pub fn from_files(urdf: &Path, profile: &Path) -> Result<Self> {
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|source| SimError::Io { path: p.to_path_buf(), source });
        let urdf_text = read(urdf)?;
        let profile_text = read(profile)?;
        Self::from_strs(&urdf_text, &urdf.display().to_string(), &profile_text, &profile.display().to_string())
    }

    /// Loads an arm from URDF and profile texts; `*_name` name them in errors.
    pub fn from_strs(urdf_text: &str, urdf_name: &str, profile_text: &str, profile_name: &str) -> Result<Self> {
        let profile: ArmProfile = toml::from_str(profile_text)
            .map_err(|e| SimError::Parse { source_name: profile_name.to_string(), message: e.to_string() })?;
        validate_profile(&profile, profile_name)?;
        let task = Task::resolve(&profile.task, profile_name)?;
        let robot = urdf_rs::read_from_string(urdf_text)
            .map_err(|e| SimError::Parse { source_name: urdf_name.to_string(), message: e.to_string() })?;
        validate_tree(&robot, urdf_name)?;

        let joint_by_name: HashMap<&str, (usize, &urdf_rs::Joint)> =
            robot.joints.iter().enumerate().map(|(i, j)| (j.name.as_str(), (i, j))).collect();
        let spec_of = |name: &str, field: String, want_prismatic: Option<bool>| -> Result<JointSpec> {
            let (_, j) = joint_by_name.get(name).ok_or_else(|| {
                SimError::invalid(profile_name, &field, format!("joint `{name}` is not in {urdf_name}"))
            })?;
            joint_spec(j, urdf_name, &field, want_prismatic)
        };
        let arm_joints = profile
            .arm_joints
            .iter()
            .enumerate()
            .map(|(i, n)| spec_of(n, format!("arm_joints[{i}]"), None))
            .collect::<Result<Vec<_>>>()?;
        let want_prismatic = matches!(profile.gripper, GripperSpec::Parallel);
        let gripper_joints = profile
            .gripper_joints
            .iter()
            .enumerate()
            .map(|(i, n)| spec_of(n, format!("gripper_joints[{i}]"), Some(want_prismatic)))
            .collect::<Result<Vec<_>>>()?;

        let chain = build_chain(&robot, &profile, &arm_joints, urdf_name, profile_name)?;
        for (i, g) in profile.gripper_joints.iter().enumerate() {
            let (_, j) = joint_by_name[g.as_str()];
            if j.parent.link != profile.end_effector_link {
                return Err(SimError::invalid(
                    profile_name,
                    format!("gripper_joints[{i}]"),
                    format!(
                        "joint `{g}` hangs from link `{}`, not from end_effector_link `{}`",
                        j.parent.link, profile.end_effector_link
                    ),
                ));
            }
        }

        let options = UrdfLoaderOptions {
            make_roots_fixed: true,
            enable_joint_collisions: false,
            // The arm is always driven: it never sleeps.
            rigid_body_blueprint: rapier3d::prelude::RigidBodyBuilder::dynamic().can_sleep(false),
            ..Default::default()
        };
        let urdf_robot = UrdfRobot::from_robot(&robot, options, Path::new("."));
        let slot_of_joint = |name: &str, field: String| -> Result<usize> {
            let (urdf_index, _) = joint_by_name[name];
            urdf_robot
                .joints
                .iter()
                .position(|j| j.source_urdf_joint_index() == urdf_index || j.urdf_joint_index == urdf_index)
                .ok_or_else(|| {
                    SimError::invalid(profile_name, field, format!("joint `{name}` was merged away by the URDF loader"))
                })
        };
        let arm_joint_slots = profile
            .arm_joints
            .iter()
            .enumerate()
            .map(|(i, n)| slot_of_joint(n, format!("arm_joints[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let gripper_joint_slots = profile
            .gripper_joints
            .iter()
            .enumerate()
            .map(|(i, n)| slot_of_joint(n, format!("gripper_joints[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let gripper =
            build_gripper(&robot, &urdf_robot, &profile, gripper_joints, gripper_joint_slots, urdf_name, profile_name)?;

        let mut h = Fnv64::new();
        h.write(urdf_text.as_bytes());
        h.write(&[0xff]);
        h.write(profile_text.as_bytes());

        let link_names = urdf_robot.links.iter().map(|l| robot.links[l.urdf_link_index].name.clone()).collect();
        Ok(ArmModel {
            link_names,
            profile,
            urdf_source: urdf_name.to_string(),
            urdf_robot,
            arm_joints,
            arm_joint_slots,
            gripper,
            task,
            chain,
            content_hash: h.finish(),
        })
    }

    /// Number of arm joints.
    pub fn dof(&self) -> usize {
        self.arm_joints.len()
    }
}

fn validate_profile(p: &ArmProfile, src: &str) -> Result<()> {
    if p.arm_joints.is_empty() {
        return Err(SimError::invalid(src, "arm_joints", "needs at least one joint"));
    }
    let (want, what) = match p.gripper {
        GripperSpec::Parallel => (2, "a parallel gripper needs exactly 2 prismatic finger joints"),
        GripperSpec::RotatingJaw { .. } => (1, "a rotating-jaw gripper needs exactly 1 revolute jaw joint"),
    };
    if p.gripper_joints.len() != want {
        return Err(SimError::invalid(src, "gripper_joints", format!("{what}, got {}", p.gripper_joints.len())));
    }
    let mut seen = HashSet::new();
    for (i, n) in p.arm_joints.iter().chain(p.gripper_joints.iter()).enumerate() {
        if !seen.insert(n) {
            return Err(SimError::invalid(src, format!("joint #{i}"), format!("joint `{n}` is listed twice")));
        }
    }
    for (k, v) in p.tool_frame.xyz.iter().chain(p.tool_frame.rpy.iter()).enumerate() {
        check_range(src, &format!("tool_frame[{k}]"), *v, -10.0, 10.0, "m or rad")?;
    }
    check_range(src, "fingertip_offset", p.fingertip_offset, 0.0, 0.5, "m")?;
    check_range(src, "palm_offset", p.palm_offset, 0.0, 0.5, "m")?;
    check_range(src, "finger_friction", p.finger_friction, 0.01, 5.0, "")?;
    for (k, v) in p.home_tool_position.iter().enumerate() {
        check_range(src, &format!("home_tool_position[{k}]"), *v, -2.0, 2.0, "m")?;
    }
    check_range(src, "armature", p.armature, 0.0, 10.0, "kg·m²")?;
    if let Some(y) = p.natural_yaw {
        check_range(src, "natural_yaw", y, -std::f64::consts::PI, std::f64::consts::PI, "rad")?;
    }
    if let GripperSpec::RotatingJaw { fixed_pad, moving_pad, .. } = &p.gripper {
        for (field, pad) in [("gripper.fixed_pad", fixed_pad), ("gripper.moving_pad", moving_pad)] {
            for (k, v) in pad.point.iter().enumerate() {
                check_range(src, &format!("{field}.point[{k}]"), *v, -1.0, 1.0, "m")?;
            }
        }
    }
    Ok(())
}

/// Builds the gripper from the profile's description: finds its pads' colliders, and for a
/// rotating jaw its geometry, and checks that it can open and close on something.
fn build_gripper(
    robot: &urdf_rs::Robot,
    urdf_robot: &UrdfRobot,
    profile: &ArmProfile,
    joints: Vec<JointSpec>,
    joint_slots: Vec<usize>,
    urdf_name: &str,
    profile_name: &str,
) -> Result<Gripper> {
    let link_slot = |urdf_link: usize| urdf_robot.links.iter().position(|l| l.urdf_link_index == urdf_link);
    let child_slot = |field: &str, slot: usize| -> Result<usize> {
        let child = urdf_robot.joints[slot].link2;
        if child >= urdf_robot.links.len() {
            return Err(SimError::invalid(profile_name, field, "the joint's child link was merged away"));
        }
        Ok(child)
    };
    match &profile.gripper {
        GripperSpec::Parallel => {
            let (lower, upper) = (joints[0].lower, joints[0].upper);
            let pads = [
                PadColliders { link_slot: child_slot("gripper_joints[0]", joint_slots[0])?, collider: None },
                PadColliders { link_slot: child_slot("gripper_joints[1]", joint_slots[1])?, collider: None },
            ];
            Ok(Gripper { kind: GripperKind::Parallel, joints, joint_slots, pads, closed: lower, open: upper })
        }
        GripperSpec::RotatingJaw { open_position, fixed_pad, moving_pad } => {
            let jaw = &joints[0];
            let urdf_joint = robot.joints.iter().find(|j| j.name == jaw.name).expect("validated: the joint exists");
            let moving_link = &urdf_joint.child.link;
            let pad = |field: &str, spec: &PadSpec, want_link: &str| -> Result<PadColliders> {
                if spec.link != want_link {
                    return Err(SimError::invalid(
                        profile_name,
                        format!("{field}.link"),
                        format!("the pad must be on link `{want_link}`, not `{}`", spec.link),
                    ));
                }
                let (index, link) = robot
                    .links
                    .iter()
                    .enumerate()
                    .find(|(_, l)| l.name == spec.link)
                    .ok_or_else(|| SimError::invalid(profile_name, format!("{field}.link"), "no such link"))?;
                let collider = link
                    .collision
                    .iter()
                    .position(|c| c.name.as_deref() == Some(spec.collision.as_str()))
                    .ok_or_else(|| {
                    SimError::invalid(
                        profile_name,
                        format!("{field}.collision"),
                        format!("link `{}` in {urdf_name} has no <collision name=\"{}\">", spec.link, spec.collision),
                    )
                })?;
                let link_slot = link_slot(index).ok_or_else(|| {
                    SimError::invalid(profile_name, format!("{field}.link"), "the link was merged away by the loader")
                })?;
                Ok(PadColliders { link_slot, collider: Some(collider) })
            };
            let pads = [
                pad("gripper.fixed_pad", fixed_pad, &profile.end_effector_link)?,
                pad("gripper.moving_pad", moving_pad, moving_link)?,
            ];
            check_range(
                profile_name,
                "gripper.open_position",
                *open_position,
                jaw.lower,
                jaw.upper,
                &format!("rad (joint `{}`'s limits)", jaw.name),
            )?;
            let axis = Vector3::from(urdf_joint.axis.xyz.0);
            let tool = profile.tool_frame.isometry();
            let closing = Unit::new_normalize(tool.rotation * Vector3::y());
            let moving_point = nalgebra::Point3::from(moving_pad.point);
            let fixed_point = nalgebra::Point3::from(fixed_pad.point);
            let unit_axis = Unit::new_normalize(axis);
            let radial = moving_point.coords - unit_axis.into_inner() * moving_point.coords.dot(&unit_axis);
            let geometry = JawGeometry {
                origin: pose_from_xyz_rpy(urdf_joint.origin.xyz.0, urdf_joint.origin.rpy.0),
                axis: unit_axis,
                fixed_point,
                moving_point,
                closing,
                lever: radial.norm(),
                fixed_face_offset: (fixed_point.coords - tool.translation.vector).dot(&closing),
            };
            if geometry.lever < 1e-3 {
                return Err(SimError::invalid(
                    profile_name,
                    "gripper.moving_pad.point",
                    "lies on the jaw's axis: the jaw could not press it on anything",
                ));
            }
            // The pads must separate steadily as the jaw opens (grasp planning inverts this).
            let steps = 64;
            let angle = |k: usize| jaw.lower + (*open_position - jaw.lower) * k as f64 / steps as f64;
            if let Some(k) = (1..=steps).find(|&k| geometry.opening(angle(k)) <= geometry.opening(angle(k - 1))) {
                return Err(SimError::invalid(
                    profile_name,
                    "gripper",
                    format!(
                        "the pads stop separating at jaw angle {:.3} rad as the jaw opens towards \
                         gripper.open_position: check the pads' points and the jaw axis",
                        angle(k)
                    ),
                ));
            }
            let (closed_gap, open_gap) = (geometry.opening(jaw.lower), geometry.opening(*open_position));
            if !(open_gap > 0.0 && closed_gap < open_gap - 0.005) {
                return Err(SimError::invalid(
                    profile_name,
                    "gripper",
                    format!(
                        "the jaw cannot close on anything: the pads are {open_gap:.4} m apart open \
                         (gripper.open_position) and {closed_gap:.4} m closed (joint `{}`'s lower limit); \
                         open must be wider than 0 and at least 5 mm wider than closed",
                        jaw.name
                    ),
                ));
            }
            let closed = jaw.lower;
            Ok(Gripper {
                kind: GripperKind::RotatingJaw(geometry),
                joints,
                joint_slots,
                pads,
                closed,
                open: *open_position,
            })
        }
    }
}

/// Checks that the URDF is a tree that rapier3d-urdf can load without panicking.
fn validate_tree(robot: &urdf_rs::Robot, src: &str) -> Result<()> {
    let links: HashSet<&str> = robot.links.iter().map(|l| l.name.as_str()).collect();
    if links.len() != robot.links.len() {
        return Err(SimError::invalid(src, "link", "two links share a name"));
    }
    let mut parent_of: HashMap<&str, &str> = HashMap::new();
    for j in &robot.joints {
        for (what, l) in [("parent", &j.parent.link), ("child", &j.child.link)] {
            if !links.contains(l.as_str()) {
                return Err(SimError::invalid(
                    src,
                    format!("joint[{}].{what}", j.name),
                    format!("link `{l}` does not exist"),
                ));
            }
        }
        if parent_of.insert(&j.child.link, &j.parent.link).is_some() {
            return Err(SimError::invalid(
                src,
                format!("joint[{}].child", j.name),
                format!("link `{}` is the child of two joints", j.child.link),
            ));
        }
    }
    // Cycles: walking up from any link must reach a root within |links| steps.
    for l in &links {
        let mut cur = *l;
        for _ in 0..=links.len() {
            match parent_of.get(cur) {
                Some(p) => cur = p,
                None => break,
            }
        }
        if parent_of.contains_key(cur) {
            return Err(SimError::invalid(src, format!("link[{l}]"), "the joints form a cycle"));
        }
    }
    let roots = robot.links.iter().filter(|l| !parent_of.contains_key(l.name.as_str())).count();
    if roots != 1 {
        return Err(SimError::invalid(src, "link", format!("expected one root link, found {roots}")));
    }
    for l in &robot.links {
        let m = l.inertial.mass.value;
        let is_root = !parent_of.contains_key(l.name.as_str());
        let field = format!("link[{}].inertial.mass", l.name);
        if !m.is_finite() || m < 0.0 || (!is_root && m <= 0.0) {
            return Err(SimError::out_of_range(src, field, m, "(0, ∞) kg for every moving link"));
        }
        let i = &l.inertial.inertia;
        for (name, v) in
            [("ixx", i.ixx), ("iyy", i.iyy), ("izz", i.izz), ("ixy", i.ixy), ("ixz", i.ixz), ("iyz", i.iyz)]
        {
            if !v.is_finite() || (name.len() == 3 && name.as_bytes()[1] == name.as_bytes()[2] && v < 0.0) {
                return Err(SimError::out_of_range(
                    src,
                    format!("link[{}].inertial.inertia.{name}", l.name),
                    v,
                    "finite, diagonal ≥ 0 kg·m²",
                ));
            }
        }
        for (k, c) in l.collision.iter().enumerate() {
            let f = format!("link[{}].collision[{k}].geometry", l.name);
            let dims: Vec<f64> = match &c.geometry {
                urdf_rs::Geometry::Box { size } => size.0.to_vec(),
                urdf_rs::Geometry::Cylinder { radius, length } | urdf_rs::Geometry::Capsule { radius, length } => {
                    vec![*radius, *length]
                }
                urdf_rs::Geometry::Sphere { radius } => vec![*radius],
                urdf_rs::Geometry::Mesh { .. } => {
                    return Err(SimError::invalid(src, f, "mesh collision shapes are not supported; use primitives"));
                }
            };
            if dims.iter().any(|d| !d.is_finite() || *d <= 0.0 || *d > 10.0) {
                return Err(SimError::out_of_range(src, f, format!("{dims:?}"), "(0, 10] m"));
            }
        }
    }
    Ok(())
}

fn joint_spec(j: &urdf_rs::Joint, src: &str, profile_field: &str, want_prismatic: Option<bool>) -> Result<JointSpec> {
    let prismatic = match j.joint_type {
        urdf_rs::JointType::Revolute => false,
        urdf_rs::JointType::Prismatic => true,
        ref other => {
            return Err(SimError::invalid(
                src,
                format!("joint[{}].type", j.name),
                format!("{other:?} is not supported for {profile_field}; use revolute or prismatic"),
            ));
        }
    };
    if let Some(w) = want_prismatic
        && w != prismatic
    {
        return Err(SimError::invalid(
            src,
            format!("joint[{}].type", j.name),
            format!("{profile_field} must be {}", if w { "prismatic" } else { "revolute" }),
        ));
    }
    let f = |k: &str| format!("joint[{}].{k}", j.name);
    let (span, unit) = if prismatic { (1.0, "m") } else { (2.0 * std::f64::consts::PI, "rad") };
    check_range(src, &f("limit.lower"), j.limit.lower, -span, span, unit)?;
    check_range(src, &f("limit.upper"), j.limit.upper, -span, span, unit)?;
    if j.limit.upper <= j.limit.lower {
        return Err(SimError::invalid(src, f("limit"), "upper must be greater than lower"));
    }
    check_range(src, &f("limit.effort"), j.limit.effort, 1e-3, 1e4, if prismatic { "N" } else { "N·m" })?;
    check_range(src, &f("limit.velocity"), j.limit.velocity, 1e-3, 100.0, if prismatic { "m/s" } else { "rad/s" })?;
    let axis = Vector3::new(j.axis.xyz[0], j.axis.xyz[1], j.axis.xyz[2]);
    if !axis.iter().all(|v| v.is_finite()) || axis.norm() < 1e-6 {
        return Err(SimError::invalid(src, f("axis"), "must be a finite, non-zero vector"));
    }
    let damping = j.dynamics.as_ref().map(|d| d.damping).unwrap_or(0.0);
    check_range(src, &f("dynamics.damping"), damping, 0.0, 1e3, "")?;
    Ok(JointSpec {
        name: j.name.clone(),
        prismatic,
        lower: j.limit.lower,
        upper: j.limit.upper,
        effort: j.limit.effort,
        velocity: j.limit.velocity,
        damping,
    })
}

/// The chain from the root link to the end-effector link; the arm joints must lie on it.
fn build_chain(
    robot: &urdf_rs::Robot,
    profile: &ArmProfile,
    arm: &[JointSpec],
    urdf_name: &str,
    profile_name: &str,
) -> Result<Chain> {
    if !robot.links.iter().any(|l| l.name == profile.end_effector_link) {
        return Err(SimError::invalid(
            profile_name,
            "end_effector_link",
            format!("link `{}` is not in {urdf_name}", profile.end_effector_link),
        ));
    }
    let joint_to_child: HashMap<&str, &urdf_rs::Joint> =
        robot.joints.iter().map(|j| (j.child.link.as_str(), j)).collect();
    let mut path = Vec::new();
    let mut cur = profile.end_effector_link.as_str();
    while let Some(j) = joint_to_child.get(cur) {
        path.push(*j);
        cur = &j.parent.link;
    }
    path.reverse();
    let mut joints = Vec::with_capacity(path.len());
    let mut used = vec![false; arm.len()];
    for j in path {
        let index = arm.iter().position(|a| a.name == j.name);
        let kind = match (index, &j.joint_type) {
            (Some(_), urdf_rs::JointType::Prismatic) => JointKind::Prismatic,
            (Some(_), _) => JointKind::Revolute,
            (None, urdf_rs::JointType::Fixed) => JointKind::Fixed,
            (None, _) => {
                return Err(SimError::invalid(
                    profile_name,
                    "arm_joints",
                    format!("moving joint `{}` lies between the base and the end effector but is not listed", j.name),
                ));
            }
        };
        if let Some(i) = index {
            used[i] = true;
        }
        let axis = Vector3::new(j.axis.xyz[0], j.axis.xyz[1], j.axis.xyz[2]);
        joints.push(ChainJoint {
            name: j.name.clone(),
            origin: pose_from_xyz_rpy(j.origin.xyz.0, j.origin.rpy.0),
            axis: Unit::new_normalize(if axis.norm() > 1e-9 { axis } else { Vector3::x() }),
            kind,
            index,
        });
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(SimError::invalid(
            profile_name,
            format!("arm_joints[{i}]"),
            format!("joint `{}` is not between the base and `{}`", arm[i].name, profile.end_effector_link),
        ));
    }
    // The chain order must match the profile order (base to wrist).
    let order: Vec<usize> = joints.iter().filter_map(|j| j.index).collect();
    if order.windows(2).any(|w| w[0] > w[1]) {
        return Err(SimError::invalid(profile_name, "arm_joints", "must be listed from the base to the wrist"));
    }
    Ok(Chain {
        base: Isometry3::identity(),
        joints,
        tool: profile.tool_frame.isometry(),
        lower: arm.iter().map(|a| a.lower).collect(),
        upper: arm.iter().map(|a| a.upper).collect(),
    })
}
