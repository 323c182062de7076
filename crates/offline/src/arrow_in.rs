//! Arrow record batches (from Parquet or Arrow IPC) straight into encoded
//! entries of a [`Run`], column by column, without a `Vec<Value>` per row.
//!
//! [`Layout::new`] finds and type-checks every needed column once per file
//! (the Arrow types accepted are those of [`crate::read::convert`]);
//! [`encode_batch`] then validates and encodes one batch. Common column
//! types are read from the Arrow buffers directly: `Int64` keys, `Utf8`
//! keys, `Timestamp(µs)`/`Int64` timestamps, and `Int64`, `Float64`,
//! `Float32`, `Timestamp(µs)` features (a row of only such features is
//! encoded without any `Value`). Everything else goes through
//! [`crate::read::convert`], one column at a time. [`Layout::rows`] makes
//! [`RowWrite`]s of a batch instead (for a client's push).

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch, StringArray, new_empty_array};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Schema, TimeUnit};

use super::encode::Run;
use super::read::convert::{ColumnError, convert, key_feature_type};
use super::{CREATED_TIMESTAMP, EVENT_TIMESTAMP, Target, missing_columns};
use strata_format::key::{self, MAX_ENTITY_KEY_LEN, TOMBSTONE_TS};
use strata_format::schema::{FeatureType, KeyType, KeyValue, Value};
use strata_format::{row, varint};
use strata_store::RowWrite;
use strata_store::catalog::quality::Checker;

/// Where each needed column is in the input's schema.
#[derive(Debug, Clone)]
pub struct Layout {
    keys: Vec<(usize, KeyType)>,
    event: usize,
    created: Option<usize>,
    features: Vec<usize>,
}

impl Layout {
    /// Locates the columns of `target` in `schema` and checks their types.
    pub fn new(target: &Target, schema: &Schema) -> Result<Layout, String> {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let find = |col: &str, ty: FeatureType| -> Result<Option<usize>, String> {
            let src = target.source_name(col);
            let mut hits = names.iter().enumerate().filter(|(_, n)| **n == src);
            let Some((i, _)) = hits.next() else {
                return Ok(None);
            };
            if hits.next().is_some() {
                return Err(format!("the file has more than one column named {src}"));
            }
            let dt = schema.field(i).data_type();
            if let Err(ColumnError::Type(why)) = convert(new_empty_array(dt).as_ref(), ty) {
                return Err(format!("column {}: {why}", target.describe(col)));
            }
            Ok(Some(i))
        };
        let mut missing = Vec::new();
        let mut need = |col: &str, ty| -> Result<usize, String> {
            Ok(find(col, ty)?.unwrap_or_else(|| {
                missing.push(target.describe(col));
                usize::MAX
            }))
        };
        let mut keys = Vec::new();
        for k in &target.keys {
            keys.push((need(&k.name, key_feature_type(k.ty))?, k.ty));
        }
        let event = need(EVENT_TIMESTAMP, FeatureType::Timestamp)?;
        let mut features = Vec::new();
        for f in &target.view.features {
            features.push(find(&f.name, f.ty)?);
        }
        // The file may leave out the view's last features if each declares
        // a default (it was written before they were added): its rows are
        // written without them and read their defaults (`DEFAULTED`).
        let view = &target.view;
        let has_default = |i: usize| view.feature_default(i).is_some_and(|d| !d.is_null());
        let mut given = features.len();
        while given > 0 && features[given - 1].is_none() && has_default(given - 1) {
            given -= 1;
        }
        let mut not_last = Vec::new();
        for (i, f) in view.features.iter().enumerate().take(given) {
            if features[i].is_none() {
                missing.push(target.describe(&f.name));
                if has_default(i) {
                    not_last.push(f.name.as_str());
                }
            }
        }
        if !missing.is_empty() {
            let m: Vec<&str> = missing.iter().map(String::as_str).collect();
            let mut message = missing_columns(&m, &names);
            if !not_last.is_empty() {
                message.push_str(&format!(
                    " ({} declare(s) a default, but a file may leave out only the view's last features, added after the columns it has)",
                    not_last.join(", ")
                ));
            }
            return Err(message);
        }
        let features = features.into_iter().take(given).flatten().collect();
        let created = find(CREATED_TIMESTAMP, FeatureType::Timestamp)?;
        Ok(Layout {
            keys,
            event,
            created,
            features,
        })
    }

    /// The schema positions of every column used (for a Parquet projection).
    pub fn columns(&self) -> Vec<usize> {
        let mut c: Vec<usize> = self.keys.iter().map(|k| k.0).collect();
        c.push(self.event);
        c.extend(self.created);
        c.extend(&self.features);
        c
    }

