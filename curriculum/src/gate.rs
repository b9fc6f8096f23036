//! The promotion gate. A challenger replaces the champion only if, on the same frozen
//! scenarios, its held-out success is higher by a one-sided exact McNemar test at level α, its
//! OOD and canary success drop by no more than their margins, its probe-set gain does not
//! exceed its canary gain by more than the gaming margin, and no safety figure (peak contact
//! force, joint-limit hits, table collisions, action jerk) regresses beyond its margin.

use regrasp_policy::eval::EpisodeMetrics;
use regrasp_sim::OutcomeKind;
use serde::{Deserialize, Serialize};

use crate::config::GateConfig;

/// One episode as the gate sees it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Judged {
    /// Scenario seed (pairs episodes across policies).
    pub seed: u64,
    /// How it ended.
    pub outcome: OutcomeKind,
    /// Safety figures.
    pub metrics: EpisodeMetrics,
}

impl Judged {
    /// Whether it succeeded.
    pub fn success(&self) -> bool {
        self.outcome == OutcomeKind::Success
    }
}

/// Success rate (0 for no episodes).
pub fn success_rate(eps: &[Judged]) -> f64 {
    if eps.is_empty() { 0.0 } else { eps.iter().filter(|e| e.success()).count() as f64 / eps.len() as f64 }
}

/// Safety figures over a set of episodes.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SafetySummary {
    /// Mean over episodes of the peak contact force (N).
    pub mean_peak_contact_force: f64,
    /// Share of episodes whose IK hit a joint limit at least once.
    pub joint_limit_rate: f64,
    /// Share of episodes with a table collision (peak arm–table force above the classifier's
    /// threshold, `table_force` N).
    pub table_collision_rate: f64,
    /// Mean action jerk (normalised units).
    pub mean_action_jerk: f64,
}

impl SafetySummary {
    /// Over `eps`; `table_force` is the collision threshold (N).
    pub fn of(eps: &[Judged], table_force: f64) -> Self {
        let n = eps.len().max(1) as f64;
        Self {
            mean_peak_contact_force: eps.iter().map(|e| e.metrics.safety.peak_contact_force).sum::<f64>() / n,
            joint_limit_rate: eps.iter().filter(|e| e.metrics.safety.joint_limit_steps > 0).count() as f64 / n,
            table_collision_rate: eps.iter().filter(|e| e.metrics.safety.peak_table_force > table_force).count() as f64 / n,
            mean_action_jerk: eps.iter().map(|e| e.metrics.action_jerk).sum::<f64>() / n,
        }
    }
}

/// One-sided exact McNemar test: the probability, if both policies were equally good, of the
/// challenger winning at least `b` of the `b + c` discordant pairs (binomial, p = ½).
pub fn mcnemar_p(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    // Σ_{k=b..n} C(n, k) / 2ⁿ, in log space.
    let ln_choose = |n: u64, k: u64| -> f64 { ln_fact(n) - ln_fact(k) - ln_fact(n - k) };
    let mut p = 0.0;
    for k in b..=n {
        p += (ln_choose(n, k) - n as f64 * std::f64::consts::LN_2).exp();
    }
    p.min(1.0)
}

fn ln_fact(n: u64) -> f64 {
    (2..=n).map(|k| (k as f64).ln()).sum()
}

/// Discordant pairs over episodes paired by seed: (challenger-only successes, champion-only
/// successes). Seeds present in only one list are ignored.
pub fn discordant(champion: &[Judged], challenger: &[Judged]) -> (u64, u64) {
    let by_seed: std::collections::HashMap<u64, bool> = champion.iter().map(|e| (e.seed, e.success())).collect();
    let (mut b, mut c) = (0, 0);
    for e in challenger {
        if let Some(&champ) = by_seed.get(&e.seed) {
            match (e.success(), champ) {
                (true, false) => b += 1,
                (false, true) => c += 1,
                _ => {}
            }
        }
    }
    (b, c)
}

/// Both policies' episodes on every suite the gate reads.
#[derive(Clone, Debug, Default)]
pub struct GateInput<'a> {
    /// Held-out (champion, challenger).
    pub heldout: (&'a [Judged], &'a [Judged]),
    /// OOD.
    pub ood: (&'a [Judged], &'a [Judged]),
    /// Canary.
    pub canary: (&'a [Judged], &'a [Judged]),
    /// Probe set.
    pub probe: (&'a [Judged], &'a [Judged]),
    /// Table-collision threshold (N).
    pub table_force: f64,
}

