use crate::alloc_prelude::*;
use crate::dynamics::RigidBodyVelocity;
use crate::math::{DVector, Real};

/// A temporary workspace for various updates of the multibody.
#[cfg_attr(feature = "serde-serialize", derive(Serialize, Deserialize))]
#[derive(Clone, Debug)]
pub(crate) struct MultibodyWorkspace {
    pub accs: Vec<RigidBodyVelocity<Real>>,
    pub ndofs_vec: DVector,
    pub energy_guard: EnergyGuardBuffers,
}

/// The vectors of the free-velocity energy guard (`Multibody::update_acceleration`), kept
/// between substeps. Each is `ndofs` long once [`EnergyGuardBuffers::resize`] has run.
// PERF: the guard runs at every substep with significant motion; allocating these vectors there
//       cost more than the guard's arithmetic.
#[cfg_attr(feature = "serde-serialize", derive(Serialize, Deserialize))]
#[derive(Clone, Debug)]
pub(crate) struct EnergyGuardBuffers {
    /// Generalized forces from positions and external inputs (gravity, user forces, springs).
    pub pos_forces: DVector,
    /// All generalized forces, before the solve.
    pub gen_forces: DVector,
    /// The velocities, in the factorisation's (kinematic-reduced) order.
    pub v: DVector,
    /// `gen_forces`, in the factorisation's order.
    pub f: DVector,
    /// `pos_forces`, in the factorisation's order.
    pub f_pos: DVector,
    /// The solved accelerations, in the factorisation's order.
    pub a: DVector,
    /// The mass matrix times `a`.
    pub m_a: DVector,
    /// The mass matrix times `v`.
    pub m_v: DVector,
}

impl EnergyGuardBuffers {
    /// Empty buffers (no allocation).
    pub fn new() -> Self {
        EnergyGuardBuffers {
            pos_forces: DVector::zeros(0),
            gen_forces: DVector::zeros(0),
            v: DVector::zeros(0),
            f: DVector::zeros(0),
            f_pos: DVector::zeros(0),
            a: DVector::zeros(0),
            m_a: DVector::zeros(0),
            m_v: DVector::zeros(0),
        }
    }

    /// Makes every buffer `ndofs` long; allocates only when `ndofs` changed.
    pub fn resize(&mut self, ndofs: usize) {
        if self.pos_forces.len() != ndofs {
            *self = EnergyGuardBuffers {
                pos_forces: DVector::zeros(ndofs),
                gen_forces: DVector::zeros(ndofs),
                v: DVector::zeros(ndofs),
                f: DVector::zeros(ndofs),
                f_pos: DVector::zeros(ndofs),
                a: DVector::zeros(ndofs),
                m_a: DVector::zeros(ndofs),
                m_v: DVector::zeros(ndofs),
            };
        }
    }
}

impl MultibodyWorkspace {
    /// Create an empty workspace.
    pub fn new() -> Self {
        MultibodyWorkspace {
            accs: Vec::new(),
            ndofs_vec: DVector::zeros(0),
            energy_guard: EnergyGuardBuffers::new(),
        }
    }

    /// Resize the workspace so it is enough for `nlinks` links.
    pub fn resize(&mut self, nlinks: usize, ndofs: usize) {
        self.accs.resize(nlinks, RigidBodyVelocity::zero());
        self.ndofs_vec = DVector::zeros(ndofs)
    }
}
