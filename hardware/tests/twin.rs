//! The whole chain, over a real pseudo-terminal: a certified policy grasps through the run loop
//! → safety envelope → bridge → serial → firmware core → sim twin, and the simulator's own
//! classifier (not the host) judges the grasp. Pre-flight refuses a predicted failure. (The
//! certificate rule that admits the policy is tested where it lives, in
//! `regrasp-curriculum`'s `tests/certificate.rs`.)
//!
//! The policy is trained here by the real pipeline (expert demonstrations, behaviour cloning,
//! DAgger) on one easy scenario family, once per test binary.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use regrasp_curriculum::ledger::Ledger;
use regrasp_curriculum::run::{Certified, RunDir};
use regrasp_curriculum::vocabulary::MetaKey;
use regrasp_hardware::emulator::{Emulator, EmulatorConfig, FaultConfig};
use regrasp_hardware::link::{Bridge, LinkConfig};
use regrasp_hardware::session::{PolicyPilot, RunConfig, StopReason, WallClock, preflight, run_episode};
use regrasp_hardware::twin::{Twin, TwinCamera};
use regrasp_hardware::{EnvelopeConfig, Guarded, HardwareError, SafetyEnvelope};
use regrasp_policy::config::TrainConfig;
use regrasp_policy::eval::LoadedPolicy;
use regrasp_policy::run::{RunOptions, train};
use regrasp_sim::scenario::ScenarioDistribution;
use regrasp_sim::suite::SeedSpace;
use regrasp_sim::{ArmModel, EnvConfig, OutcomeKind, Scenario};

fn arm() -> Arc<ArmModel> {
    Arc::new(ArmModel::default_arm().unwrap())
}

/// A 4 cm box about 20 cm in front of the arm, no perturbations but up to two control steps
/// (100 ms) of action latency: the link, the firmware and the servos add some.
fn easy() -> ScenarioDistribution {
    ScenarioDistribution { action_latency_max: 2, ..ScenarioDistribution::easy_box() }
}

/// The trained checkpoint's directory (trained once per test binary).
fn checkpoint() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("regrasp-hw-twin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let mut cfg = TrainConfig { seed: 5, distribution: easy(), total_env_steps: 0, ..TrainConfig::default() };
        cfg.bc.episodes = 60;
        cfg.bc.dagger_rounds = 5;
        cfg.bc.dagger_episodes = 40;
        train(cfg, arm(), &out, RunOptions { warm_start_bc: true, ..RunOptions::default() }, &mut |_| {}).unwrap();
        regrasp_policy::run::latest(&out).unwrap()
    })
}

/// The real-time tests take turns: on a 2-core machine, two emulators, two control loops and
/// two physics twins at once would measure the machine, not the chain.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The checkpoint certified the only way there is: a run directory whose ledger records its
/// promotion through the gate for this arm (as `regrasp improve` records it), then the rule.
fn certified(arm: &ArmModel) -> Certified {
    let dir = checkpoint();
    let loaded = LoadedPolicy::load(dir, arm, regrasp_sim::ObsLayout::new(arm.dof()).len()).unwrap();
    let run = std::env::temp_dir().join(format!("regrasp-hw-twin-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&run);
    let rel = format!("checkpoints/{}", loaded.hash);
    std::fs::create_dir_all(run.join(&rel)).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), run.join(&rel).join(e.file_name())).unwrap();
    }
    let mut ledger = Ledger::open(&run.join("ledger.sqlite")).unwrap();
    ledger.set_meta(MetaKey::ArmHash, &regrasp_curriculum::run::arm_hash(arm)).unwrap();
    ledger.record_checkpoint(&loaded.hash, None, "bc", 0, &rel).unwrap();
    ledger.set_initial_champion(&loaded.hash).unwrap();
    regrasp_curriculum::testing::record_gate_decision(&mut ledger, 1, &loaded.hash, true).unwrap();
    RunDir::open(&run).unwrap().certify(None, arm).unwrap()
}

/// Held-out scenarios of the easy family (never trained on).
fn scenarios() -> Vec<Scenario> {
    let (h0, _) = SeedSpace::Heldout.range();
    (0..8).map(|i| easy().sample(h0 + i)).collect()
}

