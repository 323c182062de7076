//! Keys: the order-preserving entity-key encoding and the internal key.
//!
//! ```text
//! internal key = view_id: u32 BE | entity key | !event_ts: u64 BE | !created_ts: u64 BE
//!                \________ prefix ___________/
//! ```
//!
//! THE KEY ORDER IS THE MOST IMPORTANT PROPERTY OF THE FORMAT: plain
//! byte-wise comparison of internal keys sorts by view, then entity key
//! (column by column, each in its natural order), then event time
//! *descending*, then created time *descending*. One `(view, key)`'s versions
//! therefore sit together, newest first: `latest` is a seek to the prefix,
//! `as_of(t)` a seek to `prefix | !t`.
//!
//! A timestamp `t: i64` is stored as `!(t as u64 ^ 1 << 63)` big-endian:
//! flipping the sign bit makes the signed order unsigned, inverting makes it
//! descending.
//!
//! Entity-key columns, concatenated in join-key order:
//! - `int64`: 8 bytes big-endian with the sign bit flipped.
//! - `string`: the UTF-8 bytes with each `0x00` written as `0x00 0xff`,
//!   terminated by `0x00 0x01`, so that a shorter string sorts first and no
//!   string is a prefix of another's encoding.
//!
//! Within one view, no entity-key encoding is a proper prefix of another
//! (int64 columns have a fixed width, strings are terminated): the engine
//! relies on it to find a prefix's versions as one contiguous run.
//!
//! The *tombstone* of a `(view, key)` (from `delete`) has the internal key
//! `prefix | 0x00 * 16`, i.e. `event_ts = created_ts = i64::MAX`, and sorts
//! before every version of the prefix. `event_ts = i64::MAX` is therefore
//! reserved and refused at write time.

use super::error::{DecodeError, Reader};
use super::schema::{KeyType, KeyValue};

/// Identifies a feature view inside one store.
pub type ViewId = u32;

/// Bytes of the two timestamps at the end of an internal key.
pub const TS_SUFFIX_LEN: usize = 16;
/// Bytes of the view id at the start of an internal key.
pub const VIEW_ID_LEN: usize = 4;
/// Largest entity-key encoding accepted (bytes).
pub const MAX_ENTITY_KEY_LEN: usize = 4096;
/// The event time reserved for tombstones.
pub const TOMBSTONE_TS: i64 = i64::MAX;

/// Order-preserving, descending encoding of a timestamp.
#[inline]
pub fn encode_ts_desc(t: i64) -> [u8; 8] {
    (!((t as u64) ^ (1 << 63))).to_be_bytes()
}

/// Inverse of [`encode_ts_desc`].
#[inline]
pub fn decode_ts_desc(b: [u8; 8]) -> i64 {
    ((!u64::from_be_bytes(b)) ^ (1 << 63)) as i64
}

/// Appends the encoding of one entity key to `out`, checking the values
/// against the join-key types.
pub fn encode_entity_key(
    types: &[KeyType],
    values: &[KeyValue],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if types.len() != values.len() {
        return Err(format!(
            "the entity key has {} join key(s), {} value(s) given",
            types.len(),
            values.len()
        ));
    }
    let start = out.len();
    for (i, (t, v)) in types.iter().zip(values).enumerate() {
        match (t, v) {
            (KeyType::Int64, KeyValue::Int64(x)) => {
                out.extend_from_slice(&((*x as u64) ^ (1 << 63)).to_be_bytes())
            }
            (KeyType::String, KeyValue::String(s)) => encode_key_string(s.as_bytes(), out),
            (t, v) => {
                out.truncate(start);
                return Err(format!("join key {i} is {t}, got a {} value", v.key_type()));
            }
        }
    }
    if out.len() - start > MAX_ENTITY_KEY_LEN {
        out.truncate(start);
        return Err(format!("entity key longer than {MAX_ENTITY_KEY_LEN} bytes"));
    }
    Ok(())
}

/// Appends the escaped, terminated encoding of a string key column.
pub fn encode_key_string(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

/// Encodes an int64 entity key of one column (the common case) into a fixed
/// array, without allocating.
#[inline]
pub fn encode_int_key(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// Decodes an entity key encoding back into values.
pub fn decode_entity_key(types: &[KeyType], buf: &[u8]) -> Result<Vec<KeyValue>, DecodeError> {
    let mut r = Reader::new(buf, "entity key");
    let mut values = Vec::with_capacity(types.len());
    for t in types {
        match t {
            KeyType::Int64 => {
                let b = r.array::<8>()?;
                values.push(KeyValue::Int64((u64::from_be_bytes(b) ^ (1 << 63)) as i64));
            }
            KeyType::String => {
                let mut s = Vec::new();
                loop {
                    let b = r.u8()?;
                    if b != 0 {
                        s.push(b);
                        continue;
                    }
                    match r.u8()? {
                        0xff => s.push(0),
                        0x01 => break,
                        _ => return Err(r.invalid("bad escape in string key")),
                    }
                }
                let s = String::from_utf8(s).map_err(|_| r.invalid("string key is not UTF-8"))?;
                values.push(KeyValue::String(s));
            }
        }
    }
    if !r.is_empty() {
        return Err(r.invalid("trailing bytes after the entity key"));
    }
    Ok(values)
}

/// Builds internal keys into a reusable buffer.
pub fn internal_key(
    view: ViewId,
    entity_key: &[u8],
    event_ts: i64,
    created_ts: i64,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.reserve(VIEW_ID_LEN + entity_key.len() + TS_SUFFIX_LEN);
    out.extend_from_slice(&view.to_be_bytes());
    out.extend_from_slice(entity_key);
    out.extend_from_slice(&encode_ts_desc(event_ts));
    out.extend_from_slice(&encode_ts_desc(created_ts));
}

/// Writes `view_id | entity key` (the prefix shared by all of a key's
/// versions) into `out`.
pub fn prefix(view: ViewId, entity_key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&view.to_be_bytes());
    out.extend_from_slice(entity_key);
}

/// The parts of an internal key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyParts<'a> {
    /// `view_id | entity key`.
    pub prefix: &'a [u8],
    pub event_ts: i64,
    pub created_ts: i64,
}

