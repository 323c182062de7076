//! Prometheus metrics of `strata serve --metrics ADDR`: request latency
//! histograms recorded around each request's dispatch, and the text
//! exposition (format 0.0.4) that `http` serves at `/metrics`
//! (the histograms are [`crate::latency`]'s).
//!
//! Families (every one with `# HELP` and `# TYPE`):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `strata_up` | gauge | |
//! | `strata_view_freshness_lag_seconds` | gauge | `view` (views with data) |
//! | `strata_view_newest_event_timestamp_seconds` | gauge | `view` (views with data) |
//! | `strata_view_last_ingest_timestamp_seconds` | gauge | `view` (views with data) |
//! | `strata_view_freshness_sla_seconds` | gauge | `view` (views with an SLA) |
//! | `strata_view_freshness_sla_violated` | gauge (0/1) | `view` (views with an SLA) |
//! | `strata_view_rows_ingested_total` | counter (since start) | `view` |
//! | `strata_view_rows_last_minute` | gauge | `view` |
//! | `strata_late_events_total` | counter (since start) | `view` (aggregation views), `outcome` (`rejected`, `corrected`) |
//! | `strata_request_duration_seconds` | histogram | `kind` |
//! | `strata_requests_total`, `strata_request_errors_total` | counter | |
//! | `strata_connections_active` | gauge | |
//! | `strata_segments`, `strata_sealed_memtables` | gauge | |
//! | `strata_unflushed_bytes`, `strata_segment_bytes` | gauge | |
//! | `strata_compactions_total` | counter | |
//!
//! Lags are measured at the engine's clock; views are the catalog's, named
//! `name` or `name@N`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use crate::http::{Request, Response};
use crate::latency::{BUCKETS, KINDS};
use crate::state::Shared;

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A sample value: integers without a fraction, non-finite values as
/// Prometheus spells them.
fn num(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{x}")
    }
}

fn secs(micros: i64) -> f64 {
    micros as f64 / 1e6
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The route of the metrics listener: `GET /metrics` (and `HEAD`); `404`
/// for any other path, `405` for any other method.
pub(crate) fn route(shared: &Arc<Shared>, req: Request) -> Response {
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return Response::text(405, "only GET /metrics\n");
    }
    if req.path != "/metrics" {
        return Response::text(404, "only /metrics is served\n");
    }
    let mut r = Response::new(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        render(shared),
    );
    r.head_only = head_only;
    r
}

