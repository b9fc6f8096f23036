//! The outcome classifier: every episode ends with exactly one [`Outcome`], `Success` or a
//! failure mode, decided from per-control-step [`StepSignals`] against [`OutcomeThresholds`],
//! with the deciding evidence kept beside it.
//!
//! The classifier is a plain state machine over signals, independent of the physics engine, so
//! each mode can be tested on constructed situations. Checks run in a fixed priority order:
//! `PhysicsUnstable`, `TableCollision`, `JointLimit`, `Success`, `SlipDuringLift`,
//! `KnockedOver`, `ObjectPushedAway`, `MissedGrasp`, then `Timeout` at the step budget.

use serde::{Deserialize, Serialize};

use crate::error::{Result, check_range};

/// How an episode ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutcomeKind {
    /// Object ≥ `success_lift` above its start, held between both fingers for ≥ `success_hold`.
    Success,
    /// The gripper closed where the object should be and caught nothing.
    MissedGrasp,
    /// The object was lifted between the fingers, then fell back.
    SlipDuringLift,
    /// The object slid or rolled away from its start without being held.
    ObjectPushedAway,
    /// An object with a stable upright tipped over.
    KnockedOver,
    /// The arm or fingers pressed on the table harder than `table_force`.
    TableCollision,
    /// The commanded joints sat at a limit for ≥ `joint_limit_time`.
    JointLimit,
    /// The step budget ran out.
    Timeout,
    /// Non-finite or exploding state.
    PhysicsUnstable,
}

impl OutcomeKind {
    /// Every kind, success first.
    pub const ALL: [OutcomeKind; 9] = [
        OutcomeKind::Success,
        OutcomeKind::MissedGrasp,
        OutcomeKind::SlipDuringLift,
        OutcomeKind::ObjectPushedAway,
        OutcomeKind::KnockedOver,
        OutcomeKind::TableCollision,
        OutcomeKind::JointLimit,
        OutcomeKind::Timeout,
        OutcomeKind::PhysicsUnstable,
    ];

    /// Whether this is a failure mode.
    pub fn is_failure(self) -> bool {
        self != OutcomeKind::Success
    }

    /// Stable snake_case name (CLI, JSON keys).
    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::Success => "success",
            OutcomeKind::MissedGrasp => "missed_grasp",
            OutcomeKind::SlipDuringLift => "slip_during_lift",
            OutcomeKind::ObjectPushedAway => "object_pushed_away",
            OutcomeKind::KnockedOver => "knocked_over",
            OutcomeKind::TableCollision => "table_collision",
            OutcomeKind::JointLimit => "joint_limit",
            OutcomeKind::Timeout => "timeout",
            OutcomeKind::PhysicsUnstable => "physics_unstable",
        }
    }

    /// Every name, comma-separated (for error messages).
    pub fn names() -> String {
        Self::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    }

    /// Episodes per outcome name, every outcome listed (zero where none ended so): the one
    /// tally that evaluation reports, the scripted grasp and real-world validation share.
    pub fn tally(kinds: impl IntoIterator<Item = OutcomeKind>) -> std::collections::BTreeMap<String, u64> {
        let mut counts: std::collections::BTreeMap<String, u64> =
            Self::ALL.iter().map(|k| (k.name().to_string(), 0)).collect();
        for k in kinds {
            *counts.entry(k.name().to_string()).or_default() += 1;
        }
        counts
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for OutcomeKind {
    type Err = String;

    /// Parses a [`OutcomeKind::name`]; anything else is refused with the list of names.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("`{s}` is not an outcome (one of: {})", Self::names()))
    }
}

/// The numbers behind a decision, as of the deciding step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Evidence {
    /// Episode time (s).
    pub time: f64,
    /// Object centre height above its start (m).
    pub lift: f64,
    /// Highest `lift` seen while held by both fingers (m).
    pub max_held_lift: f64,
    /// Horizontal displacement of the object from its start (m).
    pub displacement: f64,
    /// Tilt of the object's initial up axis from vertical (rad).
    pub tilt: f64,
    /// Time held continuously above the success height (s).
    pub held_time: f64,
    /// Gripper opening (m).
    pub gripper_opening: f64,
    /// Largest arm–table contact force in the episode (N).
    pub max_table_force: f64,
    /// Horizontal distance from the tool to the object centre (m).
    pub tool_object_distance: f64,
    /// Arm joint that sat at a limit, if that decided it.
    pub joint: Option<usize>,
    /// Largest object speed seen (m/s).
    pub max_object_speed: f64,
    /// One line in words.
    pub note: String,
}

/// The outcome of an episode and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// What happened.
    pub kind: OutcomeKind,
    /// The deciding evidence.
    pub evidence: Evidence,
}

