//! Streams per connection, idle timeouts, and the memory budget.

use strata::format::protocol::{self as p, Kind};

use super::*;

#[tokio::test]
async fn streams_beyond_the_limit_wait_their_turn() {
    let (store, server) = started(&["--max-streams", "2"]);
    bounded(async {
        let c = server.client(&store.admin).await;
        assert_eq!(c.limits().await.unwrap().max_streams, 2);
        c.push("user_stats", &[user_row(1, 1, 1.0, 1)])
            .await
            .unwrap();
        // Two streams held open by raw exchanges that never finish...
        let (conn, mut s, mut r) = welcomed(&server, &store.admin).await;
        let (_s2, _r2) = conn.open_bi().await.unwrap();
        _ = (&_s2, &_r2);
        // ...so a third cannot be opened until one ends (QUIC flow control).
        let mut s2 = _s2;
        s2.write_all(&frame(Kind::Health, 1, &[])).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(500), conn.open_bi()).await;
        assert!(
            third.is_err(),
            "a third stream opened beyond the limit of 2"
        );
        s.finish().unwrap();
        let _ = read_frame(&mut r).await;
        let (mut s3, mut r3) = tokio::time::timeout(Duration::from_secs(10), conn.open_bi())
            .await
            .expect("a stream frees up")
            .unwrap();
        s3.write_all(&frame(Kind::Health, 2, &[])).await.unwrap();
        assert_eq!(
            read_frame(&mut r3).await.unwrap().0.kind(),
            Some(Kind::HealthResult)
        );
        // The native client queues 20 concurrent requests on 2 streams.
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.lookup(&p::LookupRequest {
                    features: vec!["user_stats:*".into()],
                    entities: vec![int_keys("user_id", &[1])],
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{e:?}"))
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().features[0].statuses, [p::Status::Present]);
        }
    })
    .await;
}

#[tokio::test]
async fn idle_connections_are_closed_and_the_client_reconnects() {
    let (store, server) = started(&["--idle-timeout-ms", "600"]);
    bounded(async {
        // A raw connection that says nothing after its handshake.
        let (conn, _s, _r) = welcomed(&server, &store.admin).await;
        let t = std::time::Instant::now();
        let e = conn.closed().await;
        assert!(matches!(e, quinn::ConnectionError::TimedOut), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        // The native client's keep-alives (every 5 s) are too rare for this
        // server: its connection times out too, and the next request
        // reconnects transparently.
        let c = server.client(&store.admin).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c.health().await.unwrap();
        let stats = c.stats().await.unwrap();
        let total = stat(&stats, "connections_total");
        assert_eq!(
            total, 3,
            "the raw connection, the client's first and its second"
        );
    })
    .await;
}

#[tokio::test]
async fn memory_budget_queues_large_frames() {
    // Frames up to 1 MiB, but only 1 MiB buffered at once in all.
    let (store, server) = started(&["--max-frame-bytes", "1048576", "--memory-mb", "1"]);
    bounded(async {
        let c = server.client(&store.admin).await;
        let mut tasks = Vec::new();
        for t in 0..8i64 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                // ~600 KB pushes: two cannot be buffered at once.
                let rows: Vec<_> = (0..12_000)
                    .map(|i| user_row(t * 100_000 + i, 1, 1.0, i))
                    .collect();
                c.push("user_stats", &rows).await.unwrap().written
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 12_000);
        }
        let stats = c.stats().await.unwrap();
        assert_eq!(stat(&stats, "rows_pushed"), 96_000);
    })
    .await;
}

/// A frame limit above a connection's or a token's memory share is
/// refused at start: such a body could never be reserved (it waited for
/// ever).
#[test]
fn a_frame_above_a_memory_share_is_refused_at_start() {
    let store = Store::new();
    for flag in ["--connection-memory-mb", "--token-memory-mb"] {
        let (code, _, err) = cli(
            store.tmp.path(),
            &[
                "serve",
                "--data",
                "data",
                "--listen",
                "127.0.0.1:0",
                "--max-frame-bytes",
                "4194304",
                flag,
                "2",
            ],
        );
        assert_ne!(code, 0, "{flag}: {err}");
        assert!(err.contains("a token's share"), "{flag}: {err}");
    }
}
