//! Surface parity: one table of read scenarios, each run through every way
//! into Strata — the library (`Store::get`), the local CLI (`strata get
//! --data`), the CLI over a real server (`strata get --server`), the
//! native client's lookup and the Feast-compatible HTTP endpoint (latest
//! reads only: Feast's API has no `as_of`) — asserting that all answer the same values,
//! statuses, event times and errors, and that the answer is the expected
//! one. Exports of an aggregation view are compared the same way: locally,
//! over the server, and against a brute-force computation of the windows.

#![allow(
    clippy::unwrap_used,
    reason = "a test may unwrap: the panic is its failure report"
)]
mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value as Json, json};
use strata::client::{ClientConfig, Trust, blocking::Client};
use strata::format::protocol as p;
use strata::format::schema::{KeyValue, Value};
use strata::offline::timestamp;
use strata::store::{ReadOptions, RowWrite, Store};

const HOUR: i64 = 3_600_000_000;
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000_000;

const DEFS: &str = include_str!("fixtures/parity.toml");

/// `device` gets a second version with another feature.
const DEFS_V2: &str = r#"
[[feature_views]]
name = "device"
version = 2
entities = ["user"]
team = "growth"
features = [{ name = "os", type = "string" }, { name = "model", type = "string" }]
"#;

/// `kyc` as evolved: a feature added with a default, which the versions
/// written before it (and files without its column) read as `DEFAULTED`.
const KYC_V1: &str = r#"features = [{ name = "checked", type = "bool" }]"#;
const KYC_V2: &str = r#"features = [
  { name = "checked", type = "bool" },
  { name = "kyc_level", type = "int64", default = 1 },
]"#;

/// The events of `txn` (user, event time, amount).
const TXN: &[(i64, i64, f64)] = &[
    (1, T0 + HOUR / 6, 5.0),
    (1, T0 + HOUR / 3, 7.5),
    (1, T0 + 2 * HOUR, 1.0),
    (2, T0 + 5 * HOUR, 2.25),
];

/// One read and what it must answer.
struct Scenario {
    name: &'static str,
    view: &'static str,
    key: String,
    as_of: Option<i64>,
    /// A request-time value (`--request NAME=VALUE`) of a derived view.
    request: Option<(&'static str, &'static str)>,
    expect: Expect,
    /// A latest read of a computed view: its event time is the read time,
    /// which differs between surfaces, so only its presence is compared.
    read_time: bool,
}

