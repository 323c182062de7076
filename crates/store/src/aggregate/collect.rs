//! The partial aggregates of the collecting functions: a bounded set of
//! distinct values with their counts (`count_distinct_exact`,
//! `collect_set`, `histogram`), the oldest and newest values
//! (`first_k`, `last_k`) and the largest and smallest (`top_k`,
//! `bottom_k`). Each merges exactly: the merge of two tiles' partials is the
//! partial of their union, so a window's answer does not depend on how it
//! is split into tiles.
//!
//! Encoding (inside a tile's column, see [`super::state`]):
//! ```text
//! item   = 0 | i64            (int64, timestamp, bool as 0/1)
//!        | 1 | f64            (float64, float32 widened; -0.0 stored as 0.0)
//!        | 2 | len: varint | UTF-8
//! set    = truncated: u8 | n: varint | (item | count: varint)*   ascending by item
//! ranked = n: varint | (event_ts: i64 | created_ts: i64 | item)*
//! sorted = n: varint | item*
//! ```

use std::cmp::Ordering;

use strata_format::error::{DecodeError, Reader};
use strata_format::row::MAX_FIELD_LEN;
use strata_format::schema::Value;
use strata_format::varint;

/// One non-null value of an aggregated column, totally ordered: integers
/// by value, floats by [`f64::total_cmp`] (after -0.0 becomes 0.0; NaN is
/// the largest), strings by their bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Int(i64),
    Float(f64),
    Str(String),
}

impl Eq for Item {}

