//! CSV input: a header row naming the columns, then one version per row.
//! Cell forms are listed in the [module docs](super).

use std::path::Path;

use super::{CREATED_TIMESTAMP, EVENT_TIMESTAMP, Error, Target, missing_columns, timestamp};
use strata_format::schema::{FeatureType, KeyType, KeyValue, Value};
use strata_store::RowWrite;

/// Reads a whole CSV file for `target`, validating every cell.
pub fn read(target: &Target, path: &Path) -> Result<Vec<RowWrite>, Error> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() == 0 {
        return Err(invalid(format!(
            "the file is empty; a CSV input starts with a header row naming the columns {}",
            target.required_columns().join(",")
        )));
    }
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|e| invalid(format!("cannot open as CSV: {e}")))?;
    let headers = rdr
        .headers()
        .map_err(|e| invalid(format!("bad header row: {e}")))?
        .clone();
    let names: Vec<&str> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}').trim()
            } else {
                h.trim()
            }
        })
        .collect();
    let find = |name: &str| -> Result<Option<usize>, String> {
        let name = target.source_name(name);
        let mut hits = names
            .iter()
            .enumerate()
            .filter(|(_, n)| **n == name)
            .map(|(i, _)| i);
        let first = hits.next();
        if hits.next().is_some() {
            return Err(format!("the header names the column {name} more than once"));
        }
        Ok(first)
    };
    let mut missing: Vec<String> = Vec::new();
    let mut locate = |name: &str| -> Result<usize, String> {
        Ok(find(name)?.unwrap_or_else(|| {
            missing.push(target.describe(name));
            usize::MAX
        }))
    };
    let key_cols: Vec<usize> = target
        .keys
        .iter()
        .map(|k| locate(&k.name))
        .collect::<Result<_, _>>()
        .map_err(invalid)?;
    let event_col = locate(EVENT_TIMESTAMP).map_err(invalid)?;
    let feature_cols: Vec<usize> = target
        .view
        .features
        .iter()
        .map(|f| locate(&f.name))
        .collect::<Result<_, _>>()
        .map_err(invalid)?;
    if !missing.is_empty() {
        let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
        return Err(invalid(missing_columns(&missing, &names)));
    }
    let created_col = find(CREATED_TIMESTAMP).map_err(invalid)?;

    let mut rows = Vec::new();
    let mut rec = ::csv::StringRecord::new();
    loop {
        let n = rows.len() + 1;
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(invalid(format!("row {n}: {e}"))),
        }
        let cell = |i: usize| rec.get(i).unwrap_or("");
        let at = |col: &str, why: String| invalid(format!("row {n}, column {col}: {why}"));
        let mut key = Vec::with_capacity(key_cols.len());
        for (k, &i) in target.keys.iter().zip(&key_cols) {
            key.push(parse_key(k.ty, cell(i)).map_err(|e| at(&target.describe(&k.name), e))?);
        }
        let event_ts = match cell(event_col).trim() {
            "" => {
                return Err(at(
                    EVENT_TIMESTAMP,
                    "the event timestamp is empty; every row needs one".into(),
                ));
            }
            t => timestamp::parse(t).map_err(|e| {
                at(
                    EVENT_TIMESTAMP,
                    format!("{} is not a timestamp: {e}", quote(t)),
                )
            })?,
        };
        let created_ts = match created_col.map(|i| cell(i).trim()) {
            None | Some("") => None,
            Some(t) => Some(timestamp::parse(t).map_err(|e| {
                at(
                    CREATED_TIMESTAMP,
                    format!("{} is not a timestamp: {e}", quote(t)),
                )
            })?),
        };
        let mut values = Vec::with_capacity(feature_cols.len());
        for (f, &i) in target.view.features.iter().zip(&feature_cols) {
            values.push(parse_value(f.ty, cell(i)).map_err(|e| at(&target.describe(&f.name), e))?);
        }
        rows.push(RowWrite {
            key,
            event_ts,
            created_ts,
            values,
        });
    }
    Ok(rows)
}

/// The text of a cell in an error message, quoted and shortened.
fn quote(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        return format!("{text:?}");
    }
    let short: String = text.chars().take(MAX).collect();
    format!("{short:?}...")
}

/// Parses one join-key cell. Keys may not be empty.
pub fn parse_key(ty: KeyType, text: &str) -> Result<KeyValue, String> {
    if text.is_empty() {
        return Err("the join key is empty (null); every row needs a key".into());
    }
    KeyValue::parse(ty, text).ok_or_else(|| format!("{} is not an {ty}", quote(text)))
}

/// Parses one feature cell of type `ty`; an empty cell is null.
pub fn parse_value(ty: FeatureType, text: &str) -> Result<Value, String> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    let t = text.trim();
    let not = |what: &str| format!("{} is not {what}", quote(text));
    Ok(match ty {
        FeatureType::Int64 => Value::Int64(t.parse().map_err(|_| not("an int64"))?),
        FeatureType::Float64 => Value::Float64(t.parse().map_err(|_| not("a float64"))?),
        FeatureType::Float32 => Value::Float32(t.parse().map_err(|_| not("a float32"))?),
        FeatureType::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(not("a bool (true, false, 1 or 0)")),
        },
        FeatureType::String => Value::String(text.to_string()),
        FeatureType::Bytes => Value::Bytes(
            parse_hex(t).map_err(|e| format!("{} is not hex bytes: {e}", quote(text)))?,
        ),
        FeatureType::Timestamp => Value::Timestamp(
            timestamp::parse(t).map_err(|e| format!("{} is not a timestamp: {e}", quote(text)))?,
        ),
        FeatureType::ListFloat32 => Value::ListFloat32(parse_list(t).map_err(|e| {
            format!(
                "{} is not a list<float32> ({e}); write [1.0, 2.5] or 1.0;2.5",
                quote(text)
            )
        })?),
    })
}

