//! SIGTERM with requests in flight: they finish, and every acknowledged
//! push is in the store afterwards.

use std::sync::Mutex;

use strata::format::schema::{KeyValue, Value};
use strata::store::{ReadOptions, Store as LocalStore};

use super::*;

#[tokio::test]
async fn sigterm_loses_nothing_acknowledged() {
    let (store, server) = started(&[]);
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let refused = bounded(async {
        let c = server.client(&store.admin).await;
        let mut tasks = Vec::new();
        for t in 0..8i64 {
            let (c, acked) = (c.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                let mut errors = Vec::new();
                for j in 0.. {
                    let id = t * 1_000_000 + j;
                    match c.push("user_stats", &[user_row(id, 5, 1.0, id)]).await {
                        Ok(s) if s.written == 1 => acked.lock().unwrap().push(id),
                        Ok(s) => panic!("acknowledged {s}"),
                        Err(e) => {
                            errors.push(e);
                            break;
                        }
                    }
                }
                errors
            }));
        }
        // Let the writers run, then stop the server under them.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let before = acked.lock().unwrap().len();
        assert!(before > 0, "no push was acknowledged before the signal");
        server.sigterm();
        let mut errors = Vec::new();
        for t in tasks {
            errors.extend(t.await.unwrap());
        }
        errors
    })
    .await;
    let (status, stderr) = server.wait(Duration::from_secs(30));
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    // Refusals after the signal are typed (or the connection is gone).
    for e in &refused {
        let typed = e.code() == Some(strata::format::protocol::ErrorCode::ShuttingDown);
        let gone = matches!(
            e,
            strata::client::Error::Connection(_) | strata::client::Error::Connect { .. }
        );
        assert!(typed || gone, "unexpected error: {e}");
    }
    assert!(refused.iter().any(|e| e.code()
        == Some(strata::format::protocol::ErrorCode::ShuttingDown)
        || matches!(e, strata::client::Error::Connect { .. })));
    // Every acknowledged row is in the store.
    let acked = acked.lock().unwrap().clone();
    let local = LocalStore::open(store.data()).unwrap();
    for id in &acked {
        let r = local
            .get(
                "user_stats",
                &[KeyValue::Int64(*id)],
                ReadOptions::default(),
            )
            .unwrap();
        assert_eq!(r.values[1], Value::Int64(*id), "acknowledged row {id} lost");
    }
}

#[tokio::test]
async fn sigterm_lets_a_running_export_finish() {
    let (store, server) = started(&[]);
    bounded(async {
        let c = server.client(&store.admin).await;
        let rows: Vec<_> = (0..3000).map(|i| user_row(i, 1, 1.0, i)).collect();
        c.push("user_stats", &rows).await.unwrap();
        let table = super::robustness::entity_ipc(300_000);
        let pieces: Vec<Vec<u8>> = table.chunks(256 << 10).map(|c| c.to_vec()).collect();
        let c2 = c.clone();
        let export = tokio::spawn(async move {
            let mut bytes = 0usize;
            let r = c2
                .export(
                    &strata::format::protocol::ExportStart {
                        features: vec!["user_stats:*".into()],
                        ..Default::default()
                    },
                    pieces.into_iter().map(Ok),
                    |b| {
                        bytes += b.len();
                        Ok(())
                    },
                )
                .await;
            (r, bytes)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.sigterm();
        let (r, bytes) = export.await.unwrap();
        let done = r.unwrap();
        assert_eq!(done.rows, 300_000);
        assert!(bytes > 300_000 * 8);
    })
    .await;
    let (status, _) = server.wait(Duration::from_secs(30));
    assert!(status.success());
}
