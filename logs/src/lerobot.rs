//! Episodes as a **LeRobotDataset v3.0** (the layout lerobot ≥ 0.4 reads): `meta/info.json`,
//! `meta/stats.json`, `meta/tasks.parquet` (task strings as its pandas index),
//! `meta/episodes/chunk-000/file-000.parquet` (one row per episode, with regrasp's provenance
//! in extra columns) and `data/chunk-000/file-000.parquet` (one row per control step).
//!
//! Exact replay is the source of truth: every episode is re-simulated from its scenario and
//! actions, and its final state hash must match its record before a frame is written, so an
//! exported dataset cannot disagree with the episodes it came from. The directory is written
//! aside and renamed into place (`ExportDir`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Int64Array, ListBuilder, StringArray, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use regrasp_policy::eval::EpisodeRecord;
use regrasp_sim::action::{ACTION_DIM, ACTION_NAMES};
use regrasp_sim::replay::{ReplayObserver, replay_exact};
use regrasp_sim::scenario::Shape;
use regrasp_sim::{Action, ArmModel, EnvConfig, GraspEnv, ObsLayout, Step};
use serde::Serialize;

use crate::error::{LogsError, Result};
use regrasp_policy::export::ExportDir;

/// The LeRobot dataset format version written.
pub const CODEBASE_VERSION: &str = "v3.0";

/// What [`write_dataset`] wrote, and how fast.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetSummary {
    /// The dataset directory.
    pub dir: PathBuf,
    /// Episodes written.
    pub episodes: usize,
    /// Frames (control steps) written.
    pub frames: usize,
    /// Distinct task strings.
    pub tasks: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Wall time (s), replay included.
    pub seconds: f64,
    /// Episodes per second.
    pub episodes_per_s: f64,
    /// Megabytes (10⁶ bytes) written per second.
    pub mb_per_s: f64,
}

/// The task string of an episode: what is grasped, as a sentence.
pub fn task_of(record: &EpisodeRecord, lift_m: f64) -> String {
    let o = &record.scenario.object;
    let what = match o.shape {
        Shape::Box { .. } => "box",
        Shape::Cylinder { .. } if o.pose.lying => "lying cylinder",
        Shape::Cylinder { .. } => "standing cylinder",
        Shape::Sphere { .. } => "ball",
        Shape::Capsule { .. } if o.pose.lying => "lying capsule",
        Shape::Capsule { .. } => "standing capsule",
    };
    format!("Grasp the {what} and lift it {:.0} cm.", 100.0 * lift_m)
}

/// A vector feature of the data table: its name, width, entry names and rows.
type VectorFeature<'a> = (&'static str, usize, Vec<String>, &'a [&'a [f32]]);

/// One episode's frames, collected by replaying it.
#[derive(Default)]
struct Frames {
    observation: Vec<Vec<f32>>,
    environment: Vec<[f32; 7]>,
    action: Vec<[f32; ACTION_DIM]>,
    reward: Vec<f32>,
    done: Vec<bool>,
    success: Vec<bool>,
}

impl ReplayObserver for Frames {
    fn before_step(&mut self, _k: usize, env: &GraspEnv, obs: &[f32], action: &Action) {
        self.observation.push(obs.to_vec());
        let p = env.privileged().map(|p| p.object);
        let e = p.map_or([f32::NAN; 7], |o| {
            let (t, q) = (o.translation.vector, o.rotation.coords);
            [t.x as f32, t.y as f32, t.z as f32, q.x as f32, q.y as f32, q.z as f32, q.w as f32]
        });
        self.environment.push(e);
        self.action.push([
            action.translation[0],
            action.translation[1],
            action.translation[2],
            action.yaw,
            action.gripper,
        ]);
    }

