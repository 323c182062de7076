//! Request latency histograms per request kind, recorded around each
//! request's dispatch and exposed by `metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use strata_format::protocol::Kind;

/// Upper bounds of the latency buckets, seconds (then `+Inf`).
pub(crate) const BUCKETS: [f64; 17] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// The request kinds with a histogram, by label; `other` is any other
/// frame (unknown kinds, server kinds sent as requests).
pub(crate) const KINDS: [(Option<Kind>, &str); 13] = [
    (Some(Kind::Lookup), "lookup"),
    (Some(Kind::History), "history"),
    (Some(Kind::Push), "push"),
    (Some(Kind::ExportStart), "export"),
    (Some(Kind::RegistryList), "registry_list"),
    (Some(Kind::Describe), "describe"),
    (Some(Kind::Search), "search"),
    (Some(Kind::Stats), "stats"),
    (Some(Kind::Health), "health"),
    (Some(Kind::Freshness), "freshness"),
    (Some(Kind::Admin), "admin"),
    (Some(Kind::Hello), "hello"),
    (None, "other"),
];

#[derive(Debug)]
pub(crate) struct Histogram {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    pub buckets: [AtomicU64; BUCKETS.len() + 1],
    pub sum_nanos: AtomicU64,
    pub count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

/// Latency histograms per request kind. Recording is three relaxed atomic
/// additions.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub latency: [Histogram; KINDS.len()],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            latency: std::array::from_fn(|_| Histogram::default()),
        }
    }
}

impl Metrics {
    /// Records one request of `kind` that took `took`.
    pub fn observe(&self, kind: Option<Kind>, took: Duration) {
        let i = KINDS
            .iter()
            .position(|(k, _)| k.is_some() && *k == kind)
            .unwrap_or(KINDS.len() - 1);
        let h = &self.latency[i];
        let secs = took.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(BUCKETS.len());
        h.buckets[b].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        h.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        h.count.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observe_buckets() {
        let m = Metrics::default();
        m.observe(Some(Kind::Lookup), Duration::from_micros(30));
        m.observe(Some(Kind::Lookup), Duration::from_secs(60));
        m.observe(Some(Kind::Welcome), Duration::from_millis(2));
        m.observe(None, Duration::from_millis(2));
        let h = &m.latency[0];
        assert_eq!(h.count.load(Ordering::Relaxed), 2);
        assert_eq!(h.buckets[0].load(Ordering::Relaxed), 1);
        assert_eq!(h.buckets[BUCKETS.len()].load(Ordering::Relaxed), 1);
        assert_eq!(m.latency[KINDS.len() - 1].count.load(Ordering::Relaxed), 2);
    }
}