enum Expect {
    /// Per feature, in schema order: value, status, event time.
    Row(Vec<(&'static str, Json, &'static str, Option<i64>)>),
    /// Every surface fails with a message containing this.
    Error(&'static str),
}

fn scenarios() -> Vec<Scenario> {
    let s = |name, view, key: &str, as_of, expect| Scenario {
        name,
        view,
        key: key.to_string(),
        as_of,
        request: None,
        expect,
        read_time: false,
    };
    let r = |name, view, key: &str, as_of, request, expect| Scenario {
        request: Some(request),
        ..s(name, view, key, as_of, expect)
    };
    let t1 = Some(T0 + HOUR);
    let ts = |t: i64| json!(timestamp::format(t));
    let min = 60_000_000;
    let half = Some(T0 + HOUR / 2);
    vec![
        s(
            "filtered aggregation",
            "txn_big",
            "1",
            Some(T0 + 2 * HOUR),
            Expect::Row(vec![("big_1d", json!(2), "PRESENT", Some(T0 + 2 * HOUR))]),
        ),
        r(
            "derived with a request value, as of",
            "txn_derived",
            "1",
            half,
            ("txn_amount", "25"),
            // The profile has no version yet: tier reads as its default.
            Expect::Row(vec![
                ("avg_txn", json!(6.25), "PRESENT", half),
                ("txn_ratio", json!(2.0), "PRESENT", half),
                ("gold", json!(false), "PRESENT", half),
            ]),
        ),
        s(
            "derived without the request value",
            "txn_derived",
            "1",
            half,
            Expect::Row(vec![
                ("avg_txn", json!(6.25), "PRESENT", half),
                ("txn_ratio", Json::Null, "NULL_VALUE", half),
                ("gold", json!(false), "PRESENT", half),
            ]),
        ),
        r(
            "derived, latest",
            "profile_plus",
            "1",
            None,
            ("bonus", "0.25"),
            Expect::Row(vec![("score_plus", json!(0.9 + 0.25), "PRESENT", t1)]),
        ),
        r(
            "derived, unknown key",
            "profile_plus",
            "7",
            None,
            ("bonus", "0.25"),
            Expect::Row(vec![("score_plus", Json::Null, "NOT_FOUND", None)]),
        ),
        r(
            "derived, a request value of the wrong type",
            "profile_plus",
            "1",
            None,
            ("bonus", "lots"),
            Expect::Error("\"lots\" is not a float64"),
        ),
        s(
            "plain",
            "profile",
            "1",
            None,
            Expect::Row(vec![
                ("tier", json!("gold"), "PRESENT", t1),
                ("score", json!(0.9), "PRESENT", t1),
            ]),
        ),
        s(
            "null value",
            "profile",
            "2",
            None,
            Expect::Row(vec![
                ("tier", Json::Null, "NULL_VALUE", t1),
                ("score", json!(0.5), "PRESENT", t1),
            ]),
        ),
        s(
            "unknown key, default-valued",
            "profile",
            "3",
            None,
            Expect::Row(vec![
                ("tier", json!("bronze"), "NOT_FOUND", None),
                ("score", Json::Null, "NOT_FOUND", None),
            ]),
        ),
        s(
            "as of before the first version",
            "profile",
            "1",
            Some(T0),
            Expect::Row(vec![
                ("tier", json!("bronze"), "NOT_FOUND", None),
                ("score", Json::Null, "NOT_FOUND", None),
            ]),
        ),
        s(
            "a feature added with a default, on a version written before it",
            "kyc",
            "1",
            None,
            Expect::Row(vec![
                ("checked", json!(true), "PRESENT", t1),
                ("kyc_level", json!(1), "DEFAULTED", t1),
            ]),
        ),
        s(
            "a feature added with a default, as of",
            "kyc",
            "1",
            Some(T0 + 3 * HOUR),
            Expect::Row(vec![
                ("checked", json!(true), "PRESENT", t1),
                ("kyc_level", json!(1), "DEFAULTED", t1),
            ]),
        ),
        s(
            "a feature added with a default, written since",
            "kyc",
            "2",
            None,
            Expect::Row(vec![
                ("checked", json!(false), "PRESENT", t1),
                ("kyc_level", json!(3), "PRESENT", t1),
            ]),
        ),
        s(
            "a feature added with a default, from a file without its column",
            "kyc",
            "4",
            None,
            Expect::Row(vec![
                ("checked", json!(true), "PRESENT", t1),
                ("kyc_level", json!(1), "DEFAULTED", t1),
            ]),
        ),
        s(
            "a feature added with a default, unknown key",
            "kyc",
            "3",
            None,
            Expect::Row(vec![
                ("checked", Json::Null, "NOT_FOUND", None),
                ("kyc_level", json!(1), "NOT_FOUND", None),
            ]),
        ),
        s(
            "ttl: inside",
            "activity",
            "1",
            Some(T0 + 2 * HOUR),
            Expect::Row(vec![("clicks", json!(7), "PRESENT", Some(T0))]),
        ),
        s(
            "ttl: expired as of",
            "activity",
            "1",
            Some(T0 + 30 * HOUR),
            Expect::Row(vec![("clicks", Json::Null, "OUTSIDE_MAX_AGE", Some(T0))]),
        ),
        s(
            "ttl: expired latest",
            "activity",
            "1",
            None,
            Expect::Row(vec![("clicks", Json::Null, "OUTSIDE_MAX_AGE", Some(T0))]),
        ),
        s(
            "versioned @1",
            "device@1",
            "1",
            None,
            Expect::Row(vec![("os", json!("ios"), "PRESENT", t1)]),
        ),
        s(
            "unversioned: the serving version (@2 is staged, never promoted)",
            "device",
            "1",
            None,
            Expect::Row(vec![("os", json!("ios"), "PRESENT", t1)]),
        ),
        s(
            "versioned @2",
            "device@2",
            "1",
            None,
            Expect::Row(vec![
                ("os", json!("android"), "PRESENT", t1),
                ("model", json!("pixel"), "PRESENT", t1),
            ]),
        ),
        s(
            "aggregation",
            "txn_stats",
            "1",
            Some(T0 + HOUR / 2),
            Expect::Row(vec![
                ("count_1h", json!(2), "PRESENT", Some(T0 + HOUR / 2)),
                ("amount_sum_1d", json!(12.5), "PRESENT", Some(T0 + HOUR / 2)),
            ]),
        ),
        s(
            "aggregation, window edge",
            "txn_stats",
            "1",
            Some(T0 + 2 * HOUR),
            Expect::Row(vec![
                ("count_1h", json!(1), "PRESENT", Some(T0 + 2 * HOUR)),
                ("amount_sum_1d", json!(13.5), "PRESENT", Some(T0 + 2 * HOUR)),
            ]),
        ),
        s(
            "bucketed aggregation",
            "shop_buckets",
            "1",
            Some(T0 + 2 * HOUR),
            Expect::Row(vec![
                (
                    "count_by_cat_1d",
                    json!({"a": 2, "b": 1}),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
                (
                    "amount_sum_by_cat_1d",
                    json!({"a": 3.5, "b": 4.0}),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
            ]),
        ),
        s(
            "bucketed aggregation, empty window",
            "shop_buckets",
            "1",
            Some(T0 + 30 * HOUR),
            Expect::Row(vec![
                (
                    "count_by_cat_1d",
                    Json::Null,
                    "NULL_VALUE",
                    Some(T0 + 30 * HOUR),
                ),
                (
                    "amount_sum_by_cat_1d",
                    Json::Null,
                    "NULL_VALUE",
                    Some(T0 + 30 * HOUR),
                ),
            ]),
        ),
        s(
            "aggregation to lists",
            "txn_lists",
            "1",
            Some(T0 + 2 * HOUR),
            Expect::Row(vec![
                (
                    "amount_last2_1d",
                    json!([1.0, 7.5]),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
                (
                    "amount_collect_set_1d",
                    json!([1.0, 5.0, 7.5]),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
                (
                    "amount_first_1d",
                    json!(5.0),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
                (
                    "amount_variance_1d",
                    json!(10.75),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
                (
                    "amount_count_distinct_exact_1d",
                    json!(3),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
                (
                    "amount_top5_1h",
                    json!([1.0]),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
            ]),
        ),
        s(
            "aggregation to lists, empty window",
            "txn_lists",
            "2",
            Some(T0 + 30 * HOUR),
            Expect::Row(vec![
                (
                    "amount_last2_1d",
                    Json::Null,
                    "NULL_VALUE",
                    Some(T0 + 30 * HOUR),
                ),
                (
                    "amount_collect_set_1d",
                    Json::Null,
                    "NULL_VALUE",
                    Some(T0 + 30 * HOUR),
                ),
                (
                    "amount_first_1d",
                    Json::Null,
                    "NULL_VALUE",
                    Some(T0 + 30 * HOUR),
                ),
                (
                    "amount_variance_1d",
                    Json::Null,
                    "NULL_VALUE",
                    Some(T0 + 30 * HOUR),
                ),
                (
                    "amount_count_distinct_exact_1d",
                    json!(0),
                    "PRESENT",
                    Some(T0 + 30 * HOUR),
                ),
                (
                    "amount_top5_1h",
                    Json::Null,
                    "NULL_VALUE",
                    Some(T0 + 30 * HOUR),
                ),
            ]),
        ),
        s(
            "aggregation, unknown key",
            "txn_stats",
            "9",
            Some(T0 + HOUR),
            Expect::Row(vec![
                ("count_1h", Json::Null, "NOT_FOUND", None),
                ("amount_sum_1d", Json::Null, "NOT_FOUND", None),
            ]),
        ),
        s(
            "session: two events 10 min apart, open",
            "txn_sessions",
            "1",
            Some(T0 + HOUR / 2),
            Expect::Row(vec![
                ("count", json!(2), "PRESENT", Some(T0 + HOUR / 2)),
                ("amount_sum", json!(12.5), "PRESENT", Some(T0 + HOUR / 2)),
                ("amount_first", json!(5.0), "PRESENT", Some(T0 + HOUR / 2)),
                (
                    "session_start",
                    ts(T0 + 10 * min),
                    "PRESENT",
                    Some(T0 + HOUR / 2),
                ),
                (
                    "session_end",
                    ts(T0 + 20 * min),
                    "PRESENT",
                    Some(T0 + HOUR / 2),
                ),
                ("duration", json!(10 * min), "PRESENT", Some(T0 + HOUR / 2)),
                ("is_open", json!(true), "PRESENT", Some(T0 + HOUR / 2)),
            ]),
        ),
        s(
            "session: a gap over 1 h starts a new one, at its event",
            "txn_sessions",
            "1",
            Some(T0 + 2 * HOUR),
            Expect::Row(vec![
                ("count", json!(1), "PRESENT", Some(T0 + 2 * HOUR)),
                ("amount_sum", json!(1.0), "PRESENT", Some(T0 + 2 * HOUR)),
                ("amount_first", json!(1.0), "PRESENT", Some(T0 + 2 * HOUR)),
                (
                    "session_start",
                    ts(T0 + 2 * HOUR),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
                (
                    "session_end",
                    ts(T0 + 2 * HOUR),
                    "PRESENT",
                    Some(T0 + 2 * HOUR),
                ),
                ("duration", json!(0), "PRESENT", Some(T0 + 2 * HOUR)),
                ("is_open", json!(true), "PRESENT", Some(T0 + 2 * HOUR)),
            ]),
        ),
        s(
            "session: no event at or before t",
            "txn_sessions",
            "2",
            Some(T0 + HOUR),
            Expect::Row(
                [
                    "count",
                    "amount_sum",
                    "amount_first",
                    "session_start",
                    "session_end",
                    "duration",
                    "is_open",
                ]
                .map(|f| (f, Json::Null, "NOT_FOUND", None))
                .to_vec(),
            ),
        ),
        Scenario {
            read_time: true,
            ..s(
                "session: latest, closed",
                "txn_sessions",
                "1",
                None,
                Expect::Row(vec![
                    ("count", json!(1), "PRESENT", Some(0)),
                    ("amount_sum", json!(1.0), "PRESENT", Some(0)),
                    ("amount_first", json!(1.0), "PRESENT", Some(0)),
                    ("session_start", ts(T0 + 2 * HOUR), "PRESENT", Some(0)),
                    ("session_end", ts(T0 + 2 * HOUR), "PRESENT", Some(0)),
                    ("duration", json!(0), "PRESENT", Some(0)),
                    ("is_open", json!(false), "PRESENT", Some(0)),
                ]),
            )
        },
        s(
            "export-only view, as of",
            "label_only",
            "1",
            Some(T0 + HOUR),
            Expect::Row(vec![("fraud", json!(true), "PRESENT", Some(T0))]),
        ),
        s(
            "export-only view, latest",
            "label_only",
            "1",
            None,
            Expect::Error("is export-only (online = false)"),
        ),
        s(
            "unknown view",
            "nope",
            "1",
            None,
            Expect::Error("unknown feature view \"nope\""),
        ),
        s(
            "over-long key",
            "merchant_risk",
            &"m".repeat(5000),
            None,
            Expect::Error("longer than 4096"),
        ),
        s(
            "string key",
            "merchant_risk",
            "m-1",
            None,
            Expect::Row(vec![("risk", json!(0.25), "PRESENT", t1)]),
        ),
    ]
}

/// What a surface answered: per feature `(name, value, status, event
/// time)`, or an error message.
type Answer = Result<Vec<(String, Json, String, Option<String>)>, String>;

fn expected(e: &Expect) -> Option<Answer> {
    match e {
        Expect::Row(r) => Some(Ok(r
            .iter()
            .map(|(f, v, s, t)| {
                (
                    f.to_string(),
                    v.clone(),
                    s.to_string(),
                    t.map(timestamp::format),
                )
            })
            .collect())),
        Expect::Error(_) => None,
    }
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Int64(x) => json!(x),
        Value::Float64(x) => json!(x),
        Value::Bool(x) => json!(x),
        Value::String(s) => json!(s),
        // As the CLI's JSON writes it.
        Value::Timestamp(t) => json!(timestamp::format(*t)),
        Value::ListFloat64(l) => json!(l),
        Value::ListInt64(l) => json!(l),
        Value::ListString(l) => json!(l),
        Value::MapStringInt64(m) => {
            Json::Object(m.iter().map(|(k, n)| (k.clone(), json!(n))).collect())
        }
        Value::MapStringFloat64(m) => {
            Json::Object(m.iter().map(|(k, x)| (k.clone(), json!(x))).collect())
        }
        other => panic!("no JSON form in this test for {other:?}"),
    }
}

fn key_of(store: &Store, view: &str, text: &str) -> Vec<KeyValue> {
    let cat = store.catalog();
    match cat.view(view).map(|v| cat.key_columns(v)[0].ty) {
        Some(strata::format::schema::KeyType::String) => vec![KeyValue::String(text.into())],
        _ => vec![KeyValue::Int64(text.parse().unwrap())],
    }
}

/// The library: `Store::get`, or `Store::lookup` with a request value.
fn via_library(store: &Store, s: &Scenario) -> Answer {
    if s.request.is_some() {
        return lookup_answer(|req| store.lookup(req).map_err(|e| e.to_string()), false, s);
    }
    let key = key_of(store, s.view, &s.key);
    let opts = ReadOptions {
        as_of: s.as_of,
        known_at: None,
    };
    let row = store.get(s.view, &key, opts).map_err(|e| e.to_string())?;
    let cat = store.catalog();
    let view = cat.view(s.view).unwrap();
    Ok(view
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ts = row
                .event_ts
                .filter(|_| row.statuses[i] != p::Status::NotFound);
            (
                f.name.clone(),
                value_json(&row.values[i]),
                row.statuses[i].name().to_string(),
                ts.map(timestamp::format),
            )
        })
        .collect())
}

/// The native client's lookup of `view:*` for one key.
fn via_client(client: &Client, key_ty_string: bool, s: &Scenario) -> Answer {
    lookup_answer(
        |req| client.lookup(req).map_err(|e| e.to_string()),
        key_ty_string,
        s,
    )
}

/// A lookup of `view:*` for one key (with the scenario's request value)
/// through `lookup`.
fn lookup_answer(
    lookup: impl FnOnce(&p::LookupRequest) -> Result<p::LookupResponse, String>,
    key_ty_string: bool,
    s: &Scenario,
) -> Answer {
    let values = if key_ty_string {
        p::KeyColumnValues::String(vec![s.key.clone()])
    } else {
        p::KeyColumnValues::Int64(vec![s.key.parse().unwrap()])
    };
    let name = if key_ty_string {
        "merchant_id"
    } else {
        "user_id"
    };
    let resp = lookup(&p::LookupRequest {
        features: vec![format!("{}:*", s.view)],
        entities: vec![p::KeyColumn {
            name: name.into(),
            values,
        }],
        as_of: s.as_of,
        known_at: None,
        with_created_ts: false,
        request: s
            .request
            .iter()
            .map(|(n, v)| p::RequestColumn {
                name: n.to_string(),
                values: vec![Some(v.to_string())],
            })
            .collect(),
    })?;
    Ok(resp
        .features
        .iter()
        .map(|c| {
            let feature = c.name.split_once(':').unwrap().1.to_string();
            let ts = c.event_ts[0].filter(|_| c.statuses[0] != p::Status::NotFound);
            (
                feature,
                value_json(&c.values[0]),
                c.statuses[0].name().to_string(),
                ts.map(timestamp::format),
            )
        })
        .collect())
}

/// `POST /get-online-features` of `view:*` for one key (a latest read).
fn via_http(addr: &str, token: &str, s: &Scenario) -> Answer {
    use std::io::{Read, Write};
    let key = match s.view {
        "merchant_risk" => json!({ "merchant_id": [s.key] }),
        _ => json!({ "user_id": [s.key.parse::<i64>().unwrap()] }),
    };
    let mut body = json!({ "features": [format!("{}:*", s.view)], "entities": key });
    if let Some((name, value)) = s.request {
        let mut ctx = serde_json::Map::new();
        ctx.insert(name.to_string(), json!([value.parse::<f64>().unwrap()]));
        body["request_context"] = Json::Object(ctx);
    }
    let body = body.to_string();
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        sock,
        "POST /get-online-features HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{head}\n{body}"));
    }
    let j: Json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let names = j["metadata"]["feature_names"].as_array().unwrap();
    let results = j["results"].as_array().unwrap();
    // The first column is the join key.
    Ok(names
        .iter()
        .zip(results)
        .skip(1)
        .map(|(name, r)| {
            let status = r["statuses"][0].as_str().unwrap().to_string();
            let ts = r["event_timestamps"][0].as_str().unwrap();
            let ts =
                (status != "NOT_FOUND").then(|| timestamp::format(timestamp::parse(ts).unwrap()));
            let name = name.as_str().unwrap().to_string();
            // Feast's JSON writes a timestamp feature as whole seconds.
            let value = match (name.as_str(), &r["values"][0]) {
                ("session_start" | "session_end", Json::Number(n)) => {
                    json!(timestamp::format(n.as_i64().unwrap() * 1_000_000))
                }
                (_, v) => v.clone(),
            };
            (name, value, status, ts)
        })
        .collect())
}

/// `strata get ... --json` with `args` choosing the store or the server.
fn via_cli(dir: &Path, args: &[String], s: &Scenario) -> Answer {
    let mut all: Vec<String> = args.to_vec();
    all.extend(["get", "--view", s.view, "--key", &s.key, "--json"].map(String::from));
    if let Some(t) = s.as_of {
        all.extend(["--as-of".to_string(), t.to_string()]);
    }
    if let Some((name, value)) = s.request {
        all.extend(["--request".to_string(), format!("{name}={value}")]);
    }
    let (code, out, err) = cli(dir, &all);
    if code != 0 {
        return Err(err);
    }
    let j: Json = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let features = j["features"].as_object().unwrap();
    Ok(features
        .iter()
        .map(|(name, f)| {
            (
                name.clone(),
                f["value"].clone(),
                f["status"].as_str().unwrap().to_string(),
                f["event_timestamp"].as_str().map(String::from),
            )
        })
        .collect())
}

fn cli(dir: &Path, args: &[String]) -> (i32, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::cli::strata(dir, &args);
    (r.code, r.stdout, r.stderr)
}

fn strata(dir: &Path, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (code, out, err) = cli(dir, &args);
    assert_eq!(code, 0, "strata {args:?}: {out}\n{err}");
    out
}

/// A running `strata serve`, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// The Feast-compatible HTTP endpoint (plain HTTP).
    http: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let serving = common::serve::start(
            Path::new(env!("CARGO_BIN_EXE_strata")),
            data,
            &["--http", "127.0.0.1:0", "--http-plaintext"],
            Stdio::null(),
        );
        Server {
            addr: serving.addr(),
            http: serving.http(),
            child: serving.child,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An admin token of the store `data` in `dir` (`strata token create`).
fn admin_token(dir: &Path) -> String {
    strata(
        dir,
        &[
            "token", "create", "--data", "data", "--name", "admin", "--grant", "admin:*",
        ],
    )
    .trim()
    .to_string()
}

/// A server over the store `data` of `dir`, and the CLI's arguments that
/// reach it with an admin token.
struct Remote {
    /// Serving while the test runs: killed on drop.
    _server: Server,
    args: Vec<String>,
}

impl Remote {
    fn start(dir: &Path, data: &Path) -> Remote {
        let token = admin_token(dir);
        let server = Server::start(data);
        let cert = data.join("tls/cert.pem").display().to_string();
        let args = ["--server", &server.addr.to_string(), "--token", &token]
            .into_iter()
            .chain(["--server-cert", &cert])
            .map(String::from)
            .collect();
        Remote {
            _server: server,
            args,
        }
    }

    fn args(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }
}

/// Exports `features` for the rows of `entities.csv` in `dir`, with the
/// arguments `extra`, once from the store (`--data`) and once over
/// `remote`; asserts that the two CSVs are the same and returns it.
fn export_both(dir: &Path, remote: &Remote, features: &str, extra: &[&str]) -> String {
    let export = |surface: &[&str], out: &str| {
        let mut args = vec![
            "export",
            "--entities",
            "entities.csv",
            "--features",
            features,
            "--out",
            out,
        ];
        args.extend(surface);
        args.extend(extra);
        strata(dir, &args);
        std::fs::read_to_string(dir.join(out)).unwrap()
    };
    let local = export(&["--data", "data"], "local.csv");
    let over_the_server = export(&remote.args(), "remote.csv");
    assert_eq!(
        local, over_the_server,
        "{extra:?}: the local and the server's export differ"
    );
    local
}

/// Builds the store: definitions (two versions of `device`), versions
/// written through the library.
fn build(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("defs.toml"), DEFS).unwrap();
    let evolved = DEFS.replace(KYC_V1, KYC_V2);
    std::fs::write(dir.join("defs2.toml"), format!("{evolved}{DEFS_V2}")).unwrap();
    strata(dir, &["apply", "--data", "data", "defs.toml"]);
    let data = dir.join("data");
    let store = Store::open(&data).unwrap();
    let w = |view: &str, key: KeyValue, ts: i64, values: Vec<Value>| {
        store
            .write(
                view,
                &[RowWrite {
                    key: vec![key],
                    event_ts: ts,
                    created_ts: Some(ts),
                    values,
                }],
            )
            .unwrap();
    };
    let t1 = T0 + HOUR;
    let s = |x: &str| Value::String(x.into());
    w(
        "profile",
        KeyValue::Int64(1),
        t1,
        vec![s("gold"), Value::Float64(0.9)],
    );
    w(
        "profile",
        KeyValue::Int64(2),
        t1,
        vec![Value::Null, Value::Float64(0.5)],
    );
    w("activity", KeyValue::Int64(1), T0, vec![Value::Int64(7)]);
    w("device", KeyValue::Int64(1), t1, vec![s("ios")]);
    w("kyc", KeyValue::Int64(1), t1, vec![Value::Bool(true)]);
    w(
        "label_only",
        KeyValue::Int64(1),
        T0,
        vec![Value::Bool(true)],
    );
    w(
        "merchant_risk",
        KeyValue::String("m-1".into()),
        t1,
        vec![Value::Float64(0.25)],
    );
    for &(user, ts, amount) in TXN {
        w(
            "txn",
            KeyValue::Int64(user),
            ts,
            vec![Value::Float64(amount)],
        );
    }
    for (ts, amount, cat) in [
        (T0 + HOUR / 6, 1.5, "a"),
        (T0 + HOUR / 3, 4.0, "b"),
        (T0 + HOUR, 2.0, "a"),
    ] {
        w(
            "shop",
            KeyValue::Int64(1),
            ts,
            vec![Value::Float64(amount), s(cat)],
        );
    }
    drop(store);
    strata(dir, &["apply", "--data", "data", "defs2.toml"]);
    let store = Store::open(&data).unwrap();
    store
        .write(
            "device@2",
            &[RowWrite {
                key: vec![KeyValue::Int64(1)],
                event_ts: t1,
                created_ts: Some(t1),
                values: vec![s("android"), s("pixel")],
            }],
        )
        .unwrap();
    store
        .write(
            "kyc",
            &[RowWrite {
                key: vec![KeyValue::Int64(2)],
                event_ts: t1,
                created_ts: Some(t1),
                values: vec![Value::Bool(false), Value::Int64(3)],
            }],
        )
        .unwrap();
    drop(store);
    // A file written before `kyc_level` existed still ingests.
    std::fs::write(
        dir.join("kyc-old.csv"),
        format!("user_id,event_timestamp,checked\n4,{t1},true\n"),
    )
    .unwrap();
    strata(
        dir,
        &["ingest", "--data", "data", "--view", "kyc", "kyc-old.csv"],
    );
    data
}

/// The export's entity table: every TXN user at several times.
fn entity_rows() -> Vec<(i64, i64)> {
    let mut rows = Vec::new();
    for user in [1, 2, 3] {
        for t in [
            T0,
            T0 + HOUR / 6,
            T0 + HOUR / 2,
            T0 + HOUR,
            T0 + 2 * HOUR,
            T0 + 26 * HOUR,
        ] {
            rows.push((user, t));
        }
    }
    rows
}

/// Brute force: `count_1h` and `amount_sum_1d` of `user` at `t` over TXN,
/// as CSV cells: both empty (NOT_FOUND) when the key has no event at or
/// before `t`.
fn brute_force(user: i64, t: i64) -> (String, String) {
    let any = TXN.iter().any(|&(u, ts, _)| u == user && ts <= t);
    if !any {
        return (String::new(), String::new());
    }
    let in_window = |w: i64, ts: i64| t - w < ts && ts <= t;
    let count = TXN
        .iter()
        .filter(|&&(u, ts, _)| u == user && in_window(HOUR, ts))
        .count();
    let amounts: Vec<f64> = TXN
        .iter()
        .filter(|&&(u, ts, _)| u == user && in_window(24 * HOUR, ts))
        .map(|&(_, _, a)| a)
        .collect();
    // The sum over an empty window is null; a count is 0.
    let sum = match amounts.is_empty() {
        true => String::new(),
        false => amounts.iter().sum::<f64>().to_string(),
    };
    (count.to_string(), sum)
}

#[test]
fn every_surface_answers_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = build(dir);
    let scenarios = scenarios();
    let mut answers: Vec<BTreeMap<&str, Answer>> =
        scenarios.iter().map(|_| BTreeMap::new()).collect();

    {
        let store = Store::open(&data).unwrap();
        for (s, a) in scenarios.iter().zip(&mut answers) {
            a.insert("library", via_library(&store, s));
        }
    }
    let local = ["--data".to_string(), data.display().to_string()];
    for (s, a) in scenarios.iter().zip(&mut answers) {
        a.insert("cli --data", via_cli(dir, &local, s));
    }

    let admin = admin_token(dir);
    let reader = strata(
        dir,
        &[
            "token",
            "create",
            "--data",
            "data",
            "--name",
            "r",
            "--grant",
            "read:view:profile",
        ],
    );
    let reader = reader.trim().to_string();
    let server = Server::start(&data);
    let cert = data.join("tls/cert.pem");
    let remote = [
        "--server".to_string(),
        server.addr.to_string(),
        "--token".to_string(),
        admin.clone(),
        "--server-cert".to_string(),
        cert.display().to_string(),
    ];
    let mut config = ClientConfig::new(server.addr, &admin, Trust::pin_file(&cert).unwrap());
    config.request_timeout = Some(Duration::from_secs(20));
    let client = Client::connect(config).unwrap();
    for (s, a) in scenarios.iter().zip(&mut answers) {
        a.insert("cli --server", via_cli(dir, &remote, s));
        a.insert("client", via_client(&client, s.view == "merchant_risk", s));
    }
    for (s, a) in scenarios.iter().zip(&mut answers) {
        if s.as_of.is_none() && matches!(s.expect, Expect::Row(_)) {
            a.insert("http", via_http(&server.http, &admin, s));
        }
    }

    // Feature order is the schema's everywhere but in the CLI's JSON object
    // (whose keys serde_json sorts): compare sorted by feature. A read
    // time is compared as present only.
    for (s, a) in scenarios.iter().zip(&mut answers) {
        for features in a.values_mut().flatten() {
            features.sort_by(|a, b| a.0.cmp(&b.0));
            if s.read_time {
                for f in features.iter_mut() {
                    f.3 = f.3.as_ref().map(|_| "read time".into());
                }
            }
        }
    }
    for (s, a) in scenarios.iter().zip(&answers) {
        let lib = &a["library"];
        for (surface, answer) in a {
            match &s.expect {
                Expect::Error(m) => {
                    let e = answer.as_ref().err().unwrap_or_else(|| {
                        panic!(
                            "{}: {surface} answered {answer:?}, expected an error",
                            s.name
                        )
                    });
                    assert!(e.contains(m), "{}: {surface}: {e:?} lacks {m:?}", s.name);
                }
                Expect::Row(_) => {
                    // Feast has no DEFAULTED: its HTTP answer says PRESENT
                    // (docs/PROTOCOL.md, "Where this differs from Feast").
                    let feast = |a: &Answer| -> Answer {
                        a.clone().map(|fs| {
                            fs.into_iter()
                                .map(|(f, v, st, t)| match st.as_str() {
                                    "DEFAULTED" => (f, v, "PRESENT".into(), t),
                                    _ => (f, v, st, t),
                                })
                                .collect()
                        })
                    };
                    let want = if *surface == "http" {
                        feast(lib)
                    } else {
                        lib.clone()
                    };
                    assert_eq!(
                        answer, &want,
                        "{}: {surface} differs from the library",
                        s.name
                    );
                }
            }
        }
        if let Some(Ok(mut want)) = expected(&s.expect) {
            want.sort_by(|a, b| a.0.cmp(&b.0));
            if s.read_time {
                for f in want.iter_mut() {
                    f.3 = f.3.as_ref().map(|_| "read time".into());
                }
            }
            assert_eq!(lib, &Ok(want), "{}: the library's answer", s.name);
        }
    }

    // A token that may read only `profile` gets the same refusal from the
    // CLI and the client for any other view, before anything is read.
    let mut remote_reader = remote.clone();
    remote_reader[3] = reader.clone();
    let mut config = ClientConfig::new(server.addr, &reader, Trust::pin_file(&cert).unwrap());
    config.request_timeout = Some(Duration::from_secs(20));
    let reader_client = Client::connect(config).unwrap();
    let forbidden = Scenario {
        name: "forbidden view",
        view: "txn_stats",
        key: "1".into(),
        as_of: Some(T0 + HOUR),
        // Answered exactly as an unknown view (docs/PROTOCOL.md, "Policy").
        expect: Expect::Error("unknown feature view \"txn_stats\""),
        read_time: false,
        request: None,
    };
    for answer in [
        via_cli(dir, &remote_reader, &forbidden),
        via_client(&reader_client, false, &forbidden),
    ] {
        let e = answer.expect_err("a forbidden view must be refused");
        assert!(e.contains("unknown feature view \"txn_stats\""), "{e}");
    }
}

#[test]
fn aggregation_exports_agree_with_brute_force_locally_and_over_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = build(dir);
    let mut csv = String::from("user_id,event_timestamp,label\n");
    for (i, (user, t)) in entity_rows().iter().enumerate() {
        csv.push_str(&format!("{user},{},{}\n", timestamp::format(*t), i % 2));
    }
    std::fs::write(dir.join("entities.csv"), &csv).unwrap();
    let remote = Remote::start(dir, &data);
    let local = export_both(dir, &remote, "txn_stats:*,profile:tier", &[]);

    let mut lines = local.lines();
    assert_eq!(
        lines.next(),
        Some("user_id,event_timestamp,label,count_1h,amount_sum_1d,tier")
    );
    for ((user, t), line) in entity_rows().into_iter().zip(lines) {
        let cells: Vec<&str> = line.split(',').collect();
        let (count, sum) = brute_force(user, t);
        let number = |c: &str| (!c.is_empty()).then(|| c.parse::<f64>().unwrap());
        assert_eq!(
            (cells[3], number(cells[4])),
            (count.as_str(), number(&sum)),
            "user {user} at {}: {line}",
            timestamp::format(t)
        );
    }
}

#[test]
fn derived_and_filtered_exports_agree_locally_over_the_server_and_with_brute_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = build(dir);
    let mut csv = String::from("user_id,event_timestamp,txn_amount\n");
    for (i, (user, t)) in entity_rows().iter().enumerate() {
        let amount = if i % 3 == 0 {
            String::new()
        } else {
            format!("{}", i as f64 * 1.5)
        };
        csv.push_str(&format!("{user},{},{amount}\n", timestamp::format(*t)));
    }
    std::fs::write(dir.join("entities.csv"), &csv).unwrap();
    let remote = Remote::start(dir, &data);
    for mode in [
        &[][..],
        &["--no-future-writes"][..],
        &["--as-known-at", "2024-01-01T00:30:00Z"][..],
    ] {
        let local = export_both(dir, &remote, "txn_derived:*,txn_big:*", mode);
        let mut lines = local.lines();
        assert_eq!(
            lines.next(),
            Some("user_id,event_timestamp,txn_amount,avg_txn,txn_ratio,gold,big_1d")
        );
        if !mode.is_empty() {
            continue;
        }
        // Unbounded: the brute force of avg_txn, txn_ratio and big_1d.
        for ((i, (user, t)), line) in entity_rows().into_iter().enumerate().zip(lines) {
            let cells: Vec<&str> = line.split(',').collect();
            let (count, sum) = brute_force(user, t);
            let num = |c: &str| (!c.is_empty()).then(|| c.parse::<f64>().unwrap());
            let (count, sum) = (num(&count), num(&sum));
            let avg = sum.zip(count).map(|(s, c)| s / c).filter(|x| x.is_finite());
            let txn = (i % 3 != 0).then_some(i as f64 * 1.5);
            let ratio = txn.zip(sum).map(|(x, s)| x / s).filter(|x| x.is_finite());
            let big = TXN
                .iter()
                .filter(|&&(u, ts, a)| u == user && t - 24 * HOUR < ts && ts <= t && a >= 5.0)
                .count();
            let any = TXN.iter().any(|&(u, ts, _)| u == user && ts <= t);
            let big = any.then_some(big as f64);
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(x), Some(y)) => (x - y).abs() < 1e-9,
                (x, y) => x == y,
            };
            let at = timestamp::format(t);
            assert!(
                close(num(cells[3]), avg),
                "avg_txn of {user} at {at}: {line}"
            );
            assert!(
                close(num(cells[4]), ratio),
                "txn_ratio of {user} at {at}: {line}"
            );
            assert!(
                close(num(cells[6]), big),
                "big_1d of {user} at {at}: {line}"
            );
        }
    }
}

