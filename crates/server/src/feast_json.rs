//! The JSON of Feast's feature server (Feast 0.67, `feast serve`),
//! translated to and from the protocol's lookup types: a
//! `POST /get-online-features` body to a [`LookupRequest`], and a
//! [`LookupResponse`] to the body Feast answers (its
//! `convert_response_to_dict` of a `GetOnlineFeaturesResponse`).
//! docs/PROTOCOL.md's "HTTP endpoint" section has the shapes; this module
//! does no reading and knows no HTTP.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use strata_format::protocol::{
    FeatureColumn, KeyColumn, KeyColumnValues, LookupRequest, LookupResponse, RequestColumn, Status,
};
use strata_format::schema::Value;

/// The entity columns in the order the request names them.
#[derive(Debug, Default)]
struct Entities(Vec<(String, Vec<serde_json::Value>)>);

impl<'de> Deserialize<'de> for Entities {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entities, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entities;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of join key columns (name: [values])")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Entities, A::Error> {
                let mut cols = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Vec<serde_json::Value>>()? {
                    cols.push((k, v));
                }
                Ok(Entities(cols))
            }
        }
        d.deserialize_map(V)
    }
}

/// The body of `POST /get-online-features` (Feast's
/// `GetOnlineFeaturesRequest`; other fields are ignored, as Feast's model
/// ignores them).
#[derive(Debug, serde::Deserialize)]
struct Body {
    entities: Entities,
    #[serde(default)]
    feature_service: Option<String>,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    full_feature_names: bool,
    /// Strata's extension: request-time values of derived views, one
    /// column per input (`{"txn_amount": [12.5, null]}`), sent as text to
    /// the store, which parses them as the declared type.
    #[serde(default)]
    request_context: Entities,
    /// Accepted; Feast's JSON answer never shows this metadata.
    #[serde(default)]
    #[allow(dead_code)]
    include_feature_view_version_metadata: bool,
}

/// A request body that cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadBody {
    /// Not JSON (HTTP 400).
    Syntax(String),
    /// JSON of the wrong shape (HTTP 422, as FastAPI's validation).
    Shape(String),
    /// A feature service was named: Strata has none (HTTP 404).
    FeatureService(String),
}

/// A parsed request: the lookup, and how to name the answer's features.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub lookup: LookupRequest,
    pub full_feature_names: bool,
}

/// Parses a `get-online-features` body into a latest-value lookup.
pub(crate) fn parse(body: &[u8]) -> Result<Parsed, BadBody> {
    let b: Body = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => BadBody::Shape(format!("bad request body: {e}")),
        _ => BadBody::Syntax(format!("the request body is not valid JSON: {e}")),
    })?;
    if let Some(fs) = b.feature_service {
        return Err(BadBody::FeatureService(fs));
    }
    if b.features.is_empty() {
        return Err(BadBody::Shape(
            "no features requested: give \"features\": [\"view:feature\", ...]".into(),
        ));
    }
    if b.entities.0.is_empty() {
        return Err(BadBody::Shape(
            "no entities: give \"entities\": {\"join_key\": [values, ...]}".into(),
        ));
    }
    let mut entities = Vec::with_capacity(b.entities.0.len());
    for (name, values) in b.entities.0 {
        entities.push(key_column(name, values)?);
    }
    let request = b
        .request_context
        .0
        .into_iter()
        .map(|(name, values)| RequestColumn {
            name,
            values: values
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s),
                    v => Some(v.to_string()),
                })
                .collect(),
        })
        .collect();
    Ok(Parsed {
        lookup: LookupRequest {
            features: b.features,
            entities,
            request,
            ..LookupRequest::default()
        },
        full_feature_names: b.full_feature_names,
    })
}

