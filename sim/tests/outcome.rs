//! The outcome classifier on constructed situations: every mode at least once, the priority
//! order, and the evidence that comes with each decision.

use regrasp_sim::outcome::{Classifier, ObjectFacts, OutcomeKind, OutcomeThresholds, StepSignals};

const DT: f64 = 0.05;

fn facts(can_tip: bool) -> ObjectFacts {
    ObjectFacts { start_pos: [0.2, 0.0, 0.02], top: 0.04, min_width: 0.04, can_tip }
}

/// Resting object, open gripper high above it, nothing touching.
fn quiet() -> StepSignals {
    StepSignals {
        finite: true,
        object_pos: [0.2, 0.0, 0.02],
        object_speed: 0.0,
        object_tilt: 0.0,
        tool_pos: [0.2, 0.0, 0.15],
        gripper_opening: 0.10,
        left_contact: false,
        right_contact: false,
        table_force: 0.0,
        joint_at_limit: None,
    }
}

fn run(can_tip: bool, max_steps: u32, signals: impl IntoIterator<Item = StepSignals>) -> Option<(OutcomeKind, u32)> {
    let mut c = Classifier::new(OutcomeThresholds::default(), facts(can_tip), DT, max_steps);
    for (i, s) in signals.into_iter().enumerate() {
        if let Some(o) = c.update(&s) {
            return Some((o.kind, i as u32 + 1));
        }
    }
    None
}

fn held_at(lift: f64) -> StepSignals {
    StepSignals {
        object_pos: [0.2, 0.0, 0.02 + lift],
        tool_pos: [0.2, 0.0, 0.02 + lift],
        gripper_opening: 0.039,
        left_contact: true,
        right_contact: true,
        ..quiet()
    }
}

#[test]
fn success_needs_the_full_hold_time_at_height() {
    // 0.95 s held at 12 cm is not yet a success; the 20th step (1.0 s) is.
    let r = run(true, 100, std::iter::repeat_n(held_at(0.12), 25));
    assert_eq!(r, Some((OutcomeKind::Success, 20)));
    // Held, but below the success height: no decision until the timeout.
    let r = run(true, 30, std::iter::repeat_n(held_at(0.08), 40));
    assert_eq!(r, Some((OutcomeKind::Timeout, 30)));
    // One finger only does not count as held.
    let one = StepSignals { right_contact: false, ..held_at(0.12) };
    assert_eq!(run(true, 30, std::iter::repeat_n(one, 40)).map(|r| r.0), Some(OutcomeKind::Timeout));
}

#[test]
fn success_timer_restarts_when_the_hold_is_interrupted() {
    let mut seq: Vec<StepSignals> = std::iter::repeat_n(held_at(0.12), 15).collect();
    seq.push(held_at(0.09)); // dips below the success height for one step
    seq.extend(std::iter::repeat_n(held_at(0.12), 25));
    assert_eq!(run(true, 100, seq), Some((OutcomeKind::Success, 36)));
}

#[test]
fn slip_during_lift_after_a_held_lift_falls_back() {
    let mut seq = vec![held_at(0.01), held_at(0.03), held_at(0.05)];
    seq.push(StepSignals { object_speed: 1.0, object_pos: [0.2, 0.0, 0.045], ..quiet() }); // falling
    seq.push(StepSignals { object_pos: [0.2, 0.0, 0.021], ..quiet() });
    let r = run(true, 100, seq);
    assert_eq!(r, Some((OutcomeKind::SlipDuringLift, 5)));
}

#[test]
fn lifting_less_than_the_detection_height_and_dropping_is_not_a_slip() {
    let seq = vec![held_at(0.01), StepSignals { object_pos: [0.2, 0.0, 0.02], ..quiet() }];
    assert_eq!(run(true, 2, seq).map(|r| r.0), Some(OutcomeKind::Timeout));
}

#[test]
fn pushed_away_only_when_not_held() {
    let pushed = StepSignals { object_pos: [0.26, 0.0, 0.02], ..quiet() };
    assert_eq!(run(false, 100, [pushed]), Some((OutcomeKind::ObjectPushedAway, 1)));
    // The same displacement while held at the lift-detection height is carrying, not pushing.
    let carried = StepSignals { object_pos: [0.26, 0.0, 0.05], tool_pos: [0.26, 0.0, 0.05], ..held_at(0.03) };
    assert_eq!(run(false, 1, [carried]).map(|r| r.0), Some(OutcomeKind::Timeout));
}

#[test]
fn knocked_over_only_for_objects_that_can_tip() {
    let tipped = StepSignals { object_tilt: 1.4, ..quiet() };
    assert_eq!(run(true, 100, [tipped]), Some((OutcomeKind::KnockedOver, 1)));
    assert_eq!(run(false, 1, [tipped]).map(|r| r.0), Some(OutcomeKind::Timeout));
}

#[test]
fn table_collision_above_the_force_threshold() {
    let press = StepSignals { table_force: 31.0, ..quiet() };
    assert_eq!(run(true, 100, [press]), Some((OutcomeKind::TableCollision, 1)));
    let touch = StepSignals { table_force: 29.0, ..quiet() };
    assert_eq!(run(true, 1, [touch]).map(|r| r.0), Some(OutcomeKind::Timeout));
}

