//! The type checker: turns a syntax tree into a typed [`Node`] tree, with
//! names bound to input slots and numeric promotions made explicit, so
//! that evaluation never meets a value of an unexpected type.

use super::eval::{Math, Node};
use super::parser::{Ast, AstKind, BinOp};
use super::{ExprError, Type};
use strata_format::schema::Value;

/// Binds names to types and input slots while checking.
pub(super) struct Binder<'a> {
    pub resolve: &'a mut dyn FnMut(&str) -> Result<Type, String>,
    /// The names bound so far, in slot order, with their types.
    pub inputs: Vec<(String, Type)>,
}

impl Binder<'_> {
    fn bind(&mut self, name: &str, col: usize) -> Result<(usize, Type), ExprError> {
        if let Some(i) = self.inputs.iter().position(|(n, _)| n == name) {
            return Ok((i, self.inputs[i].1));
        }
        let ty = (self.resolve)(name).map_err(|m| ExprError::at(col, m))?;
        self.inputs.push((name.to_string(), ty));
        Ok((self.inputs.len() - 1, ty))
    }
}

const FUNCTIONS: &str = "if, coalesce, abs, ln, exp, sqrt, least, greatest";

/// The typed tree of `ast` and its type.
pub(super) fn check(ast: &Ast, b: &mut Binder<'_>) -> Result<(Node, Type), ExprError> {
    let col = ast.col;
    Ok(match &ast.kind {
        AstKind::Lit(v) => (
            Node::Lit(v.clone()),
            v.feature_type().and_then(Type::of).unwrap_or(Type::Null),
        ),
        AstKind::Name(n) => {
            let (slot, ty) = b.bind(n, col)?;
            (Node::Input(slot), ty)
        }
        AstKind::Neg(e) => {
            let (n, t) = check(e, b)?;
            if !t.is_numeric() && t != Type::Null {
                return Err(ExprError::at(col, format!("cannot negate a {t}")));
            }
            (Node::Neg(Box::new(n)), t)
        }
        AstKind::Not(e) => {
            let (n, t) = check(e, b)?;
            want_bool(t, e.col, "not")?;
            (Node::Not(Box::new(n)), Type::Bool)
        }
        AstKind::Binary(op, l, r) => binary(*op, col, l, r, b)?,
        AstKind::IsNull { negated, e } => {
            let (n, _) = check(e, b)?;
            (Node::IsNull(*negated, Box::new(n)), Type::Bool)
        }
        AstKind::In { negated, e, list } => {
            let mut all = vec![check(e, b)?];
            for x in list {
                all.push(check(x, b)?);
            }
            let (mut nodes, _) = unify(all, col, "in")?;
            let e = nodes.remove(0);
            (Node::In(*negated, Box::new(e), nodes), Type::Bool)
        }
        AstKind::Cast(e, to) => {
            let (n, from) = check(e, b)?;
            let refused = matches!(
                (from, to),
                (Type::Timestamp, Type::Bool) | (Type::Bool, Type::Timestamp)
            );
            if refused {
                return Err(ExprError::at(col, format!("cannot cast a {from} to {to}")));
            }
            (Node::Cast(*to, Box::new(n)), *to)
        }
        AstKind::Call(f, args) => call(f, col, args, b)?,
    })
}

fn want_bool(t: Type, col: usize, what: &str) -> Result<(), ExprError> {
    if t == Type::Bool || t == Type::Null {
        Ok(())
    } else {
        Err(ExprError::at(
            col,
            format!("{what} needs a bool, found {t}"),
        ))
    }
}

/// `node` of type `from` as a value of type `to` (an int widened to float).
fn widen(node: Node, from: Type, to: Type) -> Node {
    if from == Type::Int64 && to == Type::Float64 {
        Node::Cast(Type::Float64, Box::new(node))
    } else {
        node
    }
}

/// The common type of several operands (null fits any type; ints widen
/// to float), and the operands converted to it.
fn unify(items: Vec<(Node, Type)>, col: usize, what: &str) -> Result<(Vec<Node>, Type), ExprError> {
    let mut common = Type::Null;
    for (_, t) in &items {
        common = match (common, *t) {
            (Type::Null, t) | (t, Type::Null) => t,
            (a, b) if a == b => a,
            (a, b) if a.is_numeric() && b.is_numeric() => Type::Float64,
            (a, b) => {
                return Err(ExprError::at(
                    col,
                    format!("{what} mixes {a} and {b}; cast one of them"),
                ));
            }
        };
    }
    let nodes = items
        .into_iter()
        .map(|(n, t)| widen(n, t, common))
        .collect();
    Ok((nodes, common))
}

