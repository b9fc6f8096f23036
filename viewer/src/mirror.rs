//! The mirror: one [`SceneFrame`] resource holds what the simulation shows now (its geometry
//! and the latest body poses and contacts); ECS systems spawn one entity per simulated body
//! when the geometry changes and copy every pose into that entity's [`Transform`] each frame.
//! Contacts and contact forces are drawn as gizmos when their [`Overlays`] are on. None of
//! this needs a window, so it is tested headless.

use std::sync::Arc;

use bevy::prelude::*;
use regrasp_sim::scene::{BodyKind, ContactKind, SceneGeometry, SceneState};

use crate::convert;

/// What the simulation shows now. Whoever drives the viewer (live or episode mode) writes it.
#[derive(Resource, Clone, Debug)]
pub struct SceneFrame {
    /// Every body's name, kind and mesh, in `state.body_poses` order.
    pub geometry: Arc<SceneGeometry>,
    /// Bumped whenever `geometry` is replaced: the mirror respawns the bodies.
    pub geometry_version: u64,
    /// Body poses (m, world) and active contacts.
    pub state: SceneState,
}

impl SceneFrame {
    /// A frame showing `geometry` in `state`.
    pub fn new(geometry: Arc<SceneGeometry>, state: SceneState) -> Self {
        Self { geometry, geometry_version: 1, state }
    }

    /// Shows new geometry (a new scenario or episode) in `state`.
    pub fn replace(&mut self, geometry: Arc<SceneGeometry>, state: SceneState) {
        self.geometry = geometry;
        self.geometry_version += 1;
        self.state = state;
    }
}

/// Marks the entity that mirrors body `0` of [`SceneFrame::geometry`].
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyIndex(pub usize);

/// Which geometry version the spawned bodies show (0: none yet).
#[derive(Resource, Default, Debug)]
pub struct SpawnedVersion(pub u64);

/// Which overlays are drawn.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overlays {
    /// Contact points, coloured by which bodies touch.
    pub contacts: bool,
    /// Contact normal forces as arrows (length [`FORCE_ARROW_M_PER_N`] per N).
    pub forces: bool,
}

impl Default for Overlays {
    fn default() -> Self {
        Self { contacts: true, forces: false }
    }
}

/// Length of a force arrow per newton of normal force (m/N): 1 cm per N, as in the recordings.
pub const FORCE_ARROW_M_PER_N: f32 = 0.01;

/// Radius of a contact marker (m).
pub const CONTACT_MARK_RADIUS: f32 = 0.004;

/// The base colour of a body of each kind (sRGB). Arm links are orange so that a screenshot
/// check can find them.
pub fn body_color(kind: BodyKind) -> Color {
    match kind {
        BodyKind::Table => Color::srgb(0.46, 0.43, 0.39),
        BodyKind::Base => Color::srgb(0.22, 0.22, 0.25),
        BodyKind::Link => Color::srgb(0.95, 0.48, 0.12),
        BodyKind::Finger => Color::srgb(0.30, 0.30, 0.34),
        BodyKind::Object => Color::srgb(0.18, 0.52, 0.92),
    }
}

/// The colour of a contact of each kind.
pub fn contact_color(kind: ContactKind) -> Color {
    match kind {
        ContactKind::FingerObject => Color::srgb(0.2, 0.95, 0.3),
        ContactKind::ArmObject => Color::srgb(1.0, 0.85, 0.1),
        ContactKind::ArmTable => Color::srgb(1.0, 0.15, 0.15),
        ContactKind::ObjectTable => Color::srgb(0.6, 0.6, 0.95),
    }
}

/// One thing an overlay draws: a marker at `at` and, with forces on, an arrow to `arrow_end`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContactMark {
    /// Contact point (m, world).
    pub at: Vec3,
    /// Tip of the force arrow (m, world), if forces are drawn.
    pub arrow_end: Option<Vec3>,
    /// Which bodies touch.
    pub kind: ContactKind,
}

/// What the overlays draw for `state`: one mark per contact, arrows along the normal scaled by
/// the normal force. Non-finite contacts are skipped (they cannot be drawn).
pub fn contact_marks(state: &SceneState, overlays: Overlays) -> Vec<ContactMark> {
    if !overlays.contacts && !overlays.forces {
        return Vec::new();
    }
    state
        .contacts
        .iter()
        .filter(|c| c.point.iter().chain(c.normal.iter()).all(|v| v.is_finite()) && c.force.is_finite())
        .map(|c| {
            let at = convert::vec3(&c.point);
            let arrow_end =
                overlays.forces.then(|| at + convert::vec3(&c.normal) * (c.force as f32 * FORCE_ARROW_M_PER_N));
            ContactMark { at, arrow_end, kind: c.kind }
        })
        .collect()
}

/// Spawns, and keeps in step, one entity per simulated body.
pub struct MirrorPlugin;

impl Plugin for MirrorPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SpawnedVersion>()
            .init_resource::<Overlays>()
            .add_systems(PostUpdate, (spawn_bodies, mirror_poses).chain().before(TransformSystems::Propagate));
    }
}

/// Respawns the bodies when the frame's geometry changed.
pub fn spawn_bodies(
    mut commands: Commands,
    frame: Option<Res<SceneFrame>>,
    mut spawned: ResMut<SpawnedVersion>,
    bodies: Query<Entity, With<BodyIndex>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let Some(frame) = frame else { return };
    if spawned.0 == frame.geometry_version {
        return;
    }
    for e in &bodies {
        commands.entity(e).despawn();
    }
    for (i, body) in frame.geometry.bodies.iter().enumerate() {
        let pose = frame.state.body_poses.get(i).map(convert::transform).unwrap_or_default();
        let material = StandardMaterial {
            base_color: body_color(body.kind),
            perceptual_roughness: 0.7,
            metallic: if body.kind == BodyKind::Link { 0.1 } else { 0.0 },
            double_sided: true,
            cull_mode: None,
            ..default()
        };
        commands.spawn((
            Name::new(body.name.clone()),
            BodyIndex(i),
            Mesh3d(meshes.add(convert::mesh(&body.mesh))),
            MeshMaterial3d(materials.add(material)),
            pose,
        ));
    }
    spawned.0 = frame.geometry_version;
}

/// Copies every body's pose from the frame into its entity's transform.
pub fn mirror_poses(frame: Option<Res<SceneFrame>>, mut bodies: Query<(&BodyIndex, &mut Transform)>) {
    let Some(frame) = frame else { return };
    for (i, mut t) in &mut bodies {
        if let Some(pose) = frame.state.body_poses.get(i.0) {
            let next = convert::transform(pose);
            if next.is_finite() && *t != next {
                *t = next;
            }
        }
    }
}

/// Draws the contact overlays.
pub fn draw_contacts(frame: Option<Res<SceneFrame>>, overlays: Res<Overlays>, mut gizmos: Gizmos) {
    let Some(frame) = frame else { return };
    for m in contact_marks(&frame.state, *overlays) {
        let color = contact_color(m.kind);
        if overlays.contacts {
            gizmos.sphere(Isometry3d::from_translation(m.at), CONTACT_MARK_RADIUS, color);
        }
        if let Some(end) = m.arrow_end {
            gizmos.arrow(m.at, end, color);
        }
    }
}
