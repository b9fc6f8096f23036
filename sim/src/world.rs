//! The physics world of one episode: table, arm (a rapier multibody built from the URDF, root
//! fixed, joints driven by force-limited PD motors) and one object. Built fresh at every reset,
//! so no state leaks between episodes.
//!
//! Deliberate choices for speed without weakening the grasp: reduced-coordinate multibody
//! joints (exact, no drift, no joint constraints to iterate); collision groups so that arm
//! links never test against each other or the base against the table; `length_unit` = 0.1 m so
//! rapier's tolerances suit centimetre objects; the object may sleep when untouched while the
//! arm (always driven) may not.

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion, Vector3};
use rapier3d::prelude::*;

use crate::contacts::ExactCapsuleContacts;
use rapier3d_urdf::UrdfMultibodyOptions;

use crate::arm::{ArmModel, JointSpec};
use crate::config::EnvConfig;
use crate::gripper::MAX_GRIPPER_JOINTS;
use crate::hash::Fnv64;
use crate::scenario::{Scenario, Shape};

/// Collider `user_data` tags.
pub mod tag {
    /// An arm collider other than a pad.
    pub const ARM: u128 = 1;
    /// The first pad: the left finger, or the fixed jaw.
    pub const FINGER_LEFT: u128 = 2;
    /// The second pad: the right finger, or the moving jaw.
    pub const FINGER_RIGHT: u128 = 3;
    /// The object.
    pub const OBJECT: u128 = 4;
    /// The table.
    pub const TABLE: u128 = 5;
    /// The arm's root link (base).
    pub const BASE: u128 = 6;
}

const G_TABLE: Group = Group::GROUP_1;
const G_ARM: Group = Group::GROUP_2;
const G_FINGER: Group = Group::GROUP_3;
const G_OBJECT: Group = Group::GROUP_4;

/// Friction of the table top.
pub const TABLE_FRICTION: f32 = 0.8;
/// Friction of the arm links' shells.
pub const ARM_FRICTION: f32 = 0.5;
/// Half extents (m) of the table slab; its top is the plane z = 0.
pub const TABLE_HALF_EXTENTS: [f32; 3] = [0.45, 0.55, 0.02];
/// Centre (m) of the table slab.
pub const TABLE_CENTER: [f32; 3] = [0.15, 0.0, -0.02];
/// The largest impulse [`SimWorld::push_object`] applies (N·s).
pub const MAX_PUSH_IMPULSE: f64 = 1.0;
/// Where an object taken off the table is kept (m, world): 10 m below the table top, out of
/// reach of every other collider ([`SimWorld::take_object_away`]).
pub const OBJECT_AWAY: [f32; 3] = [0.0, 0.0, -10.0];

fn groups(member: Group, filter: Group) -> InteractionGroups {
    InteractionGroups::new(member, filter, InteractionTestMode::And)
}

/// One actuated joint inside the multibody.
#[derive(Clone, Copy, Debug)]
struct JointSlot {
    handle: MultibodyJointHandle,
    axis: JointAxis,
    /// Index of the coordinate in the joint's spatial coordinates (0 = LinX, 3 = AngX).
    coord: usize,
}

/// A motor command for one joint.
#[derive(Clone, Copy, Debug)]
pub struct MotorCommand {
    /// Target position (rad or m).
    pub position: f64,
    /// Feed-forward target velocity (rad/s or m/s).
    pub velocity: f64,
}

/// Glam ↔ nalgebra conversions at the engine boundary.
pub fn to_iso(p: &Pose) -> Isometry3<f64> {
    let q = p.rotation;
    Isometry3::from_parts(
        Translation3::new(p.translation.x as f64, p.translation.y as f64, p.translation.z as f64),
        UnitQuaternion::new_normalize(Quaternion::new(q.w as f64, q.x as f64, q.y as f64, q.z as f64)),
    )
}