    fn after_step(&mut self, _k: usize, _env: &GraspEnv, step: &Step) {
        self.reward.push(step.reward as f32);
        self.done.push(step.done);
        self.success.push(step.outcome.as_ref().is_some_and(|o| o.kind == regrasp_sim::OutcomeKind::Success));
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogsError {
    let path = path.to_path_buf();
    move |source| LogsError::Io { path, source }
}

fn parquet_err(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> LogsError {
    let path = path.to_path_buf();
    move |e| LogsError::Io { path, source: std::io::Error::other(e.to_string()) }
}

fn arrow_err(e: arrow::error::ArrowError) -> LogsError {
    LogsError::NotFound(format!("building the dataset's columns: {e}"))
}

/// A `FixedSizeList<Float32, width>` column from rows.
fn vectors<'a>(rows: impl Iterator<Item = &'a [f32]>, width: usize) -> Result<ArrayRef> {
    let values: Vec<f32> = rows.flat_map(|r| r.iter().copied()).collect();
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    Ok(Arc::new(
        FixedSizeListArray::try_new(item, width as i32, Arc::new(Float32Array::from(values)), None)
            .map_err(arrow_err)?,
    ))
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<u64> {
    let file = File::create(path).map_err(io(path))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).map_err(parquet_err(path))?;
    w.write(batch).map_err(parquet_err(path))?;
    w.close().map_err(parquet_err(path))?;
    Ok(std::fs::metadata(path).map_err(io(path))?.len())
}

/// Per-dimension min, max, mean, std and count of `rows` (each `width` long).
fn stats(rows: &[&[f32]], width: usize) -> serde_json::Value {
    let n = rows.len().max(1) as f64;
    let mut min = vec![f64::INFINITY; width];
    let mut max = vec![f64::NEG_INFINITY; width];
    let mut sum = vec![0.0; width];
    let mut sq = vec![0.0; width];
    for r in rows {
        for (i, &v) in r.iter().enumerate().take(width) {
            let v = v as f64;
            min[i] = min[i].min(v);
            max[i] = max[i].max(v);
            sum[i] += v;
            sq[i] += v * v;
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std: Vec<f64> = sq.iter().zip(&mean).map(|(s, m)| (s / n - m * m).max(0.0).sqrt()).collect();
    serde_json::json!({"min": min, "max": max, "mean": mean, "std": std, "count": [rows.len()]})
}

/// Writes `records` (episodes of `arm` under `cfg`, replayed exactly first) as a LeRobot
/// dataset into `out`, which must not exist or be empty unless `force`.
pub fn write_dataset(
    arm: &Arc<ArmModel>,
    cfg: &Arc<EnvConfig>,
    records: &[EpisodeRecord],
    out: &Path,
    force: bool,
) -> Result<DatasetSummary> {
    let start = Instant::now();
    if records.is_empty() {
        return Err(LogsError::NotFound("no episodes to export: the source or its filter selects nothing".into()));
    }
    let dir = ExportDir::claim(out, force)?;
    let layout = ObsLayout::new(arm.dof());
    let n = arm.dof();
    let fps = cfg.control_hz.round() as i64;

    // Replay every episode: its frames, checked against its record.
    let mut env = GraspEnv::new(Arc::clone(arm), Arc::clone(cfg))?;
    let mut episodes = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let mut f = Frames::default();
        replay_exact(&mut env, &r.scenario, &r.actions, r.final_state_hash, r.outcome.kind, &mut f).map_err(
            |e| match e {
                regrasp_sim::SimError::Diverged(source) => LogsError::Diverged { id: format!("{i}"), source },
                other => LogsError::Sim(other),
            },
        )?;
        episodes.push(f);
    }

    // Tasks, in order of first appearance.
    let mut tasks: Vec<String> = Vec::new();
    let task_index: Vec<i64> = records
        .iter()
        .map(|r| {
            let t = task_of(r, cfg.outcome.success_lift);
            let i = tasks.iter().position(|x| *x == t).unwrap_or_else(|| {
                tasks.push(t);
                tasks.len() - 1
            });
            i as i64
        })
        .collect();

    // data/: one row per frame.
    let frames: usize = episodes.iter().map(|e| e.action.len()).sum();
    let mut state: Vec<Vec<f32>> = Vec::with_capacity(frames);
    let (mut ts, mut fi, mut ei, mut gi, mut ti) = (vec![], vec![], vec![], vec![], vec![]);
    let mut global = 0i64;
    for (e, f) in episodes.iter().enumerate() {
        for (k, obs) in f.observation.iter().enumerate() {
            let mut s: Vec<f32> = obs[layout.joint_pos()..layout.joint_pos() + n].to_vec();
            s.push(obs[layout.gripper()]);
            state.push(s);
            ts.push(k as f32 / fps as f32);
            fi.push(k as i64);
            ei.push(e as i64);
            gi.push(global);
            ti.push(task_index[e]);
            global += 1;
        }
    }
    let obs_rows: Vec<&[f32]> = episodes.iter().flat_map(|e| e.observation.iter().map(|o| o.as_slice())).collect();
    let env_rows: Vec<&[f32]> = episodes.iter().flat_map(|e| e.environment.iter().map(|o| o.as_slice())).collect();
    let act_rows: Vec<&[f32]> = episodes.iter().flat_map(|e| e.action.iter().map(|o| o.as_slice())).collect();
    let state_rows: Vec<&[f32]> = state.iter().map(|s| s.as_slice()).collect();
    let reward: Vec<f32> = episodes.iter().flat_map(|e| e.reward.iter().copied()).collect();
    let done: Vec<bool> = episodes.iter().flat_map(|e| e.done.iter().copied()).collect();
    let success: Vec<bool> = episodes.iter().flat_map(|e| e.success.iter().copied()).collect();

    let entries = layout.entries(arm);
    let mut state_names: Vec<String> = arm.arm_joints.iter().map(|j| format!("{}.pos", j.name)).collect();
    state_names.push("gripper.opening".into());
    let vector_features: [VectorFeature; 4] = [
        ("observation.state", n + 1, state_names, &state_rows),
        (
            "observation.environment_state",
            7,
            ["object.x", "object.y", "object.z", "object.qx", "object.qy", "object.qz", "object.qw"]
                .map(String::from)
                .to_vec(),
            &env_rows,
        ),
        ("observation.regrasp", layout.len(), entries.iter().map(|e| e.name.clone()).collect(), &obs_rows),
        ("action", ACTION_DIM, ACTION_NAMES.map(String::from).to_vec(), &act_rows),
    ];
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut features = serde_json::Map::new();
    let mut stats_json = serde_json::Map::new();
    for (name, width, names, rows) in &vector_features {
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        fields.push(Field::new(*name, DataType::FixedSizeList(item, *width as i32), false));
        columns.push(vectors(rows.iter().copied(), *width)?);
        features.insert(name.to_string(), serde_json::json!({"dtype": "float32", "shape": [width], "names": names}));
        stats_json.insert(name.to_string(), stats(rows, *width));
    }
    let scalar_f32 = |v: &[f32]| -> Vec<[f32; 1]> { v.iter().map(|x| [*x]).collect() };
    let reward_rows = scalar_f32(&reward);
    let ts_rows = scalar_f32(&ts);
    fields.push(Field::new("next.reward", DataType::Float32, false));
    columns.push(Arc::new(Float32Array::from(reward.clone())));
    features.insert("next.reward".into(), serde_json::json!({"dtype": "float32", "shape": [1], "names": null}));
    stats_json.insert("next.reward".into(), stats(&reward_rows.iter().map(|r| r.as_slice()).collect::<Vec<_>>(), 1));
    for (name, v) in [("next.done", &done), ("next.success", &success)] {
        fields.push(Field::new(name, DataType::Boolean, false));
        columns.push(Arc::new(BooleanArray::from(v.clone())));
        features.insert(name.into(), serde_json::json!({"dtype": "bool", "shape": [1], "names": null}));
    }
    fields.push(Field::new("timestamp", DataType::Float32, false));
    columns.push(Arc::new(Float32Array::from(ts.clone())));
    features.insert("timestamp".into(), serde_json::json!({"dtype": "float32", "shape": [1], "names": null}));
    stats_json.insert("timestamp".into(), stats(&ts_rows.iter().map(|r| r.as_slice()).collect::<Vec<_>>(), 1));
    for (name, v) in [("frame_index", &fi), ("episode_index", &ei), ("index", &gi), ("task_index", &ti)] {
        fields.push(Field::new(name, DataType::Int64, false));
        columns.push(Arc::new(Int64Array::from(v.clone())));
        features.insert(name.into(), serde_json::json!({"dtype": "int64", "shape": [1], "names": null}));
        let rows: Vec<[f32; 1]> = v.iter().map(|x| [*x as f32]).collect();
        stats_json.insert(name.into(), stats(&rows.iter().map(|r| r.as_slice()).collect::<Vec<_>>(), 1));
    }
    let data = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_err)?;

    // meta/episodes: one row per episode, with regrasp's provenance.
    let lengths: Vec<i64> = episodes.iter().map(|e| e.action.len() as i64).collect();
    let mut from = Vec::with_capacity(lengths.len());
    let mut acc = 0i64;
    for l in &lengths {
        from.push(acc);
        acc += l;
    }
    let to: Vec<i64> = from.iter().zip(&lengths).map(|(f, l)| f + l).collect();
    let zeros = vec![0i64; records.len()];
    let mut task_lists = ListBuilder::new(StringBuilder::new());
    for &t in &task_index {
        task_lists.values().append_value(&tasks[t as usize]);
        task_lists.append(true);
    }
    let tasks_col = task_lists.finish();
    let str_col = |f: &dyn Fn(&EpisodeRecord) -> String| -> ArrayRef {
        Arc::new(StringArray::from(records.iter().map(f).collect::<Vec<_>>()))
    };
    let int_col = |v: Vec<i64>| -> ArrayRef { Arc::new(Int64Array::from(v)) };
    let meta_columns: Vec<(&str, ArrayRef)> = vec![
        ("episode_index", int_col((0..records.len() as i64).collect())),
        ("tasks", Arc::new(tasks_col)),
        ("length", int_col(lengths.clone())),
        ("data/chunk_index", int_col(zeros.clone())),
        ("data/file_index", int_col(zeros.clone())),
        ("dataset_from_index", int_col(from)),
        ("dataset_to_index", int_col(to)),
        ("meta/episodes/chunk_index", int_col(zeros.clone())),
        ("meta/episodes/file_index", int_col(zeros)),
        ("regrasp/seed", int_col(records.iter().map(|r| r.scenario.seed as i64).collect())),
        ("regrasp/outcome", str_col(&|r| r.outcome.kind.name().to_string())),
        (
            "regrasp/failure_mode",
            str_col(&|r| if r.outcome.kind.is_failure() { r.outcome.kind.name().to_string() } else { String::new() }),
        ),
        ("regrasp/evidence", str_col(&|r| r.outcome.evidence.note.clone())),
        ("regrasp/policy_hash", str_col(&|r| r.policy_hash.clone())),
        ("regrasp/state_hash", str_col(&|r| format!("{:016x}", r.final_state_hash))),
        ("regrasp/scenario", str_col(&|r| serde_json::to_string(&r.scenario).unwrap_or_default())),
    ];
    let meta_schema =
        Schema::new(meta_columns.iter().map(|(n, c)| Field::new(*n, c.data_type().clone(), true)).collect::<Vec<_>>());
    let meta = RecordBatch::try_new(Arc::new(meta_schema), meta_columns.into_iter().map(|(_, c)| c).collect())
        .map_err(arrow_err)?;

    // meta/tasks.parquet: the task string is the pandas index.
    let pandas = serde_json::json!({
        "index_columns": ["task"],
        "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": null},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": null},
        ],
        "creator": {"library": "regrasp", "version": env!("CARGO_PKG_VERSION")},
        "pandas_version": "2.2.0",
    });
    let tasks_schema =
        Schema::new(vec![Field::new("task_index", DataType::Int64, false), Field::new("task", DataType::Utf8, false)])
            .with_metadata([("pandas".to_string(), pandas.to_string())].into());
    let tasks_batch = RecordBatch::try_new(
        Arc::new(tasks_schema),
        vec![
            Arc::new(Int64Array::from((0..tasks.len() as i64).collect::<Vec<_>>())),
            Arc::new(StringArray::from(tasks.clone())),
        ],
    )
    .map_err(arrow_err)?;

