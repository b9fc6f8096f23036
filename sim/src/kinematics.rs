//! Forward kinematics, the geometric Jacobian and damped-least-squares IK of a serial chain,
//! in nalgebra `f64`, built from the URDF joints between the base and the end-effector link.
//!
//! This is the arm's own kinematic model, independent of the physics engine: the env uses it to
//! turn end-effector displacements into joint targets, and `hardware` will use it for the
//! safety envelope. A test checks it against rapier's multibody link poses.

use nalgebra::{Dyn, Isometry3, Matrix6, OMatrix, Translation3, U6, Unit, UnitQuaternion, Vector3, Vector6};

/// How a chain joint moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JointKind {
    /// Rotates about its axis; position in rad.
    Revolute,
    /// Slides along its axis; position in m.
    Prismatic,
    /// Does not move (a fixed URDF joint on the path).
    Fixed,
}

/// One joint of the chain: its origin in the parent link frame and its axis in the joint frame.
#[derive(Clone, Debug)]
pub struct ChainJoint {
    /// URDF joint name.
    pub name: String,
    /// Pose of the joint frame in the parent link frame (URDF `<origin>`).
    pub origin: Isometry3<f64>,
    /// Unit axis in the joint frame (URDF `<axis>`).
    pub axis: Unit<Vector3<f64>>,
    /// Motion type.
    pub kind: JointKind,
    /// Index of this joint's position in the joint vector; `None` for fixed joints.
    pub index: Option<usize>,
}

/// A serial chain from the base frame to the tool frame.
#[derive(Clone, Debug)]
pub struct Chain {
    /// Pose of the chain's root link in the world.
    pub base: Isometry3<f64>,
    /// The joints from the root to the end-effector link, in order.
    pub joints: Vec<ChainJoint>,
    /// Tool frame in the end-effector link frame.
    pub tool: Isometry3<f64>,
    /// Lower position limits of the actuated joints (rad or m).
    pub lower: Vec<f64>,
    /// Upper position limits of the actuated joints (rad or m).
    pub upper: Vec<f64>,
}

/// Settings of the damped-least-squares solver.
#[derive(Clone, Copy, Debug)]
pub struct IkParams {
    /// Damping λ of `Jᵀ(JJᵀ + λ²I)⁻¹` (dimensionless, in the weighted task space).
    pub damping: f64,
    /// Weight of the rotation error rows (m per rad): 0.2 makes 1 rad count like 0.2 m.
    pub rotation_weight: f64,
    /// Largest joint change per iteration (rad or m).
    pub max_step: f64,
    /// Iteration budget.
    pub max_iterations: usize,
    /// Stop when the position error is below this (m) and the rotation error below 10× this (rad).
    pub tolerance: f64,
    /// Keep joints this far (rad or m) inside their limits.
    pub limit_margin: f64,
}

impl Default for IkParams {
    fn default() -> Self {
        Self {
            damping: 0.02,
            rotation_weight: 0.2,
            max_step: 0.25,
            max_iterations: 100,
            tolerance: 1e-4,
            limit_margin: 1e-3,
        }
    }
}

/// Result of an IK solve.
#[derive(Clone, Debug)]
pub struct IkSolution {
    /// Joint positions (rad or m), inside the limits.
    pub q: Vec<f64>,
    /// Remaining tool position error (m).
    pub position_error: f64,
    /// Remaining tool rotation error (rad).
    pub rotation_error: f64,
    /// Iterations used.
    pub iterations: usize,
    /// For each joint, whether the solver wanted to go past a limit at the last iteration.
    pub at_limit: Vec<bool>,
}

impl Chain {
    /// Number of actuated joints.
    pub fn dof(&self) -> usize {
        self.lower.len()
    }

    fn joint_motion(j: &ChainJoint, q: &[f64]) -> Isometry3<f64> {
        match (j.kind, j.index) {
            (JointKind::Revolute, Some(i)) => {
                Isometry3::from_parts(Translation3::identity(), UnitQuaternion::from_axis_angle(&j.axis, q[i]))
            }
            (JointKind::Prismatic, Some(i)) => {
                Isometry3::from_parts(Translation3::from(j.axis.into_inner() * q[i]), UnitQuaternion::identity())
            }
            _ => Isometry3::identity(),
        }
    }

    /// Pose of the end-effector link (not the tool) in the world for joint positions `q`.
    pub fn link_pose(&self, q: &[f64]) -> Isometry3<f64> {
        let mut t = self.base;
        for j in &self.joints {
            t = t * j.origin * Self::joint_motion(j, q);
        }
        t
    }

    /// Tool pose in the world for joint positions `q`.
    pub fn fk(&self, q: &[f64]) -> Isometry3<f64> {
        self.link_pose(q) * self.tool
    }

    /// Tool pose and the 6×n geometric Jacobian (rows: linear velocity in m/s, angular velocity
    /// in rad/s, world frame; columns: joint velocities).
    pub fn jacobian(&self, q: &[f64]) -> (Isometry3<f64>, OMatrix<f64, U6, Dyn>) {
        let n = self.dof();
        let mut axes = Vec::with_capacity(n);
        let mut t = self.base;
        for j in &self.joints {
            let frame = t * j.origin;
            if let Some(i) = j.index {
                let axis_world = frame.rotation * j.axis.into_inner();
                axes.push((i, j.kind, frame.translation.vector, axis_world));
            }
            t = frame * Self::joint_motion(j, q);
        }
        let tool = t * self.tool;
        let p = tool.translation.vector;
        let mut jac = OMatrix::<f64, U6, Dyn>::zeros(n);
        for (i, kind, origin, axis) in axes {
            match kind {
                JointKind::Revolute => {
                    let lin = axis.cross(&(p - origin));
                    jac.fixed_view_mut::<3, 1>(0, i).copy_from(&lin);
                    jac.fixed_view_mut::<3, 1>(3, i).copy_from(&axis);
                }
                JointKind::Prismatic => {
                    jac.fixed_view_mut::<3, 1>(0, i).copy_from(&axis);
                }
                JointKind::Fixed => {}
            }
        }
        (tool, jac)
    }

