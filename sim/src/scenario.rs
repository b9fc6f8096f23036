//! `Scenario`: everything that varies between episodes (object, arm start, physics and sensor
//! perturbations, seed), with TOML/JSON loading and validation; and `ScenarioDistribution`, the
//! seeded sampler of the training ranges. A scenario plus an action sequence is an episode.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError, check_range};

/// Object geometry. Sizes in m.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Shape {
    /// A box with full side lengths `size` (m) along its x, y, z axes.
    Box {
        /// Full side lengths (m).
        size: [f64; 3],
    },
    /// A cylinder of `radius` (m) and full `height` (m) along its axis.
    Cylinder {
        /// Radius (m).
        radius: f64,
        /// Full height (m).
        height: f64,
    },
    /// A sphere of `radius` (m).
    Sphere {
        /// Radius (m).
        radius: f64,
    },
    /// A capsule of `radius` (m) and full tip-to-tip `length` (m).
    Capsule {
        /// Radius (m).
        radius: f64,
        /// Full length tip to tip (m), at least 2·radius.
        length: f64,
    },
}

/// The four shape kinds, for distributions and one-hot observations.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    /// [`Shape::Box`].
    Box,
    /// [`Shape::Cylinder`].
    Cylinder,
    /// [`Shape::Sphere`].
    Sphere,
    /// [`Shape::Capsule`].
    Capsule,
}

impl ShapeKind {
    /// All kinds, in one-hot order.
    pub const ALL: [ShapeKind; 4] = [ShapeKind::Box, ShapeKind::Cylinder, ShapeKind::Sphere, ShapeKind::Capsule];
}

impl Shape {
    /// The kind of this shape.
    pub fn kind(&self) -> ShapeKind {
        match self {
            Shape::Box { .. } => ShapeKind::Box,
            Shape::Cylinder { .. } => ShapeKind::Cylinder,
            Shape::Sphere { .. } => ShapeKind::Sphere,
            Shape::Capsule { .. } => ShapeKind::Capsule,
        }
    }

    /// Full extents (m) of the shape in its own frame, with the symmetry axis of cylinders and
    /// capsules along z: (x, y, z).
    pub fn extents(&self) -> [f64; 3] {
        match *self {
            Shape::Box { size } => size,
            Shape::Cylinder { radius, height } => [2.0 * radius, 2.0 * radius, height],
            Shape::Sphere { radius } => [2.0 * radius; 3],
            Shape::Capsule { radius, length } => [2.0 * radius, 2.0 * radius, length],
        }
    }
}

/// Where the object rests on the table.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectPose {
    /// Position on the table (m, world x; the arm base is at the origin, facing +x).
    pub x: f64,
    /// Position on the table (m, world y).
    pub y: f64,
    /// Rotation about the vertical (rad).
    pub yaw: f64,
    /// Cylinders and capsules only: lying on their side (axis horizontal) instead of standing.
    /// Capsules must lie (they cannot rest on a round end).
    #[serde(default)]
    pub lying: bool,
}

/// The object of an episode.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectSpec {
    /// Geometry.
    pub shape: Shape,
    /// Mass (kg).
    pub mass: f64,
    /// Coulomb friction coefficient of its surface.
    pub friction: f64,
    /// Resting pose.
    pub pose: ObjectPose,
}

/// Where the arm starts: the tool points down at `home + tool_offset`, rotated by `tool_yaw`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ArmStart {
    /// Offset (m) of the start tool position from the profile's home position.
    #[serde(default)]
    pub tool_offset: [f64; 3],
    /// Tool yaw (rad) about the vertical.
    #[serde(default)]
    pub tool_yaw: f64,
}

/// Physics perturbations (dimensionless scale factors, 1 = nominal).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PhysicsPerturbation {
    /// Multiplies every friction coefficient of the object's contacts.
    pub friction_scale: f64,
    /// Multiplies the fingers' effort limit (grip force).
    pub gripper_force_scale: f64,
    /// Multiplies every joint's viscous damping.
    pub joint_damping_scale: f64,
}

impl Default for PhysicsPerturbation {
    fn default() -> Self {
        Self { friction_scale: 1.0, gripper_force_scale: 1.0, joint_damping_scale: 1.0 }
    }
}

/// Sensor and actuation perturbations.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SensingPerturbation {
    /// Standard deviation of Gaussian noise on joint positions (rad) and on the object's
    /// position relative to the tool (m).
    pub observation_noise: f64,
    /// Control steps (0–2) between an action being given and it taking effect.
    pub action_latency: u32,
}

