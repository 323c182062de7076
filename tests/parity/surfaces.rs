//! The ways into Strata a read scenario goes through, each turning what
//! it answered into one [`Answer`].

use std::path::Path;
use std::time::Duration;

use serde_json::{Value as Json, json};
use strata::client::blocking::Client;
use strata::format::protocol as p;
use strata::format::schema::{KeyValue, Value};
use strata::offline::timestamp;
use strata::store::{ReadOptions, Store};

use crate::fixture::cli;
use crate::scenarios::Scenario;

/// What a surface answered: per feature `(name, value, status, event
/// time)`, or an error message.
pub type Answer = Result<Vec<(String, Json, String, Option<String>)>, String>;

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
pub fn via_library(store: &Store, s: &Scenario) -> Answer {
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
pub fn via_client(client: &Client, key_ty_string: bool, s: &Scenario) -> Answer {
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
pub fn via_http(addr: &str, token: &str, s: &Scenario) -> Answer {
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
pub fn via_cli(dir: &Path, args: &[String], s: &Scenario) -> Answer {
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