/// Thresholds of the classifier.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutcomeThresholds {
    /// Lift of the object centre above its start that counts as lifted for success (m).
    pub success_lift: f64,
    /// Time it must stay lifted between both fingers (s).
    pub success_hold: f64,
    /// Lift (m) between both fingers after which a return to the table is a slip.
    pub lift_detect: f64,
    /// A lifted object back within this height of its start (m) has slipped.
    pub slip_floor: f64,
    /// Horizontal displacement (m) of an unheld object that counts as pushed away.
    pub pushed_away: f64,
    /// Tilt (rad) of an upright object's up axis that counts as knocked over.
    pub knocked_over_tilt: f64,
    /// Arm–table contact force (N) that counts as a collision.
    pub table_force: f64,
    /// Time (s) the commanded joints may sit at a limit.
    pub joint_limit_time: f64,
    /// A gripper closed on nothing within this horizontal distance (m) of the object, below
    /// its top plus this distance, is a missed grasp.
    pub missed_grasp_radius: f64,
    /// Object speed (m/s) beyond which the state counts as exploding.
    pub unstable_speed: f64,
    /// Object distance (m) from its start beyond which the state counts as exploding.
    pub unstable_distance: f64,
}

impl Default for OutcomeThresholds {
    fn default() -> Self {
        Self {
            success_lift: 0.10,
            success_hold: 1.0,
            lift_detect: 0.02,
            slip_floor: 0.01,
            pushed_away: 0.05,
            knocked_over_tilt: 1.0,
            table_force: 30.0,
            joint_limit_time: 0.5,
            missed_grasp_radius: 0.04,
            unstable_speed: 5.0,
            unstable_distance: 2.0,
        }
    }
}

impl OutcomeThresholds {
    /// Checks the ranges.
    pub fn validate(&self, src: &str) -> Result<()> {
        check_range(src, "outcome.success_lift", self.success_lift, 0.01, 1.0, "m")?;
        check_range(src, "outcome.success_hold", self.success_hold, 0.0, 60.0, "s")?;
        check_range(src, "outcome.lift_detect", self.lift_detect, 0.001, 1.0, "m")?;
        check_range(src, "outcome.slip_floor", self.slip_floor, 0.0, self.lift_detect, "m")?;
        check_range(src, "outcome.pushed_away", self.pushed_away, 0.005, 1.0, "m")?;
        check_range(src, "outcome.knocked_over_tilt", self.knocked_over_tilt, 0.1, 3.2, "rad")?;
        check_range(src, "outcome.table_force", self.table_force, 0.1, 1e4, "N")?;
        check_range(src, "outcome.joint_limit_time", self.joint_limit_time, 0.0, 60.0, "s")?;
        check_range(src, "outcome.missed_grasp_radius", self.missed_grasp_radius, 0.0, 0.5, "m")?;
        check_range(src, "outcome.unstable_speed", self.unstable_speed, 0.1, 1e3, "m/s")?;
        check_range(src, "outcome.unstable_distance", self.unstable_distance, 0.1, 1e3, "m")?;
        Ok(())
    }
}

/// What the classifier sees after each control step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepSignals {
    /// Every body's state is finite.
    pub finite: bool,
    /// Object centre (m, world).
    pub object_pos: [f64; 3],
    /// Object linear speed (m/s).
    pub object_speed: f64,
    /// Tilt of the object's initial up axis from vertical (rad).
    pub object_tilt: f64,
    /// Tool position (m, world).
    pub tool_pos: [f64; 3],
    /// Gripper opening (m).
    pub gripper_opening: f64,
    /// Left finger touches the object.
    pub left_contact: bool,
    /// Right finger touches the object.
    pub right_contact: bool,
    /// Largest arm–table contact force during the control step (N).
    pub table_force: f64,
    /// An arm joint whose commanded target is pinned at a limit this step.
    pub joint_at_limit: Option<usize>,
}

/// Facts about the episode's object that the classifier needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObjectFacts {
    /// Object centre at the start (m, world).
    pub start_pos: [f64; 3],
    /// Height of the object's top at rest (m).
    pub top: f64,
    /// Smallest horizontal extent the gripper could close on (m).
    pub min_width: f64,
    /// Whether the object has a stable upright that can be knocked over.
    pub can_tip: bool,
}

/// The classifier's running state for one episode.
#[derive(Clone, Debug)]
pub struct Classifier {
    thresholds: OutcomeThresholds,
    facts: ObjectFacts,
    control_dt: f64,
    max_steps: u32,
    steps: u32,
    held_time: f64,
    limit_time: f64,
    limit_joint: Option<usize>,
    max_held_lift: f64,
    max_table_force: f64,
    max_object_speed: f64,
}

impl Classifier {
    /// A classifier for one episode.
    pub fn new(thresholds: OutcomeThresholds, facts: ObjectFacts, control_dt: f64, max_steps: u32) -> Self {
        Self {
            thresholds,
            facts,
            control_dt,
            max_steps,
            steps: 0,
            held_time: 0.0,
            limit_time: 0.0,
            limit_joint: None,
            max_held_lift: 0.0,
            max_table_force: 0.0,
            max_object_speed: 0.0,
        }
    }

