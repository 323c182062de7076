//! A column's collected partials ([`super::collect`]'s bounded value set,
//! ranked and sorted lists) as a [`Column`] of a state keeps them: adding
//! an event's value, merging, finishing, encoding and decoding, each part
//! present per the column's [`Needs`].

use super::collect::{self, Extremes, Item, Ranked, ValueSet};
use super::layout::Needs;
use super::state::Column;
use crate::catalog::aggregation::Function;
use strata_format::error::{DecodeError, Reader};
use strata_format::schema::Value;

/// Whether a column keeps any of [`collect`]'s partials.
pub(super) fn collecting(n: &Needs) -> bool {
    n.set_cap > 0 || n.oldest_k > 0 || n.newest_k > 0 || n.largest_k > 0 || n.smallest_k > 0
}

/// Adds a value `item` of the event at `at` to the kept parts.
pub(super) fn add_item(col: &mut Column, n: &Needs, at: (i64, i64), item: Item) {
    if n.oldest_k > 0 {
        col.oldest.add(at, item.clone(), n.oldest_k as usize, false);
    }
    if n.newest_k > 0 {
        col.newest.add(at, item.clone(), n.newest_k as usize, true);
    }
    if n.largest_k > 0 {
        col.largest.add(item.clone(), n.largest_k as usize, true);
    }
    if n.smallest_k > 0 {
        col.smallest.add(item.clone(), n.smallest_k as usize, false);
    }
    if n.set_cap > 0 {
        col.set.add(item, n.set_cap as usize);
    }
}

/// Adds the collected parts of `b` to `a`.
pub(super) fn merge_items(a: &mut Column, b: &Column, n: &Needs) {
    if n.set_cap > 0 {
        a.set.merge(&b.set, n.set_cap as usize);
    }
    if n.oldest_k > 0 {
        a.oldest.merge(&b.oldest, n.oldest_k as usize, false);
    }
    if n.newest_k > 0 {
        a.newest.merge(&b.newest, n.newest_k as usize, true);
    }
    if n.largest_k > 0 {
        a.largest.merge(&b.largest, n.largest_k as usize, true);
    }
    if n.smallest_k > 0 {
        a.smallest.merge(&b.smallest, n.smallest_k as usize, false);
    }
}

/// The value of a collecting function over a column's partial.
pub(super) fn finish_items(f: Function, c: &Column, bools: bool) -> Value {
    let take = |k: u32| k as usize;
    match f {
        Function::CountDistinctExact { limit } => c
            .set
            .exact_len(limit as usize)
            .map_or(Value::Null, |n| Value::Int64(n as i64)),
        Function::CollectSet { limit } => {
            collect::list_value(c.set.entries.iter().take(take(limit)).map(|e| &e.0))
        }
        Function::Histogram { k, limit } => match c.set.exact_len(limit as usize) {
            Some(n) if n > 0 => collect::histogram(&c.set, take(k), bools),
            _ => Value::Null,
        },
        Function::FirstK(k) => collect::list_value(c.oldest.0.iter().take(take(k)).map(|e| &e.2)),
        Function::LastK(k) => collect::list_value(c.newest.0.iter().take(take(k)).map(|e| &e.2)),
        Function::TopK(k) => collect::list_value(c.largest.0.iter().take(take(k))),
        Function::BottomK(k) => collect::list_value(c.smallest.0.iter().take(take(k))),
        _ => Value::Null,
    }
}

/// Appends the kept parts' encoding to `out`.
pub(super) fn encode_items(col: &Column, n: &Needs, out: &mut Vec<u8>) {
    if n.set_cap > 0 {
        col.set.encode(out);
    }
    if n.oldest_k > 0 {
        col.oldest.encode(out);
    }
    if n.newest_k > 0 {
        col.newest.encode(out);
    }
    if n.largest_k > 0 {
        col.largest.encode(out);
    }
    if n.smallest_k > 0 {
        col.smallest.encode(out);
    }
}

/// Reads the kept parts' encoding into `c`.
pub(super) fn decode_items(
    c: &mut Column,
    n: &Needs,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    if n.set_cap > 0 {
        c.set = ValueSet::decode(r)?;
    }
    if n.oldest_k > 0 {
        c.oldest = Ranked::decode(r)?;
    }
    if n.newest_k > 0 {
        c.newest = Ranked::decode(r)?;
    }
    if n.largest_k > 0 {
        c.largest = Extremes::decode(r)?;
    }
    if n.smallest_k > 0 {
        c.smallest = Extremes::decode(r)?;
    }
    Ok(())
}