/// Everything that varies between episodes. Replaying a scenario with the same actions
/// reproduces every state bit for bit.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seed of every random choice inside the episode (observation noise).
    pub seed: u64,
    /// The object.
    pub object: ObjectSpec,
    /// The arm's start pose.
    #[serde(default)]
    pub arm_start: ArmStart,
    /// Physics perturbations.
    #[serde(default)]
    pub physics: PhysicsPerturbation,
    /// Sensor and actuation perturbations.
    #[serde(default)]
    pub sensing: SensingPerturbation,
}

/// Hard limits of any scenario the env accepts (wider than the training distribution, so that
/// out-of-distribution suites fit).
pub mod limits {
    /// Object dimension (m): box sides, diameters, heights, lengths.
    pub const SIZE: (f64, f64) = (0.01, 0.12);
    /// Object mass (kg).
    pub const MASS: (f64, f64) = (0.005, 2.0);
    /// Object friction coefficient.
    pub const FRICTION: (f64, f64) = (0.05, 2.0);
    /// Distance of the object centre from the arm base axis (m).
    pub const RADIUS: (f64, f64) = (0.08, 0.40);
    /// Start tool offset per axis (m).
    pub const TOOL_OFFSET: (f64, f64) = (-0.08, 0.08);
    /// Friction and gripper-force scales.
    pub const SCALE: (f64, f64) = (0.1, 3.0);
    /// Joint damping scale.
    pub const DAMPING_SCALE: (f64, f64) = (0.0, 10.0);
    /// Observation noise standard deviation (m or rad).
    pub const NOISE: (f64, f64) = (0.0, 0.05);
    /// Action latency (control steps).
    pub const LATENCY_MAX: u32 = 2;
    /// Keep-out radius (m) around the arm base axis that no part of the object may enter.
    pub const BASE_KEEP_OUT: f64 = 0.06;
}

impl Scenario {
    /// Parses a scenario from TOML or JSON text (chosen by `format`) and validates it.
    pub fn parse(text: &str, source_name: &str, format: Format) -> Result<Self> {
        let s: Scenario = match format {
            Format::Toml => toml::from_str(text)
                .map_err(|e| SimError::Parse { source_name: source_name.into(), message: e.to_string() })?,
            Format::Json => serde_json::from_str(text)
                .map_err(|e| SimError::Parse { source_name: source_name.into(), message: e.to_string() })?,
        };
        s.validate(source_name)?;
        Ok(s)
    }