#[test]
fn a_certified_policy_grasps_through_bridge_serial_firmware_and_sim_twin() {
    let _turn = one_at_a_time();
    let arm = arm();
    let env = Arc::new(EnvConfig::default());
    let certified = certified(&arm);
    // The first held-out scenario that the pre-flight predicts a success for.
    let scenario = scenarios()
        .into_iter()
        .find(|s| preflight(certified.policy(), &arm, &env, s, 200.0).is_ok())
        .expect("pre-flight predicts success for some held-out scenario");

    // The firmware ticks at 40 Hz, so the twin's physics runs at exactly the training rate
    // (240 Hz, 6 steps a tick); the host's loop runs at its default 50 Hz.
    let (tick_s, period_s) = (0.025, 0.02);
    let twin = Twin::new(Arc::clone(&arm), &env, &scenario, tick_s).unwrap();
    let emu_cfg = EmulatorConfig::for_twin(&arm, tick_s, FaultConfig::default());
    let emu = Emulator::start_with(emu_cfg, twin.bus(), None).unwrap();
    let bridge = Bridge::connect(LinkConfig::new(emu.path.to_string_lossy().to_string()), arm.dof(), None, 11).unwrap();
    let envelope_cfg = EnvelopeConfig::for_arm(&arm, period_s, env.control_dt());
    let envelope = SafetyEnvelope::new(Arc::clone(&arm), envelope_cfg).unwrap();
    let mut guarded = Guarded::new(bridge, envelope).unwrap();
    let stop = AtomicBool::new(false);
    let mut pilot = PolicyPilot::new(certified);
    let mut ticks = 0u64;
    let report = run_episode(
        &mut guarded,
        &mut pilot,
        &arm,
        &env,
        &scenario,
        &mut TwinCamera(twin.clone()),
        &RunConfig::default(),
        &mut WallClock,
        &stop,
        &mut |_| ticks += 1,
    )
    .unwrap();
    let truth = twin.truth().unwrap();
    assert_eq!(report.stop, StopReason::Lifted, "{report:?}\ntwin: {truth:?}");
    let outcome =
        truth.outcome.clone().unwrap_or_else(|| panic!("the twin's classifier has not decided: {truth:?}\n{report:?}"));
    assert_eq!(outcome.kind, OutcomeKind::Success, "{outcome:?}\n{report:?}");
    assert!(twin.error().is_none());
    assert!(ticks > 50 && report.decisions > 20, "{report:?}");
    // Nothing jumped on the wire.
    let r = emu.report();
    let max_step = Twin::joint_limits(&arm, tick_s).iter().map(|l| l.max_step).fold(0.0f32, f32::max);
    assert!(r.largest_jump <= max_step + 1e-5, "largest servo jump {} > {max_step}", r.largest_jump);
}

#[test]
fn preflight_refuses_a_predicted_failure() {
    let arm = arm();
    let env = Arc::new(EnvConfig::default());
    let policy = LoadedPolicy::load(checkpoint(), &arm, regrasp_sim::ObsLayout::new(arm.dof()).len()).unwrap();
    // A sphere 42 cm out is far outside what this policy saw: the twin predicts a failure.
    let mut s = scenarios()[0];
    s.object.pose.x = 0.30;
    s.object.pose.y = 0.25;
    let err = preflight(&policy, &arm, &env, &s, 200.0).expect_err("a predicted failure is refused");
    assert!(matches!(err, HardwareError::Preflight(_)), "{err}");
    // An unsafe contact force limit refuses even a predicted success.
    let ok = scenarios().into_iter().find(|s| preflight(&policy, &arm, &env, s, 200.0).is_ok()).unwrap();
    let err = preflight(&policy, &arm, &env, &ok, 0.5).expect_err("too much force");
    assert!(err.to_string().contains("contact force"), "{err}");
}

/// A pilot that sways the tool gently along Y with the gripper open.
struct Sway(u64);

impl regrasp_hardware::session::Pilot for Sway {
    fn act(&mut self, _obs: &[f32], env: &EnvConfig) -> regrasp_hardware::Result<regrasp_sim::Action> {
        self.0 += 1;
        let y = (self.0 as f64 * 0.2).sin() as f32 * 0.5 * env.action.max_translation as f32;
        Ok(regrasp_sim::Action { translation: [0.0, y, 0.0], yaw: 0.0, gripper: -1.0 })
    }
}

/// A pilot that drives the tool sideways (+Y) at full speed, gripper open.
struct Drift;

impl regrasp_hardware::session::Pilot for Drift {
    fn act(&mut self, _obs: &[f32], env: &EnvConfig) -> regrasp_hardware::Result<regrasp_sim::Action> {
        Ok(regrasp_sim::Action { translation: [0.0, env.action.max_translation as f32, 0.0], yaw: 0.0, gripper: -1.0 })
    }
}