/// nalgebra → glam pose.
pub fn to_pose(iso: &Isometry3<f64>) -> Pose {
    let t = iso.translation.vector;
    let q = iso.rotation.into_inner();
    Pose::from_parts(
        Vector::new(t.x as f32, t.y as f32, t.z as f32),
        Rotation::from_xyzw(q.i as f32, q.j as f32, q.k as f32, q.w as f32).normalize(),
    )
}

/// The rotation of an object resting in its scenario pose, and its body-frame up axis.
///
/// Rapier's cylinders and capsules have their axis along local Y: standing ones are turned so
/// that Y points up, lying ones so that Y is horizontal along the yaw direction.
pub fn object_rest_rotation(scenario: &Scenario) -> (UnitQuaternion<f64>, Vector3<f64>) {
    let yaw = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), scenario.object.pose.yaw);
    match scenario.object.shape {
        Shape::Box { .. } | Shape::Sphere { .. } => (yaw, Vector3::z()),
        Shape::Cylinder { .. } | Shape::Capsule { .. } => {
            if scenario.object.pose.lying {
                let r = yaw * UnitQuaternion::from_axis_angle(&Vector3::z_axis(), -std::f64::consts::FRAC_PI_2);
                (r, Vector3::x()) // lying: no stable upright; axis reported is arbitrary
            } else {
                (yaw * UnitQuaternion::from_axis_angle(&Vector3::x_axis(), std::f64::consts::FRAC_PI_2), Vector3::y())
            }
        }
    }
}

/// Sides of the prism that stands in for a cylinder. Rapier's exact cylinder, lying on its
/// side, rolls away by itself from rest (up to 9 cm in 2 s, a contact-generation artefact);
/// a 32-sided prism inscribed in the cylinder rests on a face and rolls only when pushed.
pub const CYLINDER_SEGMENTS: usize = 32;

fn cylinder_prism(radius: f32, half_height: f32) -> ColliderBuilder {
    let mut points = Vec::with_capacity(2 * CYLINDER_SEGMENTS);
    for i in 0..CYLINDER_SEGMENTS {
        let a = (i as f32 + 0.5) * std::f32::consts::TAU / CYLINDER_SEGMENTS as f32;
        for y in [-half_height, half_height] {
            points.push(Vector::new(radius * a.cos(), y, radius * a.sin()));
        }
    }
    // The hull of a non-degenerate prism always exists; fall back to the exact cylinder anyway.
    ColliderBuilder::convex_hull(&points).unwrap_or_else(|| ColliderBuilder::cylinder(half_height, radius))
}

fn object_collider(shape: &Shape) -> ColliderBuilder {
    match *shape {
        Shape::Box { size } => {
            ColliderBuilder::cuboid(size[0] as f32 / 2.0, size[1] as f32 / 2.0, size[2] as f32 / 2.0)
        }
        Shape::Cylinder { radius, height } => cylinder_prism(radius as f32, height as f32 / 2.0),
        Shape::Sphere { radius } => ColliderBuilder::ball(radius as f32),
        Shape::Capsule { radius, length } => {
            ColliderBuilder::capsule_y(((length - 2.0 * radius) / 2.0).max(0.0) as f32, radius as f32)
        }
    }
}

/// Per-physics-step contact readings.
#[derive(Clone, Copy, Debug, Default)]
pub struct ContactReadings {
    /// The first and second pad (left and right finger, or fixed and moving jaw) touch the object.
    pub finger_contact: [bool; 2],
    /// Total normal force (N) between the arm (pads included) and the table.
    pub table_force: f64,
    /// Total normal force (N) between the pads and the object.
    pub grip_force: f64,
}

/// The physics of one episode.
pub struct SimWorld {
    /// The rapier world; all fields public for logging and inspection.
    pub physics: PhysicsWorld,
    arm: Vec<JointSlot>,
    gripper: Vec<JointSlot>,
    /// The object's body.
    pub object: RigidBodyHandle,
    /// The object's collider.
    pub object_collider: ColliderHandle,
    /// The table's collider.
    pub table_collider: ColliderHandle,
    /// Colliders of the first and second pad.
    pub finger_colliders: [Vec<ColliderHandle>; 2],
    /// The arm's link bodies, in `ArmModel::urdf_robot.links` order.
    pub link_bodies: Vec<RigidBodyHandle>,
    /// The object's body-frame up axis (for tilt).
    pub object_up_local: Vector3<f64>,
}

