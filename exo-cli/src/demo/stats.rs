//! The statistics of a multi-seed study: means with standard errors and Student-t intervals
//! across seeds, reward-vs-KL frontiers, and the paired comparison of two methods' frontiers.
//!
//! A **frontier** is the upper-left envelope of a run's `(KL, reward)` points (SFT at KL 0, and
//! every evaluated checkpoint of every β): the points that no other point beats with less or
//! equal KL, joined by straight lines. `R(x)` is the frontier's reward at KL `x`, for `x` between
//! 0 and the largest KL it reaches. Two methods are compared at equal KL by
//!
//! ```text
//! Δ_s(x) = R_a,s(x) − R_b,s(x)                       for each seed s (same SFT, same data)
//! Δ̄(x)  = mean_s Δ_s(x),  95% interval Δ̄ ± t_{0.975, n−1} · sd_s(Δ_s(x)) / √n
//! ```
//!
//! at `x` in a grid on `[0, X]`, `X` the largest KL that **every** seed's frontier of both
//! methods reaches, and by the average advantage `(1/X) ∫₀ˣ Δ_s(x) dx` (exact: both frontiers
//! are piecewise linear), paired by seed in the same way.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::eval::{mean, std_err};

/// A mean over seeds with its standard error and 95% Student-t interval (none for one seed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Seeds.
    pub n: usize,
    /// The mean.
    pub mean: f64,
    /// The standard error of the mean (none for one seed).
    pub se: Option<f64>,
    /// The 95% interval `mean ± t_{0.975, n−1}·se` (none for one seed).
    pub ci95: Option<(f64, f64)>,
}

impl Estimate {
    /// The estimate of the mean of `values` (one per seed).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = mean(values);
        if n < 2 {
            return Self {
                n,
                mean,
                se: None,
                ci95: None,
            };
        }
        let se = std_err(values);
        let half = t_quantile_975(n - 1) * se;
        Self {
            n,
            mean,
            se: Some(se),
            ci95: Some((mean - half, mean + half)),
        }
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (`df ≥ 1`).
pub fn t_quantile_975(df: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    StudentsT::new(0.0, 1.0, df.max(1) as f64).map_or(f64::NAN, |t| t.inverse_cdf(0.975))
}

/// The frontier of `(kl, reward)` points: sorted by KL, each point strictly better in reward
/// than every point of smaller or equal KL. Points with a non-finite coordinate are left out.
pub fn frontier(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    // By KL, and at equal KL the best reward first.
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut front: Vec<(f64, f64)> = Vec::new();
    for p in sorted {
        if front.last().is_none_or(|last| p.1 > last.1) {
            front.push(p);
        }
    }
    front
}

/// `R(x)`: the frontier's reward at KL `x`, by linear interpolation; `None` outside
/// `[first KL, last KL]`.
pub fn reward_at(front: &[(f64, f64)], x: f64) -> Option<f64> {
    let first = front.first()?;
    let last = front.last()?;
    if x < first.0 || x > last.0 {
        return None;
    }
    for w in front.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            return Some(if x1 > x0 {
                y0 + (y1 - y0) * (x - x0) / (x1 - x0)
            } else {
                y1
            });
        }
    }
    Some(last.1)
}

/// `(1/X) ∫₀ˣ (R_a − R_b) dx`, exactly (both are piecewise linear: the trapezoid rule over
/// every breakpoint of either is exact); `None` if either frontier does not cover `[0, X]` or
/// `X ≤ 0`.
pub fn average_difference(a: &[(f64, f64)], b: &[(f64, f64)], x_max: f64) -> Option<f64> {
    if x_max <= 0.0 || !x_max.is_finite() {
        return None;
    }
    let mut xs: Vec<f64> = std::iter::once(0.0)
        .chain(a.iter().chain(b).map(|p| p.0))
        .chain(std::iter::once(x_max))
        .filter(|x| (0.0..=x_max).contains(x))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let diff = |x: f64| Some(reward_at(a, x)? - reward_at(b, x)?);
    let mut area = 0.0;
    for w in xs.windows(2) {
        area += 0.5 * (diff(w[0])? + diff(w[1])?) * (w[1] - w[0]);
    }
    Some(area / x_max)
}

/// One point of a paired comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DifferenceAt {
    /// KL to SFT, nats.
    pub kl: f64,
    /// `R_a − R_b` over seeds.
    pub difference: Estimate,
}

/// Method `a` against method `b` at equal KL, paired by seed (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The first method.
    pub a: String,
    /// The second method.
    pub b: String,
    /// `X`: the largest KL every seed's frontier of both methods reaches.
    pub kl_max: f64,
    /// `Δ` at `X/4, X/2, 3X/4, X`.
    pub at: Vec<DifferenceAt>,
    /// The average advantage `(1/X) ∫₀ˣ Δ dx`.
    pub average: Estimate,
}

/// A per-seed statistic of two frontiers.
type Difference<'a> = dyn Fn(&[(f64, f64)], &[(f64, f64)]) -> Option<f64> + 'a;

/// Fractions of `X` at which [`compare`] reports `Δ`.
pub const GRID: [f64; 4] = [0.25, 0.5, 0.75, 1.0];

