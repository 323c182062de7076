//! The syntax tree of an expression and its recursive-descent parser.
//!
//! Precedence, lowest first: `or`; `and`; `not`; comparisons, `is [not]
//! null`, `[not] in (…)`; `+ -`; `* / %`; unary `-`. Keywords are
//! case-insensitive.

use super::ExprError;
use super::Type;
use super::lexer::{Tok, tokens};
use strata_format::schema::Value;

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// A node of the syntax tree; `col` is where it starts (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Ast {
    pub col: usize,
    pub kind: AstKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AstKind {
    /// `1`, `2.5`, `'a'`, `true`, `null`.
    Lit(Value),
    /// A column or feature, as written (`amount`, `stats.amount_max_30d`).
    Name(String),
    Neg(Box<Ast>),
    Not(Box<Ast>),
    Binary(BinOp, Box<Ast>, Box<Ast>),
    /// `e is null` (`negated`: `is not null`).
    IsNull {
        negated: bool,
        e: Box<Ast>,
    },
    /// `e in (a, b)` (`negated`: `not in`).
    In {
        negated: bool,
        e: Box<Ast>,
        list: Vec<Ast>,
    },
    /// `f(args)`, the function name lower-cased.
    Call(String, Vec<Ast>),
    /// `cast(e as type)`.
    Cast(Box<Ast>, Type),
}

/// Nesting deeper than this is refused (the parser recurses).
const MAX_DEPTH: usize = 64;

/// Parses `src`.
pub fn parse(src: &str) -> Result<Ast, ExprError> {
    let toks = tokens(src)?;
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
    };
    let e = p.or()?;
    let (t, col) = p.peek();
    if *t != Tok::End {
        return Err(ExprError::at(
            col,
            format!("unexpected {} after a complete expression", t.show()),
        ));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    depth: usize,
}

fn keyword(t: &Tok, k: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(k))
}

/// Words that cannot name a column.
const RESERVED: [&str; 9] = [
    "and", "or", "not", "in", "is", "null", "true", "false", "as",
];

impl Parser {
    fn peek(&self) -> (&Tok, usize) {
        let i = self.at.min(self.toks.len() - 1);
        (&self.toks[i].0, self.toks[i].1)
    }

    fn peek2(&self) -> &Tok {
        let i = (self.at + 1).min(self.toks.len() - 1);
        &self.toks[i].0
    }