/// A pilot whose network has gone bad: NaN after a few steps.
struct GoesNan(u64);

impl regrasp_hardware::session::Pilot for GoesNan {
    fn act(&mut self, _obs: &[f32], _env: &EnvConfig) -> regrasp_hardware::Result<regrasp_sim::Action> {
        self.0 += 1;
        if self.0 > 10 {
            return Err(HardwareError::Policy("non-finite action [NaN, 0, 0, 0, 0]".into()));
        }
        Ok(regrasp_sim::Action::HOLD_OPEN)
    }
}

fn run_with_faults(
    faults: FaultConfig,
    pilot: &mut dyn regrasp_hardware::session::Pilot,
) -> (StopReason, regrasp_hardware::emulator::EmulatorReport, Emulator) {
    let arm = arm();
    let env = Arc::new(EnvConfig::default());
    let scenario = scenarios()[0];
    let tick_s = 0.025;
    let twin = Twin::new(Arc::clone(&arm), &env, &scenario, tick_s).unwrap();
    let emu_cfg = EmulatorConfig::for_twin(&arm, tick_s, faults);
    let emu = Emulator::start_with(emu_cfg, twin.bus(), None).unwrap();
    let bridge = Bridge::connect(LinkConfig::new(emu.path.to_string_lossy().to_string()), arm.dof(), None, 21).unwrap();
    let envelope =
        SafetyEnvelope::new(Arc::clone(&arm), EnvelopeConfig::for_arm(&arm, 0.02, env.control_dt())).unwrap();
    let mut guarded = Guarded::new(bridge, envelope).unwrap();
    let stop = AtomicBool::new(false);
    let cfg = RunConfig { episode_s: 6.0, ..RunConfig::default() };
    let mut sensor = regrasp_hardware::session::ObjectEstimate::placed(&scenario, &arm);
    let report =
        run_episode(&mut guarded, pilot, &arm, &env, &scenario, &mut sensor, &cfg, &mut WallClock, &stop, &mut |_| {})
            .unwrap();
    // The stop frame went out before run_episode returned; wait for the firmware to act on it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while emu.report().torque && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let r = emu.report();
    (report.stop, r, emu)
}

#[test]
fn injected_faults_stop_the_loop_and_end_with_torque_off() {
    let _turn = one_at_a_time();
    let max_step = Twin::joint_limits(&arm(), 0.025).iter().map(|l| l.max_step).fold(0.0f32, f32::max) + 1e-5;
    // A disconnect: the host sees its state go stale and stops; the firmware's watchdog holds,
    // then drops torque.
    let (stop, r, _emu) =
        run_with_faults(FaultConfig { disconnect_at_ms: Some(800), ..Default::default() }, &mut Sway(0));
    assert!(matches!(stop, StopReason::StaleState { .. }), "{stop:?}");
    assert!(!r.torque && r.largest_jump <= max_step, "{r:?}");
    // An overload: the firmware faults (torque off at once); the host stops on the fault.
    let faults = FaultConfig { overload: 2.0, overload_at_ms: Some(800), ..Default::default() };
    let (stop, r, _emu) = run_with_faults(faults, &mut Sway(0));
    assert!(
        matches!(stop, StopReason::ArmFault { faults } if faults & regrasp_firmware::protocol::fault::OVERLOAD != 0),
        "{stop:?}"
    );
    assert!(!r.torque && r.largest_jump <= max_step, "{r:?}");
    // A stalled base servo loads up into an overload fault as the tool is driven sideways.
    let (stop, r, _emu) = run_with_faults(FaultConfig { stall_joint: Some(0), ..Default::default() }, &mut Drift);
    assert!(matches!(stop, StopReason::ArmFault { .. }), "{stop:?}");
    assert!(!r.torque, "{r:?}");
    // A policy that goes bad: the loop e-stops the arm.
    let (stop, r, _emu) = run_with_faults(FaultConfig::default(), &mut GoesNan(0));
    assert!(matches!(stop, StopReason::Policy { .. }), "{stop:?}");
    assert!(!r.torque && r.estop_ticks.is_some(), "{r:?}");
    let (arrived, off) = r.estop_ticks.unwrap();
    assert!(off <= arrived + 1, "torque off at tick {off}, e-stop arrived at tick {arrived}");
}
