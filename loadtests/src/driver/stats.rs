//! Percentiles and a fixed-bucket latency histogram.

use serde::Serialize;

/// p50/p95/p99/max of a sample.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// Summarizes a sample (nearest-rank percentiles); all zeros when empty.
pub fn summarize(values: &[f64]) -> Summary {
    if values.is_empty() {
        return Summary::default();
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    Summary {
        count: v.len(),
        mean: v.iter().sum::<f64>() / v.len() as f64,
        p50: rank(0.50),
        p95: rank(0.95),
        p99: rank(0.99),
        max: v[v.len() - 1],
    }
}

/// Counts of a sample in `bins` equal-width bins from 0 to its p99.9 (the tail goes in the last).
pub fn histogram(values: &[f64], bins: usize) -> (f64, Vec<usize>) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let top = v
        .get(((v.len() as f64 * 0.999) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(1.0)
        .max(1e-9);
    let width = top / bins as f64;
    let mut counts = vec![0; bins];
    for x in v {
        counts[((x / width) as usize).min(bins - 1)] += 1;
    }
    (width, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarize(&v);
        assert_eq!((s.p50, s.p95, s.p99, s.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(summarize(&[]).count, 0);
        let (_, h) = histogram(&v, 10);
        assert_eq!(h.iter().sum::<usize>(), 100);
    }
}
