//! Every error code a client can provoke, and auth refusals.

use strata::client::Error;
use strata::format::protocol::{self as p, ErrorCode, Kind};

use super::*;

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> ErrorCode {
    match r {
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("not a server error: {e}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test]
async fn request_errors_keep_the_connection() {
    // Every request error code is checked in-process
    // (crates/server/tests/in_process_errors.rs); here: refusals leave the
    // connection open and are counted.
    let store = Store::new();
    let server = Server::start(&store, &["--max-keys-per-lookup", "100"]);
    bounded(async {
        let c = server.client(&store.admin).await;
        assert_eq!(
            code(c.lookup(&lookup(&["nope:*"], "user_id", &[1])).await),
            ErrorCode::NotFound
        );
        assert_eq!(code(c.describe("nope").await), ErrorCode::NotFound);
        assert_eq!(code(c.search("  ", 0).await), ErrorCode::InvalidArgument);
        let keys: Vec<i64> = (0..101).collect();
        let e = c
            .lookup(&lookup(&["user_stats:*"], "user_id", &keys))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::LimitExceeded));
        assert!(
            e.to_string()
                .contains("keys per lookup: 101 exceeds the limit of 100"),
            "{e}"
        );
        // The connection is still the first one.
        let stats = c.stats().await.unwrap();
        let get = |n: &str| stats.iter().find(|(k, _)| k == n).unwrap().1;
        assert_eq!(get("connections_total"), 1);
        assert!(get("errors") >= 4);
    })
    .await;
}

#[tokio::test]
async fn auth_refusals() {
    // Grants are checked in-process (in_process_errors.rs); here: a bad
    // token is refused at the handshake, and a revoked one on an open
    // connection once the server re-reads its token file.
    let store = Store::new();
    let server = Server::start(&store, &[]);
    bounded(async {
        // UNAUTHENTICATED: unknown, malformed, altered tokens.
        for t in [
            "",
            "garbage",
            "stk_0000000000000000_00",
            &format!("{}0", store.admin),
        ] {
            let e = Client::connect(server.config(t))
                .await
                .err()
                .expect("refused");
            assert_eq!(e.code(), Some(ErrorCode::Unauthenticated), "{t:?}: {e}");
        }
        let r = server.client(&store.reader).await;
        r.lookup(&lookup(&["user_stats:*"], "user_id", &[1]))
            .await
            .unwrap();
        // Revocation takes effect on open connections.
        let id = &store.reader[4..20];
        strata(store.tmp.path(), &["token", "revoke", "--data", "data", id]);
        let start = std::time::Instant::now();
        loop {
            match r.lookup(&lookup(&["user_stats:*"], "user_id", &[1])).await {
                Err(e) if e.code() == Some(ErrorCode::Unauthenticated) => break,
                Ok(_) => assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "revocation not applied"
                ),
                Err(e) => panic!("{e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let e = Client::connect(server.config(&store.reader))
            .await
            .err()
            .unwrap();
        assert_eq!(e.code(), Some(ErrorCode::Unauthenticated));
    })
    .await;
}

#[tokio::test]
async fn framing_errors_on_raw_streams() {
    // Bodies that do not decode and unknown kinds are checked in-process
    // (in_process_errors.rs); here: the stream goes on after them, and
    // header errors end it.
    let store = Store::new();
    let server = Server::start(&store, &["--max-frame-bytes", "4096"]);
    bounded(async {
        let c = server.client(&store.admin).await;
        let health = frame(Kind::Health, 9, &[]);
        // MALFORMED body, UNKNOWN_REQUEST kind: the stream goes on (a
        // Health after them is answered).
        let mut bytes = frame(Kind::Lookup, 1, &[0xff, 0xff, 0xff]);
        let mut unknown = frame(Kind::Health, 3, &[]);
        unknown[4] = 0x77;
        bytes.extend(unknown);
        bytes.extend(hello(&store.admin));
        bytes.extend(&health);
        let got = c
            .raw_exchange(&bytes, true, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(error_code(&got[0]), ErrorCode::Malformed);
        assert_eq!(got[0].0.request_id, 1);
        assert_eq!(error_code(&got[1]), ErrorCode::UnknownRequest);
        assert_eq!(error_code(&got[2]), ErrorCode::UnknownRequest);
        assert_eq!(got[3].0.kind(), Some(Kind::HealthResult));
        // FRAME_TOO_LARGE: answered without reading the body; the stream ends.
        let mut big = frame(Kind::Lookup, 6, &[]);
        big[..4].copy_from_slice(&4097u32.to_le_bytes());
        big.extend(&health);
        let got = c
            .raw_exchange(&big, false, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(error_code(&got[0]), ErrorCode::FrameTooLarge);
        assert_eq!(got[0].0.request_id, 6);
        // Undefined flags: MALFORMED, and the stream ends.
        let mut flagged = frame(Kind::Health, 7, &[]);
        flagged[5] = 0x80;
        let got = c
            .raw_exchange(&flagged, false, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(error_code(&got[0]), ErrorCode::Malformed);
        // The client refuses to send a request above the server's limit.
        let keys: Vec<i64> = (0..600).collect();
        let e = c
            .lookup(&lookup(&["user_stats:*"], "user_id", &keys))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        c.health().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn handshake_errors_close_the_connection_with_their_code() {
    let (store, server) = started(&["--handshake-timeout-ms", "500", "--frame-timeout-ms", "500"]);
    bounded(async {
        let app_code = |e: quinn::ConnectionError| match e {
            quinn::ConnectionError::ApplicationClosed(c) => {
                ErrorCode::from_u16(c.error_code.into_inner() as u16).unwrap()
            }
            e => panic!("{e}"),
        };
        // BAD_HANDSHAKE: a first frame that is not a Hello; garbage bytes.
        for first in [
            frame(Kind::Health, 1, &[]),
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ] {
            let conn = raw_conn(&server).await;
            let (mut s, mut r) = conn.open_bi().await.unwrap();
            s.write_all(&first).await.unwrap();
            let f = read_frame(&mut r).await.expect("an Error frame");
            assert_eq!(error_code(&f), ErrorCode::BadHandshake);
            assert_eq!(app_code(conn.closed().await), ErrorCode::BadHandshake);
        }
        // A Hello with a bad magic.
        let conn = raw_conn(&server).await;
        let (mut s, mut r) = conn.open_bi().await.unwrap();
        let mut h = hello(&store.admin);
        h[HEADER_LEN] = b'X';
        s.write_all(&h).await.unwrap();
        assert_eq!(
            error_code(&read_frame(&mut r).await.unwrap()),
            ErrorCode::BadHandshake
        );
        // UNSUPPORTED_VERSION.
        let conn = raw_conn(&server).await;
        let (mut s, mut r) = conn.open_bi().await.unwrap();
        let mut body = Vec::new();
        p::Hello {
            min_version: p::VERSION + 1,
            max_version: p::VERSION + 2,
            token: store.admin.clone(),
            client: "future".into(),
        }
        .encode(&mut body);
        s.write_all(&frame(Kind::Hello, 0, &body)).await.unwrap();
        assert_eq!(
            error_code(&read_frame(&mut r).await.unwrap()),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(app_code(conn.closed().await), ErrorCode::UnsupportedVersion);
        // TIMEOUT: no Hello at all.
        let conn = raw_conn(&server).await;
        assert_eq!(app_code(conn.closed().await), ErrorCode::Timeout);
        // TIMEOUT: a frame header whose body never comes.
        let (conn, mut s, mut r) = welcomed(&server, &store.admin).await;
        let mut partial = frame(Kind::Lookup, 5, &[0; 100]);
        partial.truncate(HEADER_LEN + 10);
        s.write_all(&partial).await.unwrap();
        let f = read_frame(&mut r).await.unwrap();
        assert_eq!(error_code(&f), ErrorCode::Timeout);
        assert_eq!(f.0.request_id, 5);
        // The connection itself is still good: a new stream is served.
        let (mut s2, mut r2) = conn.open_bi().await.unwrap();
        s2.write_all(&frame(Kind::Health, 6, &[])).await.unwrap();
        assert_eq!(
            read_frame(&mut r2).await.unwrap().0.kind(),
            Some(Kind::HealthResult)
        );
        server.client(&store.admin).await.health().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn too_many_connections() {
    let (store, server) = started(&["--max-connections", "2"]);
    bounded(async {
        let a = server.client(&store.admin).await;
        let b = server.client(&store.admin).await;
        let e = Client::connect(server.config(&store.admin))
            .await
            .err()
            .expect("third refused");
        assert_eq!(e.code(), Some(ErrorCode::TooManyConnections), "{e}");
        a.health().await.unwrap();
        b.close().await;
        // Once one closes, a new connection is accepted.
        let start = std::time::Instant::now();
        loop {
            match Client::connect(server.config(&store.admin)).await {
                Ok(c) => {
                    c.health().await.unwrap();
                    break;
                }
                Err(e) => {
                    assert_eq!(e.code(), Some(ErrorCode::TooManyConnections));
                    assert!(start.elapsed() < Duration::from_secs(10));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
    .await;
}
