//! A rapier-free view of a [`SimWorld`] for recorders and viewers: every body's collision shapes
//! as one triangle mesh in the body's own frame (taken once per episode), and per step every
//! body's pose and every active contact with its force. Nothing outside `sim` needs rapier to
//! draw the world exactly as it is simulated.

use nalgebra::{Isometry3, Point3, Vector3};
use rapier3d::prelude::*;
use serde::{Deserialize, Serialize};

use crate::world::{SimWorld, tag, to_iso};

/// What a body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    /// The table (its top is the plane z = 0).
    Table,
    /// The arm's fixed root link.
    Base,
    /// An arm link other than the base and the fingers.
    Link,
    /// A finger.
    Finger,
    /// The object to grasp.
    Object,
}

/// A triangle mesh (vertices in m, in the body frame).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mesh {
    /// Vertex positions (m).
    pub vertices: Vec<[f32; 3]>,
    /// Triangles as vertex indices.
    pub triangles: Vec<[u32; 3]>,
}

/// One body's name, kind and collision geometry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BodyGeometry {
    /// `table`, `object`, or the URDF link name.
    pub name: String,
    /// What it is.
    pub kind: BodyKind,
    /// All its collision shapes, merged, in the body frame (m).
    pub mesh: Mesh,
}

/// The geometry of every body of a world, in [`SceneState::body_poses`] order: the table, the
/// arm's links in URDF order (links the loader removed are absent), the object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneGeometry {
    /// Bodies.
    pub bodies: Vec<BodyGeometry>,
}

/// Which two kinds of body touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// A finger on the object.
    FingerObject,
    /// An arm link (not a finger) on the object.
    ArmObject,
    /// The arm (fingers included) on the table.
    ArmTable,
    /// The object on the table.
    ObjectTable,
}

impl ContactKind {
    /// Snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            ContactKind::FingerObject => "finger_object",
            ContactKind::ArmObject => "arm_object",
            ContactKind::ArmTable => "arm_table",
            ContactKind::ObjectTable => "object_table",
        }
    }
}

/// One active contact point after a physics step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactPoint {
    /// The bodies touching.
    pub kind: ContactKind,
    /// Contact point (m, world).
    pub point: Vector3<f64>,
    /// Unit normal (world) pointing away from the table, or from the object for arm contacts.
    pub normal: Vector3<f64>,
    /// Normal force of the last step (N).
    pub force: f64,
}

/// The moving part of the scene after a physics step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneState {
    /// Body poses (m, world), in [`SceneGeometry::bodies`] order.
    pub body_poses: Vec<Isometry3<f64>>,
    /// Active contacts.
    pub contacts: Vec<ContactPoint>,
}

/// Subdivisions of round shapes when meshed (around, and pole to pole).
const ROUND_SUBDIV: (u32, u32) = (16, 8);

impl SimWorld {
    /// Bodies in scene order: table, links, object.
    fn scene_bodies(&self) -> Vec<RigidBodyHandle> {
        let mut v = Vec::with_capacity(self.link_bodies.len() + 2);
        if let Some(t) = self.physics.colliders.get(self.table_collider).and_then(|c| c.parent()) {
            v.push(t);
        }
        v.extend(self.link_bodies.iter().copied());
        v.push(self.object);
        v
    }

    /// The geometry of every body; `link_names` names the arm's links in `link_bodies` order.
    pub fn scene_geometry(&self, link_names: &[String]) -> SceneGeometry {
        let mut link_index = 0;
        let bodies = self
            .scene_bodies()
            .into_iter()
            .map(|h| {
                let mut mesh = Mesh::default();
                let mut kind = BodyKind::Link;
                if let Some(body) = self.physics.bodies.get(h) {
                    for ch in body.colliders() {
                        let Some(c) = self.physics.colliders.get(*ch) else { continue };
                        kind = match c.user_data {
                            tag::TABLE => BodyKind::Table,
                            tag::OBJECT => BodyKind::Object,
                            tag::BASE => BodyKind::Base,
                            tag::FINGER_LEFT | tag::FINGER_RIGHT => BodyKind::Finger,
                            _ => BodyKind::Link,
                        };
                        let rel = c.position_wrt_parent().copied().unwrap_or_default();
                        if let Some((vs, ts)) = shape_mesh(c.shape()) {
                            let base = mesh.vertices.len() as u32;
                            mesh.vertices.extend(vs.into_iter().map(|p| {
                                let w = rel.transform_point(p);
                                [w.x, w.y, w.z]
                            }));
                            mesh.triangles.extend(ts.into_iter().map(|t| [t[0] + base, t[1] + base, t[2] + base]));
                        }
                    }
                }
                let name = match kind {
                    BodyKind::Table => "table".to_string(),
                    BodyKind::Object => "object".to_string(),
                    _ => {
                        let n = link_names.get(link_index).cloned().unwrap_or_else(|| format!("link{link_index}"));
                        link_index += 1;
                        n
                    }
                };
                BodyGeometry { name, kind, mesh }
            })
            .collect();
        SceneGeometry { bodies }
    }

