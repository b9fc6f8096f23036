//! The device the learner (behaviour cloning and PPO updates) runs on: burn's pure-Rust Flex
//! CPU backend by default, CUDA device 0 with the `cuda` feature. Acting (rollouts, evaluation,
//! the hardware bridge) always uses the hand-rolled CPU inference of `inference`.
//!
//! Determinism is guaranteed on Flex; CUDA kernels may sum in another order, so a CUDA run is
//! reproducible only on the same GPU and its checkpoint hashes differ from a CPU run's.

use burn::prelude::Device;

/// The autodiff device of the learner.
pub fn learner_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        Device::cuda(0).autodiff()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Device::flex().autodiff()
    }
}