/// Hex text (optionally `0x`-prefixed) to bytes.
pub fn parse_hex(t: &str) -> Result<Vec<u8>, String> {
    let h = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if !h.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    let digit = |c: u8| -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("{:?} is not a hex digit", c as char)),
        }
    };
    h.as_bytes()
        .chunks_exact(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Bytes to lower-case hex (the inverse of [`parse_hex`], without prefix).
pub fn to_hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 15) as usize] as char);
    }
    s
}

fn parse_list(t: &str) -> Result<Vec<f32>, String> {
    let inner = match t.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').ok_or("a [ without its closing ]")?,
        None if t.ends_with(']') => return Err("a ] without its opening [".into()),
        None => t,
    };
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split([',', ';'])
        .enumerate()
        .map(|(i, item)| {
            let item = item.trim();
            item.parse::<f32>()
                .map_err(|_| format!("item {} {item:?} is not a number", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(
            parse_value(FeatureType::Int64, " 42 "),
            Ok(Value::Int64(42))
        );
        assert_eq!(parse_value(FeatureType::Int64, ""), Ok(Value::Null));
        assert_eq!(
            parse_value(FeatureType::Int64, "abc").unwrap_err(),
            "\"abc\" is not an int64"
        );
        assert_eq!(
            parse_value(FeatureType::Int64, "1.5").unwrap_err(),
            "\"1.5\" is not an int64"
        );
        assert_eq!(
            parse_value(FeatureType::Float64, "2.5"),
            Ok(Value::Float64(2.5))
        );
        assert_eq!(
            parse_value(FeatureType::Float32, "-1e3"),
            Ok(Value::Float32(-1000.0))
        );
        assert!(
            parse_value(FeatureType::Float64, "x")
                .unwrap_err()
                .contains("is not a float64")
        );
        assert_eq!(
            parse_value(FeatureType::Bool, "TRUE"),
            Ok(Value::Bool(true))
        );
        assert_eq!(parse_value(FeatureType::Bool, "0"), Ok(Value::Bool(false)));
        assert!(
            parse_value(FeatureType::Bool, "yes")
                .unwrap_err()
                .contains("true, false, 1 or 0")
        );
        assert_eq!(
            parse_value(FeatureType::String, " a b "),
            Ok(Value::String(" a b ".into()))
        );
        assert_eq!(
            parse_value(FeatureType::Bytes, "0x00ff1A"),
            Ok(Value::Bytes(vec![0, 255, 26]))
        );
        assert!(
            parse_value(FeatureType::Bytes, "abc")
                .unwrap_err()
                .contains("odd number of hex digits")
        );
        assert!(
            parse_value(FeatureType::Bytes, "zz")
                .unwrap_err()
                .contains("'z' is not a hex digit")
        );
        assert_eq!(
            parse_value(FeatureType::Timestamp, "1970-01-01T00:00:01Z"),
            Ok(Value::Timestamp(1_000_000))
        );
        assert_eq!(
            parse_value(FeatureType::Timestamp, "12"),
            Ok(Value::Timestamp(12))
        );
        assert!(
            parse_value(FeatureType::Timestamp, "soon")
                .unwrap_err()
                .contains("is not a timestamp")
        );
    }

    #[test]
    fn lists() {
        let l = |t: &str| parse_value(FeatureType::ListFloat32, t);
        assert_eq!(l("[1.0, 2.5]"), Ok(Value::ListFloat32(vec![1.0, 2.5])));
        assert_eq!(
            l("1.0;2.5;-3"),
            Ok(Value::ListFloat32(vec![1.0, 2.5, -3.0]))
        );
        assert_eq!(l("[]"), Ok(Value::ListFloat32(vec![])));
        assert_eq!(l("7"), Ok(Value::ListFloat32(vec![7.0])));
        assert!(
            l("[1.0, x]")
                .unwrap_err()
                .contains("item 2 \"x\" is not a number")
        );
        assert!(l("[1.0").unwrap_err().contains("closing ]"));
        assert!(l("1.0]").unwrap_err().contains("opening ["));
        assert!(l("1;;2").unwrap_err().contains("item 2"));
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key(KeyType::Int64, "7"), Ok(KeyValue::Int64(7)));
        assert_eq!(
            parse_key(KeyType::String, " a"),
            Ok(KeyValue::String(" a".into()))
        );
        assert!(parse_key(KeyType::Int64, "").unwrap_err().contains("empty"));
        assert_eq!(
            parse_key(KeyType::Int64, "x").unwrap_err(),
            "\"x\" is not an int64"
        );
    }

    #[test]
    fn hex_round_trip() {
        let b: Vec<u8> = (0..=255).collect();
        assert_eq!(parse_hex(&to_hex(&b)), Ok(b));
    }

    #[test]
    fn long_cells_are_shortened() {
        let long = "x".repeat(500);
        let e = parse_value(FeatureType::Int64, &long).unwrap_err();
        assert!(e.len() < 100 && e.ends_with("... is not an int64"), "{e}");
    }
}
