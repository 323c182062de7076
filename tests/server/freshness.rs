//! `Freshness` over the protocol (the same output as the local command) and
//! `strata serve --metrics`: a real HTTP scrape of `/metrics`, parsed as
//! Prometheus text.

use std::io::{Read, Write};
use std::net::TcpStream;

use prometheus_parse::{Scrape, Value as PromValue};
use strata::client::blocking;
use strata::format::protocol::{self as p, FreshnessStatus};

use super::*;

const CSV: &str = "user_id,event_timestamp,amount_avg,txn_count,segment\n\
    1,2024-05-03T00:00:00Z,2.5,7,vip\n\
    2,2024-05-02T00:00:00Z,,9,regular\n";

/// The test store with a 1h `freshness_sla` on `user_stats`.
fn store_with_sla() -> Store {
    let store = Store::new();
    let dir = store.tmp.path();
    let defs = DEFS.replace(
        "team = \"fraud\"",
        "team = \"fraud\"\nfreshness_sla = \"1h\"",
    );
    std::fs::write(dir.join("sla.toml"), defs).unwrap();
    strata(dir, &argv("apply --data data sla.toml"));
    store
}

#[test]
fn freshness_over_the_protocol_equals_the_local_command() {
    let store = store_with_sla();
    let dir = store.tmp.path();
    std::fs::write(dir.join("rows.csv"), CSV).unwrap();
    strata(dir, &argv("ingest --data data --view user_stats rows.csv"));
    let cases: [&[&str]; 4] = [
        &["--at", "2024-05-03T00:20:00Z"],
        &["--at", "2024-05-03T03:00:00Z"],
        &["--json", "--at", "2024-05-03T00:20:00Z"],
        &["--json", "--at", "2024-05-03T03:00:00Z"],
    ];
    let local: Vec<_> = cases
        .iter()
        .map(|c| {
            let mut a = vec!["freshness", "--data", "data"];
            a.extend_from_slice(c);
            cli(dir, &a)
        })
        .collect();
    assert_eq!(local[0].0, 0, "{:?}", local[0]);
    assert_eq!(local[1].0, 3, "{:?}", local[1]);
    assert!(
        local[1].2.contains("user_stats (lag 3h > sla 1h)"),
        "{:?}",
        local[1]
    );

    let server = Server::start(&store, &[]);
    let remote = |token: &str, c: &[&str]| {
        let mut a = vec!["freshness"];
        a.extend_from_slice(c);
        server.cli(dir, token, &a)
    };
    for (c, want) in cases.iter().zip(&local) {
        assert_eq!(&remote(&store.admin, c), want, "freshness {c:?}");
    }
    // A token sees the views it may read.
    let (code, out, _) = remote(&store.reader, cases[0]);
    assert_eq!(code, 0);
    assert!(out.contains(": 1 view(s), 0 violated"), "{out}");
    assert!(!out.contains("merchant_risk"), "{out}");

    // The client API: at the server's clock when no time is given.
    let c = blocking::Client::connect(server.config(&store.admin)).unwrap();
    let before = strata::store::now_micros();
    let r = c.freshness(&p::FreshnessRequest { at: None }).unwrap();
    assert!(r.now >= before && r.now - before < 60_000_000, "{}", r.now);
    let us = &r.views[0];
    assert_eq!(us.view, "user_stats");
    assert_eq!(us.newest_event_ts, Some(1_714_694_400_000_000));
    assert_eq!(us.sla_micros, Some(3_600_000_000));
    assert_eq!(us.status, FreshnessStatus::Violated);
    assert_eq!(r.views[1].status, FreshnessStatus::NoData);
    c.close();
}

/// `GET path` on a fresh connection: (status line, headers, body).
fn http_get(addr: &str, request: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_string(), body.to_string())
}

fn scrape(addr: &str) -> Scrape {
    let (status, headers, body) = http_get(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: test\r\nAccept: text/plain\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("Content-Type: text/plain; version=0.0.4"),
        "{headers}"
    );
    assert!(
        headers.contains(&format!("Content-Length: {}", body.len())),
        "{headers}"
    );
    // The parser skips lines it cannot read: check every line first.
    let mut typed = std::collections::HashMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            typed.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "no TYPE before {line:?}");
        assert!(
            value.parse::<f64>().is_ok() || value == "+Inf" || value == "NaN",
            "{line:?}"
        );
    }
    let s = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    for family in typed.keys() {
        assert!(s.docs.contains_key(family), "no HELP for {family}");
    }
    s
}

/// The value of the sample `metric` whose labels include `labels`.
fn value<'a>(s: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<&'a PromValue> {
    s.samples
        .iter()
        .find(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| &x.value)
}

fn number(v: Option<&PromValue>) -> f64 {
    match v {
        Some(PromValue::Counter(x) | PromValue::Gauge(x) | PromValue::Untyped(x)) => *x,
        other => panic!("not a number: {other:?}"),
    }
}

