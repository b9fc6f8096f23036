//! Conversions from the simulation's plain data (nalgebra, f64, Z up) to bevy types (glam,
//! f32). The viewer keeps the simulation's frame: bevy's world is Z up, 1 unit = 1 m.

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use nalgebra::{Isometry3, Vector3};

/// A position (m) as a bevy vector.
pub fn vec3(v: &Vector3<f64>) -> Vec3 {
    Vec3::new(v.x as f32, v.y as f32, v.z as f32)
}

/// A pose (m, rad) as a bevy transform with unit scale.
pub fn transform(pose: &Isometry3<f64>) -> Transform {
    let q = pose.rotation.quaternion();
    Transform {
        translation: vec3(&pose.translation.vector),
        rotation: Quat::from_xyzw(q.i as f32, q.j as f32, q.k as f32, q.w as f32).normalize(),
        scale: Vec3::ONE,
    }
}

/// A body's collision mesh (m, body frame) as a flat-shaded bevy mesh: every triangle gets its
/// own vertices and face normal, so boxes and cylinders keep sharp edges.
pub fn mesh(m: &regrasp_sim::scene::Mesh) -> Mesh {
    let indices: Vec<u32> = m.triangles.iter().flat_map(|t| t.iter().copied()).collect();
    let mut mesh = Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::default())
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, m.vertices.clone())
        .with_inserted_indices(Indices::U32(indices));
    mesh.duplicate_vertices();
    mesh.compute_flat_normals();
    mesh
}