/// Compares the frontiers `a[s]` and `b[s]` of the same seeds `s`; `None` when there are no
/// seeds, the lengths differ, or the common KL range is empty.
pub fn compare(
    name_a: &str,
    a: &[Vec<(f64, f64)>],
    name_b: &str,
    b: &[Vec<(f64, f64)>],
) -> Option<Comparison> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let reach = |f: &Vec<(f64, f64)>| f.last().map_or(f64::NEG_INFINITY, |p| p.0);
    let kl_max = a.iter().chain(b).map(reach).fold(f64::INFINITY, f64::min);
    if kl_max <= 0.0 || !kl_max.is_finite() {
        return None;
    }
    let paired = |f: &Difference<'_>| -> Option<Estimate> {
        let d: Option<Vec<f64>> = a.iter().zip(b).map(|(fa, fb)| f(fa, fb)).collect();
        Some(Estimate::of(&d?))
    };
    let at = GRID
        .iter()
        .map(|g| {
            let kl = g * kl_max;
            let difference = paired(&|fa, fb| Some(reward_at(fa, kl)? - reward_at(fb, kl)?))?;
            Some(DifferenceAt { kl, difference })
        })
        .collect::<Option<Vec<_>>>()?;
    let average = paired(&|fa, fb| average_difference(fa, fb, kl_max))?;
    Some(Comparison {
        a: name_a.to_owned(),
        b: name_b.to_owned(),
        kl_max,
        at,
        average,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn the_frontier_keeps_only_points_no_smaller_kl_beats() {
        let f = frontier(&[
            (0.5, 0.2),
            (0.0, 0.1),
            (1.0, 0.15),
            (2.0, 0.4),
            (2.0, 0.3),
            (f64::NAN, 9.0),
        ]);
        assert_eq!(f, vec![(0.0, 0.1), (0.5, 0.2), (2.0, 0.4)]);
    }

    #[test]
    fn interpolation_is_linear_between_frontier_points_and_none_outside() {
        let f = vec![(0.0, 0.0), (1.0, 1.0), (3.0, 2.0)];
        assert!(close(reward_at(&f, 0.5).unwrap_or(f64::NAN), 0.5));
        assert!(close(reward_at(&f, 2.0).unwrap_or(f64::NAN), 1.5));
        assert!(close(reward_at(&f, 3.0).unwrap_or(f64::NAN), 2.0));
        assert_eq!(reward_at(&f, 3.5), None);
        assert_eq!(reward_at(&f, -0.1), None);
    }

    #[test]
    fn the_average_difference_integrates_piecewise_linear_curves_exactly() {
        // R_a(x) = x on [0, 2]; R_b(x) = x − 1 on [0, 1], then 2(x − 1) on [1, 2].
        let a = vec![(0.0, 0.0), (2.0, 2.0)];
        let b = vec![(0.0, -1.0), (1.0, 0.0), (2.0, 2.0)];
        // Δ(x) = 1 on [0,1] (a = x, b = x − 1), then Δ = x − (2x − 2) = 2 − x on [1, 2]:
        // ∫ = 1 + 0.5 = 1.5, average 0.75.
        let avg = average_difference(&a, &b, 2.0).unwrap_or(f64::NAN);
        assert!(close(avg, 0.75), "{avg}");
        assert_eq!(average_difference(&a, &b, 3.0), None);
    }

    #[test]
    fn a_known_shift_is_recovered_with_a_t_interval() {
        // Seed s: method a is method b shifted up by 0.1 + 0.01·(s − 2), s = 0..5; both reach
        // KL 1 at least, one seed of a reaches 2.
        let seeds = 5;
        let mut a = Vec::new();
        let mut b = Vec::new();
        for s in 0..seeds {
            let shift = 0.1 + 0.01 * (f64::from(s) - 2.0);
            b.push(vec![(0.0, 0.0), (1.0, 0.5), (1.5, 0.6)]);
            let reach = if s == 0 { 2.0 } else { 1.0 };
            a.push(vec![
                (0.0, 0.0),
                (0.25, 0.25 * 0.5 + shift),
                (reach, 0.5 * reach + shift),
            ]);
        }
        let c = compare("a", &a, "b", &b).unwrap_or_else(|| panic!("no comparison"));
        // X: the smallest reach, 1.0.
        assert!(close(c.kl_max, 1.0));
        // At X/2 = 0.5: Δ_s = shift_s (a's line from (0.25, 0.125 + shift) to (1, 0.5 + shift)
        // is 0.5x + shift; b's is 0.5x): mean 0.1, sd of (−0.02, −0.01, 0, 0.01, 0.02).
        let half = c.at[1].difference;
        assert!(close(half.mean, 0.1));
        let sd = (0.001_f64 / 4.0).sqrt();
        let se = sd / 5f64.sqrt();
        assert!(close(half.se.unwrap_or(f64::NAN), se));
        // t_{0.975, 4} = 2.776445105...
        let (lo, hi) = half.ci95.unwrap_or((f64::NAN, f64::NAN));
        assert!((hi - 0.1 - 2.776_445_105 * se).abs() < 1e-9);
        assert!(close(0.1 - lo, hi - 0.1));
        // One seed: no interval.
        let one = compare("a", &a[..1], "b", &b[..1]).unwrap_or_else(|| panic!("no comparison"));
        assert_eq!(one.average.ci95, None);
        // Mismatched or empty inputs: nothing to compare.
        assert!(compare("a", &a, "b", &b[..2]).is_none());
        assert!(compare("a", &[], "b", &[]).is_none());
    }

    #[test]
    fn t_quantiles_match_tables() {
        assert!((t_quantile_975(1) - 12.706_204_736).abs() < 1e-6);
        assert!((t_quantile_975(4) - 2.776_445_105).abs() < 1e-6);
        assert!((t_quantile_975(1000) - 1.962_339).abs() < 1e-5);
    }
}
