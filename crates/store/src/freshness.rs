//! Freshness of every feature view against its `freshness_sla`.
//!
//! The engine keeps, per view, the newest `event_ts` ever written and the
//! time of the last write ([`strata_engine::ViewFreshness`]). A report
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
//! (a [`Report`] is the protocol's `FreshnessResponse`, so both print the
//! same bytes).

use crate::Store;
use crate::catalog::FeatureView;

pub use strata_format::protocol::FreshnessStatus as Status;

/// One view's line of a [`Report`]: the protocol's record, so that the
/// local command and a server answer the same values.
pub use strata_format::protocol::ViewFreshnessInfo as ViewReport;

/// The freshness of a store's views at one time (lags measured at `now`,
/// views in catalog order).
pub use strata_format::protocol::FreshnessResponse as Report;

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
