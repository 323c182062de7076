//! `strata freshness`: every feature view's lag against its
//! `freshness_sla`, from the store directory or from a server (`--server`,
//! the same output). Exits with [`EXIT_VIOLATED`] when any SLA is violated,
//! so that it can drive an alert.

use std::path::Path;

use strata::catalog::duration;
use strata::format::protocol::FreshnessRequest;
use strata::freshness::{self, Report};
use strata::offline::timestamp;

use super::parse::time_arg;
use super::remote::{RemoteArgs, client_error};
use super::{CliError, Result, outp, store_for_reading};

/// The exit code when at least one view violates its SLA.
pub const EXIT_VIOLATED: u8 = 3;

#[derive(clap::Args, Debug)]
pub struct FreshnessArgs {
    /// Measure the lags at this time (RFC 3339, a date, or µs since the epoch) [default: now, by the store's clock]
    #[arg(long, value_name = "T", value_parser = time_arg)]
    pub at: Option<i64>,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

pub fn run(dir: &Path, remote: &RemoteArgs, a: FreshnessArgs) -> Result {
    let report = if remote.active() {
        let client = remote.connect()?;
        let r = client
            .freshness(&FreshnessRequest { at: a.at })
            .map_err(client_error)?;
        client.close();
        r
    } else {
        let store = store_for_reading(dir)?;
        let now = a.at.unwrap_or_else(|| store.engine().clock().now());
        freshness::report(&store, now)
    };
    if a.json {
        outp!("{}", json(&report));
    } else {
        outp!("{}", table(&report));
    }
    let bad = report.violations();
    if bad.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = bad
        .iter()
        .map(|v| match v.lag_micros(report.now) {
            Some(lag) => format!(
                "{} (lag {} > sla {})",
                v.view,
                lag_text(lag),
                duration::format(v.sla_micros.unwrap_or(0))
            ),
            None => format!("{} (no data)", v.view),
        })
        .collect();
    Err(CliError::Exit(
        EXIT_VIOLATED,
        format!(
            "freshness SLA violated for {} of {} view(s): {}",
            bad.len(),
            report.views.len(),
            names.join(", ")
        ),
    ))
}

/// A lag to the second, largest units first (`1h59m59s`, `2d3h`, `0s`;
/// `-` before a newest event after `now`).
fn lag_text(micros: i64) -> String {
    let mut left = (micros / 1_000_000).unsigned_abs();
    let mut s = String::from(if micros <= -1_000_000 { "-" } else { "" });
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if left >= len {
            s.push_str(&format!("{}{unit}", left / len));
            left %= len;
        }
    }
    if s.is_empty() || s == "-" {
        s = "0s".into();
    }
    s
}

fn time_text(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), timestamp::format)
}

/// The text table: one line per view.
pub fn table(r: &Report) -> String {
    let rows: Vec<Vec<String>> = r
        .views
        .iter()
        .map(|v| {
            vec![
                v.view.clone(),
                time_text(v.newest_event_ts),
                time_text(v.last_write_micros),
                v.rows_last_minute.to_string(),
                v.lag_micros(r.now).map_or_else(|| "-".into(), lag_text),
                v.sla_micros.map_or_else(|| "-".into(), duration::format),
                v.status.name().to_string(),
            ]
        })
        .collect();
    let mut out = format!(
        "freshness at {}: {} view(s), {} violated\n",
        timestamp::format(r.now),
        r.views.len(),
        r.violations().len()
    );
    if !rows.is_empty() {
        out.push_str(&super::output::table(
            &[
                "view",
                "newest_event",
                "last_ingest",
                "rows/min",
                "lag",
                "sla",
                "status",
            ],
            &rows,
        ));
    }
    out
}

/// The JSON object: `now`, `ok`, `violated` and `views` (times RFC 3339
/// and µs, durations in seconds and as text).
pub fn json(r: &Report) -> String {
    let secs = |us: i64| us as f64 / 1e6;
    let views: Vec<serde_json::Value> = r
        .views
        .iter()
        .map(|v| {
            let lag = v.lag_micros(r.now);
            serde_json::json!({
                "view": v.view,
                "status": v.status.name(),
                "newest_event_ts": v.newest_event_ts.map(timestamp::format),
                "newest_event_ts_micros": v.newest_event_ts,
                "last_ingest": v.last_write_micros.map(timestamp::format),
                "last_ingest_micros": v.last_write_micros,
                "lag_seconds": lag.map(secs),
                "sla_seconds": v.sla_micros.map(secs),
                "sla": v.sla_micros.map(duration::format),
                "rows_since_open": v.rows_since_open,
                "rows_last_minute": v.rows_last_minute,
                "rows_last_hour": v.rows_last_hour,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "now": timestamp::format(r.now),
        "now_micros": r.now,
        "ok": r.all_met(),
        "violated": r.violations().iter().map(|v| v.view.clone()).collect::<Vec<_>>(),
        "views": views,
    });
    format!("{doc}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata::freshness::{Status, ViewReport};

    #[test]
    fn table_and_json() {
        let hour = 3_600_000_000;
        let r = Report {
            now: 10 * hour,
            views: vec![
                ViewReport {
                    view: "a".into(),
                    sla_micros: Some(hour),
                    newest_event_ts: Some(8 * hour + 1),
                    last_write_micros: Some(9 * hour),
                    rows_since_open: 5,
                    rows_last_minute: 2,
                    rows_last_hour: 5,
                    status: Status::Violated,
                },
                ViewReport {
                    view: "b@2".into(),
                    sla_micros: None,
                    newest_event_ts: None,
                    last_write_micros: None,
                    rows_since_open: 0,
                    rows_last_minute: 0,
                    rows_last_hour: 0,
                    status: Status::NoData,
                },
            ],
        };
        let t = table(&r);
        assert!(t.starts_with("freshness at 1970-01-01T10:00:00Z: 2 view(s), 1 violated\n"));
        assert!(
            t.contains("\na     1970-01-01T08:00:00.000001Z  1970-01-01T09:00:00Z  2  "),
            "{t}"
        );
        assert!(t.contains("1h59m59s  1h   VIOLATED"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(j["ok"], false);
        assert_eq!(j["violated"][0], "a");
        assert_eq!(j["views"][1]["status"], "NO_DATA");
        assert_eq!(j["views"][0]["sla_seconds"], 3600.0);
        assert_eq!(lag_text(0), "0s");
        assert_eq!(lag_text(999_999), "0s");
        assert_eq!(lag_text(-61_000_000), "-1m1s");
        assert_eq!(lag_text(90_061_000_000), "1d1h1m1s");
    }
}
