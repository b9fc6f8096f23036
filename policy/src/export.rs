//! A policy exported for use outside regrasp: every weight as **safetensors** in PyTorch's
//! layout (`policy.safetensors`), the actor as an **ONNX** graph that maps a raw observation to
//! an action with nothing else needed (`policy.onnx`: the observation normaliser, the MLP and
//! the action scaling in one graph), a JSON sidecar (`policy.json`) that documents the
//! observation and action layouts with units, the arm and the control rate, and test vectors
//! (`test_vectors.safetensors`: observations from real episodes with the actions regrasp's own
//! inference gives for them). The directory is written aside and renamed into place, so a
//! failed export never looks complete.
//!
//! burn has no ONNX exporter, and the actor is a fixed family (three dense layers, tanh after
//! each), so the graph is written here directly: a minimal protobuf encoder for the few ONNX
//! messages it needs (opset 17, IR version 8).

use std::path::{Path, PathBuf};

use regrasp_sim::action::ACTION_NAMES;
use regrasp_sim::config::ActionLimits;
use regrasp_sim::{ArmModel, EnvConfig, GraspEnv, ObsLayout};
use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::error::{PolicyError, Result};
use crate::eval::LoadedPolicy;
use crate::inference::{Dense, Scratch};

/// The ONNX operator set the graph uses.
pub const ONNX_OPSET: i64 = 17;
/// The ONNX IR version the file declares (onnxruntime ≥ 1.10 reads it).
pub const ONNX_IR_VERSION: i64 = 8;
/// Version of the sidecar's layout.
pub const SIDECAR_VERSION: u32 = 1;

/// What [`export_policy`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    /// The policy's content hash.
    pub policy: String,
    /// Files written, in the output directory.
    pub files: Vec<PathBuf>,
    /// Test vectors in the sidecar.
    pub test_vectors: usize,
}

/// Observations with the actions regrasp's inference gives for them, row-major.
#[derive(Clone, Debug, Default)]
struct TestVectors {
    /// `[n, obs_dim]`.
    observation: Vec<f32>,
    /// `[n, 5]`: the normalised action mean, each in [−1, 1].
    action_normalized: Vec<f32>,
    /// `[n, 5]`: the action in its units (m, m, m, rad, command).
    action: Vec<f32>,
    /// Rows.
    n: usize,
}

#[derive(Serialize)]
struct Entry {
    index: usize,
    name: String,
    unit: &'static str,
}

#[derive(Serialize)]
struct ActionEntry {
    index: usize,
    name: &'static str,
    unit: &'static str,
    low: f32,
    high: f32,
}

#[derive(Serialize)]
struct Sidecar<'a> {
    format: &'static str,
    version: u32,
    policy: &'a str,
    arm: serde_json::Value,
    control_hz: f64,
    observation: Vec<Entry>,
    normalizer: serde_json::Value,
    action: Vec<ActionEntry>,
    onnx: serde_json::Value,
    safetensors: serde_json::Value,
    test_vectors: serde_json::Value,
}

