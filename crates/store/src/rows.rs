//! Reads turned into rows of values and statuses.

use super::{FeatureRow, Status};
use crate::catalog::FeatureView;
use strata_engine::{self as engine, Version};
use strata_format::row;
use strata_format::schema::{FeatureType, Value};

/// The row of an aggregation read at `at`: `None` (no event yet) gives
/// `NOT_FOUND` (and the declared defaults); otherwise every value is
/// present or null. `event_ts` and `created_ts` are the read time: the
/// values are computed for it.
pub fn aggregate_row(view: &FeatureView, values: Option<Vec<Value>>, at: i64) -> FeatureRow {
    let n = view.features.len();
    match values {
        None => {
            let mut values = vec![Value::Null; n];
            crate::catalog::meta::fill_defaults(view, &mut values, |_| false);
            FeatureRow {
                event_ts: None,
                created_ts: None,
                values,
                statuses: vec![Status::NotFound; n],
            }
        }
        Some(values) => FeatureRow {
            event_ts: Some(at),
            created_ts: Some(at),
            statuses: values.iter().map(status_of).collect(),
            values,
        },
    }
}

fn status_of(v: &Value) -> Status {
    if v.is_null() {
        Status::NullValue
    } else {
        Status::Present
    }
}

/// Turns the version a read found into per-feature values and statuses.
pub fn feature_row(
    view: &FeatureView,
    found: Option<&Version>,
    at: i64,
) -> Result<FeatureRow, engine::Error> {
    feature_row_of(
        view,
        found.map(|v| (v.event_ts, v.created_ts, v.row.as_slice())),
        at,
    )
}

/// [`feature_row`] of a version `(event_ts, created_ts, row)` borrowed from
/// the engine.
pub fn feature_row_of(
    view: &FeatureView,
    found: Option<(i64, i64, &[u8])>,
    at: i64,
) -> Result<FeatureRow, engine::Error> {
    let defaults = || {
        let mut values = vec![Value::Null; view.features.len()];
        crate::catalog::meta::fill_defaults(view, &mut values, |_| false);
        values
    };
    row_from(view, &view.schema(), defaults, found, at)
}

/// [`feature_row_of`] with the view's schema and declared defaults already
/// at hand (a lookup's plan holds them): nothing is derived per row.
pub fn feature_row_in(
    view: &FeatureView,
    schema: &[FeatureType],
    defaults: &[Option<Value>],
    found: Option<(i64, i64, &[u8])>,
    at: i64,
) -> Result<FeatureRow, engine::Error> {
    let defaults = || {
        defaults
            .iter()
            .map(|d| d.clone().unwrap_or(Value::Null))
            .collect()
    };
    row_from(view, schema, defaults, found, at)
}

/// A row from the version found: `defaults()` (the declared defaults, else
/// nulls) when there is no value, and the statuses say why.
fn row_from(
    view: &FeatureView,
    schema: &[FeatureType],
    defaults: impl Fn() -> Vec<Value>,
    found: Option<(i64, i64, &[u8])>,
    at: i64,
) -> Result<FeatureRow, engine::Error> {
    let n = view.features.len();
    let Some((event_ts, created_ts, stored)) = found else {
        return Ok(FeatureRow {
            event_ts: None,
            created_ts: None,
            values: defaults(),
            statuses: vec![Status::NotFound; n],
        });
    };
    let expired = view.ttl_micros > 0 && event_ts < at.saturating_sub(view.ttl_micros);
    if expired {
        return Ok(FeatureRow {
            event_ts: Some(event_ts),
            created_ts: Some(created_ts),
            values: defaults(),
            statuses: vec![Status::OutsideMaxAge; n],
        });
    }
    let values =
        row::decode_row(schema, stored).map_err(|e| engine::Error::corrupt_row(view.id, e))?;
    let statuses = values.iter().map(status_of).collect();
    Ok(FeatureRow {
        event_ts: Some(event_ts),
        created_ts: Some(created_ts),
        values,
        statuses,
    })
}
