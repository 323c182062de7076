//! Parsing of command-line values: timestamps and entity keys.

use strata::catalog::JoinKey;
use strata::format::schema::{KeyType, KeyValue};
use strata::offline::timestamp;

/// A `T` argument: RFC 3339, a date, or integer microseconds (clap value parser).
pub fn time_arg(text: &str) -> Result<i64, String> {
    timestamp::parse(text).map_err(|e| {
        if e.contains(timestamp::HINT) {
            e
        } else {
            format!("{e}; {}", timestamp::HINT)
        }
    })
}

/// Parses `--request NAME=VALUE` (the value is parsed by the store, as
/// the type the derived view declares).
pub fn request_arg(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!(
            "{text:?} is not NAME=VALUE (e.g. --request txn_amount=12.5)"
        )),
    }
}

/// Parses `--key` against the join keys of a view or entity.
///
/// One join key: the whole text is the value (a string key may contain
/// commas). Several: values separated by commas, in join-key order; write a
/// comma inside a string value as `\,` and a backslash as `\\`.
/// The keys of `get`: every `--key`, then the lines of `--keys FILE` (blank
/// lines skipped), as the user wrote them.
pub fn key_list(
    keys: Vec<String>,
    file: Option<&std::path::Path>,
) -> Result<Vec<String>, super::CliError> {
    let mut all = keys;
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| super::CliError::Usage(format!("--keys {}: {e}", f.display())))?;
        all.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    if all.is_empty() {
        return Err(super::CliError::Usage(
            "no keys: pass --key K (repeatable) or --keys FILE".into(),
        ));
    }
    Ok(all)
}

pub fn key_arg(cols: &[JoinKey], text: &str) -> Result<Vec<KeyValue>, String> {
    let shape = || {
        cols.iter()
            .map(|c| format!("{}: {}", c.name, c.ty))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let parts = if cols.len() == 1 {
        vec![text.to_string()]
    } else {
        split_escaped(text)?
    };
    if parts.len() != cols.len() {
        return Err(format!(
            "--key {text:?} has {} value(s), but the key has {} column(s) ({}); give them as {}",
            parts.len(),
            cols.len(),
            shape(),
            (1..=cols.len())
                .map(|i| format!("K{i}"))
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    cols.iter()
        .zip(parts)
        .map(|(c, p)| {
            KeyValue::parse(c.ty, &p).ok_or_else(|| match c.ty {
                KeyType::Int64 => {
                    format!("--key: {} is int64, and {p:?} is not an integer", c.name)
                }
                KeyType::String => format!("--key: {p:?} is not a valid {}", c.name),
            })
        })
        .collect()
}

/// Splits on `,`, honouring `\,` and `\\`.
fn split_escaped(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ (',' | '\\')) => cur.push(e),
                _ => {
                    return Err(format!(
                        "--key {text:?}: a backslash must be followed by , or \\"
                    ));
                }
            },
            ',' => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(types: &[KeyType]) -> Vec<JoinKey> {
        types
            .iter()
            .enumerate()
            .map(|(i, t)| JoinKey {
                name: format!("k{i}"),
                ty: *t,
            })
            .collect()
    }

    #[test]
    fn keys() {
        assert_eq!(
            key_arg(&cols(&[KeyType::Int64]), "42"),
            Ok(vec![KeyValue::Int64(42)])
        );
        assert_eq!(
            key_arg(&cols(&[KeyType::String]), "a,b"),
            Ok(vec![KeyValue::String("a,b".into())])
        );
        assert_eq!(
            key_arg(&cols(&[KeyType::Int64, KeyType::String]), "1,x\\,y\\\\"),
            Ok(vec![KeyValue::Int64(1), KeyValue::String("x,y\\".into())])
        );
        let e = key_arg(&cols(&[KeyType::Int64, KeyType::String]), "1").unwrap_err();
        assert!(e.contains("has 1 value(s), but the key has 2 column(s) (k0: int64, k1: string); give them as K1,K2"), "{e}");
        let e = key_arg(&cols(&[KeyType::Int64]), "abc").unwrap_err();
        assert_eq!(e, "--key: k0 is int64, and \"abc\" is not an integer");
        assert!(key_arg(&cols(&[KeyType::Int64, KeyType::Int64]), "1\\x,2").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(time_arg("1970-01-01T00:00:01Z"), Ok(1_000_000));
        assert_eq!(time_arg("5"), Ok(5));
        assert!(
            time_arg("2024-01-01T00:00:00")
                .unwrap_err()
                .contains("no UTC offset")
        );
        assert!(time_arg("nope").unwrap_err().contains(timestamp::HINT));
    }
}