/// Exports the checkpoint at `path` (trained for `arm` under `env`) into the directory `out`,
/// which must not exist or be empty unless `force`. Episodes of the arm's training
/// distribution are run with the policy until at least `min_test_vectors` observations are
/// collected as test vectors.
pub fn export_policy(
    path: &Path,
    arm: &std::sync::Arc<ArmModel>,
    env: &std::sync::Arc<EnvConfig>,
    out: &Path,
    min_test_vectors: usize,
    force: bool,
) -> Result<ExportSummary> {
    let layout = ObsLayout::new(arm.dof());
    let ckpt = Checkpoint::load(path)?;
    ckpt.check_fits(path, arm, layout.len())?;
    let policy = LoadedPolicy::from_checkpoint(&ckpt)?;
    let dir = ExportDir::claim(out, force)?;

    let obs_mean: Vec<f32> = policy.norm.mean.iter().map(|&m| m as f32).collect();
    let obs_std: Vec<f32> = (0..policy.norm.dim()).map(|i| policy.norm.std(i) as f32).collect();
    let scale = action_scale(&env.action);
    let clip = policy.norm.clip as f32;

    // Safetensors: PyTorch's nn.Linear keeps its weight as [out, in].
    let names = ["actor_in", "actor_hidden", "actor_out", "critic_in", "critic_hidden", "critic_out"];
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (name, layer) in names.iter().zip(policy.net.actor.iter().chain(policy.net.critic.iter())) {
        tensors.push((format!("{name}.weight"), vec![layer.d_out, layer.d_in], transposed(layer)));
        tensors.push((format!("{name}.bias"), vec![layer.d_out], layer.b.clone()));
    }
    tensors.push(("log_std".into(), vec![policy.net.log_std.len()], policy.net.log_std.clone()));
    tensors.push(("obs_mean".into(), vec![obs_mean.len()], obs_mean.clone()));
    tensors.push(("obs_std".into(), vec![obs_std.len()], obs_std.clone()));
    tensors.push(("action_scale".into(), vec![scale.len()], scale.to_vec()));
    let metadata = [
        ("format", "pt".to_string()),
        ("producer", format!("regrasp {}", env!("CARGO_PKG_VERSION"))),
        ("policy", policy.hash.clone()),
        ("arm", arm.profile.name.clone()),
    ];
    let st = safetensors(&tensors, &metadata);
    let onnx = onnx_actor(&policy.net.actor, &obs_mean, &obs_std, clip, &scale, &policy.hash, &arm.profile.name);

    let vectors = test_vectors(&policy, arm, env, min_test_vectors)?;
    let obs_dim = layout.len();
    let tv = safetensors(
        &[
            ("observation".into(), vec![vectors.n, obs_dim], vectors.observation),
            ("action_normalized".into(), vec![vectors.n, 5], vectors.action_normalized),
            ("action".into(), vec![vectors.n, 5], vectors.action),
        ],
        &[("policy", policy.hash.clone())],
    );
    let entries = layout.entries(arm);
    let sidecar = Sidecar {
        format: "regrasp-policy-export",
        version: SIDECAR_VERSION,
        policy: &policy.hash,
        arm: serde_json::json!({
            "name": arm.profile.name,
            "hash": format!("{:016x}", arm.content_hash),
            "joints": arm.arm_joints.iter().map(|j| j.name.clone()).collect::<Vec<_>>(),
        }),
        control_hz: env.control_hz,
        observation: entries
            .into_iter()
            .enumerate()
            .map(|(index, e)| Entry { index, name: e.name, unit: e.unit })
            .collect(),
        normalizer: serde_json::json!({
            "formula": "clip((observation - obs_mean) / obs_std, -clip, clip); a non-finite result counts as 0 in regrasp (the ONNX graph expects finite observations)",
            "clip": clip,
        }),
        action: ACTION_NAMES
            .iter()
            .zip(scale)
            .zip(["m", "m", "m", "rad", "1"])
            .enumerate()
            .map(|(index, ((name, s), unit))| ActionEntry { index, name, unit, low: -s, high: s })
            .collect(),
        onnx: serde_json::json!({
            "file": "policy.onnx",
            "opset": ONNX_OPSET,
            "inputs": [{"name": "observation", "shape": ["batch", layout.len()], "dtype": "float32"}],
            "outputs": [
                {"name": "action", "shape": ["batch", 5], "dtype": "float32", "note": "tool displacement (m) along world x, y, z, yaw change (rad), gripper command (−1 open, 1 closed), per control step"},
                {"name": "action_normalized", "shape": ["batch", 5], "dtype": "float32", "note": "the action mean in [−1, 1]"},
            ],
        }),
        safetensors: serde_json::json!({
            "file": "policy.safetensors",
            "layout": "PyTorch: each <layer>.weight is [out, in]; actor = tanh(actor_out(tanh(actor_hidden(tanh(actor_in(z)))))) with z the normalised observation; action = actor × action_scale; critic likewise without the last tanh; log_std is the Gaussian's log standard deviation in normalised action units",
            "tensors": tensors.iter().map(|(n, s, _)| serde_json::json!({"name": n, "shape": s})).collect::<Vec<_>>(),
        }),
        test_vectors: serde_json::json!({
            "file": "test_vectors.safetensors",
            "rows": vectors.n,
            "tensors": {"observation": [vectors.n, obs_dim], "action_normalized": [vectors.n, 5], "action": [vectors.n, 5]},
            "source": "every control step of episodes of the arm's training distribution run with this policy; the actions are regrasp's own inference",
        }),
    };
    let json = serde_json::to_string_pretty(&sidecar)
        .map_err(|e| PolicyError::Config { source_name: "policy.json".into(), message: e.to_string() })?;
    let mut files = Vec::new();
    for (file, bytes) in [
        ("policy.safetensors", st),
        ("policy.onnx", onnx),
        ("test_vectors.safetensors", tv),
        ("policy.json", json.into_bytes()),
    ] {
        dir.write(file, &bytes)?;
        files.push(out.join(file));
    }
    dir.commit()?;
    Ok(ExportSummary { policy: policy.hash.clone(), files, test_vectors: vectors.n })
}

