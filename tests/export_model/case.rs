//! The random cases: versions to write and entity rows to export, drawn
//! from small pools of keys and times.

use super::*;

/// The key of view `v` numbered `k` in its pool.
pub fn pool_key(v: usize, k: usize) -> Vec<KeyValue> {
    let user = |u: usize| KeyValue::Int64(USERS[u % USERS.len()]);
    let merchant = |m: usize| {
        let (id, c) = MERCHANTS[m % MERCHANTS.len()];
        [KeyValue::String(id.into()), KeyValue::String(c.into())]
    };
    match v {
        0 => vec![user(k)],
        1 => merchant(k).to_vec(),
        _ => {
            let mut key = vec![user(k / 4)];
            key.extend(merchant(k % 4));
            key
        }
    }
}

/// One version to write; its values derive from `seed`.
#[derive(Debug, Clone)]
pub struct WriteSpec {
    pub view: usize,
    pub key: usize,
    pub e: i64,
    pub c: i64,
    pub seed: u64,
    pub nulls: u8,
}

impl WriteSpec {
    pub fn values(&self, grown: bool) -> Vec<Value> {
        let s = self.seed;
        let null = |bit: u8, v: Value| {
            if self.nulls & (1 << bit) != 0 {
                Value::Null
            } else {
                v
            }
        };
        match self.view {
            0 => {
                let mut v = vec![
                    null(0, Value::Int64(s as i64)),
                    null(1, Value::String(format!("s{}", s % 7))),
                ];
                if grown {
                    v.push(null(
                        2,
                        Value::ListFloat32(vec![(s % 5) as f32; (s % 3) as usize]),
                    ));
                    v.push(null(
                        3,
                        Value::ListString((0..s % 3).map(|i| format!("t{}", s % 4 + i)).collect()),
                    ));
                    v.push(null(
                        4,
                        Value::MapStringInt64(
                            (0..s % 3)
                                .map(|i| (format!("k{}", 2 - i), (s % 7 + i) as i64))
                                .collect(),
                        ),
                    ));
                }
                v
            }
            1 => vec![
                null(0, Value::Float64((s % 1000) as f64 / 8.0 - 50.0)),
                null(1, Value::Bool(s.is_multiple_of(2))),
            ],
            _ => vec![
                null(0, Value::Int64(-(s as i64))),
                null(1, Value::Timestamp((s % 1_000_000_000) as i64 - 500)),
                null(
                    2,
                    Value::Bytes(s.to_le_bytes()[..(s % 4) as usize].to_vec()),
                ),
            ],
        }
    }
}

pub fn write_spec() -> impl Strategy<Value = WriteSpec> {
    (
        0usize..3,
        0usize..16,
        0i64..25,
        0i64..8,
        any::<u64>(),
        any::<u8>(),
    )
        .prop_map(|(view, key, e, c, seed, nulls)| WriteSpec {
            view,
            key: if view == 2 { key } else { key % 4 },
            e: e * 2 * SEC,
            c: c * 5 * SEC,
            seed,
            nulls: nulls & 0b0101_0101,
        })
}

/// One entity row: indices into the pools (4 = an unknown key, 5 = null).
#[derive(Debug, Clone)]
pub struct RowSpec {
    pub user: usize,
    pub merchant: usize,
    /// Which merchant column is null when `merchant == 5`: 0 both, 1 id, 2 country.
    pub null_part: usize,
    pub t: i64,
}

pub fn row_spec() -> impl Strategy<Value = RowSpec> {
    (0usize..6, 0usize..6, 0usize..3, -3i64..58, -1i64..=1).prop_map(
        |(user, merchant, null_part, t, off)| RowSpec {
            user,
            merchant,
            null_part,
            t: t * SEC + off,
        },
    )
}

#[derive(Debug, Clone)]
pub struct Case {
    /// Write batches, each followed by a flush or not.
    pub ops: Vec<(Vec<WriteSpec>, bool)>,
    /// Before which batch `u` grows its feature `c` (none if past the end).
    pub grow_at: usize,
    pub rows: Vec<RowSpec>,
    pub known: (u8, i64),
    pub full_names: bool,
    pub threads: usize,
    pub nanos: bool,
    /// Input batch sizes (cycled).
    pub cuts: Vec<usize>,
    pub in_format: u8,
    pub out_format: u8,
}

pub fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(
            (prop::collection::vec(write_spec(), 0..12), any::<bool>()),
            0..8,
        ),
        0usize..10,
        prop::collection::vec(row_spec(), 0..300),
        (0u8..3, 0i64..9),
        any::<bool>(),
        1usize..4,
        any::<bool>(),
        prop::collection::vec(1usize..120, 1..4),
        (0u8..3, 0u8..2),
    )
        .prop_map(
            |(ops, grow_at, rows, known, full_names, threads, nanos, cuts, (i, o))| Case {
                ops,
                grow_at,
                rows,
                known,
                full_names,
                threads,
                nanos,
                cuts,
                in_format: i,
                out_format: o,
            },
        )
}

impl Case {
    pub fn known_at(&self) -> KnownAt {
        match self.known.0 {
            0 => KnownAt::Unbounded,
            1 => KnownAt::At(self.known.1 * 5 * SEC),
            _ => KnownAt::EventTime,
        }
    }

    pub fn user(&self, r: &RowSpec) -> Option<i64> {
        match r.user {
            0..4 => Some(USERS[r.user]),
            4 => Some(99),
            _ => None,
        }
    }

    pub fn merchant(&self, r: &RowSpec) -> (Option<String>, Option<String>) {
        match r.merchant {
            0..4 => {
                let (id, c) = MERCHANTS[r.merchant];
                (Some(id.into()), Some(c.into()))
            }
            4 => (Some("zz".into()), Some("US".into())),
            _ => match r.null_part {
                0 => (None, None),
                1 => (None, Some("US".into())),
                _ => (Some("a".into()), None),
            },
        }
    }
}
