//! regrasp-logs: everything regrasp records, in rerun, and its episodes as LeRobot datasets.
//!
//! [`recorder`] opens a recording (an `.rrd` file under `runs/<id>/rerun/`, a spawned viewer or
//! a viewer's address) with the default [`blueprint`]; [`scene`] logs the 3D world from the
//! simulation's rapier-free scene view; [`episode`] replays stored episodes exactly — the final
//! state hash must match — and records them step by step; [`scalars`] logs training and
//! self-improvement time series; [`store`] reads episode files and picks which episodes are
//! recorded in full; [`rrd`] reads a recording back with rerun's own decoder. Entity paths
//! live in [`paths`]; [`lerobot`] writes episodes, replayed exactly, as a LeRobotDataset v3.0.
//! Only this crate knows about rerun and Parquet.

pub mod bench;
pub mod blueprint;
pub mod episode;
pub mod error;
pub mod lerobot;
pub mod paths;
pub mod recorder;
pub mod rrd;
pub mod scalars;
pub mod scene;
pub mod store;

pub use episode::{Replayed, StoredEpisode, record_evaluation, replay_all, replay_episode};
pub use error::{LogsError, Result};
pub use recorder::{Recorder, Sink, fresh_file};
pub use regrasp_policy::eval::EpisodeId;
pub use store::{Sampling, read_episodes};