/// The directory an export writes: one that holds anything is refused unless `force`; the
/// files go into a hidden sibling that is renamed into place by [`ExportDir::commit`], and
/// removed if the export fails first, so a failed export never looks complete and never
/// touches what was there.
#[derive(Debug)]
pub struct ExportDir {
    out: PathBuf,
    aside: PathBuf,
    committed: bool,
}

impl ExportDir {
    /// Claims `out` for an export.
    pub fn claim(out: &Path, force: bool) -> Result<Self> {
        let occupied = std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(false);
        if occupied && !force {
            return Err(PolicyError::Config {
                source_name: out.display().to_string(),
                message: "the output directory is not empty; choose another or pass --force to replace it".into(),
            });
        }
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
        let aside = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&aside);
        std::fs::create_dir_all(&aside).map_err(|source| PolicyError::Io { path: aside.clone(), source })?;
        Ok(Self { out: out.to_path_buf(), aside, committed: false })
    }

    /// Where the file `rel` (a path relative to the export's root) is written until the
    /// commit; its folders are created.
    pub fn path(&self, rel: &str) -> Result<PathBuf> {
        let p = self.aside.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|source| PolicyError::Io { path: parent.to_path_buf(), source })?;
        }
        Ok(p)
    }

    /// Writes the file `rel`.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let p = self.path(rel)?;
        std::fs::write(&p, bytes).map_err(|source| PolicyError::Io { path: p, source })
    }

    /// Puts the export in place of whatever `out` held.
    pub fn commit(mut self) -> Result<()> {
        let io = |source| PolicyError::Io { path: self.out.clone(), source };
        if self.out.exists() {
            std::fs::remove_dir_all(&self.out).map_err(io)?;
        }
        std::fs::rename(&self.aside, &self.out).map_err(io)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for ExportDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.aside);
        }
    }
}

/// Per-component scale from the normalised action to its units.
fn action_scale(limits: &ActionLimits) -> [f32; 5] {
    let t = limits.max_translation as f32;
    [t, t, t, limits.max_yaw as f32, 1.0]
}

/// A dense layer's weights as `[out, in]`, row-major.
fn transposed(l: &Dense) -> Vec<f32> {
    let mut w = vec![0.0; l.d_in * l.d_out];
    for i in 0..l.d_in {
        for o in 0..l.d_out {
            w[o * l.d_in + i] = l.w[i * l.d_out + o];
        }
    }
    w
}

/// Every control step's observation of episodes of the arm's training distribution run with
/// the policy (whole episodes, until at least `min` are collected), and the policy's actions.
fn test_vectors(
    policy: &LoadedPolicy,
    arm: &std::sync::Arc<ArmModel>,
    env: &std::sync::Arc<EnvConfig>,
    min: usize,
) -> Result<TestVectors> {
    let mut sim = GraspEnv::new(std::sync::Arc::clone(arm), std::sync::Arc::clone(env))?;
    let dist = &arm.task.distribution;
    let mut s = Scratch::default();
    let mut out = TestVectors::default();
    let mut episode = 0;
    while out.n < min {
        let scenario = dist.sample(regrasp_sim::suite::SeedSpace::training_seed(0, episode));
        episode += 1;
        let mut obs = sim.reset(&scenario)?;
        loop {
            let mean = policy.net.act(&policy.norm, &obs, &mut s);
            let action = policy.act(&obs, &env.action, &mut s)?;
            out.observation.extend_from_slice(&obs);
            out.action_normalized.extend_from_slice(&mean);
            out.action.extend_from_slice(&[
                action.translation[0],
                action.translation[1],
                action.translation[2],
                action.yaw,
                action.gripper,
            ]);
            out.n += 1;
            let st = sim.step(&action)?;
            if st.done {
                break;
            }
            obs = st.obs;
        }
    }
    Ok(out)
}