    fn bump(&mut self) -> (Tok, usize) {
        let i = self.at.min(self.toks.len() - 1);
        self.at += 1;
        self.toks[i].clone()
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        if keyword(self.peek().0, k) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<usize, ExprError> {
        let (t, col) = self.peek();
        if t == want {
            self.at += 1;
            Ok(col)
        } else {
            Err(ExprError::at(
                col,
                format!("expected {what}, found {}", t.show()),
            ))
        }
    }

    fn deeper(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::at(
                self.peek().1,
                format!("the expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Ast, ExprError> {
        self.deeper()?;
        let mut l = self.and()?;
        while keyword(self.peek().0, "or") {
            let col = self.bump().1;
            let r = self.and()?;
            l = bin(BinOp::Or, col, l, r);
        }
        self.depth -= 1;
        Ok(l)
    }

    fn and(&mut self) -> Result<Ast, ExprError> {
        let mut l = self.not()?;
        while keyword(self.peek().0, "and") {
            let col = self.bump().1;
            let r = self.not()?;
            l = bin(BinOp::And, col, l, r);
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Ast, ExprError> {
        let (t, col) = self.peek();
        if keyword(t, "not") {
            self.at += 1;
            self.deeper()?;
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Ast {
                col,
                kind: AstKind::Not(Box::new(e)),
            });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Ast, ExprError> {
        let l = self.additive()?;
        let (t, op_col) = self.peek();
        let op = match t {
            Tok::Eq => Some(BinOp::Eq),
            Tok::Ne => Some(BinOp::Ne),
            Tok::Lt => Some(BinOp::Lt),
            Tok::Le => Some(BinOp::Le),
            Tok::Gt => Some(BinOp::Gt),
            Tok::Ge => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.at += 1;
            let r = self.additive()?;
            return Ok(bin(op, op_col, l, r));
        }
        let col = l.col;
        if self.eat_keyword("is") {
            let negated = self.eat_keyword("not");
            let (t, c) = self.peek();
            if !keyword(t, "null") {
                return Err(ExprError::at(
                    c,
                    format!("expected null after is, found {}", t.show()),
                ));
            }
            self.at += 1;
            return Ok(Ast {
                col,
                kind: AstKind::IsNull {
                    negated,
                    e: Box::new(l),
                },
            });
        }
        let negated = keyword(self.peek().0, "not") && keyword(self.peek2(), "in");
        if negated {
            self.at += 1;
        }
        if self.eat_keyword("in") {
            self.expect(&Tok::LParen, "( after in")?;
            let list = self.list()?;
            if list.is_empty() {
                return Err(ExprError::at(col, "in () needs at least one value"));
            }
            return Ok(Ast {
                col,
                kind: AstKind::In {
                    negated,
                    e: Box::new(l),
                    list,
                },
            });
        }
        Ok(l)
    }

    /// Comma-separated expressions up to and including `)`.
    fn list(&mut self) -> Result<Vec<Ast>, ExprError> {
        let mut out = Vec::new();
        if *self.peek().0 == Tok::RParen {
            self.at += 1;
            return Ok(out);
        }
        loop {
            out.push(self.or()?);
            let (t, col) = self.bump();
            match t {
                Tok::Comma => {}
                Tok::RParen => return Ok(out),
                t => {
                    return Err(ExprError::at(
                        col,
                        format!("expected , or ), found {}", t.show()),
                    ));
                }
            }
        }
    }

    fn additive(&mut self) -> Result<Ast, ExprError> {
        let mut l = self.multiplicative()?;
        loop {
            let op = match self.peek().0 {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(l),
            };
            let col = self.bump().1;
            let r = self.multiplicative()?;
            l = bin(op, col, l, r);
        }
    }

    fn multiplicative(&mut self) -> Result<Ast, ExprError> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek().0 {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Rem,
                _ => return Ok(l),
            };
            let col = self.bump().1;
            let r = self.unary()?;
            l = bin(op, col, l, r);
        }
    }

    fn unary(&mut self) -> Result<Ast, ExprError> {
        let (t, col) = self.peek();
        if *t == Tok::Minus {
            self.at += 1;
            self.deeper()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(match e.kind {
                // A negative float literal is a literal.
                AstKind::Lit(Value::Float64(f)) => Ast {
                    col,
                    kind: AstKind::Lit(Value::Float64(-f)),
                },
                kind => Ast {
                    col,
                    kind: AstKind::Neg(Box::new(Ast { col: e.col, kind })),
                },
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Ast, ExprError> {
        let (t, col) = self.bump();
        let kind = match t {
            Tok::Int(i) => AstKind::Lit(Value::Int64(i)),
            Tok::Float(f) => AstKind::Lit(Value::Float64(f)),
            Tok::Str(s) => AstKind::Lit(Value::String(s)),
            Tok::LParen => {
                let e = self.or()?;
                self.expect(&Tok::RParen, "a closing )")?;
                return Ok(e);
            }
            Tok::Ident(w) => {
                let lower = w.to_ascii_lowercase();
                match lower.as_str() {
                    "null" => AstKind::Lit(Value::Null),
                    "true" => AstKind::Lit(Value::Bool(true)),
                    "false" => AstKind::Lit(Value::Bool(false)),
                    "cast" if *self.peek().0 == Tok::LParen => {
                        self.at += 1;
                        let e = self.or()?;
                        if !self.eat_keyword("as") {
                            let (t, c) = self.peek();
                            return Err(ExprError::at(
                                c,
                                format!("expected as TYPE in cast, found {}", t.show()),
                            ));
                        }
                        let (t, c) = self.bump();
                        let ty = match &t {
                            Tok::Ident(n) => Type::parse(n),
                            _ => None,
                        }
                        .ok_or_else(|| {
                            ExprError::at(
                                c,
                                format!(
                                    "unknown type {} (int64, float64, bool, string, timestamp)",
                                    t.show()
                                ),
                            )
                        })?;
                        self.expect(&Tok::RParen, "a closing ) after the cast's type")?;
                        AstKind::Cast(Box::new(e), ty)
                    }
                    _ if *self.peek().0 == Tok::LParen => {
                        self.at += 1;
                        AstKind::Call(lower, self.list()?)
                    }
                    w if RESERVED.contains(&w) => {
                        return Err(ExprError::at(
                            col,
                            format!("expected a value, found the keyword {w}"),
                        ));
                    }
                    _ => AstKind::Name(w),
                }
            }
            t => {
                return Err(ExprError::at(
                    col,
                    format!("expected a value, found {}", t.show()),
                ));
            }
        };
        Ok(Ast { col, kind })
    }
}

/// `l op r`, positioned at the operator (where its type errors point).
fn bin(op: BinOp, col: usize, l: Ast, r: Ast) -> Ast {
    Ast {
        col,
        kind: AstKind::Binary(op, Box::new(l), Box::new(r)),
    }
}
