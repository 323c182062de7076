//! Every request kind, answered correctly.

use strata::format::protocol::{self as p, HitKind, Status};
use strata::format::schema::{FeatureType, KeyValue, Value};

use super::*;

const T0: i64 = 1_714_521_600_000_000; // 2024-05-01T00:00:00Z

#[tokio::test]
async fn push_lookup_history_registry_stats_health() {
    let (store, server) = started(&[]);
    bounded(async {
        let c = server.client(&store.admin).await;
        // Push: acknowledged with the row count.
        let rows: Vec<_> = (0..100)
            .map(|i| user_row(i, T0 + i, i as f64 / 2.0, i))
            .collect();
        assert_eq!(c.push("user_stats", &rows).await.unwrap(), 100);
        let older = user_row(7, T0 - 10, 99.0, 99);
        assert_eq!(c.push("user_stats", &[older]).await.unwrap(), 1);
        let risk = p::PushRow {
            key: vec![KeyValue::String("shop".into())],
            event_ts: strata::store::now_micros() - 1_000,
            created_ts: Some(5),
            values: vec![Value::Float32(0.25)],
        };
        c.push("merchant_risk", &[risk]).await.unwrap();

        // Lookup: 100 keys + one missing, two views, column-major answer.
        let mut keys: Vec<i64> = (0..100).collect();
        keys.push(1000);
        let n = keys.len();
        let resp = c
            .lookup(&p::LookupRequest {
                features: vec!["user_stats:*".into(), "merchant_risk:score".into()],
                entities: vec![
                    int_keys("user_id", &keys),
                    string_keys("merchant", &vec!["shop"; n]),
                ],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(resp.rows, n);
        let names: Vec<&str> = resp.features.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "user_stats:amount_avg",
                "user_stats:txn_count",
                "user_stats:segment",
                "merchant_risk:score"
            ]
        );
        let count = &resp.features[1];
        assert_eq!(count.ty, FeatureType::Int64);
        assert_eq!(
            count.values[7],
            Value::Int64(7),
            "a late, older write does not hide the newer"
        );
        assert_eq!(count.event_ts[7], Some(T0 + 7));
        assert_eq!(count.statuses[100], Status::NotFound);
        assert_eq!(count.event_ts[100], None);
        assert_eq!(resp.features[2].values[3], Value::String("seg3".into()));
        assert!(
            resp.features[3]
                .statuses
                .iter()
                .all(|s| *s == Status::Present)
        );
        assert!(count.created_ts.is_empty(), "created_ts only when asked");

        // as_of: before the first version of key 7 there is nothing; at
        // T0 - 10 the older version; merchant_risk's ttl makes old reads
        // OUTSIDE_MAX_AGE.
        let at = |t: i64| p::LookupRequest {
            features: vec!["user_stats:txn_count".into()],
            entities: vec![int_keys("user_id", &[7])],
            as_of: Some(t),
            with_created_ts: true,
            ..Default::default()
        };
        let r = c.lookup(&at(T0 - 11)).await.unwrap();
        assert_eq!(r.features[0].statuses, [Status::NotFound]);
        let r = c.lookup(&at(T0 - 10)).await.unwrap();
        assert_eq!(r.features[0].values, [Value::Int64(99)]);
        assert!(r.features[0].created_ts[0].is_some());
        // known_at before the writes: nothing was known.
        let mut k = at(T0 + 100);
        k.known_at = Some(1);
        let r = c.lookup(&k).await.unwrap();
        assert_eq!(r.features[0].statuses, [Status::NotFound]);
        let r = c
            .lookup(&p::LookupRequest {
                features: vec!["merchant_risk:*".into()],
                entities: vec![string_keys("merchant", &["shop"])],
                as_of: Some(strata::store::now_micros() + 3 * 86_400_000_000),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(r.features[0].statuses, [Status::OutsideMaxAge]);
        assert!(r.features[0].event_ts[0].is_some());

        // History: newest first, limit and truncation.
        let h = c.history(&full_history("user_stats", 7)).await.unwrap();
        assert_eq!(h.versions.len(), 2);
        assert!(!h.truncated);
        assert_eq!(h.versions[0].event_ts, T0 + 7);
        assert_eq!(h.versions[1].values[1], Value::Int64(99));
        assert_eq!(h.features[2], ("segment".to_string(), FeatureType::String));
        let h1 = c
            .history(&p::HistoryRequest {
                limit: 1,
                ..full_history("user_stats", 7)
            })
            .await
            .unwrap();
        assert_eq!((h1.versions.len(), h1.truncated), (1, true));

        // Registry.
        let list = c.registry_list().await.unwrap();
        assert_eq!(list.entities.len(), 2);
        let us = list.views.iter().find(|v| v.name == "user_stats").unwrap();
        assert_eq!((us.features, us.team.as_str()), (3, "fraud"));
        assert_eq!(us.tags, ["spend", "daily"]);
        let d = c.describe("user_stats").await.unwrap();
        assert_eq!(
            d.join_keys,
            [(
                "user_id".to_string(),
                strata::format::schema::KeyType::Int64
            )]
        );
        assert_eq!(d.features[0].description, "average amount");
        assert!(
            d.metadata
                .iter()
                .any(|(k, v)| k == "team" && v == "\"fraud\""),
            "{:?}",
            d.metadata
        );
        let hits = c.search("PII", 0).await.unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(
            (
                hits[0].kind,
                hits[0].name.as_str(),
                hits[0].matched.as_str()
            ),
            (HitKind::Feature, "segment", "tags")
        );
        let hits = c.search("spend", 0).await.unwrap();
        assert!(
            hits.iter()
                .any(|h| h.kind == HitKind::View && h.name == "user_stats")
        );
        let hits = c.search("merch", 1).await.unwrap();
        assert_eq!(hits.len(), 1, "the limit applies");

        // Stats and health.
        let stats = c.stats().await.unwrap();
        let get = |n: &str| stat(&stats, n);
        assert_eq!(get("rows_pushed"), 102);
        assert!(get("lookups") >= 5);
        assert!(get("keys_looked_up") >= 2 * n as u64);
        let health = c.health().await.unwrap();
        assert!(health.serving);
        assert_eq!(health.views, 2);
    })
    .await;
}

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
