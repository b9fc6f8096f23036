//! regrasp-policy: the grasping policy that regrasp improves and that finally drives the arm.
//!
//! A burn actor-critic ([`model`]) trained by behaviour cloning from the scripted grasp and by
//! PPO over the vectorised `GraspEnv`; checkpoints hold the burn record, the TOML config and
//! metadata (content hash, lineage, env steps); [`inference`] runs a checkpoint without autodiff
//! in microseconds; [`eval`] measures a policy on a frozen suite.

pub mod bc;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod envs;
pub mod error;
pub mod eval;
pub mod export;
pub mod inference;
pub mod model;
pub mod normalizer;
pub mod ppo;
pub mod run;
pub mod stats;

pub use error::{PolicyError, Result};