#[test]
fn joint_limit_after_the_limit_time() {
    let pinned = StepSignals { joint_at_limit: Some(4), ..quiet() };
    // 0.5 s at 20 Hz is the 10th step.
    let r = run(true, 100, std::iter::repeat_n(pinned, 12));
    assert_eq!(r, Some((OutcomeKind::JointLimit, 10)));
    // Interrupted pinning restarts the timer.
    let mut seq: Vec<_> = std::iter::repeat_n(pinned, 9).collect();
    seq.push(quiet());
    seq.extend(std::iter::repeat_n(pinned, 9));
    assert_eq!(run(true, 19, seq).map(|r| r.0), Some(OutcomeKind::Timeout));
}

#[test]
fn missed_grasp_when_closing_on_nothing_next_to_the_object() {
    let closed_beside = StepSignals { tool_pos: [0.22, 0.0, 0.03], gripper_opening: 0.0, ..quiet() };
    assert_eq!(run(true, 100, [closed_beside]), Some((OutcomeKind::MissedGrasp, 1)));
    // Closing far away from the object (in free space) is not a missed grasp.
    let closed_far = StepSignals { tool_pos: [0.1, 0.1, 0.15], gripper_opening: 0.0, ..quiet() };
    assert_eq!(run(true, 1, [closed_far]).map(|r| r.0), Some(OutcomeKind::Timeout));
    // Closed down to the object's width while touching it is a grasp, not a miss.
    let gripping = StepSignals { tool_pos: [0.2, 0.0, 0.03], gripper_opening: 0.038, left_contact: true, ..quiet() };
    assert_eq!(run(true, 1, [gripping]).map(|r| r.0), Some(OutcomeKind::Timeout));
}

#[test]
fn physics_unstable_on_non_finite_or_exploding_state() {
    let nan = StepSignals { finite: false, ..quiet() };
    assert_eq!(run(true, 100, [nan]), Some((OutcomeKind::PhysicsUnstable, 1)));
    let fast = StepSignals { object_speed: 50.0, ..quiet() };
    assert_eq!(run(true, 100, [fast]), Some((OutcomeKind::PhysicsUnstable, 1)));
    let gone = StepSignals { object_pos: [5.0, 0.0, 0.02], ..quiet() };
    assert_eq!(run(true, 100, [gone]), Some((OutcomeKind::PhysicsUnstable, 1)));
}

#[test]
fn timeout_at_the_step_budget() {
    assert_eq!(run(true, 7, std::iter::repeat_n(quiet(), 20)), Some((OutcomeKind::Timeout, 7)));
}

#[test]
fn priority_order_is_fixed() {
    // Everything at once: instability wins, then table collision, then joint limit.
    let all = StepSignals { finite: false, table_force: 100.0, joint_at_limit: Some(0), object_tilt: 2.0, ..quiet() };
    assert_eq!(run(true, 100, [all]).map(|r| r.0), Some(OutcomeKind::PhysicsUnstable));
    let table_and_tip = StepSignals { table_force: 100.0, object_tilt: 2.0, ..quiet() };
    assert_eq!(run(true, 100, [table_and_tip]).map(|r| r.0), Some(OutcomeKind::TableCollision));
    let tip_and_push = StepSignals { object_tilt: 2.0, object_pos: [0.3, 0.0, 0.02], ..quiet() };
    assert_eq!(run(true, 100, [tip_and_push]).map(|r| r.0), Some(OutcomeKind::KnockedOver));
}

#[test]
fn every_decision_carries_its_evidence() {
    let mut c = Classifier::new(OutcomeThresholds::default(), facts(true), DT, 100);
    let o = c.update(&StepSignals { table_force: 42.0, ..quiet() }).unwrap();
    assert_eq!(o.kind, OutcomeKind::TableCollision);
    assert_eq!(o.evidence.max_table_force, 42.0);
    assert!((o.evidence.time - DT).abs() < 1e-12);
    assert!(o.evidence.note.contains("42.0 N"), "{}", o.evidence.note);

    let mut c = Classifier::new(OutcomeThresholds::default(), facts(true), DT, 100);
    let mut last = None;
    for s in [held_at(0.02), held_at(0.06)] {
        last = c.update(&s);
    }
    assert!(last.is_none());
    let o = c.update(&StepSignals { object_pos: [0.2, 0.0, 0.021], ..quiet() }).unwrap();
    assert_eq!(o.kind, OutcomeKind::SlipDuringLift);
    assert!((o.evidence.max_held_lift - 0.06).abs() < 1e-12);
}

#[test]
fn outcome_names_parse_back_and_a_bad_name_lists_the_choices() {
    for k in OutcomeKind::ALL {
        assert_eq!(k.name().parse::<OutcomeKind>(), Ok(k));
        assert_eq!(k.to_string(), k.name());
    }
    let e = "slipped".parse::<OutcomeKind>().unwrap_err();
    assert!(e.contains("`slipped`") && e.contains("slip_during_lift") && e.contains("physics_unstable"), "{e}");
    let t = OutcomeKind::tally([OutcomeKind::Success, OutcomeKind::Timeout, OutcomeKind::Success]);
    assert_eq!(t.len(), OutcomeKind::ALL.len(), "every outcome is listed");
    assert_eq!((t["success"], t["timeout"], t["missed_grasp"]), (2, 1, 0));
}