    /// Loads a scenario from a `.toml` or `.json` file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let format = Format::from_path(path)?;
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io { path: path.to_path_buf(), source })?;
        let name = path.display().to_string();
        Self::parse(&text, &name, format)
    }

    /// Checks every field against [`limits`]; the error names the field and its allowed range.
    pub fn validate(&self, src: &str) -> Result<()> {
        let size = |field: &str, v: f64| check_range(src, field, v, limits::SIZE.0, limits::SIZE.1, "m");
        match self.object.shape {
            Shape::Box { size: s } => {
                for (i, v) in s.iter().enumerate() {
                    size(&format!("object.shape.size[{i}]"), *v)?;
                }
            }
            Shape::Cylinder { radius, height } => {
                size("object.shape.radius (as diameter)", 2.0 * radius)?;
                size("object.shape.height", height)?;
            }
            Shape::Sphere { radius } => size("object.shape.radius (as diameter)", 2.0 * radius)?,
            Shape::Capsule { radius, length } => {
                size("object.shape.radius (as diameter)", 2.0 * radius)?;
                size("object.shape.length", length)?;
                if length < 2.0 * radius {
                    return Err(SimError::out_of_range(
                        src,
                        "object.shape.length",
                        length,
                        format!("[2·radius = {}, {}] m", 2.0 * radius, limits::SIZE.1),
                    ));
                }
            }
        }
        check_range(src, "object.mass", self.object.mass, limits::MASS.0, limits::MASS.1, "kg")?;
        check_range(src, "object.friction", self.object.friction, limits::FRICTION.0, limits::FRICTION.1, "")?;
        let p = &self.object.pose;
        check_range(src, "object.pose.x", p.x, -limits::RADIUS.1, limits::RADIUS.1, "m")?;
        check_range(src, "object.pose.y", p.y, -limits::RADIUS.1, limits::RADIUS.1, "m")?;
        check_range(src, "object.pose.yaw", p.yaw, -10.0, 10.0, "rad")?;
        let r = p.x.hypot(p.y);
        check_range(
            src,
            "object.pose (distance from the base, hypot(x, y))",
            r,
            limits::RADIUS.0,
            limits::RADIUS.1,
            "m",
        )?;
        let e = self.object.shape.extents();
        let reach_out = if p.lying { 0.5 * e[0].hypot(e[2]) } else { 0.5 * e[0].hypot(e[1]) };
        if r - reach_out < limits::BASE_KEEP_OUT {
            return Err(SimError::invalid(
                src,
                "object.pose",
                format!(
                    "the object reaches {:.3} m from the base axis; keep it at least {} m away",
                    r - reach_out,
                    limits::BASE_KEEP_OUT
                ),
            ));
        }
        if p.lying && matches!(self.object.shape.kind(), ShapeKind::Box | ShapeKind::Sphere) {
            return Err(SimError::invalid(
                src,
                "object.pose.lying",
                "only cylinders and capsules can lie on their side",
            ));
        }
        if !p.lying && self.object.shape.kind() == ShapeKind::Capsule {
            return Err(SimError::invalid(
                src,
                "object.pose.lying",
                "a capsule cannot rest standing on its round end; set lying = true",
            ));
        }
        for (i, v) in self.arm_start.tool_offset.iter().enumerate() {
            check_range(
                src,
                &format!("arm_start.tool_offset[{i}]"),
                *v,
                limits::TOOL_OFFSET.0,
                limits::TOOL_OFFSET.1,
                "m",
            )?;
        }
        check_range(
            src,
            "arm_start.tool_yaw",
            self.arm_start.tool_yaw,
            -std::f64::consts::PI,
            std::f64::consts::PI,
            "rad",
        )?;
        let ph = &self.physics;
        check_range(src, "physics.friction_scale", ph.friction_scale, limits::SCALE.0, limits::SCALE.1, "")?;
        check_range(src, "physics.gripper_force_scale", ph.gripper_force_scale, limits::SCALE.0, limits::SCALE.1, "")?;
        check_range(
            src,
            "physics.joint_damping_scale",
            ph.joint_damping_scale,
            limits::DAMPING_SCALE.0,
            limits::DAMPING_SCALE.1,
            "",
        )?;
        check_range(
            src,
            "sensing.observation_noise",
            self.sensing.observation_noise,
            limits::NOISE.0,
            limits::NOISE.1,
            "m or rad",
        )?;
        if self.sensing.action_latency > limits::LATENCY_MAX {
            return Err(SimError::out_of_range(
                src,
                "sensing.action_latency",
                self.sensing.action_latency,
                format!("[0, {}] control steps", limits::LATENCY_MAX),
            ));
        }
        Ok(())
    }

    /// Height (m) of the object's centre above the table when it rests in its pose.
    pub fn rest_height(&self) -> f64 {
        let e = self.object.shape.extents();
        if self.object.pose.lying { e[0] / 2.0 } else { e[2] / 2.0 }
    }

    /// Height (m) of the object's top above the table at rest.
    pub fn rest_top(&self) -> f64 {
        2.0 * self.rest_height()
    }
}

/// File formats of scenarios and suites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl Format {
    /// By file extension (`.toml` or `.json`).
    pub fn from_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Ok(Format::Toml),
            Some("json") => Ok(Format::Json),
            _ => Err(SimError::invalid(path.display().to_string(), "<file name>", "expected a .toml or .json file")),
        }
    }
}

/// Anything that turns a training seed into a scenario, deterministically: a distribution, or a
/// curriculum that mixes several.
pub trait ScenarioSource: Send + Sync {
    /// The scenario for `seed`; the same seed always gives the same scenario.
    fn scenario(&self, seed: u64) -> Scenario;
}

impl ScenarioSource for ScenarioDistribution {
    fn scenario(&self, seed: u64) -> Scenario {
        self.sample(seed)
    }
}

/// A closed interval `[lo, hi]` sampled uniformly.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

impl Interval {
    /// `[lo, hi]`.
    pub const fn new(lo: f64, hi: f64) -> Self {
        Self { lo, hi }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        if self.hi <= self.lo { self.lo } else { self.lo + (self.hi - self.lo) * rng.random::<f64>() }
    }

    fn check(&self, src: &str, field: &str) -> Result<()> {
        if !(self.lo.is_finite() && self.hi.is_finite() && self.lo <= self.hi) {
            return Err(SimError::invalid(src, field, format!("needs finite lo ≤ hi, got [{}, {}]", self.lo, self.hi)));
        }
        Ok(())
    }
}