/// The text exposition of every metric.
pub(crate) fn render(shared: &Shared) -> String {
    let mut out = String::with_capacity(8 << 10);
    let store = &shared.store;
    let engine = store.engine();
    let now = engine.clock().now();
    let report = strata_store::freshness::report(store, now);

    family(
        &mut out,
        "strata_up",
        "gauge",
        "1 while the server is serving.",
    );
    let up = u8::from(!shared.shutting_down());
    let _ = writeln!(out, "strata_up {up}");

    type PerView<'a> = (
        &'a str,
        &'a str,
        &'a str,
        fn(&strata_store::freshness::ViewReport, i64) -> Option<f64>,
    );
    let per_view: [PerView; 7] = [
        (
            "strata_view_freshness_lag_seconds",
            "gauge",
            "Seconds from the view's newest event time to now.",
            |v, now| v.lag_micros(now).map(secs),
        ),
        (
            "strata_view_newest_event_timestamp_seconds",
            "gauge",
            "The newest event time written to the view (Unix seconds).",
            |v, _| v.newest_event_ts.map(secs),
        ),
        (
            "strata_view_last_ingest_timestamp_seconds",
            "gauge",
            "When the view was last written to (Unix seconds).",
            |v, _| v.last_write_micros.map(secs),
        ),
        (
            "strata_view_freshness_sla_seconds",
            "gauge",
            "The view's freshness_sla.",
            |v, _| v.sla_micros.map(secs),
        ),
        (
            "strata_view_freshness_sla_violated",
            "gauge",
            "1 if the view's lag exceeds its freshness_sla (or it has no data), else 0.",
            |v, _| {
                v.sla_micros.map(|_| {
                    f64::from(u8::from(
                        v.status == strata_store::freshness::Status::Violated,
                    ))
                })
            },
        ),
        (
            "strata_view_rows_ingested_total",
            "counter",
            "Versions written to the view since the server started.",
            |v, _| Some(v.rows_since_open as f64),
        ),
        (
            "strata_view_rows_last_minute",
            "gauge",
            "Versions written to the view in the last minute.",
            |v, _| Some(v.rows_last_minute as f64),
        ),
    ];
    for (name, kind, help, value) in per_view {
        family(&mut out, name, kind, help);
        for v in &report.views {
            if let Some(x) = value(v, now) {
                let _ = writeln!(out, "{name}{{view=\"{}\"}} {}", label(&v.view), num(x));
            }
        }
    }

    let name = "strata_late_events_total";
    family(
        &mut out,
        name,
        "counter",
        "Events later than an aggregation view's allowed_lateness, since the server started, by outcome (rejected: not written; corrected: written, tiles corrected).",
    );
    let late = store.late_events();
    let cat = store.catalog();
    for v in cat.views.iter().filter(|v| v.is_aggregation()) {
        let l = late.get(&v.id).copied().unwrap_or_default();
        for (outcome, n) in [("rejected", l.rejected), ("corrected", l.corrected)] {
            let _ = writeln!(
                out,
                "{name}{{view=\"{}\",outcome=\"{outcome}\"}} {n}",
                label(&v.qualified_name())
            );
        }
    }

    let name = "strata_request_duration_seconds";
    family(
        &mut out,
        name,
        "histogram",
        "Time to handle a request, from its frame (or HTTP request) read to its answer built, by kind (HTTP lookups count as lookup).",
    );
    for ((_, kind), h) in KINDS.iter().zip(&shared.metrics.latency) {
        // Read the count first: buckets may run ahead of it, never behind.
        let count = h.count.load(Ordering::Relaxed);
        let mut cumulative = 0u64;
        for (i, b) in h.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |x| num(*x));
            let c = if i == BUCKETS.len() {
                count
            } else {
                cumulative.min(count)
            };
            let _ = writeln!(out, "{name}_bucket{{kind=\"{kind}\",le=\"{le}\"}} {c}");
        }
        let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{kind=\"{kind}\"}} {}", num(sum));
        let _ = writeln!(out, "{name}_count{{kind=\"{kind}\"}} {count}");
    }

    let c = &shared.counters;
    let e = engine.stats();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let scalars: [(&str, &str, &str, u64); 8] = [
        (
            "strata_requests_total",
            "counter",
            "Request frames received, and HTTP lookups.",
            get(&c.requests),
        ),
        (
            "strata_request_errors_total",
            "counter",
            "Requests answered with an Error frame, and HTTP lookups answered with an error status.",
            get(&c.errors),
        ),
        (
            "strata_connections_active",
            "gauge",
            "Open client connections.",
            get(&c.connections_active),
        ),
        (
            "strata_segments",
            "gauge",
            "Live segment files (compaction debt grows with them).",
            e.segments as u64,
        ),
        (
            "strata_sealed_memtables",
            "gauge",
            "Sealed memtables waiting to be flushed.",
            e.sealed_memtables as u64,
        ),
        (
            "strata_unflushed_bytes",
            "gauge",
            "Bytes in memtables (active and sealed), awaiting flush to segments.",
            e.memtable_bytes as u64,
        ),
        (
            "strata_segment_bytes",
            "gauge",
            "Bytes of live segment files.",
            e.segment_bytes,
        ),
        (
            "strata_compactions_total",
            "counter",
            "Compactions run since the server started.",
            e.compactions,
        ),
    ];
    for (name, kind, help, v) in scalars {
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(num(0.000_05), "0.00005");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(f64::INFINITY), "+Inf");
    }
}
