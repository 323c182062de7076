//! The expression parser and type checker (crates/store/src/expr/).
//!
//! Input: expression text (lossy UTF-8) over four named inputs. Checks: no
//! panic, no unbounded recursion; a checked expression evaluates per row
//! and a column at a time to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_format::schema::Value;
use strata_store::expr::{Expr, Type};

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let Ok(e) = Expr::compile(&src, |name| match name {
        "a" => Ok(Type::Float64),
        "n" => Ok(Type::Int64),
        "s" => Ok(Type::String),
        "t" => Ok(Type::Timestamp),
        _ => Err(format!("unknown column {name:?}")),
    }) else {
        return;
    };
    let value = |name: &str, row: i64| match name {
        "a" => Value::Float64(row as f64 * 1.5),
        "n" if row == 1 => Value::Null,
        "n" => Value::Int64(row - 1),
        "s" => Value::String(format!("s{row}")),
        _ => Value::Timestamp(row * 1_000_000),
    };
    let rows: Vec<Vec<Value>> = (0..3)
        .map(|r| e.inputs().iter().map(|(n, _)| value(n.as_str(), r)).collect())
        .collect();
    let columns: Vec<Vec<Value>> = (0..e.inputs().len())
        .map(|i| rows.iter().map(|r| r[i].clone()).collect())
        .collect();
    let by_columns = e.eval_columns(&columns, rows.len());
    for (r, inputs) in rows.iter().enumerate() {
        let one = e.eval_row(inputs);
        // NaN never appears (non-finite results are null), so == is exact.
        assert_eq!(one, by_columns[r], "{src}");
    }
});
