//! The vendored rapier patch's exact changes where they could go wrong (ARCHITECTURE.md, "The
//! rapier patch"): change 6 skips a physics step's first forward kinematics only while nothing
//! it reads has changed since the previous step's last substep; change 9's `MultibodyLu` solves
//! bit for bit as nalgebra's `LU` does.

use rapier3d::na::{DMatrix, DVector, LU};
use rapier3d::prelude::{MultibodyLinkId, MultibodyLu};
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

/// A deterministic pseudo-random `n × n` matrix with entries in [-1, 1) (xorshift from `seed`).
fn test_matrix(n: usize, seed: u32) -> DMatrix<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    DMatrix::from_fn(n, n, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 20_000) as f32 / 10_000.0 - 1.0
    })
}

/// Solves `a·x = rhs` with `MultibodyLu` factorising the leading `dim × dim` block of `a`, and
/// with nalgebra's `LU` on a copy of that block: (ours, theirs), each with its success flag.
fn both_solves(a: &DMatrix<f32>, dim: usize, rhs: &DVector<f32>) -> ((bool, Vec<u32>), (bool, Vec<u32>)) {
    let mut ours = MultibodyLu::new();
    // A larger factorisation first: its buffers are reused, and must leave nothing behind.
    ours.factorize(&test_matrix(dim + 3, 99), dim + 3);
    ours.factorize(a, dim);
    assert_eq!(ours.dim(), dim);
    let mut x = rhs.clone();
    let ours_ok = ours.solve_mut(x.as_mut_slice());

    let mut y = rhs.clone();
    let theirs_ok = LU::new(a.view((0, 0), (dim, dim)).into_owned()).solve_mut(&mut y);
    let bits = |v: &DVector<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    ((ours_ok, bits(&x)), (theirs_ok, bits(&y)))
}

#[test]
fn the_multibody_lu_solves_bit_for_bit_as_nalgebra_lu() {
    // Orders 1–8 take the unrolled paths, 9–11 the general one; a 9 × 9 matrix's leading blocks
    // stand for a factorisation that leaves kinematic DoFs out.
    for n in 1..12 {
        for seed in 0..25 {
            let a = test_matrix(n, seed);
            let rhs = test_matrix(n, seed + 1000).column(0).into_owned();
            let (ours, theirs) = both_solves(&a, n, &rhs);
            assert!(ours.0, "order {n}, seed {seed}: a random matrix is regular");
            assert_eq!(ours, theirs, "order {n}, seed {seed}");
        }
    }
    let big = test_matrix(9, 7);
    for dim in 1..9 {
        let rhs = DVector::from_fn(dim, |i, _| i as f32 - 2.5);
        let (ours, theirs) = both_solves(&big, dim, &rhs);
        assert_eq!(ours, theirs, "leading {dim} × {dim} block");
    }
}

#[test]
fn the_multibody_lu_fails_on_a_singular_matrix_as_nalgebra_lu_does() {
    for n in [2, 5, 7, 10] {
        // A zero column: its pivot is zero, so `U` has a zero on its diagonal.
        let mut a = test_matrix(n, 11);
        a.column_mut(1).fill(0.0);
        let rhs = DVector::from_fn(n, |i, _| 1.0 + i as f32);
        let (ours, theirs) = both_solves(&a, n, &rhs);
        assert!(!ours.0, "order {n}: a singular matrix must not solve");
        assert_eq!(ours, theirs, "order {n}");
    }
    let mut empty = MultibodyLu::new();
    empty.factorize(&DMatrix::zeros(3, 3), 0);
    assert!(empty.solve_mut(&mut []));
}
