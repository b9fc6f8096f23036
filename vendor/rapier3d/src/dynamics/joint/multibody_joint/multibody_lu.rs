//! The LU factorisation of a multibody's augmented mass matrix, on buffers reused between substeps.

use crate::alloc_prelude::*;
use crate::math::Real;
use na::{ComplexField, DMatrix};

/// An LU factorisation with partial pivoting, `P·A = L·U`, of a multibody's (augmented) mass
/// matrix.
///
/// It performs exactly the floating-point operations of nalgebra's `LU::new` and
/// `LU::solve_mut`, in the same order (the same pivots, products, sums and swaps), so its
/// solutions are bit-identical to theirs. Unlike them it keeps its buffers from one
/// factorisation to the next (nalgebra's `LU` owns a fresh copy of the matrix and a fresh
/// permutation each time) and solves on contiguous slices.
// PERF: a multibody is factorised twice per solver substep and solved about 25 times per
//       physics step; through `LU` the allocations and the generic view set-up of each
//       `axpy` cost more than the arithmetic on these small matrices.
#[cfg_attr(feature = "serde-serialize", derive(Serialize, Deserialize))]
#[derive(Clone, Debug, Default)]
pub struct MultibodyLu {
    /// The order of the factorised matrix.
    dim: usize,
    /// `L` strictly below the diagonal (its unit diagonal is implied) and `U` on and above it,
    /// column-major, `dim × dim`.
    lu: Vec<Real>,
    /// The row interchanges `(i, pivot)` of the factorisation, in the order they were made.
    swaps: Vec<(usize, usize)>,
}

impl MultibodyLu {
    /// An empty factorisation, of a `0 × 0` matrix.
    pub fn new() -> Self {
        Self::default()
    }

    /// The order of the factorised matrix.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Factorises the leading `dim × dim` block of `matrix`, replacing the previous
    /// factorisation.
    ///
    /// The same steps as nalgebra's `LU::new`: at column `i`, the first row of largest modulus
    /// at or below the diagonal is the pivot; a zero pivot column is skipped; otherwise the
    /// rows are swapped, the column below the diagonal is scaled by `1 / pivot`, and each
    /// later column gets `column -= pivot_row_entry · scaled_column`.
    pub fn factorize(&mut self, matrix: &DMatrix<Real>, dim: usize) {
        assert!(
            dim <= matrix.nrows() && dim <= matrix.ncols(),
            "MultibodyLu: the block to factorise is larger than the matrix."
        );
        let nrows = matrix.nrows();
        let source = matrix.as_slice();
        self.dim = dim;
        self.swaps.clear();
        self.lu.clear();
        for j in 0..dim {
            self.lu
                .extend_from_slice(&source[j * nrows..j * nrows + dim]);
        }

        // PERF: the orders of common multibodies get their own copy of the loops, with a
        //       constant trip count that the compiler unrolls.
        match dim {
            1 => factorize_in_place(&mut self.lu, &mut self.swaps, 1),
            2 => factorize_in_place(&mut self.lu, &mut self.swaps, 2),
            3 => factorize_in_place(&mut self.lu, &mut self.swaps, 3),
            4 => factorize_in_place(&mut self.lu, &mut self.swaps, 4),
            5 => factorize_in_place(&mut self.lu, &mut self.swaps, 5),
            6 => factorize_in_place(&mut self.lu, &mut self.swaps, 6),
            7 => factorize_in_place(&mut self.lu, &mut self.swaps, 7),
            8 => factorize_in_place(&mut self.lu, &mut self.swaps, 8),
            n => factorize_in_place(&mut self.lu, &mut self.swaps, n),
        }
    }

    /// Overwrites `b` (length [`Self::dim`]) with the solution `x` of `A·x = b`.
    ///
    /// Returns `false`, with `b` partly overwritten, when `U` has a zero on its diagonal (`A`
    /// is singular), as nalgebra's `LU::solve_mut` does.
    pub fn solve_mut(&self, b: &mut [Real]) -> bool {
        let n = self.dim;
        assert_eq!(n, b.len(), "MultibodyLu: solve dimension mismatch.");
        if n == 0 {
            return true;
        }

        // PERF: as in `factorize`, a constant order for common multibodies.
        match n {
            1 => solve_in_place(&self.lu, &self.swaps, b, 1),
            2 => solve_in_place(&self.lu, &self.swaps, b, 2),
            3 => solve_in_place(&self.lu, &self.swaps, b, 3),
            4 => solve_in_place(&self.lu, &self.swaps, b, 4),
            5 => solve_in_place(&self.lu, &self.swaps, b, 5),
            6 => solve_in_place(&self.lu, &self.swaps, b, 6),
            7 => solve_in_place(&self.lu, &self.swaps, b, 7),
            8 => solve_in_place(&self.lu, &self.swaps, b, 8),
            n => solve_in_place(&self.lu, &self.swaps, b, n),
        }
    }
}

/// Factorises the column-major `n × n` matrix `lu` in place, recording its row interchanges in
/// `swaps` (see [`MultibodyLu::factorize`]).
#[inline(always)]
fn factorize_in_place(lu: &mut [Real], swaps: &mut Vec<(usize, usize)>, n: usize) {
    let lu = &mut lu[..n * n];
    for i in 0..n {
        let column = i * n;
        // nalgebra's `icamax`: the first row of strictly largest modulus.
        let mut pivot = i;
        let mut largest = lu[column + i].norm1();
        for r in i + 1..n {
            let modulus = lu[column + r].norm1();
            if modulus > largest {
                largest = modulus;
                pivot = r;
            }
        }

        let diag = lu[column + pivot];
        if diag == 0.0 {
            // No nonzero entry on or below the diagonal of this column.
            continue;
        }

        if pivot != i {
            swaps.push((i, pivot));
            for c in 0..n {
                lu.swap(c * n + i, c * n + pivot);
            }
        }

        let inv_diag = 1.0 / diag;
        for r in i + 1..n {
            lu[column + r] *= inv_diag;
        }

        for c in i + 1..n {
            let pivot_row_entry = lu[c * n + i];
            for r in i + 1..n {
                lu[c * n + r] += -pivot_row_entry * lu[column + r];
            }
        }
    }
}

/// Overwrites `b` with the solution of `A·x = b` from the factorisation `(lu, swaps)` of the
/// `n × n` matrix `A` (see [`MultibodyLu::solve_mut`]).
#[inline(always)]
fn solve_in_place(lu: &[Real], swaps: &[(usize, usize)], b: &mut [Real], n: usize) -> bool {
    let lu = &lu[..n * n];
    let b = &mut b[..n];
    for &(i, pivot) in swaps {
        b.swap(i, pivot);
    }

    // Forward substitution with the unit lower triangle (nalgebra divides by the unit
    // diagonal, which changes no bit).
    for i in 0..n - 1 {
        let coeff = b[i];
        for r in i + 1..n {
            b[r] += -coeff * lu[i * n + r];
        }
    }

    // Back substitution with the upper triangle.
    for i in (0..n).rev() {
        let diag = lu[i * n + i];
        if diag == 0.0 {
            return false;
        }
        let coeff = b[i] / diag;
        b[i] = coeff;
        for r in 0..i {
            b[r] += -coeff * lu[i * n + r];
        }
    }

    true
}
