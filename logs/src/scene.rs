//! Logging the 3D scene: each body's collision mesh (once per episode, since the object changes
//! between episodes), its pose every control step, contact points and force arrows, and the
//! tool's target, IK result and measured position. An episode's steps are collected in a
//! [`SceneTrace`] and sent as one columnar chunk per entity, which is far smaller and faster
//! than one logged row per entity and step.

use nalgebra::{Isometry3, Vector3};
use regrasp_sim::scene::{BodyGeometry, BodyKind, ContactKind, ContactPoint, SceneGeometry, SceneState};
use rerun::RecordingStream;

use crate::paths;

/// Length of a force arrow (m per N).
pub const FORCE_ARROW_M_PER_N: f32 = 0.01;

/// The entity path of a body.
pub fn body_path(b: &BodyGeometry) -> String {
    match b.kind {
        BodyKind::Table => paths::TABLE.to_string(),
        BodyKind::Object => paths::OBJECT.to_string(),
        _ => format!("{}/{}", paths::ARM, b.name),
    }
}

fn colour(kind: BodyKind) -> [u8; 4] {
    match kind {
        BodyKind::Table => [150, 120, 90, 255],
        BodyKind::Base => [70, 70, 80, 255],
        BodyKind::Link => [200, 200, 210, 255],
        BodyKind::Finger => [60, 120, 200, 255],
        BodyKind::Object => [230, 140, 40, 255],
    }
}

fn contact_colour(kind: ContactKind) -> [u8; 4] {
    match kind {
        ContactKind::FingerObject => [40, 200, 80, 255],
        ContactKind::ArmObject => [240, 200, 30, 255],
        ContactKind::ArmTable => [230, 40, 40, 255],
        ContactKind::ObjectTable => [120, 120, 120, 255],
    }
}

/// Declares the world frame Z-up, right-handed, and the markers' look (static, once per
/// recording).
pub fn log_world_frame(rec: &RecordingStream) {
    let _ = rec.log_static(paths::WORLD, &rerun::ViewCoordinates::RIGHT_HAND_Z_UP());
    log_markers(rec);
    for (path, names) in [
        (paths::ACTION_TAKEN, &paths::ACTION_COMPONENTS),
        (paths::ACTION_MEAN, &paths::ACTION_COMPONENTS),
        (paths::ACTION_STD, &paths::ACTION_COMPONENTS),
    ] {
        let _ = rec.log_static(path, &rerun::SeriesLines::new().with_names(names.iter().copied()));
    }
}

/// Whether a body never moves (the table and the arm's root link).
fn is_fixed(kind: BodyKind) -> bool {
    matches!(kind, BodyKind::Table | BodyKind::Base)
}

/// Logs the meshes: with `fixed`, those of the table and the arm as static data (they never
/// change within a recording), and the poses of the bodies that never move; else the object's
/// mesh, at the current time (it changes every episode).
pub fn log_geometry(rec: &RecordingStream, geometry: &SceneGeometry, poses: &[Isometry3<f64>], fixed: bool) {
    for (b, pose) in geometry.bodies.iter().zip(poses).filter(|(b, _)| (b.kind != BodyKind::Object) == fixed) {
        let [r, g, bl, a] = colour(b.kind);
        let mesh = rerun::Mesh3D::new(b.mesh.vertices.iter().copied())
            .with_triangle_indices(b.mesh.triangles.iter().copied())
            .with_albedo_factor(rerun::Rgba32::from_unmultiplied_rgba(r, g, bl, a));
        if fixed {
            let _ = rec.log_static(body_path(b), &mesh);
            if is_fixed(b.kind) {
                let _ = rec.log_static(body_path(b), &transform(pose));
            }
        } else {
            let _ = rec.log(body_path(b), &mesh);
        }
    }
}

fn transform(p: &Isometry3<f64>) -> rerun::Transform3D {
    let q = p.rotation.into_inner();
    rerun::Transform3D::from_translation_rotation(
        point(&p.translation.vector),
        rerun::Quaternion::from_xyzw([q.i as f32, q.j as f32, q.k as f32, q.w as f32]),
    )
}

/// Sends `columns` of `path` as one chunk on the `frame` timeline at `frames` (plus the
/// constant `episode` ordinal).
pub(crate) fn send(
    rec: &RecordingStream,
    path: impl Into<rerun::EntityPath>,
    frames: &[i64],
    ordinal: i64,
    columns: rerun::SerializationResult<impl Iterator<Item = rerun::SerializedComponentColumn>>,
) {
    let Ok(columns) = columns else { return };
    let times = [
        rerun::TimeColumn::new_sequence("frame", frames.iter().copied()),
        rerun::TimeColumn::new_sequence("episode", std::iter::repeat_n(ordinal, frames.len())),
    ];
    let _ = rec.send_columns(path, times, columns);
}

