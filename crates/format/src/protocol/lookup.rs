//! Lookup messages: the request (keys, features, request-time inputs,
//! `as_of`/`known_at`) and its column-major answer, with the encoder the
//! server answers from rows without building a [`LookupResponse`].
//! Layouts are in `docs/PROTOCOL.md`.

use crate::error::Reader;
use crate::schema::{FeatureType, KeyType, KeyValue, Value};
use crate::varint;

use super::frame::WireError;
use super::messages::expect_end;
use super::values::*;
use super::{DecodeLimits, Status};
/// The values of one join-key column of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyColumnValues {
    Int64(Vec<i64>),
    String(Vec<String>),
}

impl KeyColumnValues {
    pub fn len(&self) -> usize {
        match self {
            KeyColumnValues::Int64(v) => v.len(),
            KeyColumnValues::String(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn key_type(&self) -> KeyType {
        match self {
            KeyColumnValues::Int64(_) => KeyType::Int64,
            KeyColumnValues::String(_) => KeyType::String,
        }
    }

    pub fn get(&self, i: usize) -> Option<KeyValue> {
        match self {
            KeyColumnValues::Int64(v) => v.get(i).map(|x| KeyValue::Int64(*x)),
            KeyColumnValues::String(v) => v.get(i).map(|s| KeyValue::String(s.clone())),
        }
    }
}

/// One join-key column of a lookup's entity rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumn {
    pub name: String,
    pub values: KeyColumnValues,
}

/// Online lookup: features of several views for many entity rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupRequest {
    /// `view:feature`, `view:*`, `view@2:feature`.
    pub features: Vec<String>,
    /// The entity rows, column-major: every join key any requested view
    /// needs, all columns of the same length.
    pub entities: Vec<KeyColumn>,
    pub as_of: Option<i64>,
    pub known_at: Option<i64>,
    /// Also answer each value's `created_ts` (Feast does not; the CLI does).
    pub with_created_ts: bool,
    /// Request-time values for derived views' `request` inputs, one
    /// column per input, one cell per entity row (empty: none sent).
    pub request: Vec<RequestColumn>,
}

/// The values of one request-time input of a lookup, as text (`None`:
/// null); the store parses them as the type the derived view declares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestColumn {
    pub name: String,
    pub values: Vec<Option<String>>,
}

impl LookupRequest {
    /// Entity rows: the length of the columns.
    pub fn rows(&self) -> usize {
        self.entities.first().map_or(0, |c| c.values.len())
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let request = if self.request.is_empty() { 0 } else { 2 };
        out.push(u8::from(self.with_created_ts) | request);
        put_opt_i64(out, self.as_of);
        put_opt_i64(out, self.known_at);
        varint::put(out, self.features.len() as u64);
        for f in &self.features {
            put_str(out, f);
        }
        varint::put(out, self.rows() as u64);
        varint::put(out, self.entities.len() as u64);
        for c in &self.entities {
            put_str(out, &c.name);
            out.push(c.values.key_type() as u8);
            match &c.values {
                KeyColumnValues::Int64(v) => {
                    for x in v {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
                KeyColumnValues::String(v) => {
                    for s in v {
                        put_str(out, s);
                    }
                }
            }
        }
        if !self.request.is_empty() {
            varint::put(out, self.request.len() as u64);
            for c in &self.request {
                put_str(out, &c.name);
                for v in &c.values {
                    match v {
                        None => out.push(0),
                        Some(text) => {
                            out.push(1);
                            put_str(out, text);
                        }
                    }
                }
            }
        }
    }

    /// The feature references a lookup body names (they come before its
    /// entity rows), without decoding the rows: a server checks the read
    /// grants on their views before it spends memory on the rest.
    pub fn peek_features<'a>(
        body: &'a [u8],
        lim: &DecodeLimits,
    ) -> Result<Vec<&'a str>, WireError> {
        let mut r = Reader::new(body, "lookup");
        r.u8()?;
        get_opt_i64(&mut r)?;
        get_opt_i64(&mut r)?;
        let n = get_count(&mut r, "features per lookup", lim.max_features, 1)?;
        let mut features = Vec::with_capacity(n);
        for _ in 0..n {
            features.push(get_str(&mut r, lim.max_name)?);
        }
        Ok(features)
    }