impl Ord for Item {
    fn cmp(&self, other: &Item) -> Ordering {
        match (self, other) {
            (Item::Int(a), Item::Int(b)) => a.cmp(b),
            (Item::Float(a), Item::Float(b)) => a.total_cmp(b),
            (Item::Str(a), Item::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Item) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Item {
    /// The item of a value; `None` for null, bytes and lists.
    pub fn of(v: &Value) -> Option<Item> {
        Some(match v {
            Value::Int64(x) | Value::Timestamp(x) => Item::Int(*x),
            Value::Bool(b) => Item::Int(i64::from(*b)),
            Value::Float64(x) => Item::Float(normal(*x)),
            Value::Float32(x) => Item::Float(normal(f64::from(*x))),
            Value::String(s) => Item::Str(s.clone()),
            _ => return None,
        })
    }

    fn rank(&self) -> u8 {
        match self {
            Item::Int(_) => 0,
            Item::Float(_) => 1,
            Item::Str(_) => 2,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.rank());
        match self {
            Item::Int(x) => out.extend_from_slice(&x.to_le_bytes()),
            Item::Float(x) => out.extend_from_slice(&x.to_le_bytes()),
            Item::Str(s) => {
                varint::put(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Item, DecodeError> {
        Ok(match r.u8()? {
            0 => Item::Int(r.i64()?),
            1 => Item::Float(f64::from_le_bytes(r.array()?)),
            2 => {
                let n = r.len(MAX_FIELD_LEN)?;
                let b = r.bytes(n)?;
                Item::Str(
                    std::str::from_utf8(b)
                        .map_err(|_| r.invalid("item is not UTF-8"))?
                        .to_owned(),
                )
            }
            t => return Err(r.invalid(format!("item tag {t}"))),
        })
    }
}

/// -0.0 as 0.0: one value for a distinct count.
fn normal(x: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x }
}

/// The `cap` smallest distinct values of a set of events with how often
/// each occurs, and whether any larger value was left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueSet {
    /// Ascending by item, items distinct.
    pub entries: Vec<(Item, u64)>,
    pub truncated: bool,
}

impl ValueSet {
    pub fn add(&mut self, item: Item, cap: usize) {
        match self.entries.binary_search_by(|e| e.0.cmp(&item)) {
            Ok(i) => self.entries[i].1 = self.entries[i].1.saturating_add(1),
            Err(i) => {
                if i >= cap {
                    self.truncated = true;
                    return;
                }
                self.entries.insert(i, (item, 1));
                if self.entries.len() > cap {
                    self.entries.pop();
                    self.truncated = true;
                }
            }
        }
    }

    pub fn merge(&mut self, other: &ValueSet, cap: usize) {
        let mut out = Vec::with_capacity((self.entries.len() + other.entries.len()).min(cap));
        let (mut a, mut b) = (
            std::mem::take(&mut self.entries).into_iter().peekable(),
            other.entries.iter().cloned().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (Some(x), Some(y)) => match x.0.cmp(&y.0) {
                    Ordering::Less => a.next(),
                    Ordering::Greater => b.next(),
                    Ordering::Equal => {
                        let n = y.1;
                        b.next();
                        a.next().map(|(i, m)| (i, m.saturating_add(n)))
                    }
                },
            };
            let Some(e) = next else { break };
            if out.len() == cap {
                self.truncated = true;
                break;
            }
            out.push(e);
        }
        self.truncated |= other.truncated;
        self.entries = out;
    }

    /// The number of distinct values if it is at most `limit`.
    pub fn exact_len(&self, limit: usize) -> Option<usize> {
        (!self.truncated && self.entries.len() <= limit).then_some(self.entries.len())
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.truncated));
        varint::put(out, self.entries.len() as u64);
        for (item, n) in &self.entries {
            item.encode(out);
            varint::put(out, *n);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<ValueSet, DecodeError> {
        let truncated = match r.u8()? {
            0 => false,
            1 => true,
            b => return Err(r.invalid(format!("truncated flag {b}"))),
        };
        let n = r.len(r.remaining())?;
        let mut entries: Vec<(Item, u64)> = Vec::with_capacity(n);
        for _ in 0..n {
            let item = Item::decode(r)?;
            if entries.last().is_some_and(|l| l.0 >= item) {
                return Err(r.invalid("set items out of order"));
            }
            entries.push((item, r.varint()?));
        }
        Ok(ValueSet { entries, truncated })
    }
}

/// Values ranked by `(event_ts, created_ts)`: the `k` oldest (`newest`
/// false) or newest, in that order (oldest first, or newest first).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ranked(pub Vec<(i64, i64, Item)>);

impl Ranked {
    pub fn add(&mut self, at: (i64, i64), item: Item, k: usize, newest: bool) {
        let key = |e: &(i64, i64, Item)| (e.0, e.1);
        let i = self
            .0
            .partition_point(|e| if newest { key(e) > at } else { key(e) < at });
        if i < k {
            self.0.insert(i, (at.0, at.1, item));
            self.0.truncate(k);
        }
    }

    pub fn merge(&mut self, other: &Ranked, k: usize, newest: bool) {
        for (e, c, item) in &other.0 {
            self.add((*e, *c), item.clone(), k, newest);
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        varint::put(out, self.0.len() as u64);
        for (e, c, item) in &self.0 {
            out.extend_from_slice(&e.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
            item.encode(out);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Ranked, DecodeError> {
        let n = r.len(r.remaining())?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push((r.i64()?, r.i64()?, Item::decode(r)?));
        }
        Ok(Ranked(v))
    }
}

/// The `k` largest (`largest` true) or smallest values, duplicates kept,
/// largest or smallest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extremes(pub Vec<Item>);

impl Extremes {
    pub fn add(&mut self, item: Item, k: usize, largest: bool) {
        let i = self
            .0
            .partition_point(|e| if largest { *e >= item } else { *e <= item });
        if i < k {
            self.0.insert(i, item);
            self.0.truncate(k);
        }
    }

    pub fn merge(&mut self, other: &Extremes, k: usize, largest: bool) {
        for item in &other.0 {
            self.add(item.clone(), k, largest);
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        varint::put(out, self.0.len() as u64);
        for item in &self.0 {
            item.encode(out);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Extremes, DecodeError> {
        let n = r.len(r.remaining())?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(Item::decode(r)?);
        }
        Ok(Extremes(v))
    }
}

/// Items as a list value: `list<int64>`, `list<float64>` or `list<string>`
/// by the items' kind; `None` when there are none.
pub fn list_value<'a>(items: impl Iterator<Item = &'a Item>) -> Value {
    let items: Vec<&Item> = items.collect();
    match items.first() {
        None => Value::Null,
        Some(Item::Int(_)) => Value::ListInt64(
            items
                .iter()
                .filter_map(|i| match i {
                    Item::Int(x) => Some(*x),
                    _ => None,
                })
                .collect(),
        ),
        Some(Item::Float(_)) => Value::ListFloat64(
            items
                .iter()
                .filter_map(|i| match i {
                    Item::Float(x) => Some(*x),
                    _ => None,
                })
                .collect(),
        ),
        Some(Item::Str(_)) => Value::ListString(
            items
                .iter()
                .filter_map(|i| match i {
                    Item::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        ),
    }
}

/// A histogram: the `k` most frequent values with their counts, most
/// frequent first (ties: smaller value first); keys as text (`bool`
/// columns `true`/`false` when `bools`).
pub fn histogram(set: &ValueSet, k: usize, bools: bool) -> Value {
    let mut e: Vec<&(Item, u64)> = set.entries.iter().collect();
    e.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Value::MapStringInt64(
        e.into_iter()
            .take(k)
            .map(|(item, n)| (key_text(item, bools), i64::try_from(*n).unwrap_or(i64::MAX)))
            .collect(),
    )
}

/// The text of a histogram key.
pub fn key_text(item: &Item, bools: bool) -> String {
    match item {
        Item::Int(x) if bools => (*x != 0).to_string(),
        Item::Int(x) => x.to_string(),
        Item::Float(x) => format!("{x:?}"),
        Item::Str(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(xs: &[i64]) -> Vec<Item> {
        xs.iter().map(|x| Item::Int(*x)).collect()
    }

    #[test]
    fn sets_keep_the_smallest_values_whatever_the_split() {
        let xs = [5, 3, 9, 3, 1, 7, 7, 2, 8, 1, 6];
        for cap in 1..8 {
            let mut whole = ValueSet::default();
            for i in items(&xs) {
                whole.add(i, cap);
            }
            for split in 0..xs.len() {
                let (mut a, mut b) = (ValueSet::default(), ValueSet::default());
                for (n, i) in items(&xs).into_iter().enumerate() {
                    if n < split { &mut a } else { &mut b }.add(i, cap);
                }
                a.merge(&b, cap);
                assert_eq!(a, whole, "cap {cap} split {split}");
            }
            let mut out = Vec::new();
            whole.encode(&mut out);
            let mut r = Reader::new(&out, "test");
            assert_eq!(ValueSet::decode(&mut r).unwrap(), whole);
        }
        let mut s = ValueSet::default();
        for i in items(&xs) {
            s.add(i, 100);
        }
        assert_eq!(s.exact_len(8), Some(8));
        assert_eq!(s.exact_len(7), None);
        assert_eq!(
            histogram(&s, 2, false),
            Value::MapStringInt64(vec![("1".into(), 2), ("3".into(), 2)])
        );
    }

    #[test]
    fn ranked_and_extremes_merge_exactly() {
        let evs: Vec<(i64, i64)> = vec![(5, 0), (1, 2), (9, 1), (1, 1), (4, 4)];
        for k in 1..6 {
            for newest in [false, true] {
                let mut whole = Ranked::default();
                let (mut a, mut b) = (Ranked::default(), Ranked::default());
                for (n, e) in evs.iter().enumerate() {
                    whole.add(*e, Item::Int(e.0), k, newest);
                    if n % 2 == 0 { &mut a } else { &mut b }.add(*e, Item::Int(e.0), k, newest);
                }
                a.merge(&b, k, newest);
                assert_eq!(a, whole);
                let mut sorted = evs.clone();
                sorted.sort();
                if newest {
                    sorted.reverse();
                }
                let want: Vec<(i64, i64)> = sorted.into_iter().take(k).collect();
                let got: Vec<(i64, i64)> = whole.0.iter().map(|e| (e.0, e.1)).collect();
                assert_eq!(got, want);
            }
            for largest in [false, true] {
                let mut e = Extremes::default();
                for i in items(&[3, 1, 3, 2, 5]) {
                    e.add(i, k, largest);
                }
                let mut want = vec![3, 1, 3, 2, 5];
                want.sort_unstable();
                if largest {
                    want.reverse();
                }
                want.truncate(k);
                assert_eq!(e.0, items(&want));
            }
        }
    }
}
