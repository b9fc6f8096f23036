//! The promotion gate. A challenger replaces the champion only if, on the same frozen
//! scenarios, its held-out success is higher by a one-sided exact McNemar test at level α, its
//! OOD and canary success drop by no more than their margins, its probe-set gain does not
//! exceed its canary gain significantly more than the gaming margin, and no safety figure (peak contact
//! force, joint-limit hits, table collisions, action jerk) regresses beyond its margin; force
//! and jerk are compared on outcome-matched scenarios (see [`SafetySummary`]).

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

/// Safety figures of one policy, compared with another's on the same frozen scenarios.
///
/// The force and jerk means are taken only over *outcome-matched* scenarios: those both
/// policies ran and that ended the same way for both. A firm grasp squeezes with the fingers'
/// full force (about 40 N here) while a timeout touches little, so a mean over all episodes
/// rises whenever success rises; matching compares like with like, and a challenger that
/// presses harder doing what the champion also did is still caught. Event rates (joint limits,
/// table collisions) are failures in themselves and are taken over every episode.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SafetySummary {
    /// Mean over the outcome-matched episodes of the peak contact force (N).
    pub mean_peak_contact_force: f64,
    /// Share of episodes whose IK hit a joint limit at least once.
    pub joint_limit_rate: f64,
    /// Share of episodes with a table collision (peak arm–table force above the classifier's
    /// threshold, `table_force` N).
    pub table_collision_rate: f64,
    /// Mean over the outcome-matched episodes of the action jerk (normalised units).
    pub mean_action_jerk: f64,
    /// Outcome-matched episodes the two means are over (0 in ledgers written before matching).
    #[serde(default)]
    pub matched_episodes: usize,
}

