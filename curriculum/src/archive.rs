//! The failure archive: every probe episode the loop evaluated (scenario, outcome, metrics),
//! with failures grouped by failure mode and by region of scenario space. Only training-space
//! probes enter it; frozen suites never do (see `firewall`).

use std::collections::BTreeMap;

use regrasp_policy::eval::EpisodeMetrics;
use regrasp_sim::scenario::{Interval, Shape, ShapeKind};
use regrasp_sim::{OutcomeKind, Scenario, ScenarioDistribution};
use serde::{Deserialize, Serialize};

use crate::vocabulary::Suite;

/// One archived episode.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArchiveEntry {
    /// Generation whose champion was evaluated.
    pub generation: u32,
    /// Content hash of the evaluated policy.
    pub policy: String,
    /// Suite it came from (the probe set, a boundary probe or a real-world validation).
    pub suite: Suite,
    /// The scenario.
    pub scenario: Scenario,
    /// How it ended.
    pub outcome: OutcomeKind,
    /// Safety and learning figures.
    pub metrics: EpisodeMetrics,
}

impl ArchiveEntry {
    /// Whether the episode failed.
    pub fn failed(&self) -> bool {
        self.outcome.is_failure()
    }
}

/// A scenario parameter the boundary generator and the region grouping work on.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// Object dimension (m).
    Size,
    /// Object mass (kg).
    Mass,
    /// Object friction coefficient.
    Friction,
    /// Distance of the object from the base axis (m).
    Radius,
    /// Bearing of the object from the +x axis (rad).
    Azimuth,
}

/// Which end of a range.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The lower end.
    Lo,
    /// The upper end.
    Hi,
}

fn dims(shape: &Shape) -> Vec<f64> {
    match *shape {
        Shape::Box { size } => size.to_vec(),
        Shape::Cylinder { radius, height } => vec![2.0 * radius, height],
        Shape::Sphere { radius } => vec![2.0 * radius],
        Shape::Capsule { radius, length } => vec![2.0 * radius, length],
    }
}

impl Param {
    /// Every parameter.
    pub const ALL: [Param; 5] = [Param::Size, Param::Mass, Param::Friction, Param::Radius, Param::Azimuth];

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Param::Size => "size",
            Param::Mass => "mass",
            Param::Friction => "friction",
            Param::Radius => "radius",
            Param::Azimuth => "azimuth",
        }
    }

    /// The parameter's unit (empty for the dimensionless friction coefficient).
    pub fn unit(self) -> &'static str {
        match self {
            Param::Size | Param::Radius => "m",
            Param::Mass => "kg",
            Param::Friction => "",
            Param::Azimuth => "rad",
        }
    }

    /// Name with unit, usable in a path: `mass_kg`, `friction`.
    pub fn label(self) -> String {
        match self.unit() {
            "" => self.name().to_string(),
            u => format!("{}_{u}", self.name()),
        }
    }

    /// The value of this parameter in `s` as seen from one end of its range: for sizes, the
    /// smallest dimension from below and the largest from above.
    pub fn value(self, s: &Scenario, side: Side) -> f64 {
        match self {
            Param::Size => {
                let d = dims(&s.object.shape);
                match side {
                    Side::Lo => d.iter().copied().fold(f64::INFINITY, f64::min),
                    Side::Hi => d.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                }
            }
            Param::Mass => s.object.mass,
            Param::Friction => s.object.friction,
            Param::Radius => s.object.pose.x.hypot(s.object.pose.y),
            Param::Azimuth => s.object.pose.y.atan2(s.object.pose.x),
        }
    }

    /// `s` with this parameter set to `v` (for sizes: every dimension; capsules stay at least
    /// twice their radius long).
    pub fn pinned(self, s: &Scenario, v: f64) -> Scenario {
        let mut s = *s;
        match self {
            Param::Size => {
                s.object.shape = match s.object.shape {
                    Shape::Box { .. } => Shape::Box { size: [v; 3] },
                    Shape::Cylinder { .. } => Shape::Cylinder { radius: v / 2.0, height: v },
                    Shape::Sphere { .. } => Shape::Sphere { radius: v / 2.0 },
                    Shape::Capsule { .. } => Shape::Capsule { radius: v / 2.0, length: v },
                }
            }
            Param::Mass => s.object.mass = v,
            Param::Friction => s.object.friction = v,
            Param::Radius => {
                let az = s.object.pose.y.atan2(s.object.pose.x);
                s.object.pose.x = v * az.cos();
                s.object.pose.y = v * az.sin();
            }
            Param::Azimuth => {
                let r = s.object.pose.x.hypot(s.object.pose.y);
                s.object.pose.x = r * v.cos();
                s.object.pose.y = r * v.sin();
            }
        }
        s
    }

    /// The range of this parameter in a distribution.
    pub fn interval(self, d: &ScenarioDistribution) -> Interval {
        match self {
            Param::Size => d.size,
            Param::Mass => d.mass,
            Param::Friction => d.friction,
            Param::Radius => d.radius,
            Param::Azimuth => d.azimuth,
        }
    }

    /// The range of this parameter in a distribution, to change.
    pub fn interval_mut(self, d: &mut ScenarioDistribution) -> &mut Interval {
        match self {
            Param::Size => &mut d.size,
            Param::Mass => &mut d.mass,
            Param::Friction => &mut d.friction,
            Param::Radius => &mut d.radius,
            Param::Azimuth => &mut d.azimuth,
        }
    }

    /// The hard limits any scenario must respect (`regrasp_sim::scenario::limits`).
    pub fn hard_limits(self) -> (f64, f64) {
        use regrasp_sim::scenario::limits;
        match self {
            Param::Size => limits::SIZE,
            Param::Mass => limits::MASS,
            Param::Friction => limits::FRICTION,
            Param::Radius => limits::RADIUS,
            Param::Azimuth => (-std::f64::consts::PI, std::f64::consts::PI),
        }
    }
}

