//! regrasp-viewer: a bevy workbench over the simulation. Live mode runs a policy (or the
//! scripted grasp) in a [`regrasp_sim::GraspEnv`] and lets a person pause, step, reset, pick the
//! next scenario and poke the object; episode mode replays a stored episode exactly and scrubs
//! it on a timeline. Both feed one [`mirror::SceneFrame`] that the mirror systems copy into bevy
//! transforms, so what is drawn is the simulation's own geometry and poses (Z up, m).

pub mod convert;
pub mod episodes;
pub mod live;
pub mod mirror;
pub mod orbit;
pub mod workbench;

pub use mirror::{BodyIndex, MirrorPlugin, Overlays, SceneFrame};
pub use workbench::{Capture, Source, WorkbenchPlugin};