impl KeyParts<'_> {
    pub fn view(&self) -> ViewId {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.prefix[..VIEW_ID_LEN]);
        ViewId::from_be_bytes(b)
    }

    pub fn entity_key(&self) -> &[u8] {
        &self.prefix[VIEW_ID_LEN..]
    }

    pub fn is_tombstone(&self) -> bool {
        self.event_ts == TOMBSTONE_TS && self.created_ts == TOMBSTONE_TS
    }
}

/// Splits an internal key. Fails if it is shorter than a view id and two
/// timestamps.
#[inline]
pub fn split(key: &[u8]) -> Result<KeyParts<'_>, DecodeError> {
    if key.len() < VIEW_ID_LEN + TS_SUFFIX_LEN {
        return Err(DecodeError::Truncated {
            what: "internal key",
            offset: 0,
            needed: VIEW_ID_LEN + TS_SUFFIX_LEN,
            available: key.len(),
        });
    }
    let (prefix, ts) = key.split_at(key.len() - TS_SUFFIX_LEN);
    let (e, c) = ts.split_at(8);
    let mut eb = [0u8; 8];
    eb.copy_from_slice(e);
    let mut cb = [0u8; 8];
    cb.copy_from_slice(c);
    Ok(KeyParts {
        prefix,
        event_ts: decode_ts_desc(eb),
        created_ts: decode_ts_desc(cb),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(types: &[KeyType], vals: &[KeyValue]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_entity_key(types, vals, &mut out).unwrap();
        out
    }

    #[test]
    fn ts_order_is_descending() {
        let ts = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in ts.windows(2) {
            assert!(encode_ts_desc(w[0]) > encode_ts_desc(w[1]));
            assert_eq!(decode_ts_desc(encode_ts_desc(w[0])), w[0]);
        }
    }

    #[test]
    fn rejects_type_mismatch_and_arity() {
        let mut out = vec![9];
        assert!(
            encode_entity_key(&[KeyType::Int64], &[KeyValue::String("a".into())], &mut out)
                .is_err()
        );
        assert_eq!(out, vec![9], "a failed encode leaves the buffer as it was");
        assert!(
            encode_entity_key(
                &[KeyType::Int64, KeyType::Int64],
                &[KeyValue::Int64(1)],
                &mut out
            )
            .is_err()
        );
    }

    #[test]
    fn tombstone_sorts_before_all_versions() {
        let mut t = Vec::new();
        internal_key(1, &encode_int_key(5), TOMBSTONE_TS, TOMBSTONE_TS, &mut t);
        let mut v = Vec::new();
        internal_key(1, &encode_int_key(5), i64::MAX - 1, i64::MAX, &mut v);
        assert!(t < v);
        assert!(split(&t).unwrap().is_tombstone());
    }

    fn value_of(t: KeyType) -> BoxedStrategy<KeyValue> {
        match t {
            KeyType::Int64 => prop_oneof![any::<i64>(), -3i64..3]
                .prop_map(KeyValue::Int64)
                .boxed(),
            KeyType::String => "[a\\x00b\\xff]{0,4}".prop_map(KeyValue::String).boxed(),
        }
    }

    /// Two keys of one shape, as one view's keys are.
    fn key_pair() -> impl Strategy<Value = (Vec<KeyType>, Vec<KeyValue>, Vec<KeyValue>)> {
        prop::collection::vec(
            prop_oneof![Just(KeyType::Int64), Just(KeyType::String)],
            1..4,
        )
        .prop_flat_map(|types| {
            let a: Vec<_> = types.iter().map(|t| value_of(*t)).collect();
            let b: Vec<_> = types.iter().map(|t| value_of(*t)).collect();
            (Just(types), a, b)
        })
    }

    proptest! {
        #[test]
        fn entity_key_order_matches_value_order((types, a, b) in key_pair()) {
            let (ea, eb) = (enc(&types, &a), enc(&types, &b));
            prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
            prop_assert_eq!(decode_entity_key(&types, &ea).unwrap(), a);
        }

        #[test]
        fn internal_key_order(k in any::<i64>(), e1 in any::<i64>(), c1 in any::<i64>(), e2 in any::<i64>(), c2 in any::<i64>()) {
            let ek = encode_int_key(k);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            internal_key(3, &ek, e1, c1, &mut a);
            internal_key(3, &ek, e2, c2, &mut b);
            prop_assert_eq!(a.cmp(&b), (e2, c2).cmp(&(e1, c1)));
            let p = split(&a).unwrap();
            prop_assert_eq!((p.view(), p.entity_key(), p.event_ts, p.created_ts), (3, &ek[..], e1, c1));
        }

        #[test]
        fn decode_never_panics(types in prop::collection::vec(prop_oneof![Just(KeyType::Int64), Just(KeyType::String)], 0..3), bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_entity_key(&types, &bytes);
        }
    }
}
