//! Evaluation: the one definition of what every operator and function
//! computes ([`binary`], [`compare`], [`cast`], …), used per row
//! ([`Node::eval_row`], online reads and filters) and a column at a time
//! ([`Node::eval_columns`], exports). Both walk the same tree and call the
//! same functions, so they cannot disagree.
//!
//! Values reaching an operator already have the operator's type (the
//! checker inserted the widenings); null is absorbing except where stated
//! (`and`, `or`, `is null`, `coalesce`, `least`, `greatest`, `if`).

use std::borrow::Borrow;
use std::cmp::Ordering;

use super::Type;
use super::parser::BinOp;
use strata_format::schema::Value;

/// One-argument math functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Math {
    Abs,
    Ln,
    Exp,
    Sqrt,
}

/// A checked expression tree: names are input slots, operands have their
/// operator's types.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Lit(Value),
    Input(usize),
    Neg(Box<Node>),
    Not(Box<Node>),
    Arith(BinOp, Box<Node>, Box<Node>),
    Cmp(BinOp, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    IsNull(bool, Box<Node>),
    In(bool, Box<Node>, Vec<Node>),
    If(Box<Node>, Box<Node>, Box<Node>),
    Coalesce(Vec<Node>),
    Math(Math, Box<Node>),
    /// `greatest` (true) or `least` (false).
    Extreme(bool, Vec<Node>),
    Cast(Type, Box<Node>),
}

/// An input value as expressions see it: float32 widened to float64, and
/// a NaN or infinite float as null.
pub fn input(v: &Value) -> Value {
    match v {
        Value::Float32(f) => float(f64::from(*f)),
        Value::Float64(f) => float(*f),
        v => v.clone(),
    }
}

/// A float result: null unless finite.
fn float(f: f64) -> Value {
    if f.is_finite() {
        Value::Float64(f)
    } else {
        Value::Null
    }
}

fn int(x: Option<i64>) -> Value {
    x.map_or(Value::Null, Value::Int64)
}

/// `-v`.
pub fn negate(v: &Value) -> Value {
    match v {
        Value::Int64(x) => int(x.checked_neg()),
        Value::Float64(x) => float(-x),
        _ => Value::Null,
    }
}

/// Three-valued `not`.
pub fn not(v: &Value) -> Value {
    match v {
        Value::Bool(b) => Value::Bool(!b),
        _ => Value::Null,
    }
}

/// Three-valued `and`: false wins over null.
pub fn and(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
        (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
        _ => Value::Null,
    }
}

/// Three-valued `or`: true wins over null.
pub fn or(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Bool(true), _) | (_, Value::Bool(true)) => Value::Bool(true),
        (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
        _ => Value::Null,
    }
}

/// `a op b` for `+ - * / %`: null if either is null, or if the result does
/// not exist (integer overflow, division by zero, a non-finite float).
pub fn binary(op: BinOp, a: &Value, b: &Value) -> Value {
    use Value::{Float64 as F, Int64 as I, Timestamp as T};
    match (op, a, b) {
        (BinOp::Add, I(x), I(y)) => int(x.checked_add(*y)),
        (BinOp::Sub, I(x), I(y)) => int(x.checked_sub(*y)),
        (BinOp::Mul, I(x), I(y)) => int(x.checked_mul(*y)),
        (BinOp::Rem, I(x), I(y)) => int(x.checked_rem(*y)),
        (BinOp::Add, F(x), F(y)) => float(x + y),
        (BinOp::Sub, F(x), F(y)) => float(x - y),
        (BinOp::Mul, F(x), F(y)) => float(x * y),
        (BinOp::Div, F(x), F(y)) => float(x / y),
        (BinOp::Rem, F(x), F(y)) => float(x % y),
        (BinOp::Sub, T(x), T(y)) => int(x.checked_sub(*y)),
        (BinOp::Add, T(x), I(y)) | (BinOp::Add, I(y), T(x)) => {
            x.checked_add(*y).map_or(Value::Null, T)
        }
        (BinOp::Sub, T(x), I(y)) => x.checked_sub(*y).map_or(Value::Null, T),
        _ => Value::Null,
    }
}

/// The order of two non-null values of one type; `None` for null or
/// values that do not compare.
pub fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int64(x), Value::Int64(y)) | (Value::Timestamp(x), Value::Timestamp(y)) => {
            Some(x.cmp(y))
        }
        (Value::Float64(x), Value::Float64(y)) => x.partial_cmp(y),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// `a op b` for comparisons: null if either is null.
