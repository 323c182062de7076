//! Tokens of an expression, each with the column (1-based, in characters)
//! where it starts.

use super::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    /// An identifier, possibly qualified (`view.feature`), as written.
    Ident(String),
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    End,
}

impl Tok {
    /// The token as it reads in a message.
    pub(super) fn show(&self) -> String {
        match self {
            Tok::Int(i) => i.to_string(),
            Tok::Float(f) => f.to_string(),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Ident(s) => s.clone(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::Comma => ",".into(),
            Tok::Plus => "+".into(),
            Tok::Minus => "-".into(),
            Tok::Star => "*".into(),
            Tok::Slash => "/".into(),
            Tok::Percent => "%".into(),
            Tok::Eq => "=".into(),
            Tok::Ne => "!=".into(),
            Tok::Lt => "<".into(),
            Tok::Le => "<=".into(),
            Tok::Gt => ">".into(),
            Tok::Ge => ">=".into(),
            Tok::End => "the end of the expression".into(),
        }
    }
}

/// The longest expression accepted, in bytes: definitions are short, and a
/// bound keeps the parser's recursion shallow on hostile input.
pub const MAX_LEN: usize = 4096;

/// The tokens of `src` with their columns, ending with [`Tok::End`].
pub(super) fn tokens(src: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    if src.len() > MAX_LEN {
        return Err(ExprError::at(
            1,
            format!("the expression is {} bytes, more than {MAX_LEN}", src.len()),
        ));
    }
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two = chars.get(i + 1).copied();
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '+' => (Tok::Plus, 1),
            '-' => (Tok::Minus, 1),
            '*' => (Tok::Star, 1),
            '/' => (Tok::Slash, 1),
            '%' => (Tok::Percent, 1),
            '=' if two == Some('=') => (Tok::Eq, 2),
            '=' => (Tok::Eq, 1),
            '!' if two == Some('=') => (Tok::Ne, 2),
            '<' if two == Some('=') => (Tok::Le, 2),
            '<' if two == Some('>') => (Tok::Ne, 2),
            '<' => (Tok::Lt, 1),
            '>' if two == Some('=') => (Tok::Ge, 2),
            '>' => (Tok::Gt, 1),
            '\'' => {
                let (s, len) = string(&chars[i..], col)?;
                (Tok::Str(s), len)
            }
            c if c.is_ascii_digit() || (c == '.' && two.is_some_and(|d| d.is_ascii_digit())) => {
                number(&chars[i..], col)?
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == '.')
                    .count();
                let word: String = chars[i..i + len].iter().collect();
                if word.ends_with('.') || word.contains("..") {
                    return Err(ExprError::at(
                        col,
                        format!("{word:?} is not a name (a qualified name is view.feature)"),
                    ));
                }
                (Tok::Ident(word), len)
            }
            c => {
                return Err(ExprError::at(col, format!("unexpected character {c:?}")));
            }
        };
        out.push((tok, col));
        i += len;
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

/// A string literal at the start of `s` (`'…'`, `''` for a quote).
fn string(s: &[char], col: usize) -> Result<(String, usize), ExprError> {
    let mut out = String::new();
    let mut i = 1;
    loop {
        match s.get(i) {
            None => return Err(ExprError::at(col, "this string has no closing quote '")),
            Some('\'') if s.get(i + 1) == Some(&'\'') => {
                out.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((out, i + 1)),
            Some(c) => {
                out.push(*c);
                i += 1;
            }
        }
    }
}

/// A number at the start of `s`: an integer (int64) or, with a `.` or an
/// exponent, a float64.
fn number(s: &[char], col: usize) -> Result<(Tok, usize), ExprError> {
    let mut i = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut float = false;
    if s.get(i) == Some(&'.') {
        float = true;
        i += 1;
        i += s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    if matches!(s.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some('+' | '-')) {
            j += 1;
        }
        let digits = s[j.min(s.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 {
            float = true;
            i = j + digits;
        }
    }
    let text: String = s[..i].iter().collect();
    if s.get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
    {
        return Err(ExprError::at(
            col,
            format!("{text:?} is followed by a letter; put a space or an operator between them"),
        ));
    }
    let tok = if float {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Tok::Float)
    } else {
        text.parse::<i64>().ok().map(Tok::Int)
    };
    let tok = tok.ok_or_else(|| {
        ExprError::at(
            col,
            format!("the number {text} is out of range (int64, or a finite float64)"),
        )
    })?;
    Ok((tok, i))
}