fn point(v: &Vector3<f64>) -> [f32; 3] {
    [v.x as f32, v.y as f32, v.z as f32]
}

/// The scene of one episode, step by step (the state after reset, then after each action).
#[derive(Default)]
pub struct SceneTrace {
    /// Per body, per step: pose.
    poses: Vec<Vec<Isometry3<f64>>>,
    /// Per step: the contacts.
    contacts: Vec<Vec<ContactPoint>>,
    /// Per step: tool target, IK result, measured tool (m).
    tool: Vec<[Vector3<f64>; 3]>,
}

impl SceneTrace {
    /// Appends one step.
    pub fn push(&mut self, state: SceneState, tool: [Vector3<f64>; 3]) {
        if self.poses.is_empty() {
            self.poses = vec![Vec::new(); state.body_poses.len()];
        }
        for (column, pose) in self.poses.iter_mut().zip(state.body_poses) {
            column.push(pose);
        }
        self.contacts.push(state.contacts);
        self.tool.push(tool);
    }

    /// Body poses of the first step.
    pub fn first_poses(&self) -> Vec<Isometry3<f64>> {
        self.poses.iter().filter_map(|c| c.first().copied()).collect()
    }

    /// Steps recorded.
    pub fn len(&self) -> usize {
        self.tool.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.tool.is_empty()
    }

    /// Sends the whole trace, step k at `frames[k]`: one chunk per entity.
    pub fn send(&self, rec: &RecordingStream, geometry: &SceneGeometry, frames: &[i64], ordinal: i64) {
        for (b, poses) in geometry.bodies.iter().zip(&self.poses).filter(|(b, _)| !is_fixed(b.kind)) {
            let translations = poses.iter().map(|p| point(&p.translation.vector));
            let rotations = poses.iter().map(|p| {
                let q = p.rotation.into_inner();
                rerun::Quaternion::from_xyzw([q.i as f32, q.j as f32, q.k as f32, q.w as f32])
            });
            let t = rerun::Transform3D::update_fields()
                .with_many_translation(translations)
                .with_many_quaternion(rotations)
                .columns_of_unit_batches();
            send(rec, body_path(b), frames, ordinal, t);
        }
        let all = || self.contacts.iter().flatten();
        let lengths: Vec<usize> = self.contacts.iter().map(Vec::len).collect();
        let colours: Vec<rerun::Color> = all()
            .map(|c| {
                let [r, g, b, a] = contact_colour(c.kind);
                rerun::Color::from_unmultiplied_rgba(r, g, b, a)
            })
            .collect();
        let points: Vec<[f32; 3]> = all().map(|c| point(&c.point)).collect();
        let p =
            rerun::Points3D::new(points.iter().copied()).with_colors(colours.iter().copied()).columns(lengths.clone());
        send(rec, paths::CONTACTS, frames, ordinal, p);
        let vectors = all().map(|c| point(&(c.normal * c.force * FORCE_ARROW_M_PER_N as f64)));
        let a = rerun::Arrows3D::from_vectors(vectors).with_origins(points).with_colors(colours).columns(lengths);
        send(rec, paths::CONTACT_FORCES, frames, ordinal, a);
        for (i, path) in [paths::TOOL_TARGET, paths::TOOL_IK, paths::TOOL_MEASURED].into_iter().enumerate() {
            let pts = rerun::Points3D::new(self.tool.iter().map(|t| point(&t[i]))).columns_of_unit_batches();
            send(rec, path, frames, ordinal, pts);
        }
    }
}

/// The static look of the tool markers and contacts (radii, colours), logged once.
pub fn log_markers(rec: &RecordingStream) {
    let entries = [
        (paths::TOOL_TARGET, [255u8, 0, 255, 255]),
        (paths::TOOL_IK, [0, 200, 255, 255]),
        (paths::TOOL_MEASURED, [255, 255, 255, 255]),
    ];
    for (path, [r, g, b, a]) in entries {
        let _ = rec.log_static(
            path,
            &rerun::Points3D::update_fields()
                .with_radii([0.004f32])
                .with_colors([rerun::Color::from_unmultiplied_rgba(r, g, b, a)]),
        );
    }
    let _ = rec.log_static(paths::CONTACTS, &rerun::Points3D::update_fields().with_radii([0.002f32]));
}
