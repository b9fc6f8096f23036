//! The certificate gate: a policy drives an arm only if a ledger records it as promoted — it
//! passed the simulation gates (held-out gain, no OOD, canary or safety regression) — for this
//! arm model. [`admit`] loads the checkpoint (whose content hash is verified on load, so an
//! altered file is refused) and checks both hashes against the certificate. There is no
//! override: an uncertified checkpoint cannot be turned into a pilot by this crate.

use std::path::Path;

use regrasp_policy::eval::LoadedPolicy;
use regrasp_sim::{ArmModel, ObsLayout};
use serde::{Deserialize, Serialize};

use crate::error::{HardwareError, Result};

/// Evidence that a checkpoint passed the simulation gates for an arm model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    /// Content hash of the promoted checkpoint.
    pub checkpoint: String,
    /// Content hash of the arm description it was promoted for (16 hex digits).
    pub arm_hash: String,
    /// Where the promotion is recorded (ledger path and generation).
    pub source: String,
    /// The gate's reasons for the promotion.
    pub evidence: String,
}

/// Loads the checkpoint at `dir` as a pilot for `arm` if `certificate` covers it; otherwise
/// says why not.
pub fn admit(certificate: Option<&Certificate>, dir: &Path, arm: &ArmModel) -> Result<LoadedPolicy> {
    let policy = LoadedPolicy::load(dir, arm, ObsLayout::new(arm.dof()).len())
        .map_err(|e| HardwareError::Uncertified(format!("{}: {e}", dir.display())))?;
    let Some(c) = certificate else {
        return Err(HardwareError::Uncertified(format!(
            "checkpoint {} ({}) was never promoted through the simulation gates",
            policy.hash,
            dir.display()
        )));
    };
    if c.checkpoint != policy.hash {
        return Err(HardwareError::Uncertified(format!(
            "{} holds checkpoint {}, but the certificate from {} is for {}",
            dir.display(),
            policy.hash,
            c.source,
            c.checkpoint
        )));
    }
    let arm_hash = format!("{:016x}", arm.content_hash);
    if c.arm_hash != arm_hash {
        return Err(HardwareError::Uncertified(format!(
            "checkpoint {} was certified for arm {} ({}), not for this arm ({arm_hash})",
            policy.hash, c.arm_hash, c.source
        )));
    }
    Ok(policy)
}
