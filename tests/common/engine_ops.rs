//! Random operations on an engine (batches of puts, deletes, flushes,
//! compactions, reopens) and a brute-force record of the versions they
//! leave, for the engine's model tests. [`Model::as_of`] is the point read
//! they share; each test adds the other reads it checks to [`Model`] in an
//! `impl` of its own.

use std::collections::BTreeMap;

use proptest::prelude::*;
use strata::engine::{Engine, Version, WriteBatch};

/// A key's versions: `(event_ts, created_ts) -> row`.
pub type Versions = BTreeMap<(i64, i64), Vec<u8>>;

/// Every version written and not deleted, by `(view, entity key)`.
#[derive(Default)]
pub struct Model {
    pub versions: BTreeMap<(u32, Vec<u8>), Versions>,
}

impl Model {
    pub fn put(&mut self, view: u32, key: &[u8], e: i64, c: i64, row: &[u8]) {
        self.versions
            .entry((view, key.to_vec()))
            .or_default()
            .insert((e, c), row.to_vec());
    }

    pub fn delete(&mut self, view: u32, key: &[u8]) {
        self.versions.remove(&(view, key.to_vec()));
    }

    /// The newest version of `key` in `view` with `event_ts <= t`, among
    /// those created at or before `known` (all without it).
    pub fn as_of(&self, view: u32, key: &[u8], t: i64, known: Option<i64>) -> Option<Version> {
        let k = known.unwrap_or(i64::MAX);
        self.versions
            .get(&(view, key.to_vec()))?
            .iter()
            .rev()
            .find(|((e, c), _)| *e <= t && *c <= k)
            .map(|((e, c), r)| Version {
                event_ts: *e,
                created_ts: *c,
                row: r.clone(),
            })
    }
}

#[derive(Debug, Clone)]
pub enum Op {
    /// `(view, key number, event_ts, created_ts, row)` in one batch.
    Put(Vec<(u32, u8, i64, i64, Vec<u8>)>),
    Delete(u32, u8),
    Flush,
    Compact,
    /// Close and open the engine again (left to the test).
    Reopen,
}

/// Ops on views 1 and 2 and the keys `0..keys`: batches of up to
/// `max_batch - 1` puts (weight `put`), deletes (1), flushes (`flush`),
/// compactions (1) and reopens (`reopen`, 0 for none).
pub fn op(keys: u8, put: u32, max_batch: usize, flush: u32, reopen: u32) -> BoxedStrategy<Op> {
    let one = (
        1u32..3,
        0u8..keys,
        -3i64..12,
        0i64..4,
        prop::collection::vec(any::<u8>(), 0..6),
    );
    prop_oneof![
        put => prop::collection::vec(one, 1..max_batch).prop_map(Op::Put),
        1 => (1u32..3, 0u8..keys).prop_map(|(v, k)| Op::Delete(v, k)),
        flush => Just(Op::Flush),
        1 => Just(Op::Compact),
        reopen => Just(Op::Reopen),
    ]
    .boxed()
}

/// Applies `op` (all but [`Op::Reopen`]) to `engine` and `model`, with the
/// key numbered `k` encoded as `key(k)`.
pub fn apply(engine: &Engine, model: &mut Model, op: &Op, key: impl Fn(u8) -> Vec<u8>) {
    match op {
        Op::Put(puts) => {
            let mut b = WriteBatch::default();
            for (view, k, ev, cr, row) in puts {
                b.put(*view, &key(*k), *ev, *cr, row).unwrap();
                model.put(*view, &key(*k), *ev, *cr, row);
            }
            engine.write(&b).unwrap();
        }
        Op::Delete(view, k) => {
            let mut b = WriteBatch::default();
            b.delete(*view, &key(*k)).unwrap();
            engine.write(&b).unwrap();
            model.delete(*view, &key(*k));
        }
        Op::Flush => engine.flush().unwrap(),
        Op::Compact => {
            engine.compact().unwrap();
        }
        Op::Reopen => panic!("the test reopens the engine itself"),
    }
}

/// Entity keys as the catalog encodes string keys: of varying length, some
/// sharing prefixes, none a prefix of another's encoding. Key `k` is the
/// string `STRING_KEYS[k]`.
pub const STRING_KEYS: [&[u8]; 7] = [b"", b"a", b"a\0", b"ab", b"b", b"ba", b"\xff\xff"];

/// The encoded key of `STRING_KEYS[k]`.
pub fn string_key(k: u8) -> Vec<u8> {
    let mut out = Vec::new();
    strata::format::key::encode_key_string(STRING_KEYS[usize::from(k)], &mut out);
    out
}