/// A cell of scenario space: shape, pose kind and the tercile of size, mass, friction and
/// distance within the training ranges (values outside fall in the end terciles).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region {
    /// Object shape.
    pub shape: ShapeKind,
    /// Lying on its side.
    pub lying: bool,
    /// Terciles (0 low, 1 middle, 2 high) of size (largest dimension), mass, friction, radius.
    pub terciles: [u8; 4],
}

impl Region {
    /// The region of `s` relative to the ranges of `d`.
    pub fn of(s: &Scenario, d: &ScenarioDistribution) -> Self {
        let t = |p: Param| {
            let iv = p.interval(d);
            let w = (iv.hi - iv.lo).max(1e-12);
            (3.0 * (p.value(s, Side::Hi) - iv.lo) / w).floor().clamp(0.0, 2.0) as u8
        };
        Region {
            shape: s.object.shape.kind(),
            lying: s.object.pose.lying,
            terciles: [t(Param::Size), t(Param::Mass), t(Param::Friction), t(Param::Radius)],
        }
    }

    /// A short label, e.g. `cylinder lying size:2 mass:0 friction:1 radius:2`.
    pub fn label(&self) -> String {
        let shape = format!("{:?}", self.shape).to_lowercase();
        let [s, m, f, r] = self.terciles;
        format!("{shape}{} size:{s} mass:{m} friction:{f} radius:{r}", if self.lying { " lying" } else { "" })
    }
}

/// Episodes and failures of one group.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupCount {
    /// Episodes.
    pub episodes: u64,
    /// Failures among them.
    pub failures: u64,
}

/// Every archived probe episode.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FailureArchive {
    /// Entries in the order they were evaluated.
    pub entries: Vec<ArchiveEntry>,
}

impl FailureArchive {
    /// The entries of the policy evaluated in `generation`.
    pub fn of_generation(&self, generation: u32) -> impl Iterator<Item = &ArchiveEntry> {
        self.entries.iter().filter(move |e| e.generation == generation)
    }

    /// Failures, most recent first.
    pub fn recent_failures(&self) -> impl Iterator<Item = &ArchiveEntry> {
        self.entries.iter().rev().filter(|e| e.failed())
    }

    /// Failures per failure mode among `entries`.
    pub fn by_mode<'a>(entries: impl Iterator<Item = &'a ArchiveEntry>) -> BTreeMap<OutcomeKind, u64> {
        let mut m = BTreeMap::new();
        for e in entries.filter(|e| e.failed()) {
            *m.entry(e.outcome).or_default() += 1;
        }
        m
    }

    /// Episodes and failures per region of scenario space among `entries`.
    pub fn by_region<'a>(
        entries: impl Iterator<Item = &'a ArchiveEntry>,
        d: &ScenarioDistribution,
    ) -> BTreeMap<Region, GroupCount> {
        let mut m: BTreeMap<Region, GroupCount> = BTreeMap::new();
        for e in entries {
            let g = m.entry(Region::of(&e.scenario, d)).or_default();
            g.episodes += 1;
            g.failures += e.failed() as u64;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seed: u64, outcome: OutcomeKind) -> ArchiveEntry {
        ArchiveEntry {
            generation: 0,
            policy: "p".into(),
            suite: Suite::Probe,
            scenario: ScenarioDistribution::default().sample(seed),
            outcome,
            metrics: EpisodeMetrics::default(),
        }
    }

    #[test]
    fn failures_group_by_mode_and_region() {
        let a = FailureArchive {
            entries: vec![
                entry(1, OutcomeKind::Success),
                entry(2, OutcomeKind::SlipDuringLift),
                entry(3, OutcomeKind::SlipDuringLift),
                entry(4, OutcomeKind::MissedGrasp),
            ],
        };
        let modes = FailureArchive::by_mode(a.entries.iter());
        assert_eq!(modes.get(&OutcomeKind::SlipDuringLift), Some(&2));
        assert_eq!(modes.get(&OutcomeKind::MissedGrasp), Some(&1));
        assert_eq!(modes.get(&OutcomeKind::Success), None);
        let regions = FailureArchive::by_region(a.entries.iter(), &ScenarioDistribution::default());
        assert_eq!(regions.values().map(|g| g.episodes).sum::<u64>(), 4);
        assert_eq!(regions.values().map(|g| g.failures).sum::<u64>(), 3);
        assert_eq!(a.recent_failures().next().map(|e| e.scenario.seed), Some(4));
    }

    #[test]
    fn pinning_sets_the_value_read_back() {
        let s = ScenarioDistribution::default().sample(11);
        for p in Param::ALL {
            let v = 0.5
                * (p.interval(&ScenarioDistribution::default()).lo + p.interval(&ScenarioDistribution::default()).hi);
            let pinned = p.pinned(&s, v);
            for side in [Side::Lo, Side::Hi] {
                assert!((p.value(&pinned, side) - v).abs() < 1e-9, "{p:?} {side:?}");
            }
        }
    }
}