    /// Body poses and active contacts after the last physics step.
    pub fn scene_state(&self) -> SceneState {
        let body_poses = self
            .scene_bodies()
            .into_iter()
            .map(|h| self.physics.bodies.get(h).map(|b| to_iso(b.position())).unwrap_or_else(Isometry3::identity))
            .collect();
        let dt = self.physics.integration_parameters.dt as f64;
        let mut contacts = Vec::new();
        let tag_of = |h: ColliderHandle| self.physics.colliders.get(h).map(|c| c.user_data);
        for pair in self.physics.narrow_phase.contact_pairs() {
            let (Some(t1), Some(t2)) = (tag_of(pair.collider1), tag_of(pair.collider2)) else { continue };
            let is_arm = |t: u128| matches!(t, tag::ARM | tag::BASE | tag::FINGER_LEFT | tag::FINGER_RIGHT);
            let is_finger = |t: u128| matches!(t, tag::FINGER_LEFT | tag::FINGER_RIGHT);
            let classified = |a: u128, b: u128| -> Option<ContactKind> {
                match (a, b) {
                    (f, tag::OBJECT) if is_finger(f) => Some(ContactKind::FingerObject),
                    (l, tag::OBJECT) if is_arm(l) => Some(ContactKind::ArmObject),
                    (l, tag::TABLE) if is_arm(l) => Some(ContactKind::ArmTable),
                    (tag::OBJECT, tag::TABLE) => Some(ContactKind::ObjectTable),
                    _ => None,
                }
            };
            // Rapier's manifold normal points from collider 1 towards collider 2; we want it to
            // point from the second-named body (object or table) towards the first.
            let (kind, sign) = match (classified(t1, t2), classified(t2, t1)) {
                (Some(k), _) => (k, -1.0),
                (None, Some(k)) => (k, 1.0),
                (None, None) => continue,
            };
            let Some(c1) = self.physics.colliders.get(pair.collider1) else { continue };
            let pose1 = c1.position();
            for m in pair.manifolds() {
                let n = m.data.normal;
                let normal = Vector3::new(n.x as f64, n.y as f64, n.z as f64) * sign;
                for p in &m.points {
                    if p.data.impulse <= 0.0 {
                        continue;
                    }
                    let w = pose1.transform_point(p.local_p1);
                    contacts.push(ContactPoint {
                        kind,
                        point: Point3::new(w.x as f64, w.y as f64, w.z as f64).coords,
                        normal,
                        force: p.data.impulse as f64 / dt,
                    });
                }
            }
        }
        SceneState { body_poses, contacts }
    }
}

/// A shape's boundary as a triangle mesh in the collider frame (m); `None` for shapes the
/// world never builds (half-spaces, heightfields, voxels, compounds).
fn shape_mesh(shape: &dyn Shape) -> Option<(Vec<Vector>, Vec<[u32; 3]>)> {
    let (around, poles) = ROUND_SUBDIV;
    match shape.as_typed_shape() {
        TypedShape::Ball(b) => Some(b.to_trimesh(around, poles)),
        TypedShape::Cuboid(c) => Some(c.to_trimesh()),
        TypedShape::Capsule(c) => Some(c.to_trimesh(around, poles)),
        TypedShape::Cylinder(c) => Some(c.to_trimesh(around)),
        TypedShape::Cone(c) => Some(c.to_trimesh(around)),
        TypedShape::ConvexPolyhedron(p) => Some(p.to_trimesh()),
        TypedShape::RoundCuboid(c) => Some(c.inner_shape.to_trimesh()),
        TypedShape::RoundCylinder(c) => Some(c.inner_shape.to_trimesh(around)),
        TypedShape::RoundConvexPolyhedron(p) => Some(p.inner_shape.to_trimesh()),
        TypedShape::TriMesh(m) => Some((m.vertices().to_vec(), m.indices().to_vec())),
        _ => None,
    }
}
