//! Length summaries (min, percentiles, max) for `exo data inspect`.

/// Summary of a list of lengths. Percentiles are nearest-rank: the smallest value with at
/// least p% of the values at or below it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LengthSummary {
    /// Number of values.
    pub count: usize,
    /// Smallest value.
    pub min: usize,
    /// Median (nearest rank).
    pub p50: usize,
    /// 90th percentile.
    pub p90: usize,
    /// 99th percentile.
    pub p99: usize,
    /// Largest value.
    pub max: usize,
    /// Arithmetic mean.
    pub mean: f64,
}

impl LengthSummary {
    /// Summarises `values` (sorted in place); `None` when empty.
    #[must_use]
    pub fn new(values: &mut [usize]) -> Option<Self> {
        values.sort_unstable();
        let (first, last) = (values.first()?, values.last()?);
        let n = values.len();
        let rank = |p: usize| values[(p * n).div_ceil(100).clamp(1, n) - 1];
        let sum: f64 = values.iter().map(|&v| v as f64).sum();
        Some(Self {
            count: n,
            min: *first,
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: *last,
            mean: sum / n as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<usize> = (1..=100).rev().collect();
        let s = LengthSummary::new(&mut v).unwrap();
        assert_eq!(
            (s.min, s.p50, s.p90, s.p99, s.max, s.count),
            (1, 50, 90, 99, 100, 100)
        );
        assert!((s.mean - 50.5).abs() < 1e-12);
        let s = LengthSummary::new(&mut [7]).unwrap();
        assert_eq!((s.p50, s.p99), (7, 7));
        assert!(LengthSummary::new(&mut []).is_none());
    }
}
