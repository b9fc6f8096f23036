//! regrasp-sim: a physically honest grasping world on rapier3d.
//!
//! An arm (URDF + profile, loaded with rapier3d-urdf as a multibody: regrasp's own 5-DoF arm
//! with a parallel gripper, or the SO-101 with its rotating jaw), a table and one object per
//! episode. Grasps hold only through the pads' contacts and friction. A [`Scenario`] plus an action sequence replays bit for bit.
//!
//! Units everywhere: metres, kilograms, seconds, radians, newtons. World frame: Z up, the arm
//! base at the origin facing +X, the table top at z = 0.

pub mod action;
pub mod arm;
pub mod bench;
pub mod config;
pub mod contacts;
pub mod control;
pub mod env;
pub mod error;
pub mod gripper;
pub mod hash;
pub mod kinematics;
pub mod observation;
pub mod outcome;
pub mod replay;
pub mod reward;
pub mod scenario;
pub mod scene;
pub mod scripted;
pub mod suite;
pub mod task;
pub mod vec_env;
pub mod world;

pub use action::{ACTION_DIM, Action};
pub use arm::{ArmModel, ArmProfile, NamedArm};
pub use config::EnvConfig;
pub use env::{EpisodeSafety, GraspEnv, Privileged, Step};
pub use error::{Result, SimError};
pub use observation::ObsLayout;
pub use outcome::{Outcome, OutcomeKind};
pub use scenario::{Scenario, ScenarioDistribution, ScenarioSource};
pub use scripted::ScriptedGrasp;
pub use task::{Exploration, LogStd, Task};
pub use vec_env::{EpisodeSummary, VecEnv};
