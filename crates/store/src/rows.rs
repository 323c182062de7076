//! Reads turned into rows of values and statuses.

use super::{FeatureRow, Status};
use crate::catalog::FeatureView;
use strata_engine::{self as engine, Version};
use strata_format::error::DecodeError;
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

/// A read value's status: `NULL_VALUE` for a null, else `PRESENT`.
pub(crate) fn status_of(v: &Value) -> Status {
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
    let declared = view.defaults();
    feature_row_in(view, &view.schema(), &declared, found, at)
}

/// What a feature reads on a stored row that predates it (the row was
/// written before the feature was appended to its view, or from an input
/// without its column), given the feature's declared default: the default
/// with [`Status::Defaulted`], else null with [`Status::NullValue`].
///
/// The one rule for such fields: lookups ([`feature_row_in`]) and exports
/// (`strata-offline`'s join, through [`decode_stored_with`]) apply it.
pub fn predated(declared: Option<&Value>) -> (Value, Status) {
    match declared {
        Some(d) if !d.is_null() => (d.clone(), Status::Defaulted),
        _ => (Value::Null, Status::NullValue),
    }
}

/// Decodes a stored row of `schema`, calling `f(field, value, status)` for
/// every field in order: a stored value is `PRESENT`, a stored null
/// `NULL_VALUE`, and a field the row predates reads [`predated`] of its
/// declared default (`declared`, one per field).
pub fn decode_stored_with(
    schema: &[FeatureType],
    declared: &[Option<Value>],
    stored: &[u8],
    mut f: impl FnMut(usize, Value, Status),
) -> Result<(), DecodeError> {
    let n = row::stored_fields(stored)?;
    row::decode_row_with(schema, stored, |i, v| {
        if i >= n {
            let (v, s) = predated(declared.get(i).and_then(Option::as_ref));
            f(i, v, s);
        } else {
            let s = status_of(&v);
            f(i, v, s);
        }
    })
}

/// [`feature_row_of`] with the view's schema and declared defaults (one
/// per feature) already at hand (a lookup's plan holds them): nothing is
/// derived per row. The declared defaults (else nulls) stand
/// where there is no value, and the statuses say why.
pub fn feature_row_in(
    view: &FeatureView,
    schema: &[FeatureType],
    declared: &[Option<Value>],
    found: Option<(i64, i64, &[u8])>,
    at: i64,
) -> Result<FeatureRow, engine::Error> {
    let n = view.features.len();
    let mut values = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let (event_ts, created_ts) = cells_in(view, schema, declared, found, at, |v, s| {
        values.push(v);
        statuses.push(s);
    })?;
    Ok(FeatureRow {
        event_ts,
        created_ts,
        values,
        statuses,
    })
}

/// [`feature_row_in`] without the row: `cell` takes each feature's value
/// and status in schema order; returns the version's event and created
/// times (a lookup's encoded answer keeps its rows flat with it).
pub(crate) fn cells_in(
    view: &FeatureView,
    schema: &[FeatureType],
    declared: &[Option<Value>],
    found: Option<(i64, i64, &[u8])>,
    at: i64,
    mut cell: impl FnMut(Value, Status),
) -> Result<(Option<i64>, Option<i64>), engine::Error> {
    let n = view.features.len();
    let mut defaults = |status: Status| {
        for i in 0..n {
            cell(
                declared.get(i).cloned().flatten().unwrap_or(Value::Null),
                status,
            );
        }
    };
    let Some((event_ts, created_ts, stored)) = found else {
        defaults(Status::NotFound);
        return Ok((None, None));
    };
    let expired = view.ttl_micros > 0 && event_ts < at.saturating_sub(view.ttl_micros);
    if expired {
        defaults(Status::OutsideMaxAge);
        return Ok((Some(event_ts), Some(created_ts)));
    }
    decode_stored_with(schema, declared, stored, |_, v, s| cell(v, s))
        .map_err(|e| engine::Error::corrupt_row(view.id, e))?;
    Ok((Some(event_ts), Some(created_ts)))
}

/// Encodes the values of a version to write into `out`: one per feature,
/// or fewer when the features left out (the last ones) declare defaults
/// ([`FeatureView::check_omitted`]): the row is then written with only
/// its first fields, and reads the others as fields it predates
/// ([`predated`]).
pub fn encode_version_row(
    view: &FeatureView,
    schema: &[FeatureType],
    values: &[Value],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match schema.get(..values.len()) {
        Some(given) if values.len() < schema.len() => {
            view.check_omitted(values.len())?;
            row::encode_row(given, values, out)
        }
        _ => row::encode_row(schema, values, out),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A value of int64 feature `i` (or null), as a test writes it.
    fn cell(x: Option<i64>) -> Value {
        x.map_or(Value::Null, Value::Int64)
    }

    proptest! {
        /// The model: a row written with its first `given` fields reads
        /// each of them as stored (`PRESENT`, or `NULL_VALUE` for a null),
        /// and each later field as its declared default (`DEFAULTED`), or
        /// null (`NULL_VALUE`) without one. (Which rows may be written
        /// short is `encode_version_row`'s: tests/online_defaults.rs.)
        #[test]
        fn fields_a_row_predates_read_their_defaults(
            fields in prop::collection::vec((any::<Option<i64>>(), any::<Option<i64>>()), 1..12),
            given in 0usize..12,
        ) {
            let n = fields.len();
            let given = given.min(n);
            let schema = vec![FeatureType::Int64; n];
            let declared: Vec<Option<Value>> = fields.iter().map(|(_, d)| d.map(Value::Int64)).collect();
            let stored: Vec<Value> = fields.iter().take(given).map(|(v, _)| cell(*v)).collect();
            let mut buf = Vec::new();
            row::encode_row(&schema[..given], &stored, &mut buf).unwrap();
            let mut got = Vec::new();
            decode_stored_with(&schema, &declared, &buf, |i, v, s| got.push((i, v, s))).unwrap();
            prop_assert_eq!(got.len(), n);
            for (i, v, s) in got {
                let want = if i < given {
                    let v = cell(fields[i].0);
                    let s = if v.is_null() { Status::NullValue } else { Status::Present };
                    (v, s)
                } else {
                    match fields[i].1 {
                        Some(d) => (Value::Int64(d), Status::Defaulted),
                        None => (Value::Null, Status::NullValue),
                    }
                };
                prop_assert_eq!((v, s), want, "field {}", i);
            }
        }
    }
}
