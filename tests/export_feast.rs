//! The worked example of Feast's "Point-in-time joins" documentation,
//! reproduced through `export_to_file`.
//!
//! Feast's page defines the feature view `driver_hourly_stats` on the
//! entity `driver` (join key `driver_id`) with the features `trips_today`
//! (Int64) and `earnings_today` (Float32) and a ttl of 2 hours, joins it
//! onto an entity dataframe of driver ids, event timestamps and a
//! `trip_success` label (read from `entity_df.csv`), and describes the
//! result: of the five entity rows, three get feature values; the first is
//! older than the earliest feature row and gets none; the last happened 11
//! hours after its driver's latest feature row, outside the ttl, and gets
//! none. The page shows its tables as pictures; the rows below are written
//! out to have exactly that shape (hourly feature rows of drivers 1001 and
//! 1002 on 2021-04-12, entity rows at minutes past the hour).

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use arrow_array::{Array, Float32Array, Int64Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strata::offline::export::{self, ExportFiles, ExportRequest};
use strata::offline::ingest_file;

const DEFS: &str = include_str!("fixtures/export-feast.toml");

/// The feature view's source rows (`driver_hourly_stats.parquet` in Feast).
const FEATURES: &str = "\
driver_id,event_timestamp,trips_today,earnings_today
1001,2021-04-12T08:00:00Z,4,32.5
1001,2021-04-12T09:00:00Z,7,61.0
1001,2021-04-12T10:00:00Z,11,98.25
1002,2021-04-12T08:00:00Z,2,15.0
1002,2021-04-12T09:00:00Z,5,47.75
";

/// The entity dataframe (`entity_df.csv`).
const ENTITY_DF: &str = "\
driver_id,event_timestamp,trip_success
1001,2021-04-12T07:30:00Z,1
1001,2021-04-12T09:15:00Z,0
1002,2021-04-12T09:59:59Z,1
1001,2021-04-12T11:30:00Z,1
1002,2021-04-12T20:00:00Z,0
";

#[test]
fn feast_point_in_time_join_example() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::stores::store_with(dir.path().join("store"), DEFS);
    let features = dir.path().join("driver_hourly_stats.csv");
    std::fs::write(&features, FEATURES).unwrap();
    ingest_file(&store, "driver_hourly_stats", &features, false).unwrap();
    let entity_df = dir.path().join("entity_df.csv");
    std::fs::write(&entity_df, ENTITY_DF).unwrap();

    let out = dir.path().join("training_df.parquet");
    let req =
        ExportRequest::new("driver_hourly_stats:trips_today,driver_hourly_stats:earnings_today")
            .unwrap();
    let report = export::export_to_file(
        &store,
        &req,
        &ExportFiles {
            entities: entity_df,
            entities_format: None,
            out: out.clone(),
            out_format: None,
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.rows, 5);
    assert_eq!(report.matched, vec![("driver_hourly_stats".to_string(), 3)]);

    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let t = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    let names = common::tables::column_names(&t);
    assert_eq!(
        names,
        [
            "driver_id",
            "event_timestamp",
            "trip_success",
            "trips_today",
            "earnings_today"
        ]
    );
    let col = |n: &str| t.column_by_name(n).unwrap().clone();
    let ids = col("driver_id");
    let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(ids.values().to_vec(), vec![1001, 1001, 1002, 1001, 1002]);
    let labels = col("trip_success");
    let labels = labels.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(labels.values().to_vec(), vec![1, 0, 1, 1, 0]);
    let trips = col("trips_today");
    let trips = trips.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(
        trips.iter().collect::<Vec<_>>(),
        // Before the first feature row; 09:00; 09:00; 10:00 (90 minutes
        // old, within 2 h); 11 hours after 09:00, outside the ttl.
        vec![None, Some(7), Some(5), Some(11), None]
    );
    let earnings = col("earnings_today");
    let earnings = earnings.as_any().downcast_ref::<Float32Array>().unwrap();
    assert_eq!(
        earnings.iter().collect::<Vec<_>>(),
        vec![None, Some(61.0), Some(47.75), Some(98.25), None]
    );
    assert_eq!(earnings.null_count(), 2);
}
