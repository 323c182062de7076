//! Requests over a connection: many in flight on one connection, and
//! exports. Every request kind's answer is checked in-process
//! (crates/server/tests/in_process_requests.rs).

use strata::format::protocol as p;
use strata::format::schema::Value;

use super::*;

const T0: i64 = 1_714_521_600_000_000; // 2024-05-01T00:00:00Z

#[tokio::test]
async fn many_requests_in_flight_on_one_connection() {
    let (store, server) = started(&[]);
    bounded(async {
        let c = server.client(&store.admin).await;
        let rows: Vec<_> = (0..1000).map(|i| user_row(i, T0, i as f64, i)).collect();
        c.push("user_stats", &rows).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..32i64 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                for j in 0..50i64 {
                    let k = (t * 31 + j * 7) % 1000;
                    let r = c
                        .lookup(&p::LookupRequest {
                            features: vec!["user_stats:txn_count".into()],
                            entities: vec![int_keys("user_id", &[k, k + 1])],
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    assert_eq!(r.features[0].values[0], Value::Int64(k));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let stats = c.stats().await.unwrap();
        let get = |n: &str| stat(&stats, n);
        assert_eq!(
            get("connections_total"),
            1,
            "one connection carried every request"
        );
        assert_eq!(get("lookups"), 32 * 50);
    })
    .await;
}

#[tokio::test]
async fn export_streams_arrow_batches() {
    use arrow_array::{Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
    let (store, server) = started(&[]);
    bounded(async {
        let c = server.client(&store.admin).await;
        let rows: Vec<_> = (0..50).map(|i| user_row(i, T0 + 10, i as f64, i)).collect();
        c.push("user_stats", &rows).await.unwrap();
        // An entity table of 10 000 rows in several IPC batches.
        let n = 10_000i64;
        let ids = Int64Array::from_iter_values((0..n).map(|i| i % 60));
        let ts = TimestampMicrosecondArray::from_iter_values(
            (0..n).map(|i| if i % 2 == 0 { T0 + 20 } else { T0 }),
        )
        .with_timezone_utc();
        let label = Int64Array::from_iter_values(0..n);
        let batch = RecordBatch::try_from_iter([
            ("user_id", Arc::new(ids) as arrow_array::ArrayRef),
            ("event_timestamp", Arc::new(ts) as _),
            ("label", Arc::new(label) as _),
        ])
        .unwrap();
        let bytes = ipc_stream(&batch, 3000);
        let input = bytes
            .chunks(7000)
            .map(|c| Ok(c.to_vec()))
            .collect::<Vec<_>>();
        let mut got = Vec::new();
        let done = c
            .export(
                &p::ExportStart {
                    features: vec!["user_stats:txn_count".into()],
                    ..Default::default()
                },
                input.into_iter(),
                |b| {
                    got.extend_from_slice(b);
                    Ok(())
                },
            )
            .await
            .unwrap();
        assert_eq!(done.rows, n as u64);
        // Rows at T0 + 20 with a key below 50 match; the others do not.
        assert_eq!(
            done.matched,
            [(
                "user_stats".to_string(),
                (0..n).filter(|i| i % 2 == 0 && i % 60 < 50).count() as u64
            )]
        );
        let reader =
            arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(got), None).unwrap();
        let mut seen = 0;
        for b in reader {
            let b = b.unwrap();
            let label = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
            let count = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
            for r in 0..b.num_rows() {
                let i = label.value(r);
                assert_eq!(i, seen, "input order kept");
                let expect = (i % 2 == 0 && i % 60 < 50).then_some(i % 60);
                assert_eq!(count.is_valid(r).then(|| count.value(r)), expect, "row {i}");
                seen += 1;
            }
        }
        assert_eq!(seen, n);
    })
    .await;
}