/// A join key column: all integers, or all strings.
fn key_column(name: String, values: Vec<serde_json::Value>) -> Result<KeyColumn, BadBody> {
    let bad = |why: &str| {
        BadBody::Shape(format!(
            "entity column {name:?}: {why}; join key values are integers (int64 keys) or strings (string keys)"
        ))
    };
    let values = match values.first() {
        Some(serde_json::Value::String(_)) => KeyColumnValues::String(
            values
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s),
                    _ => Err(bad("mixes strings with other values")),
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(serde_json::Value::Number(_)) => KeyColumnValues::Int64(
            values
                .iter()
                .map(|v| {
                    v.as_i64()
                        .ok_or_else(|| bad(&format!("{v} is not an int64")))
                })
                .collect::<Result<_, _>>()?,
        ),
        None => KeyColumnValues::Int64(Vec::new()),
        Some(v) => return Err(bad(&format!("{v} is not a key value"))),
    };
    Ok(KeyColumn { name, values })
}

/// Feast's name of a status (its `FieldStatus` enum). Feast has no
/// `DEFAULTED`: a version that predates a feature with a default is
/// answered as Feast answers a row written with that value, `PRESENT`
/// (Feast's remote online store keeps only `PRESENT` values).
fn status_name(s: Status) -> &'static str {
    match s {
        Status::Present | Status::Defaulted => "PRESENT",
        Status::NullValue => "NULL_VALUE",
        Status::NotFound => "NOT_FOUND",
        Status::OutsideMaxAge => "OUTSIDE_MAX_AGE",
    }
}

