//! The LeRobot dataset writer: frames equal to what the simulation observed, a record that does
//! not replay refused with nothing left behind, and the output rules.

use std::sync::Arc;

use arrow::array::{Array, FixedSizeListArray, Float32Array, Int64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use regrasp_logs::lerobot::write_dataset;
use regrasp_policy::eval::EpisodeRecord;
use regrasp_sim::suite::SeedSpace;
use regrasp_sim::vec_env::run_controller;
use regrasp_sim::{ArmModel, GraspEnv};

fn expert_records(arm: &Arc<ArmModel>, n: u64) -> Vec<EpisodeRecord> {
    let env = Arc::new(arm.task.env.clone());
    let scenarios: Vec<_> = (0..n).map(|i| arm.task.distribution.sample(SeedSpace::training_seed(7, i))).collect();
    let runs = run_controller(Arc::clone(arm), env, &scenarios, 1, &|| {}, true).unwrap();
    runs.into_iter().zip(scenarios).map(|(r, s)| EpisodeRecord::of_controller(s, r, "expert")).collect()
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("regrasp-lerobot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn every_frame_is_what_the_simulation_observed() {
    let arm = Arc::new(ArmModel::named("so101").unwrap());
    let env = Arc::new(arm.task.env.clone());
    let records = expert_records(&arm, 3);
    let out = tmp("frames");
    let s = write_dataset(&arm, &env, &records, &out, false).unwrap();
    assert_eq!(s.episodes, 3);
    assert_eq!(s.frames, records.iter().map(|r| r.actions.len()).sum::<usize>());

    let file = std::fs::File::open(out.join("data/chunk-000/file-000.parquet")).unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap().next().unwrap().unwrap();
    assert_eq!(batch.num_rows(), s.frames);
    let col = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).clone();
    let obs = col("observation.regrasp");
    let obs = obs.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    let values = obs.values().as_any().downcast_ref::<Float32Array>().unwrap();
    let width = obs.value_length() as usize;
    let episode = col("episode_index");
    let episode = episode.as_any().downcast_ref::<Int64Array>().unwrap();

    // Run each episode again, independently of the replay engine, and compare every frame.
    let mut sim = GraspEnv::new(Arc::clone(&arm), Arc::clone(&env)).unwrap();
    let mut row = 0;
    for (e, r) in records.iter().enumerate() {
        let mut o = sim.reset(&r.scenario).unwrap();
        for a in &r.actions {
            assert_eq!(episode.value(row), e as i64);
            assert_eq!(&values.values()[row * width..(row + 1) * width], o.as_slice(), "episode {e}, frame row {row}");
            o = sim.step(a).unwrap().obs;
            row += 1;
        }
    }
    assert_eq!(row, s.frames);
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("meta/info.json")).unwrap()).unwrap();
    assert_eq!(info["features"]["observation.state"]["names"][0], "shoulder_pan.pos");
    assert_eq!(info["robot_type"], "regrasp_sim_so101");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn a_record_that_does_not_replay_is_refused_and_nothing_is_left() {
    let arm = Arc::new(ArmModel::default_arm().unwrap());
    let env = Arc::new(arm.task.env.clone());
    let mut records = expert_records(&arm, 2);
    records[1].final_state_hash ^= 1;
    let out = tmp("diverged");
    let e = write_dataset(&arm, &env, &records, &out, false).unwrap_err().to_string();
    assert!(e.contains("episode 1") && e.contains("final state hash"), "{e}");
    assert!(!out.exists(), "no partial dataset");
    let parent = out.parent().unwrap();
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    let partial = std::fs::read_dir(parent).unwrap().filter_map(|d| d.ok()).any(|d| {
        let n = d.file_name().to_string_lossy().into_owned();
        n.starts_with(&format!(".{name}.partial"))
    });
    assert!(!partial, "no partial directory beside it");
}

#[test]
fn nothing_selected_or_an_occupied_output_is_an_error() {
    let arm = Arc::new(ArmModel::default_arm().unwrap());
    let env = Arc::new(arm.task.env.clone());
    let out = tmp("rules");
    let e = write_dataset(&arm, &env, &[], &out, false).unwrap_err().to_string();
    assert!(e.contains("selects nothing"), "{e}");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let records = expert_records(&arm, 1);
    let e = write_dataset(&arm, &env, &records, &out, false).unwrap_err().to_string();
    assert!(e.contains("not empty") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine", "nothing of the user's is lost");
    write_dataset(&arm, &env, &records, &out, true).unwrap();
    assert!(out.join("meta/info.json").is_file() && !out.join("keep.txt").exists());
    std::fs::remove_dir_all(&out).ok();
}
