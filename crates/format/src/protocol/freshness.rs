//! The freshness bodies: `Freshness` (the time to measure at) and
//! `FreshnessResult` (each readable view's freshness against its SLA).
//!
//! ```text
//! Freshness        = at opt_i64            (absent: the server's clock)
//! FreshnessResult  = now i64 | list< view str | sla_micros opt_i64
//!                    | newest_event_ts opt_i64 | last_write opt_i64
//!                    | rows_since_open u64 | rows_last_minute u64
//!                    | rows_last_hour u64 | status u8 >
//! ```

use crate::error::Reader;
use crate::tagged::tagged_enum;
use crate::varint;

use super::frame::WireError;
use super::messages::expect_end;
use super::values::*;
use super::{DecodeLimits, ErrorCode};

tagged_enum! {
    /// How a view's freshness compares with its `freshness_sla`.
    /// DO NOT CHANGE THESE TAGS: they are sent over the wire.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum FreshnessStatus: u8, from_u8 {
        /// The lag (now − newest event time) is within the SLA.
        Ok = 0 => "OK",
        /// The lag exceeds the SLA, or the view has an SLA and no data.
        Violated = 1 => "VIOLATED",
        /// The view has data and no `freshness_sla`.
        NoSla = 2 => "NO_SLA",
        /// The view has neither data nor an SLA.
        NoData = 3 => "NO_DATA",
    }
}

/// A `Freshness` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FreshnessRequest {
    /// Measure lags at this time (µs); `None`: the server's clock.
    pub at: Option<i64>,
}

impl FreshnessRequest {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_opt_i64(out, self.at);
    }

    pub fn decode(body: &[u8]) -> Result<FreshnessRequest, WireError> {
        let mut r = Reader::new(body, "freshness");
        let at = get_opt_i64(&mut r)?;
        expect_end(&r)?;
        Ok(FreshnessRequest { at })
    }
}

/// One view of a `FreshnessResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewFreshnessInfo {
    /// `name`, or `name@N` for versions after the first.
    pub view: String,
    pub sla_micros: Option<i64>,
    /// `None` if no version was ever written to the view.
    pub newest_event_ts: Option<i64>,
    pub last_write_micros: Option<i64>,
    pub rows_since_open: u64,
    pub rows_last_minute: u64,
    pub rows_last_hour: u64,
    pub status: FreshnessStatus,
}

/// A `FreshnessResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshnessResponse {
    /// The time the lags were measured at (µs).
    pub now: i64,
    pub views: Vec<ViewFreshnessInfo>,
}

/// Bytes an encoded [`ViewFreshnessInfo`] takes at least.
const MIN_VIEW_LEN: usize = 1 + 3 + 3 * 8 + 1;

impl FreshnessResponse {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.now.to_le_bytes());
        varint::put(out, self.views.len() as u64);
        for v in &self.views {
            put_str(out, &v.view);
            put_opt_i64(out, v.sla_micros);
            put_opt_i64(out, v.newest_event_ts);
            put_opt_i64(out, v.last_write_micros);
            for n in [v.rows_since_open, v.rows_last_minute, v.rows_last_hour] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            out.push(v.status as u8);
        }
    }

    pub fn decode(body: &[u8]) -> Result<FreshnessResponse, WireError> {
        let mut r = Reader::new(body, "freshness result");
        let now = r.i64()?;
        let n = get_count(&mut r, "views", usize::MAX, MIN_VIEW_LEN)?;
        let mut views = Vec::with_capacity(n);
        for _ in 0..n {
            let view = get_string(&mut r, DecodeLimits::default().max_name)?;
            let sla_micros = get_opt_i64(&mut r)?;
            let newest_event_ts = get_opt_i64(&mut r)?;
            let last_write_micros = get_opt_i64(&mut r)?;
            let rows_since_open = r.u64()?;
            let rows_last_minute = r.u64()?;
            let rows_last_hour = r.u64()?;
            let b = r.u8()?;
            let status = FreshnessStatus::from_u8(b)
                .ok_or_else(|| WireError::from(r.invalid(format!("freshness status {b}"))))?;
            views.push(ViewFreshnessInfo {
                view,
                sla_micros,
                newest_event_ts,
                last_write_micros,
                rows_since_open,
                rows_last_minute,
                rows_last_hour,
                status,
            });
        }
        expect_end(&r)?;
        Ok(FreshnessResponse { now, views })
    }
}

/// Whether a `Freshness` body decodes ([`super::check_request`]'s case).
pub(super) fn check(body: &[u8]) -> Result<(), ErrorCode> {
    FreshnessRequest::decode(body)
        .map(drop)
        .map_err(|e| e.code())
}

impl ViewFreshnessInfo {
    /// `now − newest event_ts`, µs (`None` without data).
    pub fn lag_micros(&self, now: i64) -> Option<i64> {
        self.newest_event_ts.map(|t| now.saturating_sub(t))
    }
}

impl FreshnessResponse {
    /// The views whose SLA is violated.
    pub fn violations(&self) -> Vec<&ViewFreshnessInfo> {
        self.views
            .iter()
            .filter(|v| v.status == FreshnessStatus::Violated)
            .collect()
    }

    /// Whether every SLA is met.
    pub fn all_met(&self) -> bool {
        self.views
            .iter()
            .all(|v| v.status != FreshnessStatus::Violated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        for at in [None, Some(-3), Some(i64::MAX)] {
            let mut out = Vec::new();
            FreshnessRequest { at }.encode(&mut out);
            assert_eq!(FreshnessRequest::decode(&out), Ok(FreshnessRequest { at }));
            out.push(0);
            assert!(FreshnessRequest::decode(&out).is_err(), "trailing byte");
        }
        let resp = FreshnessResponse {
            now: 1_700_000_000_000_000,
            views: vec![
                ViewFreshnessInfo {
                    view: "user_stats".into(),
                    sla_micros: Some(3_600_000_000),
                    newest_event_ts: Some(1_699_999_000_000_000),
                    last_write_micros: Some(1_699_999_999_000_000),
                    rows_since_open: 7,
                    rows_last_minute: 2,
                    rows_last_hour: 7,
                    status: FreshnessStatus::Ok,
                },
                ViewFreshnessInfo {
                    view: "risk@2".into(),
                    sla_micros: None,
                    newest_event_ts: None,
                    last_write_micros: None,
                    rows_since_open: 0,
                    rows_last_minute: 0,
                    rows_last_hour: 0,
                    status: FreshnessStatus::NoData,
                },
            ],
        };
        let mut out = Vec::new();
        resp.encode(&mut out);
        assert_eq!(FreshnessResponse::decode(&out).as_ref(), Ok(&resp));
        for cut in 0..out.len() {
            assert!(
                FreshnessResponse::decode(&out[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut bad = out.clone();
        *bad.last_mut().unwrap() = 9;
        assert!(FreshnessResponse::decode(&bad).is_err(), "unknown status");
        for s in FreshnessStatus::ALL {
            assert_eq!(FreshnessStatus::from_u8(s as u8), Some(s));
        }
    }
}