    /// Position error (m) and rotation error (rad, axis-angle) that take `current` to `target`.
    pub fn pose_error(current: &Isometry3<f64>, target: &Isometry3<f64>) -> Vector6<f64> {
        let dp = target.translation.vector - current.translation.vector;
        let dr = (target.rotation * current.rotation.inverse()).scaled_axis();
        Vector6::new(dp.x, dp.y, dp.z, dr.x, dr.y, dr.z)
    }

    /// Damped-least-squares IK from `q0` towards `target`; the result always respects the
    /// joint limits (shrunk by `limit_margin`).
    pub fn solve_ik(&self, target: &Isometry3<f64>, q0: &[f64], params: &IkParams) -> IkSolution {
        let n = self.dof();
        let mut q: Vec<f64> = q0.to_vec();
        self.clamp_to_limits(&mut q, params.limit_margin, None);
        let mut at_limit = vec![false; n];
        let w = Vector6::new(1.0, 1.0, 1.0, params.rotation_weight, params.rotation_weight, params.rotation_weight);
        let lambda2 = params.damping * params.damping;
        let mut iterations = 0;
        let (mut pos_err, mut rot_err);
        loop {
            let (tool, jac) = self.jacobian(&q);
            let e = Self::pose_error(&tool, target);
            pos_err = e.fixed_rows::<3>(0).norm();
            rot_err = e.fixed_rows::<3>(3).norm();
            if (pos_err < params.tolerance && rot_err < 10.0 * params.tolerance) || iterations >= params.max_iterations
            {
                break;
            }
            iterations += 1;
            let ew = e.component_mul(&w);
            let mut jw = jac.clone();
            for r in 0..6 {
                jw.row_mut(r).scale_mut(w[r]);
            }
            let jjt: Matrix6<f64> = &jw * jw.transpose() + Matrix6::identity() * lambda2;
            let Some(chol) = jjt.cholesky() else { break };
            let y = chol.solve(&ew);
            let mut dq = jw.transpose() * y;
            let biggest = dq.amax();
            if biggest > params.max_step {
                dq *= params.max_step / biggest;
            }
            for i in 0..n {
                q[i] += dq[i];
            }
            self.clamp_to_limits(&mut q, params.limit_margin, Some(&mut at_limit));
        }
        IkSolution { q, position_error: pos_err, rotation_error: rot_err, iterations, at_limit }
    }

    /// Clamps `q` into the limits shrunk by `margin`; records which joints were clamped.
    pub fn clamp_to_limits(&self, q: &mut [f64], margin: f64, mut clamped: Option<&mut Vec<bool>>) {
        for i in 0..q.len().min(self.dof()) {
            let lo = self.lower[i] + margin;
            let hi = self.upper[i] - margin;
            let c = q[i].clamp(lo, hi);
            if let Some(flags) = clamped.as_deref_mut() {
                flags[i] = c != q[i];
            }
            q[i] = c;
        }
    }
}

/// The tool orientation used for top-down grasps: tool +Z pointing along world −Z, rotated by
/// `yaw` (rad) about world +Z. At yaw 0 the fingers close along world ±Y.
pub fn top_down_rotation(yaw: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw)
        * UnitQuaternion::from_axis_angle(&Vector3::y_axis(), std::f64::consts::PI)
}

/// The yaw (rad) of a tool rotation about world +Z, taken from its X axis direction
/// (exact for top-down rotations, a projection otherwise).
pub fn tool_yaw(rotation: &UnitQuaternion<f64>) -> f64 {
    // For top_down_rotation(ψ) the tool X axis is (−cos ψ, −sin ψ, 0).
    let x = rotation * Vector3::x();
    (-x.y).atan2(-x.x)
}

/// Wraps an angle (rad) into (−π, π].
pub fn wrap_angle(a: f64) -> f64 {
    let two_pi = 2.0 * std::f64::consts::PI;
    let mut r = a.rem_euclid(two_pi);
    if r > std::f64::consts::PI {
        r -= two_pi;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_yaw_inverts_top_down_rotation() {
        for k in -6..=6 {
            let yaw = k as f64 * 0.5;
            let got = tool_yaw(&top_down_rotation(yaw));
            assert!(wrap_angle(got - yaw).abs() < 1e-9, "yaw {yaw} gave {got}");
        }
    }

    #[test]
    fn wrap_angle_stays_in_range() {
        for k in -100..100 {
            let a = k as f64 * 0.37;
            let w = wrap_angle(a);
            assert!(w > -std::f64::consts::PI - 1e-12 && w <= std::f64::consts::PI + 1e-12);
            assert!(
                ((a - w) / (2.0 * std::f64::consts::PI)).fract().abs() < 1e-9
                    || ((a - w) / (2.0 * std::f64::consts::PI)).fract().abs() > 1.0 - 1e-9
            );
        }
    }
}