impl SimWorld {
    /// Builds the world for `scenario` with the arm at joint positions `q_arm` (rad or m) and
    /// the gripper fully open.
    pub fn build(arm: &ArmModel, cfg: &EnvConfig, scenario: &Scenario, q_arm: &[f64]) -> SimWorld {
        let mut physics = PhysicsWorld::new();
        if cfg.contact.exact_capsule_normals {
            physics.narrow_phase = ExactCapsuleContacts::narrow_phase();
        }
        physics.gravity = Vector::new(0.0, 0.0, -9.81);
        let ip = &mut physics.integration_parameters;
        ip.dt = cfg.physics_dt() as f32;
        ip.num_solver_iterations = cfg.solver_iterations;
        ip.length_unit = 0.1;
        let (f, z) = (cfg.contact.natural_frequency as f32, cfg.contact.damping_ratio as f32);
        ip.contact_softness = SpringCoefficients::new(f, z);
        ip.static_contact_softness = SpringCoefficients::new(2.0 * f, z);

        // Table.
        let table_body = physics.insert_body(RigidBodyBuilder::fixed().translation(Vector::new(
            TABLE_CENTER[0],
            TABLE_CENTER[1],
            TABLE_CENTER[2],
        )));
        let table_collider = physics.insert_collider(
            ColliderBuilder::cuboid(TABLE_HALF_EXTENTS[0], TABLE_HALF_EXTENTS[1], TABLE_HALF_EXTENTS[2])
                .friction(TABLE_FRICTION)
                .friction_combine_rule(CoefficientCombineRule::Multiply)
                .collision_groups(groups(G_TABLE, G_ARM | G_FINGER | G_OBJECT))
                .user_data(tag::TABLE),
            Some(table_body),
        );

        // Arm.
        let mut robot = arm.urdf_robot.clone();
        let pads = &arm.gripper.pads;
        let root_links: Vec<usize> =
            (0..robot.links.len()).filter(|i| !robot.joints.iter().any(|j| j.link2 == *i)).collect();
        for (li, link) in robot.links.iter_mut().enumerate() {
            for (ci, c) in link.colliders.iter_mut().enumerate() {
                let (t, g) = if let Some(p) = pads.iter().position(|p| p.contains(li, ci)) {
                    let t = if p == 0 { tag::FINGER_LEFT } else { tag::FINGER_RIGHT };
                    (t, groups(G_FINGER, G_TABLE | G_OBJECT))
                } else if root_links.contains(&li) {
                    (tag::BASE, groups(G_ARM, G_OBJECT))
                } else {
                    (tag::ARM, groups(G_ARM, G_TABLE | G_OBJECT))
                };
                let friction = if t == tag::FINGER_LEFT || t == tag::FINGER_RIGHT {
                    arm.profile.finger_friction as f32
                } else {
                    ARM_FRICTION
                };
                c.collider.set_collision_groups(g);
                c.collider.set_friction(friction);
                c.collider.set_friction_combine_rule(CoefficientCombineRule::Multiply);
                c.collider.user_data = t;
            }
        }
        let handles = robot.insert_using_multibody_joints(
            &mut physics.bodies,
            &mut physics.colliders,
            &mut physics.multibody_joints,
            UrdfMultibodyOptions::DISABLE_SELF_CONTACTS,
        );
        let link_bodies: Vec<RigidBodyHandle> = handles.links.iter().map(|l| l.body).collect();
        let slot = |urdf_slot: usize, spec: &JointSpec| -> JointSlot {
            let handle = handles.joints[urdf_slot].joint.expect("validated: every actuated joint is a multibody joint");
            let (axis, coord) = if spec.prismatic { (JointAxis::LinX, 0) } else { (JointAxis::AngX, 3) };
            JointSlot { handle, axis, coord }
        };
        let arm_slots: Vec<JointSlot> =
            arm.arm_joint_slots.iter().zip(&arm.arm_joints).map(|(&s, spec)| slot(s, spec)).collect();
        let gripper_slots: Vec<JointSlot> =
            arm.gripper.joint_slots.iter().zip(&arm.gripper.joints).map(|(&s, spec)| slot(s, spec)).collect();
        let pad_colliders = |p: usize| -> Vec<ColliderHandle> {
            let pad = pads[p];
            handles.links[pad.link_slot]
                .colliders
                .iter()
                .enumerate()
                .filter(|(ci, _)| pad.contains(pad.link_slot, *ci))
                .map(|(_, c)| c.handle)
                .collect()
        };
        let finger_colliders = [pad_colliders(0), pad_colliders(1)];

        // Start configuration, damping and motor models.
        {
            let link_of = |s: &JointSlot| physics.multibody_joints.get(s.handle).map(|(_, l)| l).unwrap_or(0);
            let gripper_open = vec![arm.gripper.open; arm.gripper.joint_count()];
            let mut plan = Vec::new(); // (link id, axis, start position, damping)
            let damping_scale = scenario.physics.joint_damping_scale;
            for (slots, specs, q) in
                [(&arm_slots, &arm.arm_joints, q_arm), (&gripper_slots, &arm.gripper.joints, &gripper_open[..])]
            {
                for ((s, spec), qi) in slots.iter().zip(specs.iter()).zip(q) {
                    plan.push((link_of(s), s.axis, *qi, spec.damping * damping_scale));
                }
            }
            let (mb, _) = physics.multibody_joints.get_mut(arm_slots[0].handle).expect("arm multibody exists");
            // Settle the root type (fixed) so that the degree-of-freedom layout is final.
            mb.forward_kinematics(&physics.bodies, true);
            let mut disp = vec![0.0f32; mb.ndofs()];
            for (link_id, axis, q, damping) in plan {
                let dof = mb.link(link_id).map(|l| l.assembly_id()).unwrap_or(0);
                disp[dof] = q as f32;
                mb.damping_mut()[dof] = damping as f32;
                mb.armature_mut()[dof] = arm.profile.armature as f32;
                if let Some(link) = mb.link_mut(link_id) {
                    link.joint.data.set_motor_model(axis, MotorModel::ForceBased);
                }
            }
            mb.apply_displacements(&disp);
            mb.forward_kinematics(&physics.bodies, false);
            mb.update_rigid_bodies(&mut physics.bodies, true);
        }

        // Object.
        let (rot, up) = object_rest_rotation(scenario);
        let p = &scenario.object.pose;
        let iso = Isometry3::from_parts(Translation3::new(p.x, p.y, scenario.rest_height() + 5e-4), rot);
        let object = physics.insert_body(RigidBodyBuilder::dynamic().pose(to_pose(&iso)));
        let object_collider = physics.insert_collider(
            object_collider(&scenario.object.shape)
                .mass(scenario.object.mass as f32)
                .friction((scenario.object.friction * scenario.physics.friction_scale) as f32)
                .friction_combine_rule(CoefficientCombineRule::Multiply)
                .collision_groups(groups(G_OBJECT, G_TABLE | G_ARM | G_FINGER | G_OBJECT))
                .user_data(tag::OBJECT),
            Some(object),
        );

        SimWorld {
            physics,
            arm: arm_slots,
            gripper: gripper_slots,
            object,
            object_collider,
            table_collider,
            finger_colliders,
            link_bodies,
            object_up_local: up,
        }
    }

