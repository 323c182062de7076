//! The event times and encoded entity keys of a batch of entity rows.
//!
//! Accepted Arrow types are those of every reader
//! ([`crate::read::convert`]): `event_timestamp` as a `Timestamp` of any
//! unit with or without a zone (an instant, read as UTC; nanoseconds are
//! truncated toward the past), `Int64` microseconds, `Date32` or `Date64`;
//! `int64` join keys as any integer type; `string` join keys as `Utf8`,
//! `LargeUtf8` or `Utf8View`; dictionary-encoded columns of these too.
//!
//! A null `event_timestamp` is an error naming the row. A row with a null
//! join key has no entity: its features are null.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, Int64Array, LargeStringArray, StringArray, StringViewArray, new_empty_array,
};
use arrow_schema::{DataType, TimeUnit};

use crate::read::convert::{ColumnError, convert, micros};
use strata_format::key::{encode_int_key, encode_key_string};
use strata_format::schema::{FeatureType, KeyType, Value};

/// A problem with one cell: its 0-based row in the batch, and why.
pub(crate) type CellError = (usize, String);

/// Whether an Arrow type is accepted for `event_timestamp`.
pub(crate) fn check_timestamp_type(dt: &DataType) -> Result<(), String> {
    match convert(new_empty_array(dt).as_ref(), FeatureType::Timestamp) {
        Err(ColumnError::Type(_)) => Err(format!(
            "is {dt}; it must be a Timestamp (any unit, with or without a time zone), Int64 microseconds since the epoch, Date32 or Date64"
        )),
        _ => Ok(()),
    }
}

/// Whether an Arrow type is accepted for a join key of type `ty`.
pub(crate) fn check_key_type(dt: &DataType, ty: KeyType) -> Result<(), String> {
    let fty = match ty {
        KeyType::Int64 => FeatureType::Int64,
        KeyType::String => FeatureType::String,
    };
    match convert(new_empty_array(dt).as_ref(), fty) {
        Err(ColumnError::Type(_)) => Err(format!(
            "is {dt}, but the join key is {ty}; write it as {}",
            match ty {
                KeyType::Int64 => "an integer column (Int64)",
                KeyType::String => "a string column (Utf8)",
            }
        )),
        _ => Ok(()),
    }
}

/// The event times of a batch in microseconds; a null is an error.
pub(crate) fn event_times(a: &dyn Array) -> Result<Vec<i64>, CellError> {
    let null_at = |i: usize| {
        (
            i,
            "the event timestamp is null; every entity row needs one".to_string(),
        )
    };
    if let Some(i) = (0..a.len()).find(|&i| a.is_null(i)) {
        return Err(null_at(i));
    }
    let cell = |e: ColumnError| match e {
        ColumnError::Cell(i, why) => (i, why),
        ColumnError::Type(why) => (0, why),
    };
    Ok(match micros(a) {
        Some(times) => times.map_err(cell)?,
        // Dictionary-encoded columns.
        None => convert(a, FeatureType::Timestamp)
            .map_err(cell)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Timestamp(t) => Ok(t),
                _ => Err(null_at(i)),
            })
            .collect::<Result<_, _>>()?,
    })
}

/// [`event_times`], borrowing the column's values when they already are
/// microseconds without nulls.
pub(crate) fn event_times_ref(a: &dyn Array) -> Result<Cow<'_, [i64]>, CellError> {
    if a.null_count() == 0 {
        match a.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                return Ok(Cow::Borrowed(
                    a.as_primitive::<TimestampMicrosecondType>().values(),
                ));
            }
            DataType::Int64 => return Ok(Cow::Borrowed(a.as_primitive::<Int64Type>().values())),
            _ => {}
        }
    }
    event_times(a).map(Cow::Owned)
}

/// The keys of one view for the rows of a batch: one `Int64` column as it
/// is (nothing to encode), else encoded.
pub(crate) enum BatchKeys<'a> {
    Int64(&'a Int64Array),
    Encoded(Keys),
}

