//! The expression language of definitions: `where` filters of
//! aggregations and derived features. The language and its semantics are
//! specified in docs/EXPRESSIONS.md; in short:
//!
//! - literals (`1`, `2.5`, `'click'`, `true`, `null`), names (a column of
//!   the source, a feature of an input view or a request value, optionally
//!   qualified `view.feature`), `+ - * / %`, `= != <> < <= > >=`, `and`,
//!   `or`, `not`, `in (…)`, `is [not] null`, `if(c, a, b)`, `coalesce`,
//!   `abs`, `ln`, `exp`, `sqrt`, `least`, `greatest`, `cast(x as type)`,
//!   timestamp differences (µs);
//! - SQL's three-valued logic: null is absorbing except in `and` (false
//!   wins), `or` (true wins), `is null`, `coalesce`, `if` (a null condition
//!   takes the else branch), `least`/`greatest` (nulls skipped); a result
//!   that does not exist (overflow, division by zero, `ln(0)`, any
//!   non-finite float) is null;
//! - types are checked when the definitions are applied ([`Expr::compile`])
//!   and every error carries the column (1-based) where it was found.
//!
//! [`Expr::eval_row`] and [`Expr::eval_columns`] are the two evaluators
//! (per row online, a column at a time in exports); both call the same
//! operator functions ([`eval`]), the one definition of the semantics.

mod check;
pub mod eval;
mod lexer;
mod parser;

use std::fmt;

pub use eval::input;
pub use lexer::MAX_LEN;
pub use parser::{Ast, AstKind, BinOp, parse};
use strata_format::schema::{FeatureType, Value};

/// The types of expression values. Float32 inputs are read as float64;
/// bytes and lists are not expression values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Int64,
    Float64,
    Bool,
    String,
    Timestamp,
    /// The type of the literal `null` (it fits any other type).
    Null,
}

impl Type {
    /// The type of a feature of type `t`, if expressions can read it.
    pub fn of(t: FeatureType) -> Option<Type> {
        Some(match t {
            FeatureType::Int64 => Type::Int64,
            FeatureType::Float64 | FeatureType::Float32 => Type::Float64,
            FeatureType::Bool => Type::Bool,
            FeatureType::String => Type::String,
            FeatureType::Timestamp => Type::Timestamp,
            _ => return None,
        })
    }

    /// The feature type a value of this type is stored as (`None` for
    /// null).
    pub fn feature_type(self) -> Option<FeatureType> {
        Some(match self {
            Type::Int64 => FeatureType::Int64,
            Type::Float64 => FeatureType::Float64,
            Type::Bool => FeatureType::Bool,
            Type::String => FeatureType::String,
            Type::Timestamp => FeatureType::Timestamp,
            Type::Null => return None,
        })
    }

    /// A type by its name in a definition (`cast`, request inputs).
    pub fn parse(name: &str) -> Option<Type> {
        Some(match name.to_ascii_lowercase().as_str() {
            "int64" | "int" | "bigint" => Type::Int64,
            "float64" | "float" | "double" => Type::Float64,
            "bool" | "boolean" => Type::Bool,
            "string" | "text" => Type::String,
            "timestamp" => Type::Timestamp,
            _ => return None,
        })
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int64 | Type::Float64)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Int64 => "int64",
            Type::Float64 => "float64",
            Type::Bool => "bool",
            Type::String => "string",
            Type::Timestamp => "timestamp",
            Type::Null => "null",
        })
    }
}

/// A parse or type error at `column` (1-based, in characters) of the
/// expression. The catalog adds the view and the feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

impl ExprError {
    pub(crate) fn at(column: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ExprError {}

/// A checked expression: its tree, its type and the names it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    node: eval::Node,
    ty: Type,
    /// The names read, in input-slot order, with their types.
    inputs: Vec<(String, Type)>,
}

impl Expr {
    /// Parses and type-checks `src`; `resolve` gives the type of a name
    /// (or why it has none: an unknown column, an unsupported type).
    pub fn compile(
        src: &str,
        mut resolve: impl FnMut(&str) -> Result<Type, String>,
    ) -> Result<Expr, ExprError> {
        let ast = parse(src)?;
        let mut binder = check::Binder {
            resolve: &mut resolve,
            inputs: Vec::new(),
        };
        let (node, ty) = check::check(&ast, &mut binder)?;
        Ok(Expr {
            source: src.to_string(),
            node,
            ty,
            inputs: binder.inputs,
        })
    }

    /// [`Expr::compile`], then requires a bool (or null) result: a filter.
    pub fn predicate(
        src: &str,
        resolve: impl FnMut(&str) -> Result<Type, String>,
    ) -> Result<Expr, ExprError> {
        let e = Expr::compile(src, resolve)?;
        if !matches!(e.ty, Type::Bool | Type::Null) {
            return Err(ExprError::at(
                1,
                format!(
                    "a filter must be a condition (bool); this expression is {}",
                    e.ty
                ),
            ));
        }
        Ok(e)
    }

    /// The text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn ty(&self) -> Type {
        self.ty
    }

    /// The names it reads, in slot order: `eval_row`'s `inputs[i]` is the
    /// value of `inputs()[i]`.
    pub fn inputs(&self) -> &[(String, Type)] {
        &self.inputs
    }

    /// The value for one row (`inputs` in slot order, through [`input`]).
    pub fn eval_row(&self, inputs: &[Value]) -> Value {
        self.node.eval_row(inputs)
    }

    /// [`Expr::eval_row`] with slot `i`'s value given by `input(i)`
    /// (through [`input`]), asked when the expression reads it: a caller
    /// evaluating from its own rows gathers no input vector.
    pub fn eval_row_with(&self, input: &dyn Fn(usize) -> Value) -> Value {
        self.node.eval_with(input)
    }

    /// Whether a row passes (true; false and null do not).
    pub fn matches(&self, inputs: &[Value]) -> bool {
        self.eval_row(inputs) == Value::Bool(true)
    }

    /// The values of `rows` rows; `columns[i]` holds input `i`'s values.
    pub fn eval_columns(&self, columns: &[Vec<Value>], rows: usize) -> Vec<Value> {
        self.node.eval_columns(columns, rows)
    }
}

#[cfg(test)]
mod tests;