    fn joint_reading(&self, s: &JointSlot) -> (f64, f64) {
        match self.physics.multibody_joints.get(s.handle) {
            Some((mb, link_id)) => match mb.link(link_id) {
                Some(link) => {
                    let q = link.joint().coords()[s.coord] as f64;
                    let v = mb.joint_velocity(link);
                    (q, if v.is_empty() { 0.0 } else { v[0] as f64 })
                }
                None => (f64::NAN, f64::NAN),
            },
            None => (f64::NAN, f64::NAN),
        }
    }

    /// Arm joint positions (rad or m).
    pub fn arm_positions(&self) -> Vec<f64> {
        self.arm.iter().map(|s| self.joint_reading(s).0).collect()
    }

    /// Arm joint velocities (rad/s or m/s).
    pub fn arm_velocities(&self) -> Vec<f64> {
        self.arm.iter().map(|s| self.joint_reading(s).1).collect()
    }

    /// Gripper joint positions (m from the centre line for each parallel finger, rad for a
    /// rotating jaw), in profile order; entries past the gripper's joint count are 0. A fixed
    /// array: it is read several times per control step.
    pub fn gripper_positions(&self) -> [f64; MAX_GRIPPER_JOINTS] {
        let mut p = [0.0; MAX_GRIPPER_JOINTS];
        for (v, s) in p.iter_mut().zip(&self.gripper) {
            *v = self.joint_reading(s).0;
        }
        p
    }

