//! The per-feature fields of a definitions file (`default` and the
//! expectations, see [`super::meta`]): checked against the feature's type
//! and kept in a canonical form (timestamps as integer µs, bytes as hex).

use super::Feature;
use super::error::{Error, Subject};
use strata_format::schema::{FeatureType, Value};

/// Per-feature fields besides name, type, description and tags.
pub const FEATURE_FIELDS: [&str; 6] = [
    "default",
    "not_null",
    "min",
    "max",
    "allowed",
    "max_null_fraction",
];

pub(crate) fn as_f64(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Microseconds of a TOML timestamp: an integer of µs, an RFC 3339 string,
/// or a TOML offset date-time.
fn timestamp_from_toml(v: &toml::Value) -> Result<i64, String> {
    let text = match v {
        toml::Value::Integer(i) => return Ok(*i),
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => return Err("expected integer microseconds or an RFC 3339 timestamp".into()),
    };
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|d| d.timestamp_micros())
        .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp with an offset ({e})"))
}

/// A value of type `ty` written in TOML, or why it is not one (the callers
/// say where it was written).
pub(crate) fn value_from_toml(ty: FeatureType, v: &toml::Value) -> Result<Value, String> {
    let wrong = || format!("{v} is not a {ty} value");
    Ok(match ty {
        FeatureType::Int64 => Value::Int64(v.as_integer().ok_or_else(wrong)?),
        FeatureType::Float64 => Value::Float64(as_f64(v).ok_or_else(wrong)?),
        FeatureType::Float32 => Value::Float32(as_f64(v).ok_or_else(wrong)? as f32),
        FeatureType::Bool => Value::Bool(v.as_bool().ok_or_else(wrong)?),
        FeatureType::String => Value::String(v.as_str().ok_or_else(wrong)?.to_string()),
        FeatureType::Bytes => {
            let s = v.as_str().ok_or_else(wrong)?;
            let h = s.strip_prefix("0x").unwrap_or(s);
            if !h.len().is_multiple_of(2) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{v} is not hex bytes (e.g. \"0aff\")"));
            }
            Value::Bytes(
                (0..h.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap_or(0))
                    .collect(),
            )
        }
        FeatureType::Timestamp => Value::Timestamp(timestamp_from_toml(v)?),
        FeatureType::ListFloat32 => Value::ListFloat32(
            v.as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|x| as_f64(x).map(|f| f as f32).ok_or_else(wrong))
                .collect::<Result<_, _>>()?,
        ),
        FeatureType::ListFloat64 => Value::ListFloat64(
            items(v, wrong)?
                .iter()
                .map(|x| as_f64(x).ok_or_else(wrong))
                .collect::<Result<_, _>>()?,
        ),
        FeatureType::ListInt64 => Value::ListInt64(
            items(v, wrong)?
                .iter()
                .map(|x| x.as_integer().ok_or_else(wrong))
                .collect::<Result<_, _>>()?,
        ),
        FeatureType::ListString => Value::ListString(
            items(v, wrong)?
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(wrong))
                .collect::<Result<_, _>>()?,
        ),
        FeatureType::MapStringInt64 => Value::MapStringInt64(
            v.as_table()
                .ok_or_else(|| format!("{v} is not a {ty} value (write {{ key = 1 }})"))?
                .iter()
                .map(|(k, n)| n.as_integer().map(|n| (k.clone(), n)).ok_or_else(wrong))
                .collect::<Result<_, _>>()?,
        ),
        FeatureType::MapStringFloat64 => Value::MapStringFloat64(
            v.as_table()
                .ok_or_else(|| format!("{v} is not a {ty} value (write {{ key = 1.5 }})"))?
                .iter()
                .map(|(k, x)| as_f64(x).map(|x| (k.clone(), x)).ok_or_else(wrong))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn items(v: &toml::Value, wrong: impl Fn() -> String) -> Result<&Vec<toml::Value>, String> {
    v.as_array().ok_or_else(wrong)
}

/// The canonical TOML form of a value (timestamps as µs, bytes as hex).
fn canonical(v: &Value) -> toml::Value {
    match v {
        Value::Null => toml::Value::String(String::new()),
        Value::Int64(x) | Value::Timestamp(x) => toml::Value::Integer(*x),
        Value::Float64(x) => toml::Value::Float(*x),
        Value::Float32(x) => toml::Value::Float(f64::from(*x)),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Bytes(b) => {
            toml::Value::String(b.iter().map(|x| format!("{x:02x}")).collect::<String>())
        }
        Value::ListFloat32(l) => toml::Value::Array(
            l.iter()
                .map(|x| toml::Value::Float(f64::from(*x)))
                .collect(),
        ),
        Value::ListFloat64(l) => {
            toml::Value::Array(l.iter().map(|x| toml::Value::Float(*x)).collect())
        }
        Value::ListInt64(l) => {
            toml::Value::Array(l.iter().map(|x| toml::Value::Integer(*x)).collect())
        }
        Value::ListString(l) => {
            toml::Value::Array(l.iter().map(|x| toml::Value::String(x.clone())).collect())
        }
        Value::MapStringInt64(m) => toml::Value::Table(
            m.iter()
                .map(|(k, n)| (k.clone(), toml::Value::Integer(*n)))
                .collect(),
        ),
        Value::MapStringFloat64(m) => toml::Value::Table(
            m.iter()
                .map(|(k, x)| (k.clone(), toml::Value::Float(*x)))
                .collect(),
        ),
    }
}

/// Checks the per-feature fields of feature `f` of view `view` (as
/// written) and returns their canonical table, or `None` if there are none.
pub fn feature_settings(
    view: &str,
    f: &Feature,
    raw: &toml::Table,
) -> Result<Option<toml::Table>, Error> {
    let subject = || Subject::Feature {
        view: view.to_string(),
        feature: f.name.clone(),
    };
    let bad = |k: &str, reason: String| Error::invalid(subject(), k, reason);
    let mut out = toml::Table::new();
    let numeric = matches!(
        f.ty,
        FeatureType::Int64 | FeatureType::Float64 | FeatureType::Float32 | FeatureType::Timestamp
    );
    for (k, v) in raw {
        let canon = match k.as_str() {
            "default" => canonical(
                &value_from_toml(f.ty, v).map_err(|e| bad(k, format!("default = {v}: {e}")))?,
            ),
            "not_null" => toml::Value::Boolean(
                v.as_bool()
                    .ok_or_else(|| bad(k, format!("not_null = {v}; expected true or false")))?,
            ),
            "min" | "max" => {
                if !numeric {
                    return Err(bad(
                        k,
                        format!(
                            "{k} applies to int64, float64, float32 and timestamp features, not {}; use allowed = [...] instead",
                            f.ty
                        ),
                    ));
                }
                match value_from_toml(f.ty, v).map_err(|e| bad(k, format!("{k} = {v}: {e}")))? {
                    Value::Int64(x) | Value::Timestamp(x) => toml::Value::Integer(x),
                    Value::Float64(x) => toml::Value::Float(x),
                    Value::Float32(x) => toml::Value::Float(f64::from(x)),
                    _ => return Err(bad(k, format!("{k} = {v} is not a number"))),
                }
            }
            "allowed" => {
                if f.ty.is_collection() {
                    return Err(bad(
                        k,
                        format!("allowed does not apply to {} features", f.ty),
                    ));
                }
                let items = v.as_array().ok_or_else(|| {
                    bad(
                        k,
                        format!("allowed = {v}; expected an array of {} values", f.ty),
                    )
                })?;
                toml::Value::Array(
                    items
                        .iter()
                        .map(|x| {
                            value_from_toml(f.ty, x)
                                .map(|v| canonical(&v))
                                .map_err(|e| bad(k, format!("allowed: {e}")))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            "max_null_fraction" => {
                let x = as_f64(v)
                    .filter(|x| (0.0..=1.0).contains(x))
                    .ok_or_else(|| {
                        bad(
                            k,
                            format!("max_null_fraction = {v}; expected a number from 0.0 to 1.0"),
                        )
                    })?;
                toml::Value::Float(x)
            }
            other => {
                return Err(Error::UnknownField {
                    subject: subject(),
                    field: other.to_string(),
                    expected: format!(
                        "a feature takes name, type, description, tags, {}",
                        FEATURE_FIELDS.join(", ")
                    ),
                });
            }
        };
        out.insert(k.clone(), canon);
    }
    if let (Some(lo), Some(hi)) = (
        out.get("min").and_then(as_f64),
        out.get("max").and_then(as_f64),
    ) && lo > hi
    {
        return Err(bad("min", format!("min {lo} is greater than max {hi}")));
    }
    Ok((!out.is_empty()).then_some(out))
}
