//! How reads are printed: aligned text tables for people, one JSON object
//! for programs.
//!
//! Text forms of values: floats in Rust's shortest round-trip form with a
//! decimal point (`11.0`), bytes as
//! lower-case hex, timestamps as RFC 3339 UTC, lists as `[1, 2.5]`. In JSON:
//! numbers (non-finite floats as the strings `"NaN"`, `"inf"`, `"-inf"`),
//! bytes as hex strings, timestamps as RFC 3339 strings, `null` for no value.

use strata::catalog::FeatureView;
use strata::catalog::JoinKey;
use strata::format::protocol as p;
use strata::format::schema::{KeyType, KeyValue, Value};
use strata::offline::{read::cells::to_hex, timestamp};
use strata::store::{FeatureRow, HistoryRow, Status};

/// A value as table text.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Int64(x) => x.to_string(),
        Value::Float64(x) => format!("{x:?}"),
        Value::Float32(x) => format!("{x:?}"),
        Value::Bool(x) => x.to_string(),
        Value::String(s) => s.escape_debug().to_string(),
        Value::Bytes(b) => to_hex(b),
        Value::Timestamp(t) => timestamp::format(*t),
        Value::ListFloat32(l) => format!(
            "[{}]",
            l.iter()
                .map(|x| format!("{x:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // The other lists and maps as JSON, the text CSV export writes.
        Value::ListString(_)
        | Value::ListInt64(_)
        | Value::ListFloat64(_)
        | Value::MapStringInt64(_)
        | Value::MapStringFloat64(_) => value_json(v),
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "null".into())
}

fn json_float(x: f64) -> String {
    if x.is_finite() {
        serde_json::Number::from_f64(x).map_or_else(|| "null".into(), |n| n.to_string())
    } else if x.is_nan() {
        json_str("NaN")
    } else {
        json_str(if x > 0.0 { "inf" } else { "-inf" })
    }
}

/// A value as JSON text.
pub fn value_json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Int64(x) => x.to_string(),
        Value::Float64(x) => json_float(*x),
        // Through the shortest decimal of the f32, so 0.1f32 prints as 0.1.
        Value::Float32(x) => json_float(x.to_string().parse().unwrap_or(f64::from(*x))),
        Value::Bool(x) => x.to_string(),
        Value::String(s) => json_str(s),
        Value::Bytes(b) => json_str(&to_hex(b)),
        Value::Timestamp(t) => json_str(&timestamp::format(*t)),
        Value::ListFloat32(l) => {
            let items: Vec<String> = l.iter().map(|x| value_json(&Value::Float32(*x))).collect();
            format!("[{}]", items.join(","))
        }
        Value::ListFloat64(l) => json_items(l.iter().map(|x| json_float(*x))),
        Value::ListInt64(l) => json_items(l.iter().map(i64::to_string)),
        Value::ListString(l) => json_items(l.iter().map(|s| json_str(s))),
        Value::MapStringInt64(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, n)| format!("{}:{n}", json_str(k)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::MapStringFloat64(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, x)| format!("{}:{}", json_str(k), json_float(*x)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn json_items(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(","))
}

fn key_json(key: &[KeyValue]) -> String {
    let items: Vec<String> = key
        .iter()
        .map(|k| match k {
            KeyValue::Int64(x) => x.to_string(),
            KeyValue::String(s) => json_str(s),
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn ts_json(t: Option<i64>) -> String {
    t.map_or_else(|| "null".into(), |t| json_str(&timestamp::format(t)))
}

/// `{"a":1,"b":2}` from already-encoded values, in the given order.
fn object(fields: &[(&str, String)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k)))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// Left-aligned columns separated by two spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            s.extend(std::iter::repeat_n(' ', w - c.chars().count()));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// The text of a feature's value in a table: the value (DEFAULTED: the
/// version predates the feature), or without one the feature's declared
/// default (the status says why), else `-`.
fn shown(v: &Value, s: &Status) -> String {
    match s {
        Status::Present | Status::NullValue | Status::Defaulted => value_text(v),
        Status::NotFound | Status::OutsideMaxAge if !v.is_null() => value_text(v),
        Status::NotFound | Status::OutsideMaxAge => "-".into(),
    }
}

/// The table of a point read: feature, value, status, event_timestamp.
pub fn feature_row_table(view: &FeatureView, row: &FeatureRow) -> String {
    let ts = row
        .event_ts
        .map_or_else(|| "-".to_string(), timestamp::format);
    let rows: Vec<Vec<String>> = view
        .features
        .iter()
        .zip(row.values.iter().zip(&row.statuses))
        .map(|(f, (v, s))| {
            let ts = if *s == Status::NotFound {
                "-".to_string()
            } else {
                ts.clone()
            };
            vec![f.name.clone(), shown(v, s), s.name().to_string(), ts]
        })
        .collect();
    table(&["feature", "value", "status", "event_timestamp"], &rows)
}

/// The lookup of every feature of one view (`view` as `name@N`) for
/// `keys`: what `strata get` asks the store or the server.
pub fn keys_lookup(
    view: &str,
    cols: &[JoinKey],
    keys: &[Vec<KeyValue>],
    as_of: Option<i64>,
    known_at: Option<i64>,
) -> p::LookupRequest {
    let entities = cols
        .iter()
        .enumerate()
        .map(|(i, c)| p::KeyColumn {
            name: c.name.clone(),
            values: match c.ty {
                KeyType::Int64 => p::KeyColumnValues::Int64(
                    keys.iter()
                        .map(|k| match k.get(i) {
                            Some(KeyValue::Int64(x)) => *x,
                            _ => 0,
                        })
                        .collect(),
                ),
                KeyType::String => p::KeyColumnValues::String(
                    keys.iter()
                        .map(|k| match k.get(i) {
                            Some(KeyValue::String(s)) => s.clone(),
                            _ => String::new(),
                        })
                        .collect(),
                ),
            },
        })
        .collect();
    p::LookupRequest {
        features: vec![format!("{view}:*")],
        entities,
        as_of,
        known_at,
        with_created_ts: true,
        request: Vec::new(),
    }
}

/// `--request NAME=VALUE` pairs as request columns, the same value for
/// each of `rows` keys.
pub fn request_columns(pairs: &[(String, String)], rows: usize) -> Vec<p::RequestColumn> {
    pairs
        .iter()
        .map(|(name, value)| p::RequestColumn {
            name: name.clone(),
            values: vec![Some(value.clone()); rows],
        })
        .collect()
}

/// Entity row `row` of a one-view lookup answer, as a row of the view's
/// features.
pub fn lookup_row(resp: &p::LookupResponse, row: usize) -> FeatureRow {
    let cell = |f: &p::FeatureColumn, v: &[Option<i64>]| {
        v.get(row)
            .copied()
            .flatten()
            .filter(|_| f.statuses.get(row).is_some_and(|s| s.has_version()))
    };
    FeatureRow {
        event_ts: resp.features.iter().find_map(|f| cell(f, &f.event_ts)),
        created_ts: resp.features.iter().find_map(|f| cell(f, &f.created_ts)),
        values: resp
            .features
            .iter()
            .map(|f| f.values.get(row).cloned().unwrap_or(Value::Null))
            .collect(),
        statuses: resp
            .features
            .iter()
            .map(|f| f.statuses.get(row).copied().unwrap_or(Status::NotFound))
            .collect(),
    }
}

/// The table of a read of several keys: the join keys, the version's
/// event time, then one column per feature. A feature without a value
/// shows its declared default, else `-`, followed by its status.
pub fn feature_rows_table(
    view: &FeatureView,
    cols: &[JoinKey],
    keys: &[Vec<KeyValue>],
    rows: &[FeatureRow],
) -> String {
    let mut headers: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    headers.push("event_timestamp");
    headers.extend(view.features.iter().map(|f| f.name.as_str()));
    let cells: Vec<Vec<String>> = keys
        .iter()
        .zip(rows)
        .map(|(key, row)| {
            let mut c: Vec<String> = key.iter().map(|k| k.to_string()).collect();
            c.push(
                row.event_ts
                    .map_or_else(|| "-".to_string(), timestamp::format),
            );
            c.extend(row.values.iter().zip(&row.statuses).map(|(v, s)| match s {
                Status::NotFound | Status::OutsideMaxAge => {
                    format!("{} ({})", shown(v, s), s.name())
                }
                _ => shown(v, s),
            }));
            c
        })
        .collect();
    table(&headers, &cells)
}

/// The JSON object of a point read.
pub fn feature_row_json(view: &FeatureView, key: &[KeyValue], row: &FeatureRow) -> String {
    let features: Vec<(&str, String)> = view
        .features
        .iter()
        .zip(row.values.iter().zip(&row.statuses))
        .map(|(f, (v, s))| {
            let ts = if *s == Status::NotFound {
                None
            } else {
                row.event_ts
            };
            let o = object(&[
                ("value", value_json(v)),
                ("status", json_str(s.name())),
                ("event_timestamp", ts_json(ts)),
            ]);
            (f.name.as_str(), o)
        })
        .collect();
    object(&[
        ("view", json_str(&view.qualified_name())),
        ("key", key_json(key)),
        ("event_timestamp", ts_json(row.event_ts)),
        ("created_timestamp", ts_json(row.created_ts)),
        ("features", object(&features)),
    ])
}

/// The table of a history read: timestamps, then one column per feature.
pub fn history_table(view: &FeatureView, rows: &[HistoryRow]) -> String {
    let mut headers = vec!["event_timestamp", "created_timestamp"];
    headers.extend(view.features.iter().map(|f| f.name.as_str()));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut c = vec![
                timestamp::format(r.event_ts),
                timestamp::format(r.created_ts),
            ];
            c.extend(r.values.iter().map(value_text));
            c
        })
        .collect();
    table(&headers, &cells)
}

/// The JSON object of a history read; versions newest first.
pub fn history_json(view: &FeatureView, key: &[KeyValue], rows: &[HistoryRow]) -> String {
    let versions: Vec<String> = rows
        .iter()
        .map(|r| {
            let features: Vec<(&str, String)> = view
                .features
                .iter()
                .zip(&r.values)
                .map(|(f, v)| (f.name.as_str(), value_json(v)))
                .collect();
            object(&[
                ("event_timestamp", ts_json(Some(r.event_ts))),
                ("created_timestamp", ts_json(Some(r.created_ts))),
                ("features", object(&features)),
            ])
        })
        .collect();
    object(&[
        ("view", json_str(&view.qualified_name())),
        ("key", key_json(key)),
        ("versions", format!("[{}]", versions.join(","))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata::catalog::Feature;
    use strata::format::schema::FeatureType;

    fn view() -> FeatureView {
        let f = |name: &str, ty| Feature {
            name: name.into(),
            ty,
            description: String::new(),
            tags: vec![],
        };
        FeatureView {
            id: 1,
            name: "v".into(),
            version: 1,
            entities: vec!["user".into()],
            ttl_micros: 0,
            features: vec![
                f("a", FeatureType::Float32),
                f("b", FeatureType::ListFloat32),
                f("c", FeatureType::Bytes),
            ],
            metadata: Default::default(),
        }
    }

    #[test]
    fn values() {
        assert_eq!(
            value_text(&Value::ListFloat32(vec![1.0, 2.5])),
            "[1.0, 2.5]"
        );
        assert_eq!(value_text(&Value::Float64(11.0)), "11.0");
        assert_eq!(value_text(&Value::Bytes(vec![0, 255])), "00ff");
        assert_eq!(value_text(&Value::Timestamp(0)), "1970-01-01T00:00:00Z");
        assert_eq!(value_text(&Value::String("a\nb".into())), "a\\nb");
        assert_eq!(value_json(&Value::Float32(0.1)), "0.1");
        assert_eq!(value_json(&Value::Float64(f64::NAN)), "\"NaN\"");
        assert_eq!(value_json(&Value::Float64(f64::NEG_INFINITY)), "\"-inf\"");
        assert_eq!(value_json(&Value::String("q\"".into())), "\"q\\\"\"");
        assert_eq!(value_json(&Value::ListFloat32(vec![0.5, 1.0])), "[0.5,1.0]");
        assert_eq!(
            value_json(&Value::ListString(vec!["a\"".into(), "b".into()])),
            r#"["a\"","b"]"#
        );
        assert_eq!(value_text(&Value::ListInt64(vec![1, -2])), "[1,-2]");
        assert_eq!(
            value_json(&Value::ListFloat64(vec![0.5, f64::NAN])),
            r#"[0.5,"NaN"]"#
        );
        assert_eq!(
            value_text(&Value::MapStringInt64(vec![
                ("b".into(), 2),
                ("a".into(), 1)
            ])),
            r#"{"b":2,"a":1}"#
        );
    }

    #[test]
    fn json_of_a_read() {
        let row = FeatureRow {
            event_ts: Some(1_000_000),
            created_ts: Some(2_000_000),
            values: vec![Value::Float32(1.5), Value::Null, Value::Null],
            statuses: vec![Status::Present, Status::NullValue, Status::NullValue],
        };
        let j = feature_row_json(&view(), &[KeyValue::Int64(7)], &row);
        assert_eq!(
            j,
            r#"{"view":"v","key":[7],"event_timestamp":"1970-01-01T00:00:01Z","created_timestamp":"1970-01-01T00:00:02Z","features":{"a":{"value":1.5,"status":"PRESENT","event_timestamp":"1970-01-01T00:00:01Z"},"b":{"value":null,"status":"NULL_VALUE","event_timestamp":"1970-01-01T00:00:01Z"},"c":{"value":null,"status":"NULL_VALUE","event_timestamp":"1970-01-01T00:00:01Z"}}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(parsed["features"]["a"]["value"], 1.5);
    }

    #[test]
    fn tables() {
        let row = FeatureRow {
            event_ts: None,
            created_ts: None,
            values: vec![Value::Null; 3],
            statuses: vec![Status::NotFound; 3],
        };
        let t = feature_row_table(&view(), &row);
        assert_eq!(
            t,
            "feature  value  status     event_timestamp\na        -      NOT_FOUND  -\nb        -      NOT_FOUND  -\nc        -      NOT_FOUND  -\n"
        );
        let h = history_table(
            &view(),
            &[HistoryRow {
                event_ts: 0,
                created_ts: 1,
                values: vec![Value::Float32(2.0), Value::Null, Value::Bytes(vec![1])],
            }],
        );
        assert!(
            h.starts_with("event_timestamp       created_timestamp            a    b     c\n"),
            "{h}"
        );
        assert!(
            h.contains("1970-01-01T00:00:00Z  1970-01-01T00:00:00.000001Z  2.0  null  01"),
            "{h}"
        );
    }
}