    /// Sets the motor targets of the arm joints, with efforts from `arm`'s limits.
    pub fn command_arm(&mut self, arm: &ArmModel, cfg: &EnvConfig, cmds: &[MotorCommand]) {
        for ((s, spec), c) in self.arm.iter().zip(&arm.arm_joints).zip(cmds) {
            let k = spec.effort / cfg.motors.arm_saturation_error;
            let d = k * cfg.motors.arm_damping_time;
            set_motor(&mut self.physics.multibody_joints, s, c, k, d, spec.effort);
        }
    }

    /// Drives every gripper joint to the jaw command `c`, with the gripper's gains; their
    /// effort is the URDF limit × `force_scale`.
    pub fn command_gripper(&mut self, arm: &ArmModel, cfg: &EnvConfig, c: &MotorCommand, force_scale: f64) {
        let (k, d) = arm.gripper.motor_gains(&cfg.motors);
        for (s, spec) in self.gripper.iter().zip(&arm.gripper.joints) {
            set_motor(&mut self.physics.multibody_joints, s, c, k, d, spec.effort * force_scale);
        }
    }

    /// Switches every arm and finger motor off (a disarmed arm): no stiffness, no force.
    pub fn relax_motors(&mut self) {
        let off = MotorCommand { position: 0.0, velocity: 0.0 };
        for s in self.arm.iter().chain(self.gripper.iter()) {
            set_motor(&mut self.physics.multibody_joints, s, &off, 0.0, 0.0, 0.0);
        }
    }

    /// Advances the physics by one step.
    pub fn step(&mut self) {
        self.physics.step();
    }

    /// Contacts after the last physics step.
    pub fn contacts(&self) -> ContactReadings {
        let dt = self.physics.integration_parameters.dt as f64;
        let np = &self.physics.narrow_phase;
        let mut r = ContactReadings::default();
        for (i, fingers) in self.finger_colliders.iter().enumerate() {
            for &f in fingers {
                if let Some(pair) = np.contact_pair(f, self.object_collider)
                    && pair.has_any_active_contact()
                {
                    r.finger_contact[i] = true;
                    r.grip_force += pair.total_impulse_magnitude() as f64 / dt;
                }
            }
        }
        for pair in np.contact_pairs_with(self.table_collider) {
            let other = if pair.collider1 == self.table_collider { pair.collider2 } else { pair.collider1 };
            let Some(c) = self.physics.colliders.get(other) else { continue };
            if matches!(c.user_data, tag::ARM | tag::FINGER_LEFT | tag::FINGER_RIGHT) && pair.has_any_active_contact() {
                r.table_force += pair.total_impulse_magnitude() as f64 / dt;
            }
        }
        r
    }

    /// Contact points the solver is working with now, over every pair (a benchmark figure).
    pub fn active_contact_points(&self) -> usize {
        let np = &self.physics.narrow_phase;
        np.contact_pairs().flat_map(|p| p.manifolds()).map(|m| m.data.solver_contacts.len()).sum()
    }

    /// The object's pose (m, world).
    pub fn object_pose(&self) -> Isometry3<f64> {
        self.physics.bodies.get(self.object).map(|b| to_iso(b.position())).unwrap_or_else(|| {
            Isometry3::from_parts(Translation3::new(f64::NAN, f64::NAN, f64::NAN), UnitQuaternion::identity())
        })
    }

