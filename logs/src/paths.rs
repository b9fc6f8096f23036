//! Entity paths: the one place that names where things live in a recording (the blueprint,
//! the loggers and the tests all use these).

/// The 3D scene (Z up, m).
pub const WORLD: &str = "world";
/// The table.
pub const TABLE: &str = "world/table";
/// The arm's links: `world/arm/<URDF link name>`.
pub const ARM: &str = "world/arm";
/// The object.
pub const OBJECT: &str = "world/object";
/// The tool's target position commanded by the action (m).
pub const TOOL_TARGET: &str = "world/tool/target";
/// The tool position that the IK's joint targets reach (forward kinematics of the command, m).
pub const TOOL_IK: &str = "world/tool/ik";
/// The measured tool position (m).
pub const TOOL_MEASURED: &str = "world/tool/measured";
/// Contact points, coloured by kind.
pub const CONTACTS: &str = "world/contacts";
/// Contact normal forces as arrows (length 1 cm per N).
pub const CONTACT_FORCES: &str = "world/contacts/forces";

/// Per-step actions, normalised to [-1, 1] (the view's origin).
pub const ACTION: &str = "episode/action";
/// The action taken at each step: one series per component ([`ACTION_COMPONENTS`]).
pub const ACTION_TAKEN: &str = "episode/action/taken";
/// The policy's action mean (its deterministic action) at each step, per component.
pub const ACTION_MEAN: &str = "episode/action/mean";
/// The standard deviation of the policy's Gaussian at each step, per component.
pub const ACTION_STD: &str = "episode/action_std";
/// Value estimate, reward and return: `episode/signals/<name>`.
pub const EPISODE_SIGNALS: &str = "episode/signals";
/// Outcome and failure mode with its evidence (text log, one entry per episode).
pub const OUTCOME: &str = "episode/outcome";
/// The scenario of the episode (text document).
pub const SCENARIO: &str = "episode/scenario";

/// Training: success rate and mean return per PPO iteration.
pub const TRAIN_PROGRESS: &str = "train/progress";
/// Training: policy loss, value loss, entropy.
pub const TRAIN_LOSSES: &str = "train/losses";
/// Training: env steps/s and learner samples/s.
pub const TRAIN_SPEED: &str = "train/speed";

/// Self-improvement: champion and challenger success per suite.
pub const IMPROVE_SUCCESS: &str = "improve/success";
/// Self-improvement: the champion's failures per mode on the probe set.
pub const IMPROVE_FAILURES: &str = "improve/failures";
/// Self-improvement: curriculum composition (share per generator).
pub const IMPROVE_CURRICULUM: &str = "improve/curriculum";
/// Self-improvement: histograms of the curriculum's scenario parameters.
pub const IMPROVE_PARAMS: &str = "improve/scenario_params";
/// Self-improvement: gate decisions with their reasons.
pub const IMPROVE_DECISIONS: &str = "improve/decisions";

/// Hardware: commanded vs measured joints.
pub const HW_JOINTS: &str = "hardware/joints";
/// Hardware: safety-envelope interventions and faults.
pub const HW_EVENTS: &str = "hardware/events";

/// Action component names, in `Action::to_normalized` order.
pub const ACTION_COMPONENTS: [&str; 5] = ["dx", "dy", "dz", "yaw", "gripper"];
