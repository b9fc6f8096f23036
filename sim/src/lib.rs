//! regrasp-sim: a physically honest grasping world on rapier3d.
//!
//! A 5-DoF desktop arm with a parallel-jaw gripper (URDF, loaded with rapier3d-urdf as a
//! multibody), a table and one object per episode. Grasps hold only through finger contact and
//! friction. A [`Scenario`] plus an action sequence replays bit for bit.
//!
//! Units everywhere: metres, kilograms, seconds, radians, newtons. World frame: Z up, the arm
//! base at the origin facing +X, the table top at z = 0.

pub mod action;
pub mod arm;
pub mod bench;
pub mod config;
pub mod control;
pub mod env;
pub mod error;
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
pub mod vec_env;
pub mod world;

pub use action::{ACTION_DIM, Action};
pub use arm::{ArmModel, ArmProfile};
pub use config::EnvConfig;
pub use env::{EpisodeSafety, GraspEnv, Privileged, Step};
pub use error::{Result, SimError};
pub use observation::ObsLayout;
pub use outcome::{Outcome, OutcomeKind};
pub use scenario::{Scenario, ScenarioDistribution, ScenarioSource};
pub use scripted::ScriptedGrasp;
pub use vec_env::{EpisodeSummary, VecEnv};