    /// Whether both fingers touch the object in `s`.
    pub fn held(s: &StepSignals) -> bool {
        s.left_contact && s.right_contact
    }

    /// Feeds one control step; returns the outcome if the episode ends here.
    pub fn update(&mut self, s: &StepSignals) -> Option<Outcome> {
        let t = &self.thresholds;
        self.steps += 1;
        let time = self.steps as f64 * self.control_dt;
        let lift = s.object_pos[2] - self.facts.start_pos[2];
        let dx = s.object_pos[0] - self.facts.start_pos[0];
        let dy = s.object_pos[1] - self.facts.start_pos[1];
        let displacement = dx.hypot(dy);
        let dist3 = (dx * dx + dy * dy + lift * lift).sqrt();
        let held = Self::held(s);
        if s.finite {
            self.max_table_force = self.max_table_force.max(s.table_force);
            self.max_object_speed = self.max_object_speed.max(s.object_speed);
        }
        if held {
            self.max_held_lift = self.max_held_lift.max(lift);
        }
        if held && lift >= t.success_lift {
            self.held_time += self.control_dt;
        } else {
            self.held_time = 0.0;
        }
        match s.joint_at_limit {
            Some(j) => {
                self.limit_time += self.control_dt;
                self.limit_joint = Some(j);
            }
            None => self.limit_time = 0.0,
        }
        let tool_dist = (s.tool_pos[0] - s.object_pos[0]).hypot(s.tool_pos[1] - s.object_pos[1]);
        let evidence = |note: String, joint: Option<usize>| Evidence {
            time,
            lift,
            max_held_lift: self.max_held_lift,
            displacement,
            tilt: s.object_tilt,
            held_time: self.held_time,
            gripper_opening: s.gripper_opening,
            max_table_force: self.max_table_force,
            tool_object_distance: tool_dist,
            joint,
            max_object_speed: self.max_object_speed,
            note,
        };
        let end = |kind, note: String, joint| Some(Outcome { kind, evidence: evidence(note, joint) });

        if !s.finite || s.object_speed > t.unstable_speed || dist3 > t.unstable_distance {
            return end(
                OutcomeKind::PhysicsUnstable,
                format!("finite={} speed={:.3} m/s distance={:.3} m", s.finite, s.object_speed, dist3),
                None,
            );
        }
        if s.table_force > t.table_force {
            return end(
                OutcomeKind::TableCollision,
                format!("arm pressed the table with {:.1} N > {:.1} N", s.table_force, t.table_force),
                None,
            );
        }
        if self.limit_time >= t.joint_limit_time - 1e-9 && self.limit_joint.is_some() {
            return end(
                OutcomeKind::JointLimit,
                format!("joint {} commanded at its limit for {:.2} s", self.limit_joint.unwrap_or(0), self.limit_time),
                self.limit_joint,
            );
        }
        if self.held_time >= t.success_hold - 1e-9 {
            return end(
                OutcomeKind::Success,
                format!("held {:.2} s at {:.3} m above the start", self.held_time, lift),
                None,
            );
        }
        if self.max_held_lift >= t.lift_detect && lift <= t.slip_floor {
            return end(
                OutcomeKind::SlipDuringLift,
                format!("lifted {:.3} m between the fingers, fell back to {:.3} m", self.max_held_lift, lift),
                None,
            );
        }
        if self.facts.can_tip && s.object_tilt > t.knocked_over_tilt && !held {
            return end(
                OutcomeKind::KnockedOver,
                format!("tilted {:.2} rad > {:.2} rad without being held", s.object_tilt, t.knocked_over_tilt),
                None,
            );
        }
        if displacement > t.pushed_away && !held && lift < t.lift_detect {
            return end(
                OutcomeKind::ObjectPushedAway,
                format!("moved {:.3} m > {:.3} m without being held", displacement, t.pushed_away),
                None,
            );
        }
        let closed_on_nothing = s.gripper_opening < self.facts.min_width - 0.005 && !s.left_contact && !s.right_contact;
        if closed_on_nothing
            && tool_dist < t.missed_grasp_radius
            && s.tool_pos[2] < self.facts.top + t.missed_grasp_radius
        {
            return end(
                OutcomeKind::MissedGrasp,
                format!(
                    "gripper closed to {:.3} m (object {:.3} m wide) {:.3} m from the object, touching nothing",
                    s.gripper_opening, self.facts.min_width, tool_dist
                ),
                None,
            );
        }
        if self.steps >= self.max_steps {
            return end(OutcomeKind::Timeout, format!("no outcome after {:.2} s", time), None);
        }
        None
    }
}