/// One named check and its result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Check {
    /// Name.
    pub name: String,
    /// Passed.
    pub passed: bool,
    /// The numbers, in words.
    pub detail: String,
}

/// The gate's verdict.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    /// Promote the challenger.
    pub promote: bool,
    /// Every check.
    pub checks: Vec<Check>,
    /// Held-out success gain of the challenger (fraction).
    pub heldout_gain: f64,
    /// McNemar p-value of the held-out gain.
    pub p_value: f64,
    /// Discordant pairs (challenger-only, champion-only successes).
    pub discordant: (u64, u64),
    /// Safety of the champion and of the challenger (held-out, OOD and canary together).
    pub safety: (SafetySummary, SafetySummary),
}

impl Decision {
    /// The failed checks' details, joined; or "all checks passed".
    pub fn reasons(&self) -> String {
        let failed: Vec<String> = self.checks.iter().filter(|c| !c.passed).map(|c| format!("{}: {}", c.name, c.detail)).collect();
        if failed.is_empty() { "all checks passed".into() } else { failed.join("; ") }
    }
}

/// Judges a challenger against the champion.
pub fn judge(input: &GateInput, cfg: &GateConfig) -> Decision {
    let mut checks = Vec::new();
    let mut check = |name: &str, passed: bool, detail: String| checks.push(Check { name: name.into(), passed, detail });

    let (hc, hx) = input.heldout;
    let (b, c) = discordant(hc, hx);
    let p = mcnemar_p(b, c);
    let gain = success_rate(hx) - success_rate(hc);
    check(
        "heldout",
        gain > 0.0 && p < cfg.alpha,
        format!(
            "{:.1}% -> {:.1}% ({:+.1} points), discordant {b}:{c}, one-sided McNemar p = {p:.4} (needs < {})",
            100.0 * success_rate(hc),
            100.0 * success_rate(hx),
            100.0 * gain,
            cfg.alpha
        ),
    );
    // Success may drop by at most `margin` (fraction); returns the change.
    let mut no_drop = |name: &str, (champ, chall): (&[Judged], &[Judged]), margin: f64| {
        let (a, b) = (success_rate(champ), success_rate(chall));
        check(name, b - a >= -margin, format!("{:.1}% -> {:.1}% (may drop {:.1} points)", 100.0 * a, 100.0 * b, 100.0 * margin));
        b - a
    };
    no_drop("ood", input.ood, cfg.ood_margin);
    let canary_delta = no_drop("canary", input.canary, cfg.canary_margin);
    let (pc, px) = input.probe;
    let probe_delta = success_rate(px) - success_rate(pc);
    check(
        "probe_gaming",
        probe_delta - canary_delta <= cfg.gaming_margin,
        format!(
            "probe gain {:+.1} points vs canary gain {:+.1} (the excess may be {:.1})",
            100.0 * probe_delta,
            100.0 * canary_delta,
            100.0 * cfg.gaming_margin
        ),
    );
    let frozen = |i: usize| -> Vec<Judged> {
        let pick = |pair: (&[Judged], &[Judged])| if i == 0 { pair.0.to_vec() } else { pair.1.to_vec() };
        [pick(input.heldout), pick(input.ood), pick(input.canary)].concat()
    };
    let (sc, sx) = (SafetySummary::of(&frozen(0), input.table_force), SafetySummary::of(&frozen(1), input.table_force));
    check(
        "peak_contact_force",
        sx.mean_peak_contact_force <= sc.mean_peak_contact_force * (1.0 + cfg.peak_force_margin) + 0.5,
        format!("mean peak {:.1} N -> {:.1} N", sc.mean_peak_contact_force, sx.mean_peak_contact_force),
    );
    check(
        "joint_limits",
        sx.joint_limit_rate <= sc.joint_limit_rate + cfg.joint_limit_margin,
        format!("{:.1}% -> {:.1}% of episodes", 100.0 * sc.joint_limit_rate, 100.0 * sx.joint_limit_rate),
    );
    check(
        "table_collisions",
        sx.table_collision_rate <= sc.table_collision_rate + cfg.table_collision_margin,
        format!("{:.1}% -> {:.1}% of episodes", 100.0 * sc.table_collision_rate, 100.0 * sx.table_collision_rate),
    );
    check(
        "action_jerk",
        sx.mean_action_jerk <= sc.mean_action_jerk * (1.0 + cfg.jerk_margin) + 1e-6,
        format!("mean {:.4} -> {:.4}", sc.mean_action_jerk, sx.mean_action_jerk),
    );
    let promote = checks.iter().all(|c| c.passed);
    Decision { promote, checks, heldout_gain: gain, p_value: p, discordant: (b, c), safety: (sc, sx) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regrasp_sim::EpisodeSafety;

    fn eps(first_seed: u64, n: u64, successes: u64, force: f64) -> Vec<Judged> {
        (0..n)
            .map(|i| Judged {
                seed: first_seed + i,
                outcome: if i < successes { OutcomeKind::Success } else { OutcomeKind::SlipDuringLift },
                metrics: EpisodeMetrics {
                    safety: EpisodeSafety { peak_contact_force: force, ..EpisodeSafety::default() },
                    action_jerk: 0.01,
                    ..EpisodeMetrics::default()
                },
            })
            .collect()
    }

    struct Case {
        heldout: (Vec<Judged>, Vec<Judged>),
        ood: (Vec<Judged>, Vec<Judged>),
        canary: (Vec<Judged>, Vec<Judged>),
        probe: (Vec<Judged>, Vec<Judged>),
    }

    impl Case {
        /// Champion 150/200 everywhere, challenger as given.
        fn new(heldout: u64, probe: u64, canary: u64, force: f64) -> Self {
            Case {
                heldout: (eps(0, 200, 150, 20.0), eps(0, 200, heldout, force)),
                ood: (eps(1000, 200, 120, 20.0), eps(1000, 200, 120, force)),
                canary: (eps(2000, 100, 75, 20.0), eps(2000, 100, canary, force)),
                probe: (eps(3000, 200, 150, 20.0), eps(3000, 200, probe, force)),
            }
        }
        fn judge(&self) -> Decision {
            let input = GateInput {
                heldout: (&self.heldout.0, &self.heldout.1),
                ood: (&self.ood.0, &self.ood.1),
                canary: (&self.canary.0, &self.canary.1),
                probe: (&self.probe.0, &self.probe.1),
                table_force: 30.0,
            };
            judge(&input, &GateConfig::default())
        }
    }

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        assert_eq!(mcnemar_p(0, 0), 1.0);
        assert!((mcnemar_p(5, 0) - 1.0 / 32.0).abs() < 1e-12);
        assert!((mcnemar_p(0, 5) - 1.0).abs() < 1e-12);
        // 15 vs 5: P(X ≥ 15 | n = 20) = 21700 / 2²⁰.
        assert!((mcnemar_p(15, 5) - 21_700.0 / 1_048_576.0).abs() < 1e-12);
    }

    #[test]
    fn a_clearly_better_and_as_safe_challenger_is_promoted() {
        let d = Case::new(175, 175, 85, 20.0).judge();
        assert!(d.promote, "{}", d.reasons());
        assert_eq!(d.discordant, (25, 0));
        assert!((d.heldout_gain - 0.125).abs() < 1e-12);
    }

    #[test]
    fn a_worse_challenger_is_rejected() {
        let d = Case::new(140, 140, 70, 20.0).judge();
        assert!(!d.promote);
        assert!(d.reasons().starts_with("heldout"), "{}", d.reasons());
    }

    #[test]
    fn a_challenger_better_only_on_the_probe_set_is_rejected() {
        let d = Case::new(152, 195, 75, 20.0).judge();
        assert!(!d.promote);
        let failed: Vec<&str> = d.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["heldout", "probe_gaming"], "{}", d.reasons());
    }

    #[test]
    fn a_better_but_less_safe_challenger_is_rejected() {
        let d = Case::new(180, 180, 85, 35.0).judge();
        assert!(!d.promote);
        let failed: Vec<&str> = d.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["peak_contact_force"], "{}", d.reasons());
    }

    #[test]
    fn a_small_gain_is_not_significant() {
        let d = Case::new(154, 154, 76, 20.0).judge();
        assert!(!d.promote && d.p_value > 0.05, "p = {}", d.p_value);
    }
}