/// A seeded distribution over scenarios: the training ranges (domain randomisation).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScenarioDistribution {
    /// Shapes drawn with equal probability.
    pub shapes: Vec<ShapeKind>,
    /// Each object dimension (m): box sides, diameters, heights, capsule lengths.
    pub size: Interval,
    /// Mass (kg).
    pub mass: Interval,
    /// Friction coefficient.
    pub friction: Interval,
    /// Distance of the object from the base axis (m).
    pub radius: Interval,
    /// Bearing of the object from the +x axis (rad).
    pub azimuth: Interval,
    /// Object yaw (rad).
    pub yaw: Interval,
    /// Probability that a cylinder lies on its side (capsules always lie: they cannot stand).
    pub lying_probability: f64,
    /// Start tool offset from home, per axis (m).
    pub tool_offset: Interval,
    /// Start tool yaw (rad).
    pub tool_yaw: Interval,
    /// Friction scale.
    pub friction_scale: Interval,
    /// Gripper force scale.
    pub gripper_force_scale: Interval,
    /// Joint damping scale.
    pub joint_damping_scale: Interval,
    /// Observation noise standard deviation (m or rad).
    pub observation_noise: Interval,
    /// Largest action latency drawn (control steps, uniform over 0..=max).
    pub action_latency_max: u32,
    /// Shortest straight part of a capsule (m): its length is at least its diameter plus
    /// this. 0 (the default) lets half the capsules be balls (length = diameter), which rapier
    /// models as a capsule with a zero-length segment; against tilted pads such a capsule makes
    /// contacts no ball would (measured on the SO-101: 1 in 12 such grasps held, 12 of 12 for
    /// spheres and 11 of 12 for capsules 1 cm longer).
    #[serde(default)]
    pub capsule_straight_min: f64,
}

impl Default for ScenarioDistribution {
    /// The default training distribution: objects that fit the gripper, anywhere in the
    /// comfortable top-down workspace, with mild perturbations.
    fn default() -> Self {
        Self {
            shapes: ShapeKind::ALL.to_vec(),
            size: Interval::new(0.02, 0.08),
            mass: Interval::new(0.02, 0.4),
            friction: Interval::new(0.3, 1.2),
            radius: Interval::new(0.14, 0.26),
            azimuth: Interval::new(-0.9, 0.9),
            yaw: Interval::new(-std::f64::consts::PI, std::f64::consts::PI),
            lying_probability: 0.3,
            tool_offset: Interval::new(-0.03, 0.03),
            tool_yaw: Interval::new(-0.3, 0.3),
            friction_scale: Interval::new(0.9, 1.1),
            gripper_force_scale: Interval::new(0.9, 1.1),
            joint_damping_scale: Interval::new(0.8, 1.25),
            observation_noise: Interval::new(0.0, 0.002),
            action_latency_max: 2,
            capsule_straight_min: 0.0,
        }
    }
}

