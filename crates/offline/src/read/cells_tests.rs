//! Text and JSON cells of every type.

use super::*;
use strata_format::schema::{KeyValue, Value};

/// A text cell read as a feature value.
fn parse_value(ty: FeatureType, text: &str) -> Result<Value, String> {
    value(parse_text(CellType::of(ty), text)?)
}

fn value(c: Cell<'_>) -> Result<Value, String> {
    Ok(match c {
        Cell::Null => Value::Null,
        Cell::Int(x) => Value::Int64(x),
        Cell::F64(x) => Value::Float64(x),
        Cell::F32(x) => Value::Float32(x),
        Cell::Bool(x) => Value::Bool(x),
        Cell::Str(s) => Value::String(s.into()),
        Cell::Bytes(b) => Value::Bytes(b),
        Cell::Time(t) => Value::Timestamp(t),
        Cell::List(l) => Value::ListFloat32(l),
        Cell::Value(v) => v,
    })
}

/// A text cell read as a join key (an empty key is refused by the readers'
/// callers, see `read_tests.rs`).
fn parse_key(ty: KeyType, text: &str) -> Result<KeyValue, String> {
    match value(parse_text(CellType::of_key(ty), text)?)? {
        Value::Int64(x) => Ok(KeyValue::Int64(x)),
        Value::String(s) => Ok(KeyValue::String(s)),
        _ => Err("the join key is empty (null); every row needs a key".into()),
    }
}

#[test]
fn collection_cells_are_json_and_bad_ones_say_how_to_write_them() {
    assert_eq!(
        parse_value(FeatureType::ListString, r#"["a", "b"]"#),
        Ok(Value::ListString(vec!["a".into(), "b".into()]))
    );
    assert_eq!(
        parse_value(FeatureType::ListInt64, "[]"),
        Ok(Value::ListInt64(vec![]))
    );
    assert_eq!(parse_value(FeatureType::ListFloat64, ""), Ok(Value::Null));
    let e = parse_value(FeatureType::ListInt64, "[1, 2.5]").unwrap_err();
    assert!(e.contains("item 2 2.5 is not an int64"), "{e}");
    let e = parse_value(FeatureType::ListString, "a;b").unwrap_err();
    assert!(e.contains(r#"write ["a","b"]"#), "{e}");
    let e = parse_value(FeatureType::MapStringInt64, r#"{"a": null}"#).unwrap_err();
    assert!(e.contains("is not an int64"), "{e}");
    assert_eq!(
        parse_value(FeatureType::MapStringFloat64, r#"{"a": 1.5, "b": 2}"#),
        Ok(Value::MapStringFloat64(vec![
            ("a".into(), 1.5),
            ("b".into(), 2.0)
        ]))
    );
    let e = parse_value(FeatureType::MapStringFloat64, r#"{"a": "x"}"#).unwrap_err();
    assert!(e.contains("is not a number"), "{e}");
    let e = parse_value(FeatureType::MapStringFloat64, "a=1").unwrap_err();
    assert!(e.contains(r#"write {"a":2.5,"b":1}"#), "{e}");
    assert_eq!(
        value(
            from_json(
                CellType::of(FeatureType::ListString),
                &serde_json::json!(["x"])
            )
            .unwrap()
        ),
        Ok(Value::ListString(vec!["x".into()]))
    );
    assert!(
        from_json(
            CellType::of(FeatureType::ListString),
            &serde_json::json!([null])
        )
        .is_err()
    );
}

#[test]
fn cells() {
    for (ty, text, want) in [
        (FeatureType::Int64, " 42 ", Value::Int64(42)),
        (FeatureType::Int64, "", Value::Null),
        (FeatureType::Float64, "2.5", Value::Float64(2.5)),
        (FeatureType::Float32, "-1e3", Value::Float32(-1000.0)),
        (FeatureType::Bool, "TRUE", Value::Bool(true)),
        (FeatureType::Bool, "0", Value::Bool(false)),
        (FeatureType::String, " a b ", Value::String(" a b ".into())),
        (
            FeatureType::Bytes,
            "0x00ff1A",
            Value::Bytes(vec![0, 255, 26]),
        ),
        (
            FeatureType::Timestamp,
            "1970-01-01T00:00:01Z",
            Value::Timestamp(1_000_000),
        ),
        (FeatureType::Timestamp, "12", Value::Timestamp(12)),
    ] {
        assert_eq!(parse_value(ty, text), Ok(want), "{ty} {text:?}");
    }
    for text in ["abc", "1.5"] {
        assert_eq!(
            parse_value(FeatureType::Int64, text).unwrap_err(),
            format!("{text:?} is not an int64")
        );
    }
    for (ty, text, says) in [
        (FeatureType::Float64, "x", "is not a float64"),
        (FeatureType::Bool, "yes", "true, false, 1 or 0"),
        (FeatureType::Bytes, "abc", "odd number of hex digits"),
        (FeatureType::Bytes, "zz", "'z' is not a hex digit"),
        (FeatureType::Timestamp, "soon", "is not a timestamp"),
    ] {
        let e = parse_value(ty, text).unwrap_err();
        assert!(e.contains(says), "{ty} {text:?}: {e}");
    }
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