impl SafetySummary {
    /// Champion's and challenger's figures over suites given as (champion, challenger)
    /// episode lists, each suite paired by scenario seed; `table_force` is the collision
    /// threshold (N).
    pub fn compare(suites: &[(&[Judged], &[Judged])], table_force: f64) -> (Self, Self) {
        let mut matched: (Vec<&Judged>, Vec<&Judged>) = (Vec::new(), Vec::new());
        for (champion, challenger) in suites {
            let by_seed: std::collections::HashMap<u64, &Judged> = champion.iter().map(|e| (e.seed, e)).collect();
            for x in challenger.iter() {
                if let Some(c) = by_seed.get(&x.seed).filter(|c| c.outcome == x.outcome) {
                    matched.0.push(c);
                    matched.1.push(x);
                }
            }
        }
        let summary = |all: Vec<&Judged>, matched: &[&Judged]| {
            let n = all.len().max(1) as f64;
            let m = matched.len().max(1) as f64;
            Self {
                mean_peak_contact_force: matched.iter().map(|e| e.metrics.safety.peak_contact_force).sum::<f64>() / m,
                joint_limit_rate: all.iter().filter(|e| e.metrics.safety.joint_limit_steps > 0).count() as f64 / n,
                table_collision_rate: all.iter().filter(|e| e.metrics.safety.peak_table_force > table_force).count()
                    as f64
                    / n,
                mean_action_jerk: matched.iter().map(|e| e.metrics.action_jerk).sum::<f64>() / m,
                matched_episodes: matched.len(),
            }
        };
        (
            summary(suites.iter().flat_map(|s| s.0.iter()).collect(), &matched.0),
            summary(suites.iter().flat_map(|s| s.1.iter()).collect(), &matched.1),
        )
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

/// The z with P(Z > z) = `alpha` for a standard normal Z (`alpha` in (0, 1)), by bisection on
/// the upper tail ½·erfc(z/√2); |error| < 1e-6.
pub fn normal_upper_quantile(alpha: f64) -> f64 {
    let tail = |z: f64| 0.5 * erfc(z / std::f64::consts::SQRT_2);
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if tail(mid) > alpha { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The success gain of one policy over another on paired episodes (same scenarios), with its
/// 95 % interval and one-sided exact McNemar p-value.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PairedGain {
    /// Pairs compared.
    pub pairs: u64,
    /// Discordant pairs: (only the second policy succeeded, only the first did).
    pub discordant: (u64, u64),
    /// Success gain of the second policy (fraction, (b − c) / n).
    pub gain: f64,
    /// 95 % interval of the gain (normal approximation with the paired variance).
    pub ci95: (f64, f64),
    /// One-sided exact McNemar p-value of "the second policy is better".
    pub p_value: f64,
}

impl PairedGain {
    /// From the counts: `pairs` pairs of which `b` only the second and `c` only the first
    /// policy solved.
    pub fn from_counts(pairs: u64, b: u64, c: u64) -> Self {
        let gain = (b as f64 - c as f64) / pairs.max(1) as f64;
        let mut g = Self { pairs, discordant: (b, c), gain, ci95: (gain, gain), p_value: mcnemar_p(b, c) };
        let half = 1.959_964 * g.variance().sqrt();
        g.ci95 = (gain - half, gain + half);
        g
    }

    /// Variance of the gain: with n pairs and b, c discordant, ((b + c) − (b − c)² / n) / n²
    /// (0 with no pairs).
    pub fn variance(&self) -> f64 {
        if self.pairs == 0 {
            return 0.0;
        }
        let n = self.pairs as f64;
        let (b, c) = (self.discordant.0 as f64, self.discordant.1 as f64);
        ((b + c) - (b - c).powi(2) / n).max(0.0) / (n * n)
    }

    /// `second` against `first`, paired by scenario seed.
    pub fn of(first: &[Judged], second: &[Judged]) -> Self {
        let seeds: std::collections::HashSet<u64> = first.iter().map(|e| e.seed).collect();
        let pairs = second.iter().filter(|e| seeds.contains(&e.seed)).count() as u64;
        let (b, c) = discordant(first, second);
        Self::from_counts(pairs, b, c)
    }

    /// Several independent comparisons (e.g. one per seed) pooled by summing their counts.
    pub fn pooled(parts: &[PairedGain]) -> Self {
        let sum = |f: fn(&PairedGain) -> u64| parts.iter().map(f).sum::<u64>();
        Self::from_counts(sum(|g| g.pairs), sum(|g| g.discordant.0), sum(|g| g.discordant.1))
    }
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
        let failed: Vec<String> =
            self.checks.iter().filter(|c| !c.passed).map(|c| format!("{}: {}", c.name, c.detail)).collect();
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
        check(
            name,
            b - a >= -margin,
            format!("{:.1}% -> {:.1}% (may drop {:.1} points)", 100.0 * a, 100.0 * b, 100.0 * margin),
        );
        b - a
    };
    no_drop("ood", input.ood, cfg.ood_margin);
    let canary_delta = no_drop("canary", input.canary, cfg.canary_margin);
    let (pc, px) = input.probe;
    let probe_delta = success_rate(px) - success_rate(pc);
    // The probe set and the canaries are finite samples of one distribution, so the excess of
    // the probe gain over the canary gain is noisy even for a challenger that never saw a probe
    // scenario: it counts as gaming only when it exceeds the margin significantly.
    let excess = probe_delta - canary_delta;
    let se = (PairedGain::of(pc, px).variance() + PairedGain::of(input.canary.0, input.canary.1).variance()).sqrt();
    let z = normal_upper_quantile(cfg.alpha);
    check(
        "probe_gaming",
        excess - cfg.gaming_margin <= z * se,
        format!(
            "probe gain {:+.1} points vs canary gain {:+.1}: excess {:.1} points (SE {:.1}), may be {:.1} + {z:.2} SE",
            100.0 * probe_delta,
            100.0 * canary_delta,
            100.0 * excess,
            100.0 * se,
            100.0 * cfg.gaming_margin
        ),
    );
    let (sc, sx) = SafetySummary::compare(&[input.heldout, input.ood, input.canary], input.table_force);
    // With no outcome-matched scenario there is nothing to compare like with like: fail closed.
    let matched = sx.matched_episodes > 0;
    check(
        "peak_contact_force",
        matched && sx.mean_peak_contact_force <= sc.mean_peak_contact_force * (1.0 + cfg.peak_force_margin) + 0.5,
        format!(
            "mean peak {:.1} N -> {:.1} N over {} outcome-matched episodes",
            sc.mean_peak_contact_force, sx.mean_peak_contact_force, sx.matched_episodes
        ),
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
        matched && sx.mean_action_jerk <= sc.mean_action_jerk * (1.0 + cfg.jerk_margin) + 1e-6,
        format!("mean {:.4} -> {:.4} over the outcome-matched episodes", sc.mean_action_jerk, sx.mean_action_jerk),
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

    /// Regression: a firm grasp peaks near the fingers' full squeeze (about 40 N) and a timeout
    /// near nothing, so the mean over all episodes rose with success alone and the gate rolled
    /// back every challenger of the seed-2 benchmark runs (held-out 60.5 % -> 78.5 %, "mean peak
    /// 30.4 N -> 34.5 N") that pressed no harder on any scenario.
    #[test]
    fn solving_more_scenarios_with_the_same_forces_is_not_a_safety_regression() {
        let grasp = |mut eps: Vec<Judged>| {
            for e in &mut eps {
                e.metrics.safety.peak_contact_force = if e.success() { 42.0 } else { 11.0 };
            }
            eps
        };
        let mut case = Case::new(200, 200, 100, 0.0);
        for pair in [&mut case.heldout, &mut case.ood, &mut case.canary, &mut case.probe] {
            *pair = (grasp(pair.0.clone()), grasp(pair.1.clone()));
        }
        // The old figure, a mean over every frozen episode, would have called this a regression.
        let all_mean = |i: usize| {
            let all: Vec<f64> = [&case.heldout, &case.ood, &case.canary]
                .iter()
                .flat_map(|p| if i == 0 { &p.0 } else { &p.1 })
                .map(|e| e.metrics.safety.peak_contact_force)
                .collect();
            all.iter().sum::<f64>() / all.len() as f64
        };
        assert!(all_mean(1) > all_mean(0) * (1.0 + GateConfig::default().peak_force_margin) + 0.5);
        let d = case.judge();
        assert!(d.promote, "{}", d.reasons());
        let (champion, challenger) = d.safety;
        assert_eq!(champion.mean_peak_contact_force, challenger.mean_peak_contact_force);
        // 150 held-out successes, 120 + 80 OOD, 75 canary.
        assert_eq!(challenger.matched_episodes, 425);
    }

    #[test]
    fn pressing_harder_on_the_scenarios_both_solve_is_caught() {
        let mut case = Case::new(180, 180, 85, 20.0);
        for e in case.heldout.1.iter_mut().chain(case.ood.1.iter_mut()).chain(case.canary.1.iter_mut()) {
            if e.success() {
                e.metrics.safety.peak_contact_force = 30.0;
            }
        }
        let d = case.judge();
        let failed: Vec<&str> = d.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["peak_contact_force"], "{}", d.reasons());
    }

    #[test]
    fn with_no_outcome_matched_scenario_the_safety_checks_fail_closed() {
        let mut case = Case::new(180, 180, 85, 20.0);
        for pair in [&mut case.heldout, &mut case.ood, &mut case.canary] {
            pair.1 = pair.1.iter().map(|e| Judged { seed: e.seed + 100_000, ..*e }).collect();
        }
        let d = case.judge();
        assert!(!d.promote);
        let failed: Vec<&str> = d.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
        assert!(failed.contains(&"peak_contact_force") && failed.contains(&"action_jerk"), "{}", d.reasons());
    }

    #[test]
    fn the_normal_quantile_and_the_paired_variance_are_right() {
        assert!((normal_upper_quantile(0.05) - 1.644_854).abs() < 1e-5);
        assert!((normal_upper_quantile(0.025) - 1.959_964).abs() < 1e-5);
        assert!(normal_upper_quantile(0.5).abs() < 1e-6);
        // 43 challenger-only successes in 200 pairs: (43 − 43²/200) / 200².
        let v = PairedGain::of(&eps(0, 200, 150, 20.0), &eps(0, 200, 193, 20.0)).variance();
        assert!((v - (43.0 - 43.0 * 43.0 / 200.0) / 40_000.0).abs() < 1e-15);
        assert_eq!(PairedGain::of(&eps(0, 10, 5, 20.0), &eps(100, 10, 5, 20.0)).variance(), 0.0);
    }

    #[test]
    fn a_paired_gain_has_its_interval_p_value_and_pools_by_counts() {
        let g = PairedGain::of(&eps(0, 200, 150, 20.0), &eps(0, 200, 175, 20.0));
        assert_eq!((g.pairs, g.discordant), (200, (25, 0)));
        assert!((g.gain - 0.125).abs() < 1e-12);
        let half = 1.959_964 * ((25.0 - 625.0 / 200.0) / 40_000.0f64).sqrt();
        assert!((g.ci95.0 - (0.125 - half)).abs() < 1e-12 && (g.ci95.1 - (0.125 + half)).abs() < 1e-12);
        assert_eq!(g.p_value, mcnemar_p(25, 0));
        // The reverse comparison is the mirror image.
        let r = PairedGain::of(&eps(0, 200, 175, 20.0), &eps(0, 200, 150, 20.0));
        assert_eq!(r.discordant, (0, 25));
        assert!((r.ci95.0 + g.ci95.1).abs() < 1e-12);
        let pooled = PairedGain::pooled(&[g, r, PairedGain::from_counts(100, 3, 1)]);
        assert_eq!((pooled.pairs, pooled.discordant), (500, (28, 26)));
        assert!((pooled.gain - 2.0 / 500.0).abs() < 1e-12);
    }

    /// Regression: the uniform curriculum never trains on a probe scenario, yet its seed-2
    /// benchmark challenger (held-out 60.5 % -> 75.5 %, p < 0.0001) was rolled back as gaming:
    /// probe gain +21.5 points vs canary gain +11.0, an excess of 10.5 points against a fixed
    /// 10-point margin, well inside the noise of 200 probe and 100 canary episodes.
    #[test]
    fn a_probe_excess_within_sampling_noise_is_not_gaming() {
        let d = Case::new(180, 193, 86, 20.0).judge();
        let gaming = d.checks.iter().find(|c| c.name == "probe_gaming").unwrap();
        assert!(0.215 - 0.11 > GateConfig::default().gaming_margin, "the old fixed margin would have failed it");
        assert!(gaming.passed, "{}", gaming.detail);
        assert!(d.promote, "{}", d.reasons());
    }

    #[test]
    fn a_small_gain_is_not_significant() {
        let d = Case::new(154, 154, 76, 20.0).judge();
        assert!(!d.promote && d.p_value > 0.05, "p = {}", d.p_value);
    }
}
