//! Capsule–box contacts with the right normal: a query dispatcher that computes the contact
//! manifold of a capsule and a cuboid from the rounded shapes, and leaves every other pair to
//! parry's default dispatcher.
//!
//! Parry's polygonal-feature-map contacts find a capsule–box normal by GJK between the
//! capsule's core segment and the box. With the segment parallel to a face, which is how a
//! lying capsule meets a flat jaw pad, that direction came out far from the face normal:
//! measured on the SO-101 (a lying capsule, seed 62 of its training distribution, both pads
//! closed on it), parry's manifold normals were 12° and 25° off the normals that
//! `parry::query::contact` gives for the same poses, one tilted 8° downwards where the exact
//! one tilts 5° upwards. The wrong normals pushed the capsule along its axis and down, and it
//! stayed on the table as the jaws lifted: the scripted grasp held 55 of 100 capsules, and 93
//! of 100 with [`ExactCapsuleContacts`] (spheres, boxes and cylinders unchanged).
//!
//! The env config chooses it (`contact.exact_capsule_normals`); the default keeps parry's own
//! contacts so that arm5's stored episodes replay bit for bit.

use rapier3d::geometry::{ContactData, ContactManifoldData};
use rapier3d::parry::math::{Pose, Real, Vector};
use rapier3d::parry::query::TrackedContact;
use rapier3d::parry::query::details::ShapeCastOptions;
use rapier3d::parry::query::details::{ContactManifoldsWorkspace, NormalConstraints};
use rapier3d::parry::query::{
    ClosestPoints, Contact, ContactManifold, DefaultQueryDispatcher, NonlinearRigidMotion, PersistentQueryDispatcher,
    QueryDispatcher, ShapeCastHit, ShapeDistance, ShapeIntersection, Unsupported,
};
use rapier3d::parry::shape::{PackedFeatureId, PolygonalFeature, Shape};
use rapier3d::prelude::NarrowPhase;

/// A dispatcher that computes capsule–cuboid contact manifolds itself and answers every other
/// query with `Unsupported`, so that the next dispatcher in the chain (parry's default) does it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExactCapsuleContacts;

impl ExactCapsuleContacts {
    /// A narrow phase that uses this dispatcher before parry's default one.
    pub fn narrow_phase() -> NarrowPhase {
        NarrowPhase::with_query_dispatcher(ExactCapsuleContacts.chain(DefaultQueryDispatcher))
    }
}

impl QueryDispatcher for ExactCapsuleContacts {
    fn intersection_test(&self, _: &Pose, _: &dyn Shape, _: &dyn Shape) -> Result<ShapeIntersection, Unsupported> {
        Err(Unsupported)
    }

    fn distance(&self, _: &Pose, _: &dyn Shape, _: &dyn Shape) -> Result<ShapeDistance, Unsupported> {
        Err(Unsupported)
    }

    fn contact(&self, _: &Pose, _: &dyn Shape, _: &dyn Shape, _: Real) -> Result<Option<Contact>, Unsupported> {
        Err(Unsupported)
    }

    fn closest_points(&self, _: &Pose, _: &dyn Shape, _: &dyn Shape, _: Real) -> Result<ClosestPoints, Unsupported> {
        Err(Unsupported)
    }

    fn cast_shapes(
        &self,
        _: &Pose,
        _: Vector,
        _: &dyn Shape,
        _: &dyn Shape,
        _: ShapeCastOptions,
    ) -> Result<Option<ShapeCastHit>, Unsupported> {
        Err(Unsupported)
    }

    fn cast_shapes_nonlinear(
        &self,
        _: &NonlinearRigidMotion,
        _: &dyn Shape,
        _: &NonlinearRigidMotion,
        _: &dyn Shape,
        _: Real,
        _: Real,
        _: bool,
    ) -> Result<Option<ShapeCastHit>, Unsupported> {
        Err(Unsupported)
    }
}

