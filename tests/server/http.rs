//! `strata serve --http`: Feast's feature-server API over a real server,
//! checked byte for byte against the JSON Feast 0.67's feature server
//! answers (docs/PROTOCOL.md, "HTTP endpoint"), with a plain TCP client
//! and a TLS one.

use std::io::{Read, Write};
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use std::net::TcpStream;

use strata::format::protocol as p;
use strata::format::schema::{KeyValue, Value};

use super::*;

const T0: i64 = 1_714_521_600_000_000; // 2024-05-01T00:00:00Z
const E0: &str = "1970-01-01T00:00:00Z";

/// A view with a declared default, beside the shared definitions.
const FLAGS: &str = r#"
[[feature_views]]
name = "user_flags"
entities = ["user"]
features = [{ name = "score", type = "int64", default = 7 }]
"#;

/// The store of the other server tests plus `user_flags`, with rows:
/// user 1 everything present, user 2 a null segment (at T0 + 250 ms), user
/// 3 nothing; merchant "old" written at T0 (beyond merchant_risk's 1 day
/// ttl).
async fn fixture() -> (Store, Server, String) {
    let store = Store::new();
    std::fs::write(store.tmp.path().join("defs.toml"), format!("{DEFS}{FLAGS}")).unwrap();
    strata(store.tmp.path(), &["apply", "--data", "data", "defs.toml"]);
    let server = Server::start(&store, &["--http", "127.0.0.1:0", "--http-plaintext"]);
    let c = server.client(&store.admin).await;
    let mut nulls = user_row(2, T0 + 250_000, 2.5, 2);
    nulls.values[2] = Value::Null;
    c.push("user_stats", &[user_row(1, T0, 0.5, 1), nulls])
        .await
        .unwrap();
    let flag = p::RowWrite {
        key: vec![KeyValue::Int64(1)],
        event_ts: T0,
        created_ts: None,
        values: vec![Value::Int64(5)],
    };
    c.push("user_flags", &[flag]).await.unwrap();
    let old = p::RowWrite {
        key: vec![KeyValue::String("old".into())],
        event_ts: T0,
        created_ts: None,
        values: vec![Value::Float32(0.25)],
    };
    c.push("merchant_risk", &[old]).await.unwrap();
    let addr = http_addr(&server.first_line, "http");
    (store, server, addr)
}

/// The address after "Feast HTTP on SCHEME://" in the server's first line.
pub fn http_addr(line: &str, scheme: &str) -> String {
    line.split(&format!("Feast HTTP on {scheme}://"))
        .nth(1)
        .unwrap_or_else(|| panic!("no HTTP address in {line:?}"))
        .trim()
        .to_string()
}