    /// Appends the rows of `batch` (whose first row is row `base + 1` of
    /// the file) to `out`, validating every cell (the store's own limits
    /// are not checked here: see [`crate::check_rows`]).
    pub fn rows(
        &self,
        target: &Target,
        batch: &RecordBatch,
        base: u64,
        out: &mut Vec<RowWrite>,
    ) -> Result<(), String> {
        let row_no = |i: usize| base + i as u64 + 1;
        let column = |idx: usize, ty: FeatureType, name: &str| -> Result<Vec<Value>, String> {
            values(batch, idx, ty, &target.describe(name), base)
        };
        let null_at = |name: &str, values: &[Value], what: &str| -> Result<(), String> {
            match values.iter().position(Value::is_null) {
                Some(i) => Err(format!(
                    "row {}, column {}: {what}",
                    row_no(i),
                    target.describe(name)
                )),
                None => Ok(()),
            }
        };
        let mut keys = Vec::with_capacity(self.keys.len());
        for ((idx, ty), k) in self.keys.iter().zip(&target.keys) {
            let v = column(*idx, key_feature_type(*ty), &k.name)?;
            null_at(&k.name, &v, "the join key is null; every row needs a key")?;
            keys.push(v.into_iter());
        }
        let events = column(self.event, FeatureType::Timestamp, EVENT_TIMESTAMP)?;
        null_at(
            EVENT_TIMESTAMP,
            &events,
            "the event timestamp is null; every row needs one",
        )?;
        let mut created = match self.created {
            Some(c) => Some(column(c, FeatureType::Timestamp, CREATED_TIMESTAMP)?.into_iter()),
            None => None,
        };
        let mut features = Vec::with_capacity(self.features.len());
        for (&idx, f) in self.features.iter().zip(&target.view.features) {
            features.push(column(idx, f.ty, &f.name)?.into_iter());
        }
        let time = |v: Option<Value>| match v {
            Some(Value::Timestamp(t)) => Some(t),
            _ => None,
        };
        for ev in events {
            let key = keys
                .iter_mut()
                .map(|col| match col.next() {
                    Some(Value::String(s)) => KeyValue::String(s),
                    Some(Value::Int64(x)) => KeyValue::Int64(x),
                    // Checked above: keys are not null, and convert only
                    // yields these two for key types.
                    _ => KeyValue::Int64(0),
                })
                .collect();
            out.push(RowWrite {
                key,
                event_ts: time(Some(ev)).unwrap_or_default(),
                created_ts: created.as_mut().and_then(|c| time(c.next())),
                values: features
                    .iter_mut()
                    .map(|it| it.next().unwrap_or(Value::Null))
                    .collect(),
            });
        }
        Ok(())
    }
}

enum KeyCol<'a> {
    Int(Cow<'a, [i64]>),
    Utf8(&'a StringArray),
    Vals(Vec<Value>),
}

enum FeatCol<'a> {
    /// 8 bytes little-endian per value (int64 and timestamp features).
    I64(&'a [i64], Option<&'a NullBuffer>),
    F64(&'a [f64], Option<&'a NullBuffer>),
    F32(&'a [f32], Option<&'a NullBuffer>),
    Vals(Vec<Value>),
}

/// The column `idx` of `batch` as `ty` values, with cell errors located.
fn values(
    batch: &RecordBatch,
    idx: usize,
    ty: FeatureType,
    name: &str,
    base: u64,
) -> Result<Vec<Value>, String> {
    convert(batch.column(idx).as_ref(), ty).map_err(|e| match e {
        ColumnError::Type(why) => format!("column {name}: {why}"),
        ColumnError::Cell(i, why) => format!("row {}, column {name}: {why}", base + i as u64 + 1),
    })
}

/// A timestamp column in µs; nulls as `None` only if `nullable`.
fn timestamps<'a>(
    batch: &'a RecordBatch,
    idx: usize,
    name: &str,
    base: u64,
) -> Result<(Cow<'a, [i64]>, Option<NullBuffer>), String> {
    let a = batch.column(idx);
    match a.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let p = a.as_primitive::<TimestampMicrosecondType>();
            Ok((Cow::Borrowed(p.values().as_ref()), p.nulls().cloned()))
        }
        DataType::Int64 => {
            let p = a.as_primitive::<Int64Type>();
            Ok((Cow::Borrowed(p.values().as_ref()), p.nulls().cloned()))
        }
        _ => {
            let v = values(batch, idx, FeatureType::Timestamp, name, base)?;
            let nulls = NullBuffer::from(v.iter().map(|x| !x.is_null()).collect::<Vec<bool>>());
            let ts = v
                .iter()
                .map(|x| match x {
                    Value::Timestamp(t) => *t,
                    _ => 0,
                })
                .collect();
            Ok((Cow::Owned(ts), Some(nulls)))
        }
    }
}

