//! Freshness of every feature view against its `freshness_sla`.
//!
//! The engine keeps, per view, the newest `event_ts` ever written and the
//! time of the last write ([`crate::engine::ViewFreshness`]). A report
//! measures each view of the catalog at a time `now` (the caller's: `--at`,
//! or the engine clock):
//!
//! - **lag** = `now − newest event_ts` (negative if the newest event is
//!   after `now`);
//! - **status** ([`Status`]): `OK` if the view has an SLA and `lag ≤ sla`;
//!   `VIOLATED` if the lag exceeds the SLA, or the view has an SLA and no
//!   data at all; `NO_SLA` if it has data and no SLA; `NO_DATA` if it has
//!   neither.
//!
//! `strata freshness` prints the report and exits non-zero when any view is
//! `VIOLATED`; the server answers the same report to a `Freshness` request
//! (converted with [`Report::to_wire`] and [`Report::from_wire`], so both
//! print the same bytes).

use crate::catalog::FeatureView;
use crate::format::protocol::{FreshnessResponse, ViewFreshnessInfo};
use crate::store::Store;

pub use crate::format::protocol::FreshnessStatus as Status;

/// One view's line of a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewReport {
    /// `name`, or `name@N` for versions after the first.
    pub view: String,
    /// The view's `freshness_sla`, µs.
    pub sla_micros: Option<i64>,
    /// The newest event time written to the view (`None`: never written).
    pub newest_event_ts: Option<i64>,
    /// The engine clock at the view's last write.
    pub last_write_micros: Option<i64>,
    /// Versions written since the store was opened.
    pub rows_since_open: u64,
    pub rows_last_minute: u64,
    pub rows_last_hour: u64,
    pub status: Status,
}

impl ViewReport {
    /// `now − newest event_ts`, µs (`None` without data).
    pub fn lag_micros(&self, now: i64) -> Option<i64> {
        self.newest_event_ts.map(|t| now.saturating_sub(t))
    }
}

/// The freshness of a store's views at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The time lags are measured at (µs since the epoch).
    pub now: i64,
    /// In catalog order.
    pub views: Vec<ViewReport>,
}

impl Report {
    /// The views whose SLA is violated.
    pub fn violations(&self) -> Vec<&ViewReport> {
        self.views
            .iter()
            .filter(|v| v.status == Status::Violated)
            .collect()
    }

    /// Whether every SLA is met.
    pub fn all_met(&self) -> bool {
        self.views.iter().all(|v| v.status != Status::Violated)
    }

    pub fn to_wire(&self) -> FreshnessResponse {
        FreshnessResponse {
            now: self.now,
            views: self
                .views
                .iter()
                .map(|v| ViewFreshnessInfo {
                    view: v.view.clone(),
                    sla_micros: v.sla_micros,
                    newest_event_ts: v.newest_event_ts,
                    last_write_micros: v.last_write_micros,
                    rows_since_open: v.rows_since_open,
                    rows_last_minute: v.rows_last_minute,
                    rows_last_hour: v.rows_last_hour,
                    status: v.status,
                })
                .collect(),
        }
    }

    pub fn from_wire(r: FreshnessResponse) -> Report {
        Report {
            now: r.now,
            views: r
                .views
                .into_iter()
                .map(|v| ViewReport {
                    view: v.view,
                    sla_micros: v.sla_micros,
                    newest_event_ts: v.newest_event_ts,
                    last_write_micros: v.last_write_micros,
                    rows_since_open: v.rows_since_open,
                    rows_last_minute: v.rows_last_minute,
                    rows_last_hour: v.rows_last_hour,
                    status: v.status,
                })
                .collect(),
        }
    }
}

/// The status of a view with SLA `sla` whose newest event is `newest`, at
/// `now`.
pub fn status(sla: Option<i64>, newest: Option<i64>, now: i64) -> Status {
    match (sla, newest) {
        (Some(sla), Some(t)) if now.saturating_sub(t) <= sla => Status::Ok,
        (Some(_), _) => Status::Violated,
        (None, Some(_)) => Status::NoSla,
        (None, None) => Status::NoData,
    }
}

/// The report of every view of `store` at `now`.
pub fn report(store: &Store, now: i64) -> Report {
    report_of(store, now, |_| true)
}

/// The report of the views of `store` that `keep` accepts (the server keeps
/// those the token may read), at `now`.
pub fn report_of(store: &Store, now: i64, keep: impl Fn(&FeatureView) -> bool) -> Report {
    let engine = store.engine();
    let cat = store.catalog();
    let views = cat
        .views
        .iter()
        .filter(|v| keep(v))
        .map(|v| {
            // An aggregation view is as fresh as the events it aggregates.
            let data = match store.aggregations().view(v.id) {
                Some(r) => r.source.id,
                None => v.id,
            };
            let f = engine.freshness(data);
            let sla = v.freshness_sla_micros();
            let newest = f.map(|f| f.newest_event_ts);
            ViewReport {
                view: v.qualified_name(),
                sla_micros: sla,
                newest_event_ts: newest,
                last_write_micros: f.map(|f| f.last_write_micros),
                rows_since_open: f.map_or(0, |f| f.rows_since_open),
                rows_last_minute: f.map_or(0, |f| f.rows_last_minute),
                rows_last_hour: f.map_or(0, |f| f.rows_last_hour),
                status: status(sla, newest, now),
            }
        })
        .collect();
    Report { now, views }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status(Some(10), Some(100), 110), Status::Ok);
        assert_eq!(status(Some(10), Some(100), 111), Status::Violated);
        assert_eq!(status(Some(10), Some(200), 110), Status::Ok, "future event");
        assert_eq!(status(Some(10), None, 110), Status::Violated);
        assert_eq!(status(None, Some(1), 110), Status::NoSla);
        assert_eq!(status(None, None, 110), Status::NoData);
        assert_eq!(status(Some(0), Some(i64::MIN), i64::MAX), Status::Violated);
    }
}