    pub fn decode(body: &[u8], lim: &DecodeLimits) -> Result<LookupRequest, WireError> {
        let mut r = Reader::new(body, "lookup");
        let flags = r.u8()?;
        if flags > 3 {
            return Err(r
                .invalid(format!(
                    "lookup flags {flags:#04x}; only bits 0 and 1 are defined"
                ))
                .into());
        }
        let as_of = get_opt_i64(&mut r)?;
        let known_at = get_opt_i64(&mut r)?;
        let n = get_count(&mut r, "features per lookup", lim.max_features, 1)?;
        let mut features = Vec::with_capacity(n);
        for _ in 0..n {
            features.push(get_string(&mut r, lim.max_name)?);
        }
        let at = r.pos();
        let rows = r.varint()?;
        if rows > lim.max_keys as u64 {
            return Err(WireError::Limit {
                what: "keys per lookup",
                count: rows,
                limit: lim.max_keys,
            });
        }
        let rows = rows as usize;
        let ncol = get_count(&mut r, "key columns", lim.max_key_columns, 2)?;
        if ncol == 0 && rows != 0 {
            // The row count is the key columns' length: without one, there
            // are no rows (and request columns have no values).
            return Err(r
                .invalid(format!(
                    "{rows} entity rows (count at offset {at}) but no key column"
                ))
                .into());
        }
        let mut entities = Vec::with_capacity(ncol);
        for _ in 0..ncol {
            let name = get_string(&mut r, lim.max_name)?;
            let ty = get_key_type(&mut r)?;
            let min = if ty == KeyType::Int64 { 8 } else { 1 };
            if rows.saturating_mul(min) > r.remaining() {
                return Err(r
                    .invalid(format!(
                        "{rows} key values of column {name:?} (count at offset {at}) need at least {} bytes, {} left",
                        rows.saturating_mul(min),
                        r.remaining()
                    ))
                    .into());
            }
            let values = match ty {
                KeyType::Int64 => {
                    let mut v = Vec::with_capacity(rows);
                    for _ in 0..rows {
                        v.push(r.i64()?);
                    }
                    KeyColumnValues::Int64(v)
                }
                KeyType::String => {
                    let mut v = Vec::with_capacity(rows);
                    for _ in 0..rows {
                        // Bounded by the frame; a key too long to exist is
                        // the store's answer (INVALID_ARGUMENT), as locally.
                        v.push(get_string(&mut r, usize::MAX)?);
                    }
                    KeyColumnValues::String(v)
                }
            };
            entities.push(KeyColumn { name, values });
        }
        let mut request = Vec::new();
        if flags & 2 != 0 {
            // At least a name's length byte each (no values when there are no rows).
            let n = get_count(&mut r, "request columns", lim.max_key_columns, 1)?;
            for _ in 0..n {
                let name = get_string(&mut r, lim.max_name)?;
                if rows > r.remaining() {
                    return Err(r
                        .invalid(format!(
                            "{rows} values of request column {name:?} need at least {rows} bytes, {} left",
                            r.remaining()
                        ))
                        .into());
                }
                let mut values = Vec::with_capacity(rows);
                for _ in 0..rows {
                    values.push(match r.u8()? {
                        0 => None,
                        1 => Some(get_string(&mut r, usize::MAX)?),
                        k => {
                            return Err(r
                                .invalid(format!("request value flag {k}; expected 0 or 1"))
                                .into());
                        }
                    });
                }
                request.push(RequestColumn { name, values });
            }
        }
        expect_end(&r)?;
        Ok(LookupRequest {
            features,
            entities,
            as_of,
            known_at,
            with_created_ts: flags & 1 != 0,
            request,
        })
    }
}

/// One feature of a lookup's answer, column-major over the entity rows.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureColumn {
    /// `view:feature`, the view as `name` or `name@version`.
    pub name: String,
    pub ty: FeatureType,
    pub statuses: Vec<Status>,
    /// The event time of the version each value comes from (`None` when
    /// `NOT_FOUND`).
    pub event_ts: Vec<Option<i64>>,
    /// The `created_ts` of that version, if the request asked for it
    /// (empty otherwise).
    pub created_ts: Vec<Option<i64>>,
    /// The value if `PRESENT`; the feature's declared default (else null)
    /// if `NOT_FOUND`, `OUTSIDE_MAX_AGE` or `DEFAULTED`; null if
    /// `NULL_VALUE`.
    pub values: Vec<Value>,
    /// The feature's declared default, which the rows without a value carry.
    pub default: Option<Value>,
}

/// The answer to a lookup (Feast's `GetOnlineFeaturesResponse` shape).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LookupResponse {
    pub rows: usize,
    pub features: Vec<FeatureColumn>,
}