fn null_at(n: Option<&NullBuffer>) -> Option<usize> {
    let n = n?;
    if n.null_count() == 0 {
        return None;
    }
    (0..n.len()).find(|&i| n.is_null(i))
}

/// Validates `batch` (whose first row is row `base + 1` of the file) and
/// appends its entries to `run`, feeding `checker`.
#[allow(clippy::too_many_arguments)]
pub fn encode_batch(
    target: &Target,
    layout: &Layout,
    batch: &RecordBatch,
    base: u64,
    now: i64,
    run: &mut Run,
    checker: &mut Checker,
) -> Result<(), String> {
    let n = batch.num_rows();
    let row_no = |i: usize| base + i as u64 + 1;
    // Keys.
    let mut keys = Vec::with_capacity(layout.keys.len());
    for ((idx, ty), k) in layout.keys.iter().zip(&target.keys) {
        let a = batch.column(*idx);
        let name = target.describe(&k.name);
        let null_key = |i: usize| {
            format!(
                "row {}, column {name}: the join key is null; every row needs a key",
                row_no(i)
            )
        };
        if let Some(i) = null_at(a.logical_nulls().as_ref()) {
            return Err(null_key(i));
        }
        keys.push(match (ty, a.data_type()) {
            (KeyType::Int64, DataType::Int64) => KeyCol::Int(Cow::Borrowed(
                a.as_primitive::<Int64Type>().values().as_ref(),
            )),
            (KeyType::String, DataType::Utf8) => KeyCol::Utf8(a.as_string::<i32>()),
            _ => {
                let v = values(batch, *idx, key_feature_type(*ty), &name, base)?;
                if let Some(i) = v.iter().position(Value::is_null) {
                    return Err(null_key(i));
                }
                match ty {
                    KeyType::Int64 => KeyCol::Int(Cow::Owned(
                        v.iter()
                            .map(|x| if let Value::Int64(i) = x { *i } else { 0 })
                            .collect(),
                    )),
                    KeyType::String => KeyCol::Vals(v),
                }
            }
        });
    }
    // Timestamps.
    let (events, event_nulls) = timestamps(batch, layout.event, EVENT_TIMESTAMP, base)?;
    if let Some(i) = null_at(event_nulls.as_ref()) {
        return Err(format!(
            "row {}, column {}: the event timestamp is null; every row needs one",
            row_no(i),
            target.describe(EVENT_TIMESTAMP)
        ));
    }
    if let Some(i) = events.iter().position(|&t| t == TOMBSTONE_TS) {
        return Err(format!(
            "row {}, column {EVENT_TIMESTAMP}: {TOMBSTONE_TS} is reserved; use a smaller timestamp",
            row_no(i)
        ));
    }
    let created = match layout.created {
        Some(c) => Some(timestamps(batch, c, CREATED_TIMESTAMP, base)?),
        None => None,
    };
    // Features, with their statistics and checks.
    let mut feats = Vec::with_capacity(layout.features.len());
    for (f, (&idx, feat)) in layout
        .features
        .iter()
        .zip(&target.view.features)
        .enumerate()
    {
        let a = batch.column(idx);
        let col = match (feat.ty, a.data_type()) {
            (FeatureType::Int64, DataType::Int64) | (FeatureType::Timestamp, DataType::Int64) => {
                let p = a.as_primitive::<Int64Type>();
                FeatCol::I64(p.values().as_ref(), p.nulls())
            }
            (FeatureType::Timestamp, DataType::Timestamp(TimeUnit::Microsecond, _)) => {
                let p = a.as_primitive::<TimestampMicrosecondType>();
                FeatCol::I64(p.values().as_ref(), p.nulls())
            }
            (FeatureType::Float64, DataType::Float64) => {
                let p = a.as_primitive::<Float64Type>();
                FeatCol::F64(p.values().as_ref(), p.nulls())
            }
            (FeatureType::Float32, DataType::Float32) => {
                let p = a.as_primitive::<Float32Type>();
                FeatCol::F32(p.values().as_ref(), p.nulls())
            }
            _ => FeatCol::Vals(values(
                batch,
                idx,
                feat.ty,
                &target.describe(&feat.name),
                base,
            )?),
        };
        check_column(checker, f, &col, base, n);
        feats.push(col);
    }
    // Entries.
    let direct = feats.iter().all(|c| !matches!(c, FeatCol::Vals(_)));
    // The features the file has: all, or the first ones (see `Layout::new`).
    let schema = &target.view.schema()[..layout.features.len()];
    let nf = schema.len();
    let (mut ek, mut ik, mut rowbuf) = (Vec::new(), Vec::new(), Vec::new());
    let mut scratch: Vec<Value> = Vec::with_capacity(nf);
    for i in 0..n {
        ek.clear();
        for k in &keys {
            match k {
                KeyCol::Int(v) => ek.extend_from_slice(&key::encode_int_key(v[i])),
                KeyCol::Utf8(s) => key::encode_key_string(s.value(i).as_bytes(), &mut ek),
                KeyCol::Vals(v) => {
                    if let Value::String(s) = &v[i] {
                        key::encode_key_string(s.as_bytes(), &mut ek)
                    }
                }
            }
        }
        if ek.len() > MAX_ENTITY_KEY_LEN {
            return Err(format!(
                "row {}: the key is not valid: entity key longer than {MAX_ENTITY_KEY_LEN} bytes",
                row_no(i)
            ));
        }
        let created_ts = match &created {
            Some((c, nulls)) if nulls.as_ref().is_none_or(|b| b.is_valid(i)) => c[i],
            _ => now,
        };
        key::internal_key(target.view.id, &ek, events[i], created_ts, &mut ik);
        if direct {
            rowbuf.clear();
            varint::put(&mut rowbuf, nf as u64);
            let bitmap_at = rowbuf.len();
            rowbuf.resize(bitmap_at + nf.div_ceil(8), 0);
            for (j, c) in feats.iter().enumerate() {
                let (null, bytes): (bool, [u8; 8]) = match c {
                    FeatCol::I64(v, nl) => (nl.is_some_and(|b| b.is_null(i)), v[i].to_le_bytes()),
                    FeatCol::F64(v, nl) => (nl.is_some_and(|b| b.is_null(i)), v[i].to_le_bytes()),
                    FeatCol::F32(v, nl) => {
                        if nl.is_some_and(|b| b.is_null(i)) {
                            rowbuf[bitmap_at + j / 8] |= 1 << (j % 8);
                        } else {
                            rowbuf.extend_from_slice(&v[i].to_le_bytes());
                        }
                        continue;
                    }
                    FeatCol::Vals(_) => unreachable!("direct rows have no value columns"),
                };
                if null {
                    rowbuf[bitmap_at + j / 8] |= 1 << (j % 8);
                } else {
                    rowbuf.extend_from_slice(&bytes);
                }
            }
        } else {
            scratch.clear();
            for c in &feats {
                scratch.push(cell(c, i));
            }
            row::encode_row(schema, &scratch, &mut rowbuf)
                .map_err(|e| super::name_field_error(target, &format!("row {}", row_no(i)), &e))?;
        }
        run.push(&ik, &rowbuf, base + i as u64);
    }
    Ok(())
}

