//! JSON Lines input: one JSON object per line (blank lines are skipped).
//!
//! Fields are found by name like CSV columns. A join key must be present
//! and not null (`int64` keys as JSON integers, `string` keys as strings);
//! `event_timestamp` and `created_timestamp` are integer microseconds or
//! text ([`super::timestamp`]). A feature field that is absent or `null` is
//! a null value, but a feature absent from **every** line is a missing
//! column. Values: `int64` integers; floats any number; `bool` true/false;
//! `string` strings; `bytes` hex strings; `timestamp` like
//! `event_timestamp`; `list<float32>` arrays of numbers.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value as Json;

use super::{CREATED_TIMESTAMP, EVENT_TIMESTAMP, Error, Target, csv::parse_hex, timestamp};
use strata_format::schema::{FeatureType, KeyType, KeyValue, Value};
use strata_store::RowWrite;

fn short(v: &Json) -> String {
    let t = v.to_string();
    if t.chars().count() > 60 {
        format!("{}...", t.chars().take(60).collect::<String>())
    } else {
        t
    }
}

fn ts(v: &Json) -> Result<i64, String> {
    match v {
        Json::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("{n} is not integer microseconds")),
        Json::String(s) => {
            timestamp::parse(s).map_err(|e| format!("{:?} is not a timestamp: {e}", short(v)))
        }
        _ => Err(format!("{} is not a timestamp", short(v))),
    }
}

/// One feature value of type `ty`.
pub fn value(ty: FeatureType, v: &Json) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let not = |what: &str| format!("{} is not {what}", short(v));
    Ok(match ty {
        FeatureType::Int64 => Value::Int64(v.as_i64().ok_or_else(|| not("an int64"))?),
        FeatureType::Float64 => Value::Float64(v.as_f64().ok_or_else(|| not("a float64"))?),
        FeatureType::Float32 => Value::Float32(v.as_f64().ok_or_else(|| not("a float32"))? as f32),
        FeatureType::Bool => Value::Bool(v.as_bool().ok_or_else(|| not("a bool"))?),
        FeatureType::String => Value::String(v.as_str().ok_or_else(|| not("a string"))?.into()),
        FeatureType::Bytes => {
            let s = v.as_str().ok_or_else(|| not("hex bytes"))?;
            Value::Bytes(parse_hex(s).map_err(|e| format!("{} is not hex bytes: {e}", short(v)))?)
        }
        FeatureType::Timestamp => Value::Timestamp(ts(v)?),
        FeatureType::ListFloat32 => Value::ListFloat32(
            v.as_array()
                .ok_or_else(|| not("a list<float32> (an array of numbers)"))?
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    x.as_f64()
                        .map(|f| f as f32)
                        .ok_or_else(|| format!("item {} {} is not a number", i + 1, short(x)))
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Reads a whole JSON Lines file for `target`, validating every field.
pub fn read(target: &Target, path: &Path) -> Result<Vec<RowWrite>, Error> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(invalid(format!(
            "the file is empty; a JSON Lines input has one object per line with the fields {}",
            target.required_columns().join(", ")
        )));
    }
    let features = &target.view.features;
    let mut seen = vec![false; features.len()];
    let mut rows = Vec::new();
    for (lineno, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| invalid(format!("line {}: {e}", lineno + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let n = rows.len() + 1;
        let at = |col: &str, why: String| {
            invalid(format!(
                "row {n} (line {}), field {}: {why}",
                lineno + 1,
                target.describe(col)
            ))
        };
        let obj: serde_json::Map<String, Json> = serde_json::from_str(&line).map_err(|e| {
            invalid(format!(
                "row {n} (line {}): not a JSON object: {e}",
                lineno + 1
            ))
        })?;
        let get = |col: &str| obj.get(target.source_name(col)).filter(|v| !v.is_null());
        let mut key = Vec::with_capacity(target.keys.len());
        for k in &target.keys {
            let v = get(&k.name).ok_or_else(|| {
                at(
                    &k.name,
                    "the join key is missing or null; every row needs a key".into(),
                )
            })?;
            key.push(match (k.ty, v) {
                (KeyType::Int64, Json::Number(x)) if x.as_i64().is_some() => {
                    KeyValue::Int64(x.as_i64().unwrap_or_default())
                }
                (KeyType::String, Json::String(s)) => KeyValue::String(s.clone()),
                _ => return Err(at(&k.name, format!("{} is not an {}", short(v), k.ty))),
            });
        }
        let ev = get(EVENT_TIMESTAMP).ok_or_else(|| {
            at(
                EVENT_TIMESTAMP,
                "the event timestamp is missing or null; every row needs one".into(),
            )
        })?;
        let event_ts = ts(ev).map_err(|e| at(EVENT_TIMESTAMP, e))?;
        let created_ts = match get(CREATED_TIMESTAMP) {
            None => None,
            Some(v) => Some(ts(v).map_err(|e| at(CREATED_TIMESTAMP, e))?),
        };
        let mut values = Vec::with_capacity(features.len());
        for (i, f) in features.iter().enumerate() {
            let src = target.source_name(&f.name);
            seen[i] |= obj.contains_key(src);
            values.push(match obj.get(src) {
                None => Value::Null,
                Some(v) => value(f.ty, v).map_err(|e| at(&f.name, e))?,
            });
        }
        rows.push(RowWrite {
            key,
            event_ts,
            created_ts,
            values,
        });
    }
    let missing: Vec<String> = features
        .iter()
        .zip(&seen)
        .filter(|(_, s)| !**s)
        .map(|(f, _)| target.describe(&f.name))
        .collect();
    if !rows.is_empty() && !missing.is_empty() {
        return Err(invalid(format!(
            "missing field(s) {}: no line has them",
            missing.join(", ")
        )));
    }
    Ok(rows)
}