/// A safetensors file: an 8-byte little-endian header length, the JSON header (padded with
/// spaces to a multiple of 8 bytes), then each tensor's little-endian `f32` data in order.
pub fn safetensors(tensors: &[(String, Vec<usize>, Vec<f32>)], metadata: &[(&str, String)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<String, serde_json::Value> =
        metadata.iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone()))).collect();
    header.insert("__metadata__".into(), serde_json::Value::Object(meta));
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        let end = offset + 4 * data.len();
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}));
        offset = end;
    }
    let mut h = serde_json::Value::Object(header).to_string().into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + offset);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, _, data) in tensors {
        for v in data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Protocol-buffer encoding of the few ONNX messages the graph needs (field numbers from
/// `onnx.proto`).
mod pb {
    /// Appends `v` as a base-128 varint.
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A varint field.
    pub fn int(out: &mut Vec<u8>, field: u32, v: i64) {
        varint(out, (field as u64) << 3);
        varint(out, v as u64);
    }

    /// A length-delimited field (bytes, string or message).
    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        varint(out, ((field as u64) << 3) | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    /// `TensorProto` of `f32` data.
    pub fn tensor(name: &str, dims: &[usize], data: &[f32]) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            int(&mut t, 1, d as i64); // dims
        }
        int(&mut t, 2, 1); // data_type = FLOAT
        bytes(&mut t, 8, name.as_bytes()); // name
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes(&mut t, 9, &raw); // raw_data
        t
    }

    /// `ValueInfoProto` of a float tensor whose first dimension is the symbolic `batch`.
    pub fn value_info(name: &str, width: usize) -> Vec<u8> {
        let mut shape = Vec::new();
        let mut batch = Vec::new();
        bytes(&mut batch, 2, b"batch"); // dim_param
        bytes(&mut shape, 1, &batch);
        let mut w = Vec::new();
        int(&mut w, 1, width as i64); // dim_value
        bytes(&mut shape, 1, &w);
        let mut tensor_type = Vec::new();
        int(&mut tensor_type, 1, 1); // elem_type = FLOAT
        bytes(&mut tensor_type, 2, &shape); // shape
        let mut ty = Vec::new();
        bytes(&mut ty, 1, &tensor_type); // tensor_type
        let mut v = Vec::new();
        bytes(&mut v, 1, name.as_bytes());
        bytes(&mut v, 2, &ty);
        v
    }

    /// `NodeProto` without attributes.
    pub fn node(op: &str, inputs: &[&str], outputs: &[&str], name: &str) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            bytes(&mut n, 1, i.as_bytes());
        }
        for o in outputs {
            bytes(&mut n, 2, o.as_bytes());
        }
        bytes(&mut n, 3, name.as_bytes());
        bytes(&mut n, 4, op.as_bytes());
        n
    }
}