fn cell(c: &FeatCol, i: usize) -> Value {
    let null = |n: &Option<&NullBuffer>| n.is_some_and(|b| b.is_null(i));
    match c {
        FeatCol::I64(v, n) if !null(n) => Value::Int64(v[i]),
        FeatCol::F64(v, n) if !null(n) => Value::Float64(v[i]),
        FeatCol::F32(v, n) if !null(n) => Value::Float32(v[i]),
        FeatCol::Vals(v) => v[i].clone(),
        _ => Value::Null,
    }
}

/// Feeds one feature column of a batch to the checker.
fn check_column(checker: &mut Checker, f: usize, col: &FeatCol, base: u64, n: usize) {
    let row = |i: usize| base + i as u64 + 1;
    let is_null = |nl: &Option<&NullBuffer>, i: usize| nl.is_some_and(|b| b.is_null(i));
    match col {
        FeatCol::I64(v, nl) => {
            for (i, x) in v.iter().enumerate().take(n) {
                if is_null(nl, i) {
                    checker.null(f, row(i));
                } else {
                    checker.number(f, row(i), *x as f64, Some(*x));
                }
            }
        }
        FeatCol::F64(v, nl) => {
            for (i, x) in v.iter().enumerate().take(n) {
                if is_null(nl, i) {
                    checker.null(f, row(i));
                } else {
                    checker.number(f, row(i), *x, None);
                }
            }
        }
        FeatCol::F32(v, nl) => {
            for (i, x) in v.iter().enumerate().take(n) {
                if is_null(nl, i) {
                    checker.null(f, row(i));
                } else {
                    checker.number(f, row(i), f64::from(*x), None);
                }
            }
        }
        FeatCol::Vals(v) => {
            for (i, x) in v.iter().enumerate() {
                checker.value(f, row(i), x);
            }
        }
    }
}