/// A JSON string literal (non-ASCII characters as they are, like Python's
/// `json.dumps(..., ensure_ascii=False)`).
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float as JSON (shortest round-trip digits); null if not finite (JSON
/// has no NaN or infinity).
fn push_f64(out: &mut String, x: f64) {
    out.push_str(&serde_json::Value::from(x).to_string());
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648), as Feast sends bytes.
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let b = [
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
            c.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                s.push(char::from(B64[((n >> shift) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A value as Feast's JSON has it: numbers, booleans, strings, bytes in
/// base64, timestamps as Unix seconds (Feast's `unix_timestamp_val`),
/// embeddings and other lists as arrays, histograms (`map<string,int64>`)
/// as objects in entry order; null for null.
fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Int64(x) => out.push_str(&x.to_string()),
        Value::Float64(x) => push_f64(out, *x),
        Value::Float32(x) => push_f64(out, f64::from(*x)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => push_str(out, s),
        Value::Bytes(b) => push_str(out, &base64(b)),
        Value::Timestamp(us) => out.push_str(&(us / 1_000_000).to_string()),
        Value::ListFloat32(xs) => push_array(out, xs, |out, x| push_f64(out, f64::from(*x))),
        Value::ListFloat64(xs) => push_array(out, xs, |out, x| push_f64(out, *x)),
        Value::ListInt64(xs) => push_array(out, xs, |out, x| out.push_str(&x.to_string())),
        Value::ListString(xs) => push_array(out, xs, |out, x| push_str(out, x)),
        Value::MapStringInt64(m) => push_object(out, m, |out, n| out.push_str(&n.to_string())),
        Value::MapStringFloat64(m) => push_object(out, m, |out, x| push_f64(out, *x)),
    }
}

fn push_array<T>(out: &mut String, xs: &[T], item: impl Fn(&mut String, &T)) {
    out.push('[');
    push_list(out, xs.len(), |out, i| item(out, &xs[i]));
    out.push(']');
}

/// A map as an object, its entries in order.
fn push_object<T>(out: &mut String, m: &[(String, T)], value: impl Fn(&mut String, &T)) {
    out.push('{');
    push_list(out, m.len(), |out, i| {
        push_str(out, &m[i].0);
        out.push(':');
        value(out, &m[i].1);
    });
    out.push('}');
}

/// A time in µs as Feast's JSON writes a protobuf `Timestamp`: RFC 3339,
/// UTC, `Z`, with no fraction, 3 or 6 digits as the time needs.
pub(crate) fn rfc3339(micros: i64) -> String {
    let frac = micros.rem_euclid(1_000_000);
    let mut s = strata_format::time::utc_seconds(micros);
    if frac == 0 {
    } else if frac % 1000 == 0 {
        s.push_str(&format!(".{:03}", frac / 1000));
    } else {
        s.push_str(&format!(".{frac:06}"));
    }
    s.push('Z');
    s
}

/// Why an answer cannot be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Collision {
    /// The references whose names clash, as Feast's error lists them.
    pub refs: Vec<String>,
    pub full_feature_names: bool,
}

/// Feast's answer to `req` read as `resp`: the request's join key columns
/// that the read views use (`join_keys`), in request order, then the
/// features grouped by view in the order the views were first named
/// (Feast's order; within a view, request order); names `feature`, or
/// `view__feature` with full feature names.
pub(crate) fn answer(
    req: &LookupRequest,
    resp: &LookupResponse,
    join_keys: &[String],
    full_feature_names: bool,
) -> Result<String, Collision> {
    let keys: Vec<&KeyColumn> = req
        .entities
        .iter()
        .filter(|c| join_keys.contains(&c.name))
        .collect();
    let view_of = |f: &FeatureColumn| f.name.split_once(':').map_or("", |(v, _)| v).to_string();
    let mut order: Vec<String> = Vec::new();
    for f in &resp.features {
        let v = view_of(f);
        if !order.contains(&v) {
            order.push(v);
        }
    }
    let mut features: Vec<&FeatureColumn> = resp.features.iter().collect();
    features.sort_by_key(|f| order.iter().position(|v| *v == view_of(f)));
    let names: Vec<String> = features
        .iter()
        .map(|f| match f.name.split_once(':') {
            Some((v, n)) if full_feature_names => format!("{v}__{n}"),
            Some((_, n)) => n.to_string(),
            None => f.name.clone(),
        })
        .collect();
    let clashing: Vec<String> = features
        .iter()
        .zip(&names)
        .filter(|(_, n)| names.iter().filter(|m| m == n).count() > 1)
        .map(|(f, _)| f.name.clone())
        .collect();
    if !clashing.is_empty() {
        return Err(Collision {
            refs: clashing,
            full_feature_names,
        });
    }
    let rows = resp.rows;
    let mut out = String::with_capacity(64 + rows * (keys.len() + features.len()) * 40);
    out.push_str("{\"results\":[");
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
    };
    let epoch = rfc3339(0);
    for k in &keys {
        sep(&mut out);
        out.push_str("{\"values\":[");
        for r in 0..rows {
            if r > 0 {
                out.push(',');
            }
            match &k.values {
                KeyColumnValues::Int64(x) => match x.get(r) {
                    Some(v) => out.push_str(&v.to_string()),
                    None => out.push_str("null"),
                },
                KeyColumnValues::String(x) => match x.get(r) {
                    Some(v) => push_str(&mut out, v),
                    None => out.push_str("null"),
                },
            }
        }
        out.push_str("],\"statuses\":[");
        push_list(&mut out, rows, |o, _| push_str(o, "PRESENT"));
        out.push(']');
        push_times(&mut out, rows, |o, _| push_str(o, &epoch));
        out.push('}');
    }
    for f in &features {
        sep(&mut out);
        out.push_str("{\"values\":[");
        push_list(&mut out, rows, |o, r| {
            push_value(o, f.values.get(r).unwrap_or(&Value::Null))
        });
        out.push_str("],\"statuses\":[");
        push_list(&mut out, rows, |o, r| {
            push_str(
                o,
                status_name(f.statuses.get(r).copied().unwrap_or(Status::NotFound)),
            )
        });
        out.push(']');
        push_times(&mut out, rows, |o, r| {
            let t = f.event_ts.get(r).copied().flatten().unwrap_or(0);
            push_str(o, &rfc3339(t))
        });
        out.push('}');
    }
    out.push_str("],\"metadata\":{\"feature_names\":[");
    let mut all = keys
        .iter()
        .map(|k| k.name.as_str())
        .chain(names.iter().map(String::as_str));
    if let Some(n) = all.next() {
        push_str(&mut out, n);
    }
    for n in all {
        out.push(',');
        push_str(&mut out, n);
    }
    out.push_str("]}}");
    Ok(out)
}

fn push_list(out: &mut String, rows: usize, mut item: impl FnMut(&mut String, usize)) {
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        item(out, r);
    }
}

/// `,"event_timestamps":[...]`, left out when there are no rows (as Feast
/// leaves out an empty list).
fn push_times(out: &mut String, rows: usize, item: impl FnMut(&mut String, usize)) {
    if rows == 0 {
        return;
    }
    out.push_str(",\"event_timestamps\":[");
    push_list(out, rows, item);
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_bytes_strings() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_521_600_000_000), "2024-05-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_521_600_250_000), "2024-05-01T00:00:00.250Z");
        assert_eq!(
            rfc3339(1_714_521_600_000_001),
            "2024-05-01T00:00:00.000001Z"
        );
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(rfc3339(951_782_400_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        let mut s = String::new();
        push_str(&mut s, "a\"\\\n\u{1}é");
        assert_eq!(s, "\"a\\\"\\\\\\n\\u0001é\"");
        let mut s = String::new();
        for v in [
            Value::Float64(3.0),
            Value::Float32(0.1),
            Value::Float64(f64::NAN),
            Value::Timestamp(-1_500_000),
        ] {
            push_value(&mut s, &v);
            s.push(' ');
        }
        assert_eq!(s, "3.0 0.10000000149011612 null -1 ");
        let mut s = String::new();
        for v in [
            Value::ListString(vec!["a\"".into(), String::new()]),
            Value::ListInt64(vec![]),
            Value::ListFloat64(vec![0.5, f64::NAN]),
            Value::MapStringInt64(vec![("z".into(), 2), ("a".into(), 1)]),
            Value::MapStringFloat64(vec![("b".into(), 0.5)]),
        ] {
            push_value(&mut s, &v);
            s.push(' ');
        }
        assert_eq!(s, r#"["a\"",""] [] [0.5,null] {"z":2,"a":1} {"b":0.5} "#);
    }

    #[test]
    fn bodies() {
        let p =
            parse(br#"{"features":["v:f"],"entities":{"b":["x"],"a":[1,2]},"extra":1}"#).unwrap();
        let names: Vec<&str> = p.lookup.entities.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b", "a"], "request order kept");
        assert_eq!(
            p.lookup.entities[1].values,
            KeyColumnValues::Int64(vec![1, 2])
        );
        assert!(!p.full_feature_names);
        for (body, syntax) in [
            (&b"{"[..], true),
            (b"[1]", false),
            (br#"{"features":["v:f"]}"#, false),
            (br#"{"features":"v:f","entities":{"a":[1]}}"#, false),
            (br#"{"features":["v:f"],"entities":{"a":[1.5]}}"#, false),
            (br#"{"features":["v:f"],"entities":{"a":[1,"x"]}}"#, false),
            (br#"{"features":[],"entities":{"a":[1]}}"#, false),
            (br#"{"features":["v:f"],"entities":{}}"#, false),
        ] {
            match parse(body) {
                Err(BadBody::Syntax(_)) => assert!(syntax, "{body:?}"),
                Err(BadBody::Shape(_)) => assert!(!syntax, "{body:?}"),
                r => panic!("{body:?}: {r:?}"),
            }
        }
        assert_eq!(
            parse(br#"{"feature_service":"svc","entities":{"a":[1]}}"#).unwrap_err(),
            BadBody::FeatureService("svc".into())
        );
    }
}