    /// Applies an impulse (N·s, world) at the object's centre of mass: an external poke that
    /// the physics then resolves through contacts and friction like any other force. Rejects
    /// non-finite impulses and impulses above 1 N·s (a poke, not a throw).
    pub fn push_object(&mut self, impulse: Vector3<f64>) -> Result<(), crate::error::SimError> {
        if !impulse.iter().all(|v| v.is_finite()) || impulse.norm() > MAX_PUSH_IMPULSE {
            return Err(crate::error::SimError::invalid(
                "push",
                "impulse",
                format!(
                    "[{}, {}, {}] N·s must be finite and at most {MAX_PUSH_IMPULSE} N·s",
                    impulse.x, impulse.y, impulse.z
                ),
            ));
        }
        if let Some(b) = self.physics.bodies.get_mut(self.object) {
            b.apply_impulse(Vector::new(impulse.x as Real, impulse.y as Real, impulse.z as Real), true);
        }
        Ok(())
    }

    /// The operator takes the object away once its trial is over (off the table, or out of the
    /// gripper): its body is fixed at [`OBJECT_AWAY`], where nothing touches it, until the next
    /// reset builds a new world. Not a grasp outcome: nothing is judged after it.
    pub fn take_object_away(&mut self) {
        if let Some(b) = self.physics.bodies.get_mut(self.object) {
            b.set_body_type(RigidBodyType::Fixed, false);
            b.set_translation(Vector::new(OBJECT_AWAY[0], OBJECT_AWAY[1], OBJECT_AWAY[2]), false);
        }
    }

    /// The object's linear velocity (m/s).
    pub fn object_velocity(&self) -> Vector3<f64> {
        self.physics
            .bodies
            .get(self.object)
            .map(|b| {
                let v = b.linvel();
                Vector3::new(v.x as f64, v.y as f64, v.z as f64)
            })
            .unwrap_or_else(|| Vector3::repeat(f64::NAN))
    }

    /// Whether every body's state is finite and nothing was quarantined by the last step.
    pub fn is_finite(&self) -> bool {
        self.physics.quarantine().is_empty()
            && self.physics.bodies.iter().all(|(_, b)| {
                b.is_enabled()
                    && b.position().translation.is_finite()
                    && b.position().rotation.is_finite()
                    && b.linvel().is_finite()
                    && b.angvel().is_finite()
            })
    }

    /// Hash of the complete dynamic state: every body's pose and velocity and the multibody's
    /// generalised coordinates and velocities, bit for bit.
    pub fn state_hash(&self) -> u64 {
        let mut h = Fnv64::new();
        for (_, b) in self.physics.bodies.iter() {
            let p = b.position();
            for v in [p.translation.x, p.translation.y, p.translation.z] {
                h.write_f32(v);
            }
            for v in [p.rotation.x, p.rotation.y, p.rotation.z, p.rotation.w] {
                h.write_f32(v);
            }
            let (lv, av) = (b.linvel(), b.angvel());
            for v in [lv.x, lv.y, lv.z, av.x, av.y, av.z] {
                h.write_f32(v);
            }
        }
        for mb in self.physics.multibody_joints.multibodies() {
            for link in mb.links() {
                for c in link.joint().coords().iter() {
                    h.write_f32(*c);
                }
            }
            for v in mb.generalized_velocity().iter() {
                h.write_f32(*v);
            }
        }
        h.finish()
    }
}

fn set_motor(set: &mut MultibodyJointSet, s: &JointSlot, c: &MotorCommand, k: f64, d: f64, max_force: f64) {
    if let Some((mb, link_id)) = set.get_mut(s.handle)
        && let Some(link) = mb.link_mut(link_id)
    {
        link.joint.data.set_motor(s.axis, c.position as f32, c.velocity as f32, k as f32, d as f32);
        link.joint.data.set_motor_max_force(s.axis, max_force as f32);
    }
}
