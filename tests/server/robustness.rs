//! Clients that send garbage or vanish: the server carries on.

use strata::format::protocol::{self as p, Kind};

use super::*;

/// A deterministic byte soup.
fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn garbage_on_every_stream_does_not_hurt() {
    let (store, mut server) =
        started(&["--frame-timeout-ms", "300", "--handshake-timeout-ms", "300"]);
    bounded(async {
        let c = server.client(&store.admin).await;
        c.push("user_stats", &[user_row(1, 1, 1.0, 1)])
            .await
            .unwrap();
        for seed in 0..40u64 {
            // Random bytes after a valid header of a random request kind...
            let kinds = [
                Kind::Lookup,
                Kind::History,
                Kind::Push,
                Kind::Describe,
                Kind::Search,
                Kind::ExportStart,
            ];
            let body = garbage(seed, (seed as usize * 37) % 3000);
            let mut bytes = frame(kinds[seed as usize % kinds.len()], seed, &body);
            bytes.extend(frame(Kind::Health, 1000 + seed, &[]));
            let got = c
                .raw_exchange(&bytes, true, Duration::from_secs(5))
                .await
                .unwrap();
            assert!(!got.is_empty(), "seed {seed}: no answer");
            assert_eq!(got[0].0.request_id, seed);
            // ...and raw soup with no valid header at all.
            let _ = c
                .raw_exchange(
                    &garbage(seed + 99, 200),
                    seed % 2 == 0,
                    Duration::from_millis(400),
                )
                .await;
        }
        // Garbage as the first bytes of new connections.
        for seed in 0..5u64 {
            let conn = raw_conn(&server).await;
            let (mut s, _r) = conn.open_bi().await.unwrap();
            let _ = s.write_all(&garbage(seed, 5000)).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        }
        let r = c
            .lookup(&p::LookupRequest {
                features: vec!["user_stats:txn_count".into()],
                entities: vec![int_keys("user_id", &[1])],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            r.features[0].values[0],
            strata::format::schema::Value::Int64(1)
        );
    })
    .await;
    assert!(server.is_running());
}

#[tokio::test]
async fn clients_that_vanish_mid_stream() {
    let (store, mut server) = started(&[]);
    bounded(async {
        let c = server.client(&store.admin).await;
        let rows: Vec<_> = (0..2000).map(|i| user_row(i, 1, 1.0, i)).collect();
        c.push("user_stats", &rows).await.unwrap();
        // A connection that sends half a frame and is dropped.
        for cut in [3usize, HEADER_LEN, HEADER_LEN + 20] {
            let (conn, mut s, _r) = welcomed(&server, &store.admin).await;
            let mut body = Vec::new();
            p::LookupRequest {
                features: vec!["user_stats:*".into()],
                entities: vec![int_keys("user_id", &(0..500).collect::<Vec<_>>())],
                ..Default::default()
            }
            .encode(&mut body);
            let f = frame(Kind::Lookup, 1, &body);
            s.write_all(&f[..cut]).await.unwrap();
            conn.close(0u32.into(), b"gone");
        }
        // A connection that asks for an export and vanishes while it streams.
        let (conn, _s, _r) = welcomed(&server, &store.admin).await;
        let (mut s, mut r) = conn.open_bi().await.unwrap();
        let start = export_all_user_stats();
        s.write_all(&frame(Kind::ExportStart, 2, &start))
            .await
            .unwrap();
        let table = entity_ipc(200_000);
        s.write_all(&frame(Kind::ExportData, 2, &table[..table.len() / 2]))
            .await
            .unwrap();
        // Half the input is in; the client drops now.
        let _ = tokio::time::timeout(Duration::from_millis(200), read_frame(&mut r)).await;
        conn.close(0u32.into(), b"gone");
        // A client that reads a streaming export's first batch and vanishes.
        let (conn, _s, _r) = welcomed(&server, &store.admin).await;
        let (mut s, mut r) = conn.open_bi().await.unwrap();
        s.write_all(&frame(Kind::ExportStart, 3, &start))
            .await
            .unwrap();
        for piece in table.chunks(1 << 20) {
            s.write_all(&frame(Kind::ExportData, 3, piece))
                .await
                .unwrap();
        }
        s.write_all(&frame(Kind::ExportEnd, 3, &[])).await.unwrap();
        let first = read_frame(&mut r).await.expect("a first batch");
        assert_eq!(first.0.kind(), Some(Kind::ExportBatch));
        conn.close(0u32.into(), b"gone");
        // The server still answers, and a full export still works.
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.health().await.unwrap();
        let done = c
            .export(
                &p::ExportStart {
                    features: vec!["user_stats:txn_count".into()],
                    ..Default::default()
                },
                std::iter::once(Ok(entity_ipc(1000))),
                |_| Ok(()),
            )
            .await
            .unwrap();
        assert_eq!(done.rows, 1000);
    })
    .await;
    assert!(server.is_running());
}

/// An entity table of `n` rows as an Arrow IPC stream.
pub fn entity_ipc(n: i64) -> Vec<u8> {
    use arrow_array::{Int64Array, RecordBatch, TimestampMicrosecondArray};
    let batch = RecordBatch::try_from_iter([
        (
            "user_id",
            Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 3000)))
                as arrow_array::ArrayRef,
        ),
        (
            "event_timestamp",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values((0..n).map(|_| 10)).with_timezone_utc(),
            ) as _,
        ),
    ])
    .unwrap();
    ipc_stream(&batch, 50_000)
}