impl<'a> BatchKeys<'a> {
    /// See [`Keys::encode`].
    pub(crate) fn new(
        cols: &[(&'a dyn Array, KeyType)],
        rows: usize,
    ) -> Result<BatchKeys<'a>, CellError> {
        if let [(a, KeyType::Int64)] = cols
            && a.data_type() == &DataType::Int64
        {
            return Ok(BatchKeys::Int64(a.as_primitive()));
        }
        Keys::encode(cols, rows).map(BatchKeys::Encoded)
    }

    /// The keys as [`Keys`].
    pub(crate) fn into_keys(self) -> Keys {
        match self {
            BatchKeys::Int64(a) => Keys::Int(
                a.iter()
                    .map(|v| v.map(|v| u64::from_be_bytes(encode_int_key(v))))
                    .collect(),
            ),
            BatchKeys::Encoded(k) => k,
        }
    }
}

/// One join-key column of a batch, for reading cell by cell.
enum KeyColumn<'a> {
    Int(&'a Int64Array),
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    /// Other accepted types, converted.
    Values(Vec<Value>),
}

impl<'a> KeyColumn<'a> {
    fn new(a: &'a dyn Array, ty: KeyType) -> Result<KeyColumn<'a>, CellError> {
        Ok(match (ty, a.data_type()) {
            (KeyType::Int64, DataType::Int64) => KeyColumn::Int(a.as_primitive()),
            (KeyType::String, DataType::Utf8) => KeyColumn::Utf8(a.as_string()),
            (KeyType::String, DataType::LargeUtf8) => KeyColumn::LargeUtf8(a.as_string()),
            (KeyType::String, DataType::Utf8View) => KeyColumn::Utf8View(a.as_string_view()),
            (ty, _) => {
                let fty = match ty {
                    KeyType::Int64 => FeatureType::Int64,
                    KeyType::String => FeatureType::String,
                };
                KeyColumn::Values(convert(a, fty).map_err(|e| match e {
                    ColumnError::Cell(i, why) => (i, why),
                    ColumnError::Type(why) => (0, why),
                })?)
            }
        })
    }

    /// Appends the encoding of row `i`; `false` if the cell is null.
    #[inline]
    fn encode(&self, i: usize, out: &mut Vec<u8>) -> bool {
        let s = match self {
            KeyColumn::Int(a) => {
                if a.is_null(i) {
                    return false;
                }
                out.extend_from_slice(&encode_int_key(a.value(i)));
                return true;
            }
            KeyColumn::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            KeyColumn::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i)),
            KeyColumn::Utf8View(a) => a.is_valid(i).then(|| a.value(i)),
            KeyColumn::Values(v) => match &v[i] {
                Value::Int64(x) => {
                    out.extend_from_slice(&encode_int_key(*x));
                    return true;
                }
                Value::String(s) => Some(s.as_str()),
                _ => None,
            },
        };
        match s {
            Some(s) => {
                encode_key_string(s.as_bytes(), out);
                true
            }
            None => false,
        }
    }
}

/// The encoded entity keys of one view for the rows of a batch.
pub(crate) enum Keys {
    /// One `int64` join key: the 8-byte encoding as a big-endian integer
    /// (so integer order is key order), `None` for a null key.
    Int(Vec<Option<u64>>),
    /// Any other key: the encodings concatenated; row `i` is
    /// `buf[ends[i - 1]..ends[i]]`, `None` for a row with a null column.
    Bytes {
        buf: Vec<u8>,
        ends: Vec<usize>,
        valid: Vec<bool>,
    },
}

impl Keys {
    /// Encodes the key columns `cols` (in key order, with their types).
    pub(crate) fn encode(cols: &[(&dyn Array, KeyType)], rows: usize) -> Result<Keys, CellError> {
        let columns: Vec<KeyColumn> = cols
            .iter()
            .map(|(a, t)| KeyColumn::new(*a, *t))
            .collect::<Result<_, _>>()?;
        if let [KeyColumn::Int(a)] = columns.as_slice() {
            return Ok(Keys::Int(
                (0..rows)
                    .map(|i| {
                        a.is_valid(i)
                            .then(|| u64::from_be_bytes(encode_int_key(a.value(i))))
                    })
                    .collect(),
            ));
        }
        let mut buf = Vec::with_capacity(rows * 8 * columns.len());
        let mut ends = Vec::with_capacity(rows);
        let mut valid = Vec::with_capacity(rows);
        for i in 0..rows {
            let start = buf.len();
            let ok = columns.iter().all(|c| c.encode(i, &mut buf));
            if !ok {
                buf.truncate(start);
            }
            valid.push(ok);
            ends.push(buf.len());
        }
        Ok(Keys::Bytes { buf, ends, valid })
    }

    /// The keys of several batches' rows, in order.
    pub(crate) fn concat(parts: Vec<Keys>) -> Keys {
        let mut parts = parts.into_iter();
        let Some(mut all) = parts.next() else {
            return Keys::Int(Vec::new());
        };
        for p in parts {
            all = match (all, p) {
                (Keys::Int(mut a), Keys::Int(b)) => {
                    a.extend(b);
                    Keys::Int(a)
                }
                // Batches of one schema encode alike; mixed, both become bytes.
                (a, b) => {
                    let (mut buf, mut ends, mut valid) = a.into_bytes();
                    let (b, e, v) = b.into_bytes();
                    let base = buf.len();
                    buf.extend_from_slice(&b);
                    ends.extend(e.into_iter().map(|x| x + base));
                    valid.extend(v);
                    Keys::Bytes { buf, ends, valid }
                }
            };
        }
        all
    }

