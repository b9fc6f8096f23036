//! The vendored rapier patch's exact changes where they could go wrong (ARCHITECTURE.md, "The
//! rapier patch"): change 6 skips a physics step's first forward kinematics only while nothing
//! it reads has changed since the previous step's last substep.

use rapier3d::prelude::MultibodyLinkId;
use regrasp_sim::scenario::ScenarioDistribution;
use regrasp_sim::world::SimWorld;
use regrasp_sim::{EnvConfig, NamedArm};

/// What the user does to the arm between two physics steps, through rapier's public API.
#[derive(Clone, Copy, Debug)]
enum Change {
    Nothing,
    /// Every degree of freedom moved by 0.03 (rad or m), `apply_displacements`.
    Joints,
    /// The last degree of freedom alone (a finger: prismatic on regrasp-arm5, so only its
    /// coordinate changes, not its joint's rotation) moved by 0.005 (rad or m).
    LastJoint,
    /// The fixed root body moved by 1 cm along x, `set_position`.
    Root,
}

/// The state hash after 12 physics steps, `change`, and 12 more; with `forward_kinematics`, the
/// user also runs the multibody's forward kinematics right after the change (reading the root's
/// pose from its body), as rapier's step did at its start before change 6.
fn state_after(arm: NamedArm, change: Change, forward_kinematics: bool) -> u64 {
    let arm = arm.load().expect("shipped arm loads");
    let cfg = EnvConfig::default();
    let scenario = ScenarioDistribution::default().sample(3);
    let q = vec![0.0; arm.dof()];
    let mut world = SimWorld::build(&arm, &cfg, &scenario, &q);
    for _ in 0..12 {
        world.step();
    }
    let physics = &mut world.physics;
    let link: MultibodyLinkId = *physics.multibody_joints.rigid_body_link(world.link_bodies[1]).expect("an arm link");
    let multibody = physics.multibody_joints.get_multibody_mut(link.multibody).expect("the arm");
    match change {
        Change::Nothing => {}
        Change::Joints => multibody.apply_displacements(&vec![0.03; multibody.ndofs()]),
        Change::LastJoint => {
            let mut displacement = vec![0.0; multibody.ndofs()];
            *displacement.last_mut().expect("a degree of freedom") = 0.005;
            multibody.apply_displacements(&displacement);
        }
        Change::Root => {
            let root = multibody.link(0).expect("a root link").rigid_body_handle();
            let body = physics.bodies.get_mut(root).expect("the root body");
            let mut pose = *body.position();
            pose.translation.x += 0.01;
            body.set_position(pose, true);
        }
    }
    if forward_kinematics {
        multibody.forward_kinematics(&physics.bodies, true);
    }
    for _ in 0..12 {
        world.step();
    }
    world.state_hash()
}

#[test]
fn a_change_between_steps_is_seen_by_the_next_step_as_if_forward_kinematics_had_run() {
    for arm in NamedArm::ALL {
        let unchanged = state_after(arm, Change::Nothing, false);
        assert_eq!(
            unchanged,
            state_after(arm, Change::Nothing, true),
            "{arm:?}: an extra forward kinematics on unchanged inputs must change nothing"
        );
        for change in [Change::Joints, Change::LastJoint, Change::Root] {
            let skipped_or_not = state_after(arm, change, false);
            assert_ne!(skipped_or_not, unchanged, "{arm:?}, {change:?}: the change must matter");
            assert_eq!(
                skipped_or_not,
                state_after(arm, change, true),
                "{arm:?}, {change:?}: the step must recompute the forward kinematics the change made stale"
            );
        }
    }
}
