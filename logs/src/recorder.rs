//! The recorder: one rerun recording stream with its sink (an `.rrd` file, a spawned viewer, a
//! viewer at an address, or nothing), the default blueprint, and the global `frame` timeline
//! on which every recorded episode gets its own span of control steps.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use nalgebra::Isometry3;
use regrasp_policy::ppo::IterationStats;
use regrasp_sim::scene::SceneGeometry;
use rerun::{RecordingStream, RecordingStreamBuilder};

use crate::scalars::GenerationLog;

use crate::error::{LogsError, Result};

/// Where a recording goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// An `.rrd` file (its folder is created).
    File(PathBuf),
    /// A rerun viewer started as a child process (`rerun` must be on `PATH`).
    Spawn,
    /// A running viewer's gRPC address, e.g. `rerun+http://127.0.0.1:9876/proxy`.
    Connect(String),
    /// Nothing is recorded.
    Off,
}

impl Sink {
    /// The sink chosen by the common command-line flags: `--spawn`, `--connect ADDR`, else the
    /// file `default_file` (or nothing when `None`).
    pub fn from_flags(spawn: bool, connect: Option<&str>, default_file: Option<&Path>) -> Sink {
        match (spawn, connect, default_file) {
            (true, _, _) => Sink::Spawn,
            (false, Some(addr), _) => Sink::Connect(addr.to_string()),
            (false, None, Some(f)) => Sink::File(f.to_path_buf()),
            (false, None, None) => Sink::Off,
        }
    }
}

/// `dir/<stem>.rrd`, or `dir/<stem>-<n>.rrd` with the first free n, so that a resumed run
/// never overwrites an earlier recording.
pub fn fresh_file(dir: &Path, stem: &str) -> PathBuf {
    let first = dir.join(format!("{stem}.rrd"));
    if !first.exists() {
        return first;
    }
    (2..).map(|n| dir.join(format!("{stem}-{n}.rrd"))).find(|p| !p.exists()).unwrap_or(first)
}

/// A recording in progress. Cheap to share between threads; every method is a no-op when the
/// sink is [`Sink::Off`].
pub struct Recorder {
    stream: Option<RecordingStream>,
    sink: Sink,
    next_frame: AtomicI64,
    next_episode: AtomicI64,
    /// Set once the arm and table meshes (which never change within a recording) were logged.
    pub(crate) static_scene: std::sync::Once,
}

impl Recorder {
    /// Starts a recording named `name` (application `regrasp`) with the default blueprint.
    pub fn new(name: &str, sink: Sink) -> Result<Self> {
        let builder = RecordingStreamBuilder::new("regrasp")
            .recording_name(name)
            .with_default_blueprint(crate::blueprint::default_blueprint());
        let rerun_err = |e: rerun::RecordingStreamError| LogsError::Rerun(e.to_string());
        let stream = match &sink {
            Sink::Off => None,
            Sink::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| LogsError::Io { path: dir.to_path_buf(), source })?;
                }
                Some(builder.save(path).map_err(|e| LogsError::Rerun(format!("{}: {e}", path.display())))?)
            }
            Sink::Spawn => Some(builder.spawn().map_err(|e| {
                LogsError::Rerun(format!("{e} (is the rerun viewer 0.36 on PATH? `cargo install rerun-cli@0.36.3`)"))
            })?),
            Sink::Connect(addr) => Some(builder.connect_grpc_opts(addr.clone()).map_err(rerun_err)?),
        };
        if let Some(s) = &stream {
            crate::scene::log_world_frame(s);
        }
        Ok(Self {
            stream,
            sink,
            next_frame: AtomicI64::new(0),
            next_episode: AtomicI64::new(0),
            static_scene: std::sync::Once::new(),
        })
    }

    /// A recorder that records nothing.
    pub fn off() -> Self {
        Self {
            stream: None,
            sink: Sink::Off,
            next_frame: AtomicI64::new(0),
            next_episode: AtomicI64::new(0),
            static_scene: std::sync::Once::new(),
        }
    }

    /// The stream, unless recording is off. Only this crate speaks rerun; the rest of the
    /// workspace records through the domain methods below.
    pub(crate) fn stream(&self) -> Option<&RecordingStream> {
        self.stream.as_ref()
    }

    /// One PPO iteration's figures, on the `env_steps` timeline.
    pub fn training(&self, env_steps: u64, stats: &IterationStats) {
        if let Some(s) = self.stream() {
            crate::scalars::log_training(s, env_steps, stats);
        }
    }

    /// A decided generation of the self-improvement loop.
    pub fn generation(&self, g: &GenerationLog) {
        if let Some(s) = self.stream() {
            crate::scalars::log_generation(s, g);
        }
    }

    /// One control tick of a hardware session: joint targets sent and joint positions read
    /// (rad, or m for the gripper), on the `tick` timeline and the session's elapsed time (s).
    pub fn hardware_tick(
        &self,
        tick: u64,
        elapsed_s: f64,
        joint_names: &[String],
        commanded: &[f64],
        measured: &[f64],
    ) {
        if let Some(s) = self.stream() {
            crate::scalars::log_hardware_tick(s, tick, elapsed_s, joint_names, commanded, measured);
        }
    }

    /// A safety-envelope intervention, a fault (`fault`) or an operator's note during a hardware
    /// session, at the current tick.
    pub fn hardware_event(&self, fault: bool, text: &str) {
        if let Some(s) = self.stream() {
            crate::scalars::log_hardware_event(s, fault, text);
        }
    }

    /// The set-up of physical trial `trial`: the scene at rest with the object where the
    /// operator must place it (`poses`: each body's pose, m), and what to do, in words.
    pub fn trial_setup(&self, trial: i64, geometry: &SceneGeometry, poses: &[Isometry3<f64>], text: &str) {
        if let Some(s) = self.stream() {
            s.set_time_sequence("trial", trial);
            crate::scene::log_geometry(s, geometry, poses, true);
            crate::scene::log_geometry(s, geometry, poses, false);
            crate::scalars::log_hardware_event(s, false, text);
        }
    }

    /// Where it goes.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// Whether anything is recorded.
    pub fn is_on(&self) -> bool {
        self.stream.is_some()
    }

    /// Reserves `n` consecutive values of the `frame` timeline (and one blank after them, so
    /// that episodes do not touch); returns the first.
    pub fn reserve_frames(&self, n: u64) -> i64 {
        self.next_frame.fetch_add(n as i64 + 1, Ordering::SeqCst)
    }

    /// The next value of the `episode` timeline (one per recorded episode).
    pub fn reserve_ordinal(&self) -> i64 {
        self.next_episode.fetch_add(1, Ordering::SeqCst)
    }

    /// Writes everything buffered so far (blocking).
    pub fn flush(&self) -> Result<()> {
        if let Some(s) = &self.stream {
            s.flush_blocking().map_err(|e| LogsError::Rerun(e.to_string()))?;
        }
        Ok(())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(s) = &self.stream {
            let _ = s.flush_blocking();
        }
    }
}