impl PersistentQueryDispatcher<ContactManifoldData, ContactData> for ExactCapsuleContacts {
    fn contact_manifolds(
        &self,
        pos12: &Pose,
        g1: &dyn Shape,
        g2: &dyn Shape,
        prediction: Real,
        manifolds: &mut Vec<ContactManifold<ContactManifoldData, ContactData>>,
        _: &mut Option<ContactManifoldsWorkspace>,
    ) -> Result<(), Unsupported> {
        if !is_capsule_box(g1, g2) {
            return Err(Unsupported);
        }
        if manifolds.is_empty() {
            manifolds.push(ContactManifold::new());
        }
        capsule_box_manifold(pos12, g1, g2, prediction, &mut manifolds[0]);
        Ok(())
    }

    fn contact_manifold_convex_convex(
        &self,
        pos12: &Pose,
        g1: &dyn Shape,
        g2: &dyn Shape,
        _: Option<&dyn NormalConstraints>,
        _: Option<&dyn NormalConstraints>,
        prediction: Real,
        manifold: &mut ContactManifold<ContactManifoldData, ContactData>,
    ) -> Result<(), Unsupported> {
        if !is_capsule_box(g1, g2) {
            return Err(Unsupported);
        }
        capsule_box_manifold(pos12, g1, g2, prediction, manifold);
        Ok(())
    }
}

/// Whether one shape is a capsule and the other a cuboid.
fn is_capsule_box(g1: &dyn Shape, g2: &dyn Shape) -> bool {
    (g1.as_capsule().is_some() && g2.as_cuboid().is_some()) || (g1.as_cuboid().is_some() && g2.as_capsule().is_some())
}

/// The contact manifold of a capsule and a cuboid (either order), with its normal from the
/// rounded shapes themselves.
///
/// Parry's polygonal-feature-map contacts find the normal by GJK between the capsule's core
/// segment and the box; with the segment parallel to a face (a lying capsule between flat jaw
/// pads) that direction came out up to 25° off the face normal (measured against
/// `parry::query::contact` on the same poses). Here the normal comes from the contact of the
/// full shapes (GJK, or EPA when they overlap, on the capsule's round support map); the
/// contact points are then clipped from the same features parry uses: the box's face or edge
/// towards the normal and the capsule's segment, moved out by the capsule's radius.
fn capsule_box_manifold(
    pos12: &Pose,
    g1: &dyn Shape,
    g2: &dyn Shape,
    prediction: Real,
    manifold: &mut ContactManifold<ContactManifoldData, ContactData>,
) {
    let (Some((pfm1, border1)), Some((pfm2, border2))) = (g1.as_polygonal_feature_map(), g2.as_polygonal_feature_map())
    else {
        manifold.clear();
        return;
    };
    let old_points = manifold.points.clone();
    manifold.clear();
    let Ok(Some(contact)) = DefaultQueryDispatcher.contact(pos12, g1, g2, prediction) else {
        return;
    };
    let local_n1 = contact.normal1;
    let local_n2 = contact.normal2;
    let mut feature1 = PolygonalFeature::default();
    let mut feature2 = PolygonalFeature::default();
    pfm1.local_support_feature(local_n1, &mut feature1);
    pfm2.local_support_feature(local_n2, &mut feature2);
    PolygonalFeature::contacts(pos12, &pos12.inverse(), local_n1, local_n2, &feature1, &feature2, manifold, false);
    for p in manifold.points.iter_mut() {
        p.local_p1 += local_n1 * border1;
        p.local_p2 += local_n2 * border2;
        p.dist -= border1 + border2;
    }
    manifold.points.retain(|p| p.dist <= prediction);
    if manifold.points.is_empty() {
        manifold.points.push(TrackedContact::new(
            contact.point1,
            contact.point2,
            PackedFeatureId::UNKNOWN,
            PackedFeatureId::UNKNOWN,
            contact.dist,
        ));
    }
    manifold.local_n1 = local_n1;
    manifold.local_n2 = local_n2;
    manifold.match_contacts(&old_points);
}