#[test]
fn a_get_of_several_keys_answers_what_single_gets_answer_and_closes_its_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = build(dir);
    // Every --key, then the lines of --keys.
    let keys = ["1", "1", "2", "3"];
    std::fs::write(dir.join("keys.txt"), "2\n\n3\n").unwrap();
    let admin = admin_token(dir);
    let local: Vec<String> = vec!["--data".into(), "data".into()];
    let get = |surface: &[String], extra: &[&str]| {
        let mut args = surface.to_vec();
        args.extend(["get", "--view", "profile", "--json"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        let (code, out, err) = cli(dir, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    let singles = |surface: &[String]| -> String {
        keys.iter().map(|k| get(surface, &["--key", k])).collect()
    };
    let several =
        |surface: &[String]| get(surface, &["--key", "1", "--keys", "keys.txt", "--key", "1"]);
    let want = singles(&local);
    assert_eq!(want.lines().count(), 4);
    assert_eq!(several(&local), want);

    let server = Server::start(&data);
    let cert = data.join("tls/cert.pem");
    let remote: Vec<String> = vec![
        "--server".into(),
        server.addr.to_string(),
        "--token".into(),
        admin.clone(),
        "--server-cert".into(),
        cert.display().to_string(),
    ];
    assert_eq!(several(&remote), want);
    assert_eq!(singles(&remote), want);
    // Every CLI process above closed its connection as it exited: the
    // server counts none active but the one asking.
    let mut config = ClientConfig::new(server.addr, &admin, Trust::pin_file(&cert).unwrap());
    config.request_timeout = Some(Duration::from_secs(20));
    let client = Client::connect(config).unwrap();
    let active = client
        .stats()
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == "connections_active")
        .map(|(_, v)| v);
    assert_eq!(active, Some(1));
}

/// Brute force: the CSV cells of `txn_sessions:*` for `user` at `t` over
/// TXN (gap 1 h): all empty (NOT_FOUND) when the key has no event at or
/// before `t`.
fn brute_force_session(user: i64, t: i64) -> Vec<String> {
    let mut evs: Vec<(i64, f64)> = TXN
        .iter()
        .filter(|&&(u, ts, _)| u == user && ts <= t)
        .map(|&(_, ts, a)| (ts, a))
        .collect();
    evs.sort_by_key(|e| e.0);
    let Some(&(end, _)) = evs.last() else {
        return vec![String::new(); 7];
    };
    let mut first = evs.len() - 1;
    while first > 0 && evs[first].0 - evs[first - 1].0 <= HOUR {
        first -= 1;
    }
    let s = &evs[first..];
    let start = s[0].0;
    vec![
        s.len().to_string(),
        s.iter().map(|e| e.1).sum::<f64>().to_string(),
        s[0].1.to_string(),
        timestamp::format(start),
        timestamp::format(end),
        (end - start).to_string(),
        (t - end <= HOUR).to_string(),
    ]
}

#[test]
fn session_exports_agree_with_brute_force_locally_and_over_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = build(dir);
    let mut csv = String::from("user_id,event_timestamp\n");
    let mut rows = entity_rows();
    // At exactly each event, just after the 10-min gap closes, and at the
    // edge of the 1 h gap after the event at 2 h.
    rows.extend([
        (1, T0 + HOUR / 3 + HOUR),
        (1, T0 + HOUR / 3 + HOUR + 1),
        (1, T0 + 3 * HOUR),
        (1, T0 + 3 * HOUR + 1),
    ]);
    for (user, t) in &rows {
        csv.push_str(&format!("{user},{}\n", timestamp::format(*t)));
    }
    std::fs::write(dir.join("entities.csv"), &csv).unwrap();
    let remote = Remote::start(dir, &data);
    let local = export_both(dir, &remote, "txn_sessions:*", &[]);

    let mut lines = local.lines();
    assert_eq!(
        lines.next(),
        Some(
            "user_id,event_timestamp,count,amount_sum,amount_first,session_start,session_end,duration,is_open"
        )
    );
    for ((user, t), line) in rows.into_iter().zip(lines) {
        let cells: Vec<String> = line.split(',').skip(2).map(String::from).collect();
        let number = |c: &str| c.parse::<f64>().ok();
        let want = brute_force_session(user, t);
        assert_eq!(cells.len(), want.len(), "{line}");
        for (i, (got, want)) in cells.iter().zip(&want).enumerate() {
            let same =
                got == want || (i < 3 && number(got).is_some() && number(got) == number(want));
            assert!(
                same,
                "user {user} at {} cell {i}: got {got:?}, want {want:?}: {line}",
                timestamp::format(t)
            );
        }
    }
}

/// Administration answers the same on a local store (`--data`, the
/// library's operations) and over a server (`--server`, the protocol's
/// `Admin` request, the native client): two stores built alike, one
/// changed locally and one through a server, print the same reports and
/// end up reading the same values.
#[test]
fn admin_operations_answer_the_same_locally_and_over_the_server() {
    let (t_local, t_remote) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dl, dr) = (t_local.path(), t_remote.path());
    build(dl);
    let data = build(dr);
    let promote = format!(
        "{}{}\n[[feature_views]]\nname = \"device_seen\"\nentities = [\"user\"]\nsource = \"view:device\"\nfeatures = [{{ name = \"seen\", type = \"int64\" }}]\n",
        DEFS.replace(KYC_V1, KYC_V2),
        DEFS_V2.replace(
            "team = \"growth\"\n",
            "team = \"growth\"\nserving_version = 2\n"
        )
    );
    for d in [dl, dr] {
        std::fs::write(d.join("promote.toml"), &promote).unwrap();
    }
    let admin = admin_token(dr);
    let server = Server::start(&data);
    let cert = data.join("tls/cert.pem").display().to_string();
    let addr = server.addr.to_string();
    let local = |args: &[&str]| {
        let mut a: Vec<String> = vec!["--data".into(), "data".into()];
        a.extend(args.iter().map(|s| s.to_string()));
        let (code, out, err) = cli(dl, &a);
        assert_eq!(code, 0, "local {args:?}: {err}");
        out
    };
    let remote = |args: &[&str]| {
        let mut a: Vec<String> = ["--server", &addr, "--token", &admin, "--server-cert", &cert]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(args.iter().map(|s| s.to_string()));
        let (code, out, err) = cli(dr, &a);
        assert_eq!(code, 0, "remote {args:?}: {err}");
        out
    };
    let mut config = ClientConfig::new(
        server.addr,
        &admin,
        Trust::pin_file(std::path::Path::new(&cert)).unwrap(),
    );
    config.request_timeout = Some(Duration::from_secs(20));
    let client = Client::connect(config).unwrap();
    let native = |op: p::AdminOp, args: &[&str]| -> String {
        let r = client.admin(&p::AdminRequest::new(op, args)).unwrap();
        r.lines.iter().map(|l| format!("{l}\n")).collect()
    };
    // Creation times differ between the two stores; each line of a plan
    // is otherwise the same.
    let plan = local(&["apply", "--plan", "promote.toml"]);
    assert!(
        plan.contains("~ readers of device move from @1 to @2"),
        "{plan}"
    );
    assert!(plan.contains("+ feature view device_seen"), "{plan}");
    assert_eq!(remote(&["apply", "--plan", "promote.toml"]), plan);
    assert_eq!(native(p::AdminOp::Plan, &[&promote]), plan);
    let applied = local(&["apply", "promote.toml"]);
    assert!(applied.ends_with("applied 3 change(s)\n"), "{applied}");
    assert_eq!(remote(&["apply", "promote.toml"]), applied);
    // The registry: the same listing and descriptions from the store read
    // beside its running server and from the server (one result type,
    // every field: ids, times, owners, tags, defaults, versions, source,
    // the last ingest).
    let beside = |args: &[&str]| {
        let mut a: Vec<String> = vec!["--data".into(), "data".into()];
        a.extend(args.iter().map(|s| s.to_string()));
        let (code, out, err) = cli(dr, &a);
        assert_eq!(code, 0, "beside the server {args:?}: {err}");
        out
    };
    for args in [
        &["registry", "list"][..],
        &["registry", "list", "--json"],
        &["registry", "describe", "profile"],
        &["registry", "describe", "kyc", "--json"],
        &["registry", "describe", "kyc"],
        &["registry", "describe", "device@2"],
        &["registry", "describe", "txn_stats", "--json"],
    ] {
        assert_eq!(remote(args), beside(args), "{args:?}");
    }
    let kyc = remote(&["registry", "describe", "kyc"]);
    for field in [
        "feature view kyc (id ",
        "team          risk",
        "versions      kyc",
        "kyc_level",
        "last ingest: ",
        "1 row(s) from",
    ] {
        assert!(kyc.contains(field), "{field:?} in {kyc}");
    }
    let profile: Json =
        serde_json::from_str(&remote(&["registry", "describe", "profile", "--json"])).unwrap();
    assert_eq!(profile["features"][0]["default"], json!("\"bronze\""));
    assert_eq!(profile["team"], json!("growth"));
    assert!(profile["id"].as_u64().is_some() && profile["changed_at"].is_string());
    let txn_stats: Json =
        serde_json::from_str(&remote(&["registry", "describe", "txn_stats", "--json"])).unwrap();
    assert_eq!(txn_stats["source"], json!("view txn@1"), "{txn_stats}");

    // The unversioned name now reads @2, on both.
    let get =
        |run: &dyn Fn(&[&str]) -> String| run(&["get", "--view", "device", "--key", "1", "--json"]);
    assert!(get(&local).contains("pixel"), "{}", get(&local));
    assert_eq!(get(&remote), get(&local));
    let tree = local(&["registry", "lineage", "device_seen"]);
    assert_eq!(
        tree,
        "device@2 (source: not declared)\n\u{2514}\u{2500}> device_seen (source: view device)  <- this view\n"
    );
    assert_eq!(remote(&["registry", "lineage", "device_seen"]), tree);
    assert_eq!(native(p::AdminOp::Lineage, &["device_seen"]), tree);
    let deleted = local(&["delete", "--entity", "user", "--key", "2"]);
    assert!(
        deleted.starts_with("deleted every version of user 2 in view(s) profile"),
        "{deleted}"
    );
    assert_eq!(
        remote(&["delete", "--entity", "user", "--key", "2"]),
        deleted
    );
    for args in [
        ["get", "--view", "profile", "--key", "2", "--json"],
        ["get", "--view", "profile", "--key", "1", "--json"],
    ] {
        assert_eq!(remote(&args), local(&args), "{args:?}");
    }
    assert_eq!(local(&["flush"]), "flushed data\n");
    assert_eq!(remote(&["flush"]), format!("flushed {}\n", data.display()));
    // Compaction: the same report (its numbers depend on how each store's
    // segments came to be: a server also compacts in the background).
    for out in [local(&["compact"]), remote(&["compact"])] {
        assert!(
            out.starts_with("compacted ") && out.contains(" segment(s) into one: "),
            "{out}"
        );
    }
    for args in [
        ["get", "--view", "device", "--key", "1", "--json"],
        ["get", "--view", "txn", "--key", "1", "--json"],
    ] {
        assert_eq!(remote(&args), local(&args), "{args:?} after compaction");
    }
    // Snapshots: the same rows (the server writes into its own directory).
    let words = |s: String| s.split(" to ").next().unwrap().to_string();
    let snap = words(local(&["snapshot", "--view", "profile", "--out", "snap"]));
    assert_eq!(snap, "wrote 1 version(s) of 1 key(s)");
    let out = dr.join("snap");
    assert_eq!(
        words(remote(&[
            "snapshot",
            "--view",
            "profile",
            "--out",
            out.to_str().unwrap()
        ])),
        snap
    );
    assert!(out.join("view=profile").is_dir());
}
