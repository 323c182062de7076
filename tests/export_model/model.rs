//! The brute-force join: every version written, and the check of each
//! exported feature cell against it.

use super::*;

pub type Versions = BTreeMap<(i64, i64), Vec<Value>>;

/// Every version by (view, key).
#[derive(Default)]
pub struct Model(pub BTreeMap<(usize, Vec<KeyValue>), Versions>);

impl Model {
    /// The expected features of view `v` for a row: one value per feature
    /// of the grown schema.
    pub fn expect(
        &self,
        v: usize,
        key: Option<Vec<KeyValue>>,
        t: i64,
        known: KnownAt,
    ) -> Vec<Value> {
        let width = [5, 2, 3][v];
        let none = vec![Value::Null; width];
        let Some(key) = key else { return none };
        let Some(versions) = self.0.get(&(v, key)) else {
            return none;
        };
        let kmax = match known {
            KnownAt::Unbounded => i64::MAX,
            KnownAt::At(k) => k,
            KnownAt::EventTime => t,
        };
        let best = versions
            .iter()
            .filter(|((e, c), _)| *e <= t && *c <= kmax)
            .max_by_key(|(ec, _)| **ec);
        match best {
            Some(((e, _), vals)) if TTLS[v] == 0 || *e >= t - TTLS[v] => {
                let mut vals = vals.clone();
                vals.resize(width, Value::Null);
                vals
            }
            _ => none,
        }
    }
}

pub fn options() -> StoreOptions {
    StoreOptions {
        engine: Options {
            sync: SyncPolicy::Never,
            memtable_bytes: 4096,
            segment: SegmentOptions {
                block_size: 256,
                restart_interval: 4,
                ..SegmentOptions::default()
            },
            ..Options::default()
        },
    }
}

/// Writes the case's versions; returns the model.
pub fn load(store: &Store, case: &Case) -> Model {
    common::stores::apply(store, DEFS);
    let mut model = Model::default();
    let mut grown = false;
    for (i, (batch, flush)) in case.ops.iter().enumerate() {
        if i == case.grow_at {
            common::stores::apply(store, &grown_defs());
            grown = true;
        }
        for (v, name) in VIEWS.iter().enumerate() {
            // One batch holds each (key, event, created) once.
            let mut seen = std::collections::HashSet::new();
            let rows: Vec<RowWrite> = batch
                .iter()
                .filter(|w| w.view == v && seen.insert((w.key, w.e, w.c)))
                .map(|w| {
                    let values = w.values(grown && v == 0);
                    model
                        .0
                        .entry((v, pool_key(v, w.key)))
                        .or_default()
                        .insert((w.e, w.c), values.clone());
                    RowWrite {
                        key: pool_key(v, w.key),
                        event_ts: w.e,
                        created_ts: Some(w.c),
                        values,
                    }
                })
                .collect();
            if !rows.is_empty() {
                store.write(name, &rows).unwrap();
            }
        }
        if *flush {
            store.flush().unwrap();
        }
    }
    if !grown {
        common::stores::apply(store, &grown_defs());
    }
    model
}

/// Output names and types, in request order (`u:*,m:*,um:*`).
pub fn outputs(full: bool) -> Vec<(String, usize, usize, FeatureType)> {
    let feats: [&[(&str, FeatureType)]; 3] = [
        &[
            ("a", FeatureType::Int64),
            ("b", FeatureType::String),
            ("c", FeatureType::ListFloat32),
            ("d", FeatureType::ListString),
            ("h", FeatureType::MapStringInt64),
        ],
        &[("score", FeatureType::Float64), ("flag", FeatureType::Bool)],
        &[
            ("n", FeatureType::Int64),
            ("seen", FeatureType::Timestamp),
            ("raw", FeatureType::Bytes),
        ],
    ];
    let mut out = Vec::new();
    for (v, fs) in feats.iter().enumerate() {
        for (i, (f, ty)) in fs.iter().enumerate() {
            let name = if full {
                format!("{}__{f}", VIEWS[v])
            } else {
                f.to_string()
            };
            out.push((name, v, i, *ty));
        }
    }
    out
}

/// Checks the feature columns of `out` (all rows, in order) against the
/// model. `csv` says the input went through CSV, where an empty string is
/// a null key.
pub fn check_features(
    case: &Case,
    model: &Model,
    out: &RecordBatch,
    csv: bool,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(out.num_rows(), case.rows.len());
    let row_ids = convert(
        out.column_by_name("row_id").unwrap().as_ref(),
        FeatureType::Int64,
    )
    .unwrap();
    for (i, id) in row_ids.iter().enumerate() {
        prop_assert_eq!(id, &Value::Int64(i as i64), "rows out of order");
    }
    let known = case.known_at();
    let expected: Vec<[Vec<Value>; 3]> = case
        .rows
        .iter()
        .map(|r| {
            let empty_null = |s: Option<String>| s.filter(|s| !(csv && s.is_empty()));
            let user = case.user(r);
            let (id, country) = case.merchant(r);
            let (id, country) = (empty_null(id), empty_null(country));
            let merchant = id
                .zip(country)
                .map(|(i, c)| [KeyValue::String(i), KeyValue::String(c)]);
            let keys = [
                user.map(|u| vec![KeyValue::Int64(u)]),
                merchant.clone().map(|m| m.to_vec()),
                user.zip(merchant).map(|(u, m)| {
                    let mut k = vec![KeyValue::Int64(u)];
                    k.extend(m);
                    k
                }),
            ];
            let [k0, k1, k2] = keys;
            [
                model.expect(0, k0, r.t, known),
                model.expect(1, k1, r.t, known),
                model.expect(2, k2, r.t, known),
            ]
        })
        .collect();
    for (name, v, f, ty) in outputs(case.full_names) {
        let col = out
            .column_by_name(&name)
            .unwrap_or_else(|| panic!("no column {name}"));
        let got = convert(col.as_ref(), ty).unwrap();
        for (i, g) in got.iter().enumerate() {
            prop_assert_eq!(
                g,
                &expected[i][v][f],
                "row {} column {} ({:?}, t={})",
                i,
                &name,
                &case.rows[i],
                case.rows[i].t
            );
        }
    }
    Ok(())
}