impl ScenarioDistribution {
    /// Loads and validates a distribution TOML file; absent fields take their defaults.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io { path: path.to_path_buf(), source })?;
        let name = path.display().to_string();
        let d: ScenarioDistribution = toml::from_str(&text).map_err(|e| SimError::Parse {
            source_name: format!("{name}: invalid distribution"),
            message: e.to_string(),
        })?;
        d.validate(&name)?;
        Ok(d)
    }

    /// The easiest family: one upright box of 3.8–4.2 cm, 0.1 kg, friction 0.9, 19.5–20.5 cm
    /// in front of the arm (±0.05 rad), turned by at most ±0.1 rad, with no perturbations.
    /// For smoke tests and first training runs.
    pub fn easy_box() -> Self {
        let fixed = |v: f64| Interval::new(v, v);
        Self {
            shapes: vec![ShapeKind::Box],
            size: Interval::new(0.038, 0.042),
            mass: fixed(0.1),
            friction: fixed(0.9),
            radius: Interval::new(0.195, 0.205),
            azimuth: Interval::new(-0.05, 0.05),
            yaw: Interval::new(-0.1, 0.1),
            lying_probability: 0.0,
            tool_offset: fixed(0.0),
            tool_yaw: fixed(0.0),
            friction_scale: fixed(1.0),
            gripper_force_scale: fixed(1.0),
            joint_damping_scale: fixed(1.0),
            observation_noise: fixed(0.0),
            action_latency_max: 0,
            capsule_straight_min: 0.0,
        }
    }

    /// Checks the ranges; the error names the field.
    pub fn validate(&self, src: &str) -> Result<()> {
        if self.shapes.is_empty() {
            return Err(SimError::invalid(src, "shapes", "needs at least one shape"));
        }
        for (name, iv) in [
            ("size", &self.size),
            ("mass", &self.mass),
            ("friction", &self.friction),
            ("radius", &self.radius),
            ("azimuth", &self.azimuth),
            ("yaw", &self.yaw),
            ("tool_offset", &self.tool_offset),
            ("tool_yaw", &self.tool_yaw),
            ("friction_scale", &self.friction_scale),
            ("gripper_force_scale", &self.gripper_force_scale),
            ("joint_damping_scale", &self.joint_damping_scale),
            ("observation_noise", &self.observation_noise),
        ] {
            iv.check(src, name)?;
        }
        check_range(src, "lying_probability", self.lying_probability, 0.0, 1.0, "")?;
        check_range(src, "capsule_straight_min", self.capsule_straight_min, 0.0, 0.1, "m")?;
        // Every sample must itself be valid: check the corners through one scenario each.
        for pick_hi in [false, true] {
            let p = |iv: &Interval| if pick_hi { iv.hi } else { iv.lo };
            let s = Scenario {
                seed: 0,
                object: ObjectSpec {
                    shape: Shape::Box { size: [p(&self.size); 3] },
                    mass: p(&self.mass),
                    friction: p(&self.friction),
                    pose: ObjectPose { x: p(&self.radius), y: 0.0, yaw: 0.0, lying: false },
                },
                arm_start: ArmStart { tool_offset: [p(&self.tool_offset); 3], tool_yaw: p(&self.tool_yaw) },
                physics: PhysicsPerturbation {
                    friction_scale: p(&self.friction_scale),
                    gripper_force_scale: p(&self.gripper_force_scale),
                    joint_damping_scale: p(&self.joint_damping_scale),
                },
                sensing: SensingPerturbation {
                    observation_noise: p(&self.observation_noise),
                    action_latency: self.action_latency_max,
                },
            };
            s.validate(src)?;
        }
        Ok(())
    }

    /// The scenario drawn with `seed`; the same seed always gives the same scenario.
    pub fn sample(&self, seed: u64) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let kind =
            if self.shapes.is_empty() { ShapeKind::Box } else { self.shapes[rng.random_range(0..self.shapes.len())] };
        let mut dim = || self.size.sample(&mut rng);
        let shape = match kind {
            ShapeKind::Box => Shape::Box { size: [dim(), dim(), dim()] },
            ShapeKind::Cylinder => Shape::Cylinder { radius: dim() / 2.0, height: dim() },
            ShapeKind::Sphere => Shape::Sphere { radius: dim() / 2.0 },
            ShapeKind::Capsule => {
                let radius = dim() / 2.0;
                let length = dim().max(2.0 * radius + self.capsule_straight_min);
                Shape::Capsule { radius, length }
            }
        };
        let mass = self.mass.sample(&mut rng);
        let friction = self.friction.sample(&mut rng);
        let r = self.radius.sample(&mut rng);
        let az = self.azimuth.sample(&mut rng);
        let yaw = self.yaw.sample(&mut rng);
        let lying_draw: f64 = rng.random();
        let lying = kind == ShapeKind::Capsule || (kind == ShapeKind::Cylinder && lying_draw < self.lying_probability);
        let tool_offset =
            [self.tool_offset.sample(&mut rng), self.tool_offset.sample(&mut rng), self.tool_offset.sample(&mut rng)];
        let tool_yaw = self.tool_yaw.sample(&mut rng);
        let physics = PhysicsPerturbation {
            friction_scale: self.friction_scale.sample(&mut rng),
            gripper_force_scale: self.gripper_force_scale.sample(&mut rng),
            joint_damping_scale: self.joint_damping_scale.sample(&mut rng),
        };
        let sensing = SensingPerturbation {
            observation_noise: self.observation_noise.sample(&mut rng),
            action_latency: rng.random_range(0..=self.action_latency_max),
        };
        Scenario {
            seed,
            object: ObjectSpec {
                shape,
                mass,
                friction,
                pose: ObjectPose { x: r * az.cos(), y: r * az.sin(), yaw, lying },
            },
            arm_start: ArmStart { tool_offset, tool_yaw },
            physics,
            sensing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_distribution_samples_are_valid_and_seeded() {
        let d = ScenarioDistribution::default();
        d.validate("default").unwrap();
        for seed in 0..500 {
            let s = d.sample(seed);
            s.validate("sample").unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert_eq!(s, d.sample(seed));
        }
        assert_ne!(d.sample(1), d.sample(2));
    }

    #[test]
    fn toml_and_json_round_trip() {
        let s = ScenarioDistribution::default().sample(7);
        let t = toml::to_string(&s).unwrap();
        assert_eq!(Scenario::parse(&t, "t", Format::Toml).unwrap(), s);
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(Scenario::parse(&j, "j", Format::Json).unwrap(), s);
    }
}