    let info = serde_json::json!({
        "codebase_version": CODEBASE_VERSION,
        "robot_type": format!("regrasp_sim_{}", arm.profile.name),
        "total_episodes": records.len(),
        "total_frames": frames,
        "total_tasks": tasks.len(),
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200,
        "fps": fps,
        "splits": {"train": format!("0:{}", records.len())},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": null,
        "features": features,
    });

    let mut bytes = 0u64;
    bytes += write_parquet(&dir.path("data/chunk-000/file-000.parquet")?, &data)?;
    bytes += write_parquet(&dir.path("meta/episodes/chunk-000/file-000.parquet")?, &meta)?;
    bytes += write_parquet(&dir.path("meta/tasks.parquet")?, &tasks_batch)?;
    for (file, v) in [("meta/info.json", info), ("meta/stats.json", serde_json::Value::Object(stats_json))] {
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        bytes += text.len() as u64;
        dir.write(file, text.as_bytes())?;
    }
    dir.commit()?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(DatasetSummary {
        dir: out.to_path_buf(),
        episodes: records.len(),
        frames,
        tasks: tasks.len(),
        bytes,
        seconds,
        episodes_per_s: records.len() as f64 / seconds.max(1e-9),
        mb_per_s: bytes as f64 / 1e6 / seconds.max(1e-9),
    })
}
