//! A run joined in pieces gives exactly the batches of the run joined at
//! once (which the export model checks), whatever the budget: from a
//! budget that splits every piece down to one row, to one that never
//! splits.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test may unwrap: the panic is its failure report"
)]

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use proptest::prelude::*;

use super::super::{ExportRequest, Plan, export};
use strata_format::protocol::RowWrite;
use strata_format::schema::{KeyValue, Value};
use strata_store::Store;
use strata_store::catalog::defs;

const DEFS: &str = include_str!("../testdata/pieces.toml");

fn joined(store: &Store, plan: &Plan, input: &[RecordBatch]) -> Vec<RecordBatch> {
    export(store, plan, input.iter().cloned().map(Ok))
        .map(Result::unwrap)
        .collect()
}

fn rows_of(batches: &[RecordBatch]) -> Vec<RecordBatch> {
    // Compare row by row: pieces may cut batches elsewhere.
    batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |i| b.slice(i, 1)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn pieces_join_as_the_whole_run(
        versions in prop::collection::vec((0i64..6, 0i64..50, 0usize..3000), 1..30),
        rows in prop::collection::vec((0i64..8, 0i64..60), 1..200),
        budget in 0usize..20_000,
        threads in 1usize..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = defs::parse(DEFS).unwrap();
        store.set_catalog(defs::plan(&store.catalog(), &d).unwrap().catalog).unwrap();
        let writes: Vec<RowWrite> = versions
            .iter()
            .map(|&(k, t, w)| RowWrite {
                key: vec![KeyValue::Int64(k)],
                event_ts: t,
                created_ts: None,
                values: vec![Value::String("v".repeat(w)), Value::Int64(t)],
            })
            .collect();
        store.write("p", &writes).unwrap();
        let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new("event_timestamp", micros, false),
        ]));
        let input: Vec<RecordBatch> = rows
            .chunks(37)
            .map(|c| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from(c.iter().map(|r| r.0).collect::<Vec<_>>())),
                        Arc::new(TimestampMicrosecondArray::from(
                            c.iter().map(|r| r.1).collect::<Vec<_>>(),
                        )),
                    ],
                )
                .unwrap()
            })
            .collect();
        let mut req = ExportRequest::new("p:*").unwrap();
        req.threads = threads;
        let whole = Plan::new(&store, &req, &schema).unwrap();
        let mut split = Plan::new(&store, &req, &schema).unwrap();
        split.record_budget = budget;
        let a = joined(&store, &whole, &input);
        let b = joined(&store, &split, &input);
        prop_assert_eq!(rows_of(&a), rows_of(&b));
        prop_assert_eq!(b.iter().map(RecordBatch::num_rows).sum::<usize>(), rows.len());
    }
}
