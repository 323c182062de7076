//! The brute-force model of the read semantics, and bit-exact comparison
//! of what the store returns with it.

use super::*;

pub(crate) type Versions = BTreeMap<(i64, i64), Vec<Value>>;

#[derive(Debug, Default)]
pub(crate) struct Model {
    versions: BTreeMap<(View, Key), Versions>,
}

impl Model {
    pub(crate) fn put(&mut self, view: View, key: Key, e: i64, c: i64, values: Vec<Value>) {
        self.versions
            .entry((view, key))
            .or_default()
            .insert((e, c), values);
    }

    pub(crate) fn delete_user(&mut self, u: usize) {
        self.versions.retain(|(_, k), _| match *k {
            Key::User(x) | Key::Pair(x, _) => x != u,
            Key::Merchant(_) => true,
        });
    }

    pub(crate) fn delete_merchant(&mut self, m: usize) {
        self.versions.retain(|(_, k), _| match *k {
            Key::Merchant(x) | Key::Pair(_, x) => x != m,
            Key::User(_) => true,
        });
    }

    /// The greatest version with `event_ts <= t` and `created_ts <= known`.
    pub(crate) fn find(
        &self,
        view: View,
        key: Key,
        t: i64,
        known: Option<i64>,
    ) -> Option<(i64, i64, &[Value])> {
        let k = known.unwrap_or(i64::MAX);
        self.versions
            .get(&(view, key))?
            .iter()
            .rev()
            .find(|((e, c), _)| *e <= t && *c <= k)
            .map(|((e, c), v)| (*e, *c, v.as_slice()))
    }

    /// What `get` returns: `as_of = None` is `latest`, aged against `now`.
    pub(crate) fn get(&self, view: View, key: Key, opts: ReadOptions, now: i64) -> FeatureRow {
        let n = view.width();
        let t = opts.as_of.unwrap_or(i64::MAX);
        let at = opts.as_of.unwrap_or(now);
        match self.find(view, key, t, opts.known_at) {
            None => FeatureRow {
                event_ts: None,
                created_ts: None,
                values: vec![Value::Null; n],
                statuses: vec![Status::NotFound; n],
            },
            // Exact arithmetic: `t - ttl` may not fit an i64.
            Some((e, c, _))
                if view.ttl() > 0 && i128::from(e) < i128::from(at) - i128::from(view.ttl()) =>
            {
                FeatureRow {
                    event_ts: Some(e),
                    created_ts: Some(c),
                    values: vec![Value::Null; n],
                    statuses: vec![Status::OutsideMaxAge; n],
                }
            }
            Some((e, c, values)) => FeatureRow {
                event_ts: Some(e),
                created_ts: Some(c),
                values: values.to_vec(),
                statuses: values
                    .iter()
                    .map(|v| {
                        if v.is_null() {
                            Status::NullValue
                        } else {
                            Status::Present
                        }
                    })
                    .collect(),
            },
        }
    }

    pub(crate) fn history(
        &self,
        view: View,
        key: Key,
        from: i64,
        to: i64,
        known: Option<i64>,
    ) -> Vec<HistoryRow> {
        let k = known.unwrap_or(i64::MAX);
        self.versions
            .get(&(view, key))
            .into_iter()
            .flat_map(|m| m.iter().rev())
            .filter(|((e, c), _)| from <= *e && *e <= to && *c <= k)
            .map(|((e, c), v)| HistoryRow {
                event_ts: *e,
                created_ts: *c,
                values: v.clone(),
            })
            .collect()
    }

    pub(crate) fn all_versions(&self) -> Vec<(View, Key, i64, i64)> {
        self.versions
            .iter()
            .flat_map(|(&(view, key), m)| m.keys().map(move |&(e, c)| (view, key, e, c)))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Bit-exact comparison of values.

#[derive(Debug, PartialEq)]
pub(crate) enum Bits {
    Null,
    Int64(i64),
    Float64(u64),
    Float32(u32),
    Bool(bool),
    String(String),
    Bytes(Vec<u8>),
    Timestamp(i64),
    ListFloat32(Vec<u32>),
    ListString(Vec<String>),
    ListInt64(Vec<i64>),
    ListFloat64(Vec<u64>),
    MapStringInt64(Vec<(String, i64)>),
    MapStringFloat64(Vec<(String, u64)>),
}

pub(crate) fn bits(v: &Value) -> Bits {
    match v {
        Value::Null => Bits::Null,
        Value::Int64(x) => Bits::Int64(*x),
        Value::Float64(x) => Bits::Float64(x.to_bits()),
        Value::Float32(x) => Bits::Float32(x.to_bits()),
        Value::Bool(x) => Bits::Bool(*x),
        Value::String(s) => Bits::String(s.clone()),
        Value::Bytes(b) => Bits::Bytes(b.clone()),
        Value::Timestamp(x) => Bits::Timestamp(*x),
        Value::ListFloat32(l) => Bits::ListFloat32(l.iter().map(|x| x.to_bits()).collect()),
        Value::ListString(l) => Bits::ListString(l.clone()),
        Value::ListInt64(l) => Bits::ListInt64(l.clone()),
        Value::ListFloat64(l) => Bits::ListFloat64(l.iter().map(|x| x.to_bits()).collect()),
        Value::MapStringInt64(m) => Bits::MapStringInt64(m.clone()),
        Value::MapStringFloat64(m) => {
            Bits::MapStringFloat64(m.iter().map(|(k, x)| (k.clone(), x.to_bits())).collect())
        }
    }
}

pub(crate) type RowBits = (Option<i64>, Option<i64>, Vec<Bits>, Vec<Status>);

pub(crate) fn row_bits(r: &FeatureRow) -> RowBits {
    (
        r.event_ts,
        r.created_ts,
        r.values.iter().map(bits).collect(),
        r.statuses.clone(),
    )
}

pub(crate) fn history_bits(h: &[HistoryRow]) -> Vec<(i64, i64, Vec<Bits>)> {
    h.iter()
        .map(|r| {
            (
                r.event_ts,
                r.created_ts,
                r.values.iter().map(bits).collect(),
            )
        })
        .collect()
}