fn binary(
    op: BinOp,
    col: usize,
    l: &Ast,
    r: &Ast,
    b: &mut Binder<'_>,
) -> Result<(Node, Type), ExprError> {
    let (ln, lt) = check(l, b)?;
    let (rn, rt) = check(r, b)?;
    let bx = |n| Box::new(n);
    let sym = op.symbol();
    match op {
        BinOp::And | BinOp::Or => {
            want_bool(lt, l.col, sym)?;
            want_bool(rt, r.col, sym)?;
            let node = if op == BinOp::And {
                Node::And(bx(ln), bx(rn))
            } else {
                Node::Or(bx(ln), bx(rn))
            };
            Ok((node, Type::Bool))
        }
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let (mut n, _) = unify(vec![(ln, lt), (rn, rt)], col, sym)?;
            let (rn, ln) = (n.remove(1), n.remove(0));
            Ok((Node::Cmp(op, bx(ln), bx(rn)), Type::Bool))
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
            let time = |t: Type| t == Type::Timestamp;
            let int = |t: Type| t == Type::Int64 || t == Type::Null;
            // Time arithmetic: timestamp − timestamp is µs (int64);
            // timestamp ± int64 µs is a timestamp.
            let timed = match op {
                BinOp::Sub if time(lt) && (time(rt) || rt == Type::Null) => Some(Type::Int64),
                BinOp::Sub | BinOp::Add if time(lt) && int(rt) => Some(Type::Timestamp),
                BinOp::Add if int(lt) && time(rt) => Some(Type::Timestamp),
                _ if time(lt) || time(rt) => {
                    return Err(ExprError::at(
                        col,
                        format!(
                            "{lt} {sym} {rt} is not defined (timestamp − timestamp gives µs; timestamp ± int64 µs gives a timestamp)"
                        ),
                    ));
                }
                _ => None,
            };
            if let Some(t) = timed {
                return Ok((Node::Arith(op, bx(ln), bx(rn)), t));
            }
            for (t, c) in [(lt, l.col), (rt, r.col)] {
                if !t.is_numeric() && t != Type::Null {
                    return Err(ExprError::at(c, format!("{sym} needs numbers, found {t}")));
                }
            }
            let (mut n, common) = if op == BinOp::Div {
                // Division is always float64 (7 / 2 = 3.5).
                let f = Type::Float64;
                (vec![widen(ln, lt, f), widen(rn, rt, f)], f)
            } else {
                unify(vec![(ln, lt), (rn, rt)], col, sym)?
            };
            let (rn, ln) = (n.remove(1), n.remove(0));
            Ok((Node::Arith(op, bx(ln), bx(rn)), common))
        }
    }
}

fn call(f: &str, col: usize, args: &[Ast], b: &mut Binder<'_>) -> Result<(Node, Type), ExprError> {
    let mut typed = Vec::with_capacity(args.len());
    for a in args {
        typed.push(check(a, b)?);
    }
    let arity = |want: usize| {
        if typed.len() == want {
            Ok(())
        } else {
            Err(ExprError::at(
                col,
                format!("{f} takes {want} argument(s), given {}", typed.len()),
            ))
        }
    };
    let numeric = |t: Type, i: usize| {
        if t.is_numeric() || t == Type::Null {
            Ok(())
        } else {
            Err(ExprError::at(
                args.get(i).map_or(col, |a| a.col),
                format!("{f} needs a number, found {t}"),
            ))
        }
    };
    match f {
        "if" => {
            arity(3)?;
            let mut it = typed.into_iter();
            let (c, ct) = it.next().unwrap_or((Node::Lit(Value::Null), Type::Null));
            want_bool(
                ct,
                args.first().map_or(col, |a| a.col),
                "the condition of if",
            )?;
            let (mut n, t) = unify(it.collect(), col, "if")?;
            let (no, yes) = (n.remove(1), n.remove(0));
            Ok((Node::If(Box::new(c), Box::new(yes), Box::new(no)), t))
        }
        "coalesce" | "least" | "greatest" => {
            if typed.is_empty() {
                return Err(ExprError::at(
                    col,
                    format!("{f} needs at least one argument"),
                ));
            }
            let (n, t) = unify(typed, col, f)?;
            Ok(match f {
                "coalesce" => (Node::Coalesce(n), t),
                g => (Node::Extreme(g == "greatest", n), t),
            })
        }
        "abs" | "ln" | "exp" | "sqrt" => {
            arity(1)?;
            let (n, t) = typed.remove_first();
            numeric(t, 0)?;
            if f == "abs" {
                return Ok((Node::Math(Math::Abs, Box::new(n)), t));
            }
            let m = match f {
                "ln" => Math::Ln,
                "exp" => Math::Exp,
                _ => Math::Sqrt,
            };
            let n = widen(n, t, Type::Float64);
            let n = if t == Type::Null {
                Node::Cast(Type::Float64, Box::new(n))
            } else {
                n
            };
            Ok((Node::Math(m, Box::new(n)), Type::Float64))
        }
        _ => Err(ExprError::at(
            col,
            format!("unknown function {f} ({FUNCTIONS}, cast(x as type))"),
        )),
    }
}

trait RemoveFirst {
    fn remove_first(self) -> (Node, Type);
}

impl RemoveFirst for Vec<(Node, Type)> {
    fn remove_first(self) -> (Node, Type) {
        self.into_iter()
            .next()
            .unwrap_or((Node::Lit(Value::Null), Type::Null))
    }
}