/// Starts a `LookupResult` body of `rows` rows and `features` columns.
pub fn put_lookup_header(out: &mut Vec<u8>, rows: usize, features: usize) {
    varint::put(out, rows as u64);
    varint::put(out, features as u64);
}

/// One cell of a feature column: status, event_ts, created_ts, value.
pub type Cell<'a> = (Status, Option<i64>, Option<i64>, &'a Value);

/// Appends one feature column: `cells` yields one [`Cell`] per entity row,
/// in order (it is walked several times); created times are sent if
/// `with_created`; `default` is the feature's declared default, which the
/// rows without a stored value (`NOT_FOUND`, `OUTSIDE_MAX_AGE`,
/// `DEFAULTED`) carry.
pub fn put_feature_column<'a, I>(
    out: &mut Vec<u8>,
    name: &str,
    ty: FeatureType,
    with_created: bool,
    default: Option<&Value>,
    cells: I,
) -> Result<(), String>
where
    I: Iterator<Item = Cell<'a>> + Clone,
{
    put_str(out, name);
    out.push(ty as u8);
    out.push(u8::from(with_created));
    out.extend(cells.clone().map(|(s, _, _, _)| s as u8));
    for (s, ts, _, _) in cells.clone() {
        if s.has_version() {
            out.extend_from_slice(&ts.unwrap_or(0).to_le_bytes());
        }
    }
    if with_created {
        for (s, _, ts, _) in cells.clone() {
            if s.has_version() {
                out.extend_from_slice(&ts.unwrap_or(0).to_le_bytes());
            }
        }
    }
    for (s, _, _, v) in cells {
        if s == Status::Present {
            put_value(out, ty, v)?;
        }
    }
    match default {
        Some(d) if !d.is_null() => {
            out.push(1);
            put_value(out, ty, d)?;
        }
        _ => out.push(0),
    }
    Ok(())
}

impl LookupResponse {
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        put_lookup_header(out, self.rows, self.features.len());
        for c in &self.features {
            let with_created = !c.created_ts.is_empty();
            let cells = c
                .statuses
                .iter()
                .enumerate()
                .zip(&c.event_ts)
                .zip(&c.values)
                .map(|(((i, s), t), v)| (*s, *t, c.created_ts.get(i).copied().flatten(), v));
            put_feature_column(out, &c.name, c.ty, with_created, c.default.as_ref(), cells)?;
        }
        Ok(())
    }

    pub fn decode(body: &[u8]) -> Result<LookupResponse, WireError> {
        let mut r = Reader::new(body, "lookup result");
        let rows = r.varint()?;
        let nf = get_count(&mut r, "feature columns", usize::MAX, 2)?;
        let mut features = Vec::with_capacity(nf);
        for _ in 0..nf {
            let name = get_string(&mut r, usize::MAX)?;
            let ty = get_feature_type(&mut r)?;
            let with_created = get_bool(&mut r)?;
            if rows > r.remaining() as u64 {
                return Err(r
                    .invalid(format!("{rows} statuses, {} bytes left", r.remaining()))
                    .into());
            }
            let rows = rows as usize;
            let statuses = r
                .bytes(rows)?
                .iter()
                .map(|b| Status::from_u8(*b))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| r.invalid("a status byte is not 0..=4"))?;
            let mut event_ts = Vec::with_capacity(rows);
            for s in &statuses {
                event_ts.push(if s.has_version() {
                    Some(r.i64()?)
                } else {
                    None
                });
            }
            let mut created_ts = Vec::new();
            if with_created {
                created_ts.reserve(rows);
                for s in &statuses {
                    created_ts.push(if s.has_version() {
                        Some(r.i64()?)
                    } else {
                        None
                    });
                }
            }
            let mut values = Vec::with_capacity(rows);
            for s in &statuses {
                values.push(if *s == Status::Present {
                    get_value(&mut r, ty)?
                } else {
                    Value::Null
                });
            }
            let default = match get_bool(&mut r)? {
                true => Some(get_value(&mut r, ty)?),
                false => None,
            };
            if let Some(d) = &default {
                for (v, s) in values.iter_mut().zip(&statuses) {
                    if !s.has_value_or_null() {
                        *v = d.clone();
                    }
                }
            }
            features.push(FeatureColumn {
                name,
                ty,
                statuses,
                event_ts,
                created_ts,
                values,
                default,
            });
        }
        expect_end(&r)?;
        Ok(LookupResponse {
            rows: rows as usize,
            features,
        })
    }
}