/// `(count of le=+Inf, every bucket count)` of a request kind's histogram.
fn histogram(s: &Scrape, kind: &str) -> (f64, Vec<f64>) {
    let Some(PromValue::Histogram(b)) =
        value(s, "strata_request_duration_seconds", &[("kind", kind)])
    else {
        panic!("no histogram for {kind}");
    };
    let counts: Vec<f64> = b.iter().map(|h| h.count).collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {counts:?}"
    );
    let inf = b.iter().find(|h| h.less_than.is_infinite()).unwrap().count;
    let count = number(value(
        s,
        "strata_request_duration_seconds_count",
        &[("kind", kind)],
    ));
    assert_eq!(inf, count, "+Inf bucket = count");
    (count, counts)
}

#[test]
fn metrics_scrape() {
    let store = store_with_sla();
    let server = Server::start(&store, &["--metrics", "127.0.0.1:0"]);
    let metrics = server
        .first_line
        .split("metrics on http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in {:?}", server.first_line))
        .to_string();

    let s = scrape(&metrics);
    assert_eq!(number(value(&s, "strata_up", &[])), 1.0);
    let us = [("view", "user_stats")];
    assert_eq!(
        number(value(&s, "strata_view_rows_ingested_total", &us)),
        0.0
    );
    assert!(
        value(&s, "strata_view_freshness_lag_seconds", &us).is_none(),
        "no data, no lag"
    );
    assert_eq!(
        number(value(&s, "strata_view_freshness_sla_violated", &us)),
        1.0
    );
    assert_eq!(histogram(&s, "push").0, 0.0);

    let c = blocking::Client::connect(server.config(&store.admin)).unwrap();
    let t0 = strata::store::now_micros() - 120_000_000;
    let rows: Vec<_> = (0..5).map(|i| user_row(i, t0 + i, 1.0, i)).collect();
    assert_eq!(c.push("user_stats", &rows).unwrap().written, 5);
    assert_eq!(c.push("user_stats", &rows[..2]).unwrap().written, 2);
    let s = scrape(&metrics);
    let counter = value(&s, "strata_view_rows_ingested_total", &us);
    assert!(
        matches!(counter, Some(PromValue::Counter(x)) if *x == 7.0),
        "{counter:?}"
    );
    assert_eq!(number(value(&s, "strata_view_rows_last_minute", &us)), 7.0);
    let mr = [("view", "merchant_risk")];
    assert_eq!(
        number(value(&s, "strata_view_rows_ingested_total", &mr)),
        0.0
    );
    let newest = number(value(&s, "strata_view_newest_event_timestamp_seconds", &us));
    assert!((newest - (t0 + 4) as f64 / 1e6).abs() < 1e-3, "{newest}");
    let lag = number(value(&s, "strata_view_freshness_lag_seconds", &us));
    assert!((120.0..180.0).contains(&lag), "lag {lag}");
    assert_eq!(
        number(value(&s, "strata_view_freshness_sla_seconds", &us)),
        3600.0
    );
    assert_eq!(
        number(value(&s, "strata_view_freshness_sla_violated", &us)),
        0.0
    );
    assert!(value(&s, "strata_view_freshness_sla_seconds", &mr).is_none());
    assert_eq!(histogram(&s, "push").0, 2.0);
    let (lookups_before, _) = histogram(&s, "lookup");
    for family in [
        "strata_segments",
        "strata_sealed_memtables",
        "strata_unflushed_bytes",
        "strata_segment_bytes",
        "strata_compactions_total",
    ] {
        assert!(value(&s, family, &[]).is_some(), "{family}");
    }
    assert!(number(value(&s, "strata_unflushed_bytes", &[])) > 0.0);

    for _ in 0..3 {
        c.lookup(&p::LookupRequest {
            features: vec!["user_stats:txn_count".into()],
            entities: vec![int_keys("user_id", &[1, 2, 99])],
            ..Default::default()
        })
        .unwrap();
    }
    let s = scrape(&metrics);
    let (lookups, buckets) = histogram(&s, "lookup");
    assert_eq!(lookups, lookups_before + 3.0);
    assert!(buckets[0] <= lookups);
    let sum = number(value(
        &s,
        "strata_request_duration_seconds_sum",
        &[("kind", "lookup")],
    ));
    assert!(sum > 0.0 && sum < 60.0, "{sum}");
    assert!(number(value(&s, "strata_requests_total", &[])) >= 5.0);
    c.close();

    // Only GET /metrics.
    let (status, _, _) = http_get(&metrics, "GET /other HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _, _) = http_get(&metrics, "POST /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let long = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let (status, _, _) = http_get(&metrics, &long);
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    // Still serving.
    assert_eq!(number(value(&scrape(&metrics), "strata_up", &[])), 1.0);

    server.sigterm();
    let (st, _) = server.wait(Duration::from_secs(30));
    assert!(st.success());
}