    fn into_bytes(self) -> (Vec<u8>, Vec<usize>, Vec<bool>) {
        match self {
            Keys::Bytes { buf, ends, valid } => (buf, ends, valid),
            Keys::Int(k) => {
                let mut buf = Vec::with_capacity(k.len() * 8);
                let mut ends = Vec::with_capacity(k.len());
                for x in &k {
                    if let Some(x) = x {
                        buf.extend_from_slice(&x.to_be_bytes());
                    }
                    ends.push(buf.len());
                }
                (buf, ends, k.iter().map(Option::is_some).collect())
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Keys::Int(k) => k.len(),
            Keys::Bytes { valid, .. } => valid.len(),
        }
    }

    pub(crate) fn is_valid(&self, i: usize) -> bool {
        match self {
            Keys::Int(k) => k[i].is_some(),
            Keys::Bytes { valid, .. } => valid[i],
        }
    }

    /// The encoded key of row `i` (empty for an `Int` key).
    pub(crate) fn bytes(&self, i: usize) -> &[u8] {
        match self {
            Keys::Int(_) => &[],
            Keys::Bytes { buf, ends, .. } => {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                &buf[start..ends[i]]
            }
        }
    }

    /// Whether rows `a` and `b` have the same key.
    #[inline]
    pub(crate) fn same(&self, a: usize, b: usize) -> bool {
        match self {
            Keys::Int(k) => k[a] == k[b],
            Keys::Bytes { .. } => self.bytes(a) == self.bytes(b),
        }
    }

    /// Calls `f` with the encoded key of a valid row.
    #[inline]
    pub(crate) fn with_key<R>(&self, i: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Keys::Int(k) => f(&k[i].unwrap_or(0).to_be_bytes()),
            Keys::Bytes { .. } => f(self.bytes(i)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        DictionaryArray, Int32Array, TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
        types::Int32Type,
    };

    #[test]
    fn times() {
        let a = TimestampNanosecondArray::from(vec![1_999, -1]).with_timezone("Europe/Paris");
        assert_eq!(event_times(&a), Ok(vec![1, -1]));
        let a = TimestampSecondArray::from(vec![2]);
        assert_eq!(event_times(&a), Ok(vec![2_000_000]));
        let a = TimestampSecondArray::from(vec![0, i64::MAX]);
        assert!(event_times(&a).unwrap_err().1.contains("out of range"));
        let a = TimestampSecondArray::from(vec![Some(0), None]);
        assert_eq!(event_times(&a).unwrap_err().0, 1);
        let a = arrow_array::Date32Array::from(vec![1]);
        assert_eq!(event_times(&a), Ok(vec![86_400_000_000]));
        assert!(check_timestamp_type(&DataType::Utf8).is_err());
        assert!(check_timestamp_type(&DataType::Date64).is_ok());
    }

    #[test]
    fn keys_encode_like_the_store() {
        let ints = Int32Array::from(vec![Some(3), None, Some(-1)]);
        let k = Keys::encode(&[(&ints, KeyType::Int64)], 3).unwrap();
        assert!(matches!(k, Keys::Bytes { .. }));
        let mut want = Vec::new();
        strata_format::key::encode_entity_key(
            &[KeyType::Int64],
            &[strata_format::schema::KeyValue::Int64(-1)],
            &mut want,
        )
        .unwrap();
        k.with_key(2, |b| assert_eq!(b, want.as_slice()));
        assert!(!k.is_valid(1) && k.is_valid(0));

        let ids = Int64Array::from(vec![Some(5), Some(5), None]);
        let names = StringArray::from(vec![Some("b\0"), Some("a"), Some("a")]);
        let k = Keys::encode(&[(&ids, KeyType::Int64), (&names, KeyType::String)], 3).unwrap();
        let mut want = Vec::new();
        strata_format::key::encode_entity_key(
            &[KeyType::Int64, KeyType::String],
            &[
                strata_format::schema::KeyValue::Int64(5),
                strata_format::schema::KeyValue::String("b\0".into()),
            ],
            &mut want,
        )
        .unwrap();
        k.with_key(0, |b| assert_eq!(b, want.as_slice()));
        assert!(!k.is_valid(2) && !k.same(0, 1));
        assert!(k.bytes(1) < k.bytes(0));

        let dict: DictionaryArray<Int32Type> = vec!["x", "y", "x"].into_iter().collect();
        let k = Keys::encode(&[(&dict, KeyType::String)], 3).unwrap();
        assert!(k.same(0, 2) && !k.same(0, 1));
        let k = Keys::concat(vec![
            k,
            Keys::encode(&[(&dict, KeyType::String)], 3).unwrap(),
        ]);
        assert_eq!(k.len(), 6);
        assert!(k.same(1, 4) && k.bytes(5) == k.bytes(0));

        let big = UInt64Array::from(vec![1, u64::MAX]);
        let e = Keys::encode(&[(&big, KeyType::Int64)], 2).err().unwrap();
        assert_eq!(e.0, 1);
        assert!(check_key_type(&DataType::Utf8, KeyType::Int64).is_err());
        assert!(check_key_type(&DataType::UInt16, KeyType::Int64).is_ok());
    }
}