pub fn compare(op: BinOp, a: &Value, b: &Value) -> Value {
    let Some(o) = order(a, b) else {
        return Value::Null;
    };
    Value::Bool(match op {
        BinOp::Eq => o == Ordering::Equal,
        BinOp::Ne => o != Ordering::Equal,
        BinOp::Lt => o == Ordering::Less,
        BinOp::Le => o != Ordering::Greater,
        BinOp::Gt => o == Ordering::Greater,
        _ => o != Ordering::Less,
    })
}

/// `x in (items)`: true if an item equals `x`; otherwise null if `x` or an
/// item is null; otherwise false. `not in` is its negation.
pub fn in_list(negated: bool, x: &Value, items: impl Iterator<Item = impl Borrow<Value>>) -> Value {
    if x.is_null() {
        return Value::Null;
    }
    let mut unknown = false;
    for it in items {
        match order(x, it.borrow()) {
            Some(Ordering::Equal) => return Value::Bool(!negated),
            None => unknown = true,
            Some(_) => {}
        }
    }
    if unknown {
        Value::Null
    } else {
        Value::Bool(negated)
    }
}

/// `abs`, `ln`, `exp`, `sqrt`; `ln` of x ≤ 0 and `sqrt` of x < 0 are null.
pub fn math(m: Math, v: &Value) -> Value {
    match (m, v) {
        (Math::Abs, Value::Int64(x)) => int(x.checked_abs()),
        (Math::Abs, Value::Float64(x)) => float(x.abs()),
        (Math::Ln, Value::Float64(x)) => float(x.ln()),
        (Math::Exp, Value::Float64(x)) => float(x.exp()),
        (Math::Sqrt, Value::Float64(x)) => float(x.sqrt()),
        _ => Value::Null,
    }
}

/// `greatest` / `least`: nulls are skipped; null only if every value is.
pub fn extreme<V: Borrow<Value>>(greatest: bool, values: impl Iterator<Item = V>) -> Value {
    let mut best: Option<V> = None;
    for v in values.filter(|v| !v.borrow().is_null()) {
        best = match best {
            None => Some(v),
            Some(b) => {
                let o = order(v.borrow(), b.borrow());
                let better = if greatest {
                    o == Some(Ordering::Greater)
                } else {
                    o == Some(Ordering::Less)
                };
                Some(if better { v } else { b })
            }
        };
    }
    best.map_or(Value::Null, |b| b.borrow().clone())
}

/// `cast(v as to)`: null when the value has no image (a float out of
/// int64's range, text that does not parse).
pub fn cast(to: Type, v: &Value) -> Value {
    use Value as V;
    match (to, v) {
        (_, V::Null) => V::Null,
        (Type::Int64, V::Int64(x) | V::Timestamp(x)) => V::Int64(*x),
        (Type::Int64, V::Float64(f)) => int(float_to_int(*f)),
        (Type::Int64, V::Bool(b)) => V::Int64(i64::from(*b)),
        (Type::Int64, V::String(s)) => int(s.trim().parse().ok()),
        (Type::Float64, V::Int64(x) | V::Timestamp(x)) => V::Float64(*x as f64),
        (Type::Float64, V::Float64(f)) => float(*f),
        (Type::Float64, V::Bool(b)) => V::Float64(f64::from(u8::from(*b))),
        (Type::Float64, V::String(s)) => s.trim().parse().map_or(V::Null, float),
        (Type::Bool, V::Int64(x)) => V::Bool(*x != 0),
        (Type::Bool, V::Float64(f)) => V::Bool(*f != 0.0),
        (Type::Bool, V::Bool(b)) => V::Bool(*b),
        (Type::Bool, V::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => V::Bool(true),
            "false" => V::Bool(false),
            _ => V::Null,
        },
        (Type::String, V::Int64(x)) => V::String(x.to_string()),
        (Type::String, V::Float64(f)) => V::String(f.to_string()),
        (Type::String, V::Bool(b)) => V::String(b.to_string()),
        (Type::String, V::String(s)) => V::String(s.clone()),
        (Type::String, V::Timestamp(t)) => V::String(rfc3339(*t)),
        (Type::Timestamp, V::Int64(x) | V::Timestamp(x)) => V::Timestamp(*x),
        (Type::Timestamp, V::Float64(f)) => float_to_int(*f).map_or(V::Null, V::Timestamp),
        (Type::Timestamp, V::String(s)) => chrono::DateTime::parse_from_rfc3339(s.trim())
            .map_or(V::Null, |d| V::Timestamp(d.timestamp_micros())),
        _ => V::Null,
    }
}

/// `f` truncated toward zero, if it fits an int64.
fn float_to_int(f: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    let t = f.trunc();
    (t.is_finite() && (-LIMIT..LIMIT).contains(&t)).then_some(t as i64)
}

fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |d| d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    )
}

impl Node {
    /// The value for one row; `inputs[slot]` is the value of each input
    /// (already passed through [`input`]).
    pub fn eval_row(&self, inputs: &[Value]) -> Value {
        self.eval_with(&|i| inputs.get(i).cloned().unwrap_or(Value::Null))
    }

    /// [`Node::eval_row`] with input slot `i`'s value given by `input(i)`
    /// (through [`input`]) when the node reads it, so that a caller need
    /// not gather the inputs first.
    pub fn eval_with(&self, input: &dyn Fn(usize) -> Value) -> Value {
        let ev = |n: &Node| n.eval_with(input);
        match self {
            Node::Lit(v) => v.clone(),
            Node::Input(i) => input(*i),
            Node::Neg(e) => negate(&ev(e)),
            Node::Not(e) => not(&ev(e)),
            Node::Arith(op, a, b) => binary(*op, &ev(a), &ev(b)),
            Node::Cmp(op, a, b) => compare(*op, &ev(a), &ev(b)),
            Node::And(a, b) => and(&ev(a), &ev(b)),
            Node::Or(a, b) => or(&ev(a), &ev(b)),
            Node::IsNull(neg, e) => Value::Bool(ev(e).is_null() != *neg),
            Node::In(neg, e, list) => in_list(*neg, &ev(e), list.iter().map(ev)),
            Node::If(c, a, b) => {
                if ev(c) == Value::Bool(true) {
                    ev(a)
                } else {
                    ev(b)
                }
            }
            Node::Coalesce(list) => list
                .iter()
                .map(ev)
                .find(|v| !v.is_null())
                .unwrap_or(Value::Null),
            Node::Math(m, e) => math(*m, &ev(e)),
            Node::Extreme(g, list) => extreme(*g, list.iter().map(ev)),
            Node::Cast(t, e) => cast(*t, &ev(e)),
        }
    }

    /// The values of `rows` rows, a column at a time: `columns[slot]` holds
    /// each input's values (passed through [`input`]).
    pub fn eval_columns(&self, columns: &[Vec<Value>], rows: usize) -> Vec<Value> {
        let ev = |n: &Node| n.eval_columns(columns, rows);
        let map1 = |e: &Node, f: &dyn Fn(&Value) -> Value| ev(e).iter().map(f).collect();
        let map2 = |a: &Node, b: &Node, f: &dyn Fn(&Value, &Value) -> Value| {
            ev(a)
                .iter()
                .zip(ev(b).iter())
                .map(|(x, y)| f(x, y))
                .collect()
        };
        let many = |list: &[Node]| -> Vec<Vec<Value>> { list.iter().map(ev).collect() };
        match self {
            Node::Lit(v) => vec![v.clone(); rows],
            Node::Input(i) => columns
                .get(*i)
                .cloned()
                .unwrap_or_else(|| vec![Value::Null; rows]),
            Node::Neg(e) => map1(e, &negate),
            Node::Not(e) => map1(e, &not),
            Node::Arith(op, a, b) => map2(a, b, &|x, y| binary(*op, x, y)),
            Node::Cmp(op, a, b) => map2(a, b, &|x, y| compare(*op, x, y)),
            Node::And(a, b) => map2(a, b, &and),
            Node::Or(a, b) => map2(a, b, &or),
            Node::IsNull(neg, e) => map1(e, &|v| Value::Bool(v.is_null() != *neg)),
            Node::In(neg, e, list) => {
                let items = many(list);
                ev(e)
                    .iter()
                    .enumerate()
                    .map(|(r, x)| in_list(*neg, x, items.iter().map(|c| &c[r])))
                    .collect()
            }
            Node::If(c, a, b) => {
                let (c, a, b) = (ev(c), ev(a), ev(b));
                c.into_iter()
                    .zip(a.into_iter().zip(b))
                    .map(|(c, (a, b))| if c == Value::Bool(true) { a } else { b })
                    .collect()
            }
            Node::Coalesce(list) => {
                let cols = many(list);
                (0..rows)
                    .map(|r| {
                        cols.iter()
                            .map(|c| &c[r])
                            .find(|v| !v.is_null())
                            .cloned()
                            .unwrap_or(Value::Null)
                    })
                    .collect()
            }
            Node::Math(m, e) => map1(e, &|v| math(*m, v)),
            Node::Extreme(g, list) => {
                let cols = many(list);
                (0..rows)
                    .map(|r| extreme(*g, cols.iter().map(|c| &c[r])))
                    .collect()
            }
            Node::Cast(t, e) => map1(e, &|v| cast(*t, v)),
        }
    }
}