/// A request and its answer: status and body.
fn exchange(
    mut s: impl Read + Write,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn post(addr: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    exchange(s, "POST", "/get-online-features", token, body)
}

fn times(ts: &[&str]) -> String {
    let q: Vec<String> = ts.iter().map(|t| format!("\"{t}\"")).collect();
    q.join(",")
}

#[tokio::test]
async fn get_online_features_answers_what_feast_answers() {
    let (store, server, addr) = fixture().await;
    let addr2 = addr.clone();
    let admin = store.admin.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        post(
            &addr2,
            Some(&admin),
            r#"{"features":["user_stats:amount_avg","user_stats:segment","user_flags:score"],"entities":{"user_id":[1,2,3]}}"#,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let ts = times(&["2024-05-01T00:00:00Z", "2024-05-01T00:00:00.250Z", E0]);
    let e0 = times(&[E0, E0, E0]);
    let expected = format!(
        concat!(
            r#"{{"results":["#,
            r#"{{"values":[1,2,3],"statuses":["PRESENT","PRESENT","PRESENT"],"event_timestamps":[{e0}]}},"#,
            r#"{{"values":[0.5,2.5,null],"statuses":["PRESENT","PRESENT","NOT_FOUND"],"event_timestamps":[{ts}]}},"#,
            r#"{{"values":["seg1",null,null],"statuses":["PRESENT","NULL_VALUE","NOT_FOUND"],"event_timestamps":[{ts}]}},"#,
            r#"{{"values":[5,7,7],"statuses":["PRESENT","NOT_FOUND","NOT_FOUND"],"event_timestamps":[{t1}]}}"#,
            r#"],"metadata":{{"feature_names":["user_id","amount_avg","segment","score"]}}}}"#
        ),
        e0 = e0,
        ts = ts,
        t1 = times(&["2024-05-01T00:00:00Z", E0, E0]),
    );
    assert_eq!(body, expected);

    // Full feature names; join keys in request order, only those of the
    // views read; features grouped by view in first-named order; a string
    // key; OUTSIDE_MAX_AGE keeps its event time and carries no value.
    let admin = store.admin.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        post(
            &addr,
            Some(&admin),
            r#"{"features":["user_stats:txn_count","merchant_risk:score","user_stats:amount_avg"],
                "entities":{"merchant":["old","none"],"user_id":[1,3],"other":[9,9]},
                "full_feature_names":true}"#,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let e0 = times(&[E0, E0]);
    let u = times(&["2024-05-01T00:00:00Z", E0]);
    let expected = format!(
        concat!(
            r#"{{"results":["#,
            r#"{{"values":["old","none"],"statuses":["PRESENT","PRESENT"],"event_timestamps":[{e0}]}},"#,
            r#"{{"values":[1,3],"statuses":["PRESENT","PRESENT"],"event_timestamps":[{e0}]}},"#,
            r#"{{"values":[1,null],"statuses":["PRESENT","NOT_FOUND"],"event_timestamps":[{u}]}},"#,
            r#"{{"values":[0.5,null],"statuses":["PRESENT","NOT_FOUND"],"event_timestamps":[{u}]}},"#,
            r#"{{"values":[null,null],"statuses":["OUTSIDE_MAX_AGE","NOT_FOUND"],"event_timestamps":[{u}]}}"#,
            r#"],"metadata":{{"feature_names":["merchant","user_id","user_stats__txn_count","user_stats__amount_avg","merchant_risk__score"]}}}}"#
        ),
        e0 = e0,
        u = u,
    );
    assert_eq!(body, expected);
    // Counted as lookups.
    let stats = server.client(&store.admin).await.stats().await.unwrap();
    let get = |n: &str| stats.iter().find(|(k, _)| k == n).unwrap().1;
    assert_eq!((get("lookups"), get("errors")), (2, 0));
}

#[tokio::test]
async fn errors_are_feasts() {
    let (store, _server, addr) = fixture().await;
    let (admin, reader) = (store.admin.clone(), store.reader.clone());
    tokio::task::spawn_blocking(move || {
        let detail = |m: &str| format!("{{\"detail\":\"{m}\"}}");
        let feast = |class: &str, m: &str| {
            format!(
                "\"{{\\\"module\\\": \\\"feast.errors\\\", \\\"class\\\": \\\"{class}\\\", \\\"message\\\": \\\"{m}\\\"}}\""
            )
        };
        let ok_body = r#"{"features":["user_stats:amount_avg"],"entities":{"user_id":[1]}}"#;
        // 401: no token, a bad token.
        assert_eq!(
            post(&addr, None, ok_body),
            (401, detail("Missing authentication token"))
        );
        assert_eq!(
            post(&addr, Some("stk_0000000000000000_00"), ok_body),
            (401, detail("Invalid or expired access token"))
        );
        // 404: an unknown view, a feature service.
        assert_eq!(
            post(
                &addr,
                Some(&admin),
                r#"{"features":["nope:x"],"entities":{"user_id":[1]}}"#
            ),
            (
                404,
                feast(
                    "FeatureViewNotFoundException",
                    "Feature view nope does not exist"
                )
            )
        );
        assert_eq!(
            post(
                &addr,
                Some(&admin),
                r#"{"feature_service":"svc","entities":{"user_id":[1]}}"#
            ),
            (
                404,
                feast(
                    "FeatureServiceNotFoundException",
                    "Feature service svc does not exist"
                )
            )
        );
        // 404: a view without a read grant answers as an unknown view.
        let not_found = |view: &str| {
            (
                404,
                feast(
                    "FeatureViewNotFoundException",
                    &format!("Feature view {view} does not exist"),
                ),
            )
        };
        assert_eq!(
            post(
                &addr,
                Some(&reader),
                r#"{"features":["merchant_risk:score"],"entities":{"merchant":["a"]}}"#
            ),
            not_found("merchant_risk")
        );
        assert_eq!(
            post(
                &addr,
                Some(&reader),
                r#"{"features":["merchant_riks:score"],"entities":{"merchant":["a"]}}"#
            ),
            not_found("merchant_riks")
        );
        // 400: not JSON; a name clash without full names; a missing key column.
        let (status, body) = post(&addr, Some(&admin), r#"{"features":"#);
        assert_eq!(status, 400);
        assert!(body.starts_with("{\"detail\":\"the request body is not valid JSON"), "{body}");
        let (status, body) = post(
            &addr,
            Some(&admin),
            r#"{"features":["user_flags:score","merchant_risk:score"],"entities":{"user_id":[1],"merchant":["a"]}}"#,
        );
        assert_eq!(status, 400);
        assert!(body.contains("FeatureNameCollisionError"), "{body}");
        assert!(body.contains("Duplicate features named score found."), "{body}");
        let (status, body) = post(
            &addr,
            Some(&admin),
            r#"{"features":["user_stats:amount_avg"],"entities":{"uid":[1]}}"#,
        );
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("needs the join key column user_id"), "{body}");
        // 422: JSON, but not a request.
        let (status, body) = post(&addr, Some(&admin), r#"{"features":["user_stats:amount_avg"]}"#);
        assert_eq!(status, 422, "{body}");
        assert!(body.contains("missing field `entities`"), "{body}");
        let (status, _) = post(
            &addr,
            Some(&admin),
            r#"{"features":["user_stats:amount_avg"],"entities":{"user_id":[1.5]}}"#,
        );
        assert_eq!(status, 422);
        // Routes: health needs no token; others are 404 or 405.
        let get = |path: &str| {
            let s = TcpStream::connect(&addr).unwrap();
            exchange(s, "GET", path, None, "")
        };
        assert_eq!(get("/health"), (200, String::new()));
        assert_eq!(get("/nope"), (404, detail("Not Found")));
        assert_eq!(
            get("/get-online-features"),
            (405, detail("Method Not Allowed"))
        );
        // A body above the frame limit is refused before it is read.
        let s = TcpStream::connect(&addr).unwrap();
        let (status, _) = {
            let mut s = s;
            s.write_all(b"POST /get-online-features HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            (out.split(' ').nth(1).unwrap().parse::<u16>().unwrap(), out)
        };
        assert_eq!(status, 413);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn tls_by_default_with_the_server_certificate() {
    let store = Store::new();
    let server = Server::start(&store, &["--http", "127.0.0.1:0"]);
    let addr = http_addr(&server.first_line, "https");
    let cert = store.cert();
    let admin = store.admin.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(&cert).unwrap();
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
        let tcp = TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        exchange(
            rustls::StreamOwned::new(conn, tcp),
            "POST",
            "/get-online-features",
            Some(&admin),
            r#"{"features":["user_stats:txn_count"],"entities":{"user_id":[4]}}"#,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!(
            r#"{{"results":[{{"values":[4],"statuses":["PRESENT"],"event_timestamps":["{E0}"]}},{{"values":[null],"statuses":["NOT_FOUND"],"event_timestamps":["{E0}"]}}],"metadata":{{"feature_names":["user_id","txn_count"]}}}}"#
        )
    );
}

#[tokio::test]
async fn keep_alive_pipelining_and_100_continue() {
    let (store, _server, addr) = fixture().await;
    let admin = store.admin.clone();
    tokio::task::spawn_blocking(move || {
        let body = r#"{"features":["user_stats:txn_count"],"entities":{"user_id":[1]}}"#;
        let req = |close: bool| {
            format!(
                "POST /get-online-features HTTP/1.1\r\nAuthorization: Bearer {admin}\r\nContent-Length: {}\r\n{}\r\n{body}",
                body.len(),
                if close { "Connection: close\r\n" } else { "" }
            )
        };
        let answer = format!(
            r#"{{"results":[{{"values":[1],"statuses":["PRESENT"],"event_timestamps":["{E0}"]}},{{"values":[1],"statuses":["PRESENT"],"event_timestamps":["2024-05-01T00:00:00Z"]}}],"metadata":{{"feature_names":["user_id","txn_count"]}}}}"#
        );
        // Two requests in one write on one connection: two answers, the
        // first keeps the connection open, the second closes it.
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(format!("{}{}", req(false), req(true)).as_bytes())
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
        assert_eq!(out.matches(answer.as_str()).count(), 2, "{out}");
        assert!(out.contains("Connection: keep-alive"), "{out}");
        assert!(out.contains("Connection: close"), "{out}");
        // Expect: 100-continue is answered before the body is sent.
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let r = req(true);
        let (head, rest) = r.split_once("\r\n\r\n").unwrap();
        s.write_all(format!("{head}\r\nExpect: 100-continue\r\n\r\n").as_bytes())
            .unwrap();
        let mut buf = [0u8; 25];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
        s.write_all(rest.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.ends_with(&answer), "{out}");
    })
    .await
    .unwrap();
}

/// A head and the first `sent` bytes of a lookup body of `len` bytes.
fn body_head(addr: &str, token: Option<&str>, len: usize, sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST /get-online-features HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&vec![b' '; sent]).unwrap();
    s
}

/// Issue 15, HTTP bodies: a body is judged by its head (no valid token:
/// `401` before it is read) and reserved from its token's memory shares,
/// as a QUIC body is, once its first bytes arrive: 24 slow 4 MB bodies
/// from one token hold its 16 MiB share at most, and another token's
/// pushes and HTTP lookups go on (they waited for the 30 s body timeout
/// when HTTP bodies took the server's budget before arriving).
#[tokio::test]
async fn http_bodies_are_judged_by_their_head_and_held_within_their_tokens_share() {
    let store = Store::new();
    let server = Server::start(
        &store,
        &[
            "--http",
            "127.0.0.1:0",
            "--http-plaintext",
            "--memory-mb",
            "64",
            "--token-memory-mb",
            "16",
            "--connection-memory-mb",
            "16",
        ],
    );
    let addr = http_addr(&server.first_line, "http");
    bounded(async {
        // No token: refused on the head (the body never comes; the test's
        // read timeout is 5 s, the server's body timeout 30 s).
        let mut s = body_head(&addr, None, 15_000_000, 0);
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 401"), "{text}");

        let c = server.client(&store.admin).await;
        let rows: Vec<_> = (0..2_000).map(|i| user_row(i, 1, 1.0, i)).collect();
        let started = Instant::now();
        for _ in 0..3 {
            c.push("user_stats", &rows).await.unwrap();
        }
        let base = started.elapsed();
        let lookup_body = r#"{"features":["user_stats:txn_count"],"entities":{"user_id":[1]}}"#;
        // Slow bodies from the reader: one byte each, then nothing.
        let held: Vec<TcpStream> = (0..24)
            .map(|_| body_head(&addr, Some(&store.reader), 4_000_000, 1))
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let reserved = stat(&c.stats().await.unwrap(), "memory_reserved_bytes");
        println!("24 slow 4 MB bodies of one token: {reserved} bytes reserved");
        assert!(
            reserved >= 12_000_000,
            "the attack holds no memory? {reserved}"
        );
        assert!(reserved <= 16 << 20, "beyond the token's share: {reserved}");
        let started = Instant::now();
        for _ in 0..3 {
            c.push("user_stats", &rows).await.unwrap();
        }
        let under = started.elapsed();
        println!("3 pushes: {under:?} beside 24 slow HTTP bodies, {base:?} without");
        assert!(
            under <= base * 10 + Duration::from_secs(1),
            "{under:?} vs {base:?}"
        );
        let (status, body) = post(&addr, Some(&store.admin), lookup_body);
        assert_eq!(status, 200, "{body}");
        drop(held);
    })
    .await;
}