/// The actor as an ONNX model: `observation` `[batch, obs_dim]` → `action` and
/// `action_normalized` `[batch, 5]`.
#[allow(clippy::too_many_arguments)]
fn onnx_actor(
    actor: &[Dense; 3],
    obs_mean: &[f32],
    obs_std: &[f32],
    clip: f32,
    scale: &[f32; 5],
    policy: &str,
    arm: &str,
) -> Vec<u8> {
    let mut graph = Vec::new();
    let nodes: [(&str, &[&str], &str); 13] = [
        ("Sub", &["observation", "obs_mean"], "centred"),
        ("Div", &["centred", "obs_std"], "z"),
        ("Clip", &["z", "clip_low", "clip_high"], "z_clipped"),
        ("MatMul", &["z_clipped", "actor_in.weight"], "l0"),
        ("Add", &["l0", "actor_in.bias"], "p0"),
        ("Tanh", &["p0"], "h0"),
        ("MatMul", &["h0", "actor_hidden.weight"], "l1"),
        ("Add", &["l1", "actor_hidden.bias"], "p1"),
        ("Tanh", &["p1"], "h1"),
        ("MatMul", &["h1", "actor_out.weight"], "l2"),
        ("Add", &["l2", "actor_out.bias"], "p2"),
        ("Tanh", &["p2"], "action_normalized"),
        ("Mul", &["action_normalized", "action_scale"], "action"),
    ];
    for (i, (op, inputs, output)) in nodes.iter().enumerate() {
        pb::bytes(&mut graph, 1, &pb::node(op, inputs, &[output], &format!("{op}_{i}")));
    }
    pb::bytes(&mut graph, 2, format!("regrasp actor {policy}").as_bytes());
    let mut init = |name: &str, dims: &[usize], data: &[f32]| pb::bytes(&mut graph, 5, &pb::tensor(name, dims, data));
    init("obs_mean", &[obs_mean.len()], obs_mean);
    init("obs_std", &[obs_std.len()], obs_std);
    init("clip_low", &[], &[-clip]);
    init("clip_high", &[], &[clip]);
    for (name, l) in ["actor_in", "actor_hidden", "actor_out"].iter().zip(actor) {
        // ONNX MatMul computes x · W with W as [in, out]: regrasp's own layout.
        init(&format!("{name}.weight"), &[l.d_in, l.d_out], &l.w);
        init(&format!("{name}.bias"), &[l.d_out], &l.b);
    }
    init("action_scale", &[scale.len()], scale);
    pb::bytes(&mut graph, 11, &pb::value_info("observation", actor[0].d_in));
    pb::bytes(&mut graph, 12, &pb::value_info("action", actor[2].d_out));
    pb::bytes(&mut graph, 12, &pb::value_info("action_normalized", actor[2].d_out));

    let mut model = Vec::new();
    pb::int(&mut model, 1, ONNX_IR_VERSION);
    pb::bytes(&mut model, 2, b"regrasp");
    pb::bytes(&mut model, 3, env!("CARGO_PKG_VERSION").as_bytes());
    pb::bytes(
        &mut model,
        6,
        format!("regrasp policy {policy} for the {arm} arm: observation -> action (see policy.json)").as_bytes(),
    );
    pb::bytes(&mut model, 7, &graph);
    let mut opset = Vec::new();
    pb::bytes(&mut opset, 1, b"");
    pb::int(&mut opset, 2, ONNX_OPSET);
    pb::bytes(&mut model, 8, &opset);
    for (k, v) in [("policy", policy), ("arm", arm)] {
        let mut e = Vec::new();
        pb::bytes(&mut e, 1, k.as_bytes());
        pb::bytes(&mut e, 2, v.as_bytes());
        pb::bytes(&mut model, 14, &e);
    }
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_encode_as_protobuf_does() {
        let enc = |v: u64| {
            let mut o = Vec::new();
            pb::varint(&mut o, v);
            o
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(1), [1]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
    }

    #[test]
    fn safetensors_header_offsets_cover_the_data_in_order() {
        let t =
            vec![("a".to_string(), vec![2, 3], (0..6).map(|v| v as f32).collect()), ("b".into(), vec![1], vec![7.0])];
        let bytes = safetensors(&t, &[("format", "pt".into())]);
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert!(n.is_multiple_of(8));
        let h: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        assert_eq!(h["a"]["data_offsets"], serde_json::json!([0, 24]));
        assert_eq!(h["b"]["data_offsets"], serde_json::json!([24, 28]));
        assert_eq!(h["a"]["shape"], serde_json::json!([2, 3]));
        assert_eq!(h["__metadata__"]["format"], "pt");
        let data = &bytes[8 + n..];
        assert_eq!(data.len(), 28);
        assert_eq!(f32::from_le_bytes(data[24..28].try_into().unwrap()), 7.0);
    }

    #[test]
    fn transposing_puts_output_rows_first() {
        let l = Dense { d_in: 2, d_out: 3, w: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], b: vec![0.0; 3] };
        assert_eq!(transposed(&l), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
