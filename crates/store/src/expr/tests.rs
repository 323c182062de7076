use super::*;
use proptest::prelude::*;

/// Names `a`, `b` (float64), `n` (int64), `s` (string), `t`, `u` (timestamp),
/// `ok` (bool).
fn resolve(name: &str) -> Result<Type, String> {
    Ok(match name {
        "a" | "b" | "v.a" => Type::Float64,
        "n" => Type::Int64,
        "s" => Type::String,
        "t" | "u" => Type::Timestamp,
        "ok" => Type::Bool,
        _ => return Err(format!("unknown column {name:?}")),
    })
}

fn value_of(name: &str) -> Value {
    match name {
        "a" | "v.a" => Value::Float64(2.5),
        "b" => Value::Null,
        "n" => Value::Int64(7),
        "s" => Value::String("click".into()),
        "t" => Value::Timestamp(5_000_000),
        "u" => Value::Timestamp(2_000_000),
        "ok" => Value::Bool(true),
        _ => Value::Null,
    }
}

fn run(src: &str) -> Value {
    let e = Expr::compile(src, resolve).unwrap_or_else(|e| panic!("{src}: {e}"));
    let inputs: Vec<Value> = e.inputs().iter().map(|(n, _)| value_of(n)).collect();
    let row = e.eval_row(&inputs);
    let cols: Vec<Vec<Value>> = inputs.iter().map(|v| vec![v.clone(); 3]).collect();
    assert_eq!(e.eval_columns(&cols, 3), vec![row.clone(); 3], "{src}");
    row
}

fn err(src: &str) -> ExprError {
    Expr::compile(src, resolve).expect_err(src)
}

#[test]
fn arithmetic_and_types() {
    assert_eq!(run("n + 1"), Value::Int64(8));
    assert_eq!(run("n / 2"), Value::Float64(3.5));
    assert_eq!(run("n % 4"), Value::Int64(3));
    assert_eq!(run("a * n"), Value::Float64(17.5));
    assert_eq!(run("-n - -2"), Value::Int64(-5));
    assert_eq!(run("1 + 2 * 3 - 4 / 2"), Value::Float64(5.0));
    assert_eq!(run("(1 + 2) * 3"), Value::Int64(9));
    assert_eq!(run("t - u"), Value::Int64(3_000_000));
    assert_eq!(run("t + 1"), Value::Timestamp(5_000_001));
    assert_eq!(Expr::compile("a + n", resolve).unwrap().ty(), Type::Float64);
    assert_eq!(Expr::compile("n * n", resolve).unwrap().ty(), Type::Int64);
}

#[test]
fn results_that_do_not_exist_are_null() {
    assert_eq!(run("n / 0"), Value::Null);
    assert_eq!(run("n % 0"), Value::Null);
    assert_eq!(run("9223372036854775807 + n"), Value::Null);
    assert_eq!(run("ln(0)"), Value::Null);
    assert_eq!(run("sqrt(-1)"), Value::Null);
    assert_eq!(run("exp(1000)"), Value::Null);
    assert_eq!(run("cast(1e300 * 1e300 as int64)"), Value::Null);
}

#[test]
fn three_valued_logic() {
    assert_eq!(run("b > 1"), Value::Null);
    assert_eq!(run("b > 1 and false"), Value::Bool(false));
    assert_eq!(run("b > 1 and true"), Value::Null);
    assert_eq!(run("b > 1 or true"), Value::Bool(true));
    assert_eq!(run("b > 1 or false"), Value::Null);
    assert_eq!(run("not (b > 1)"), Value::Null);
    assert_eq!(run("b is null"), Value::Bool(true));
    assert_eq!(run("a is not null"), Value::Bool(true));
    assert_eq!(run("n in (1, 7)"), Value::Bool(true));
    assert_eq!(run("n in (1, null)"), Value::Null);
    assert_eq!(run("n not in (1, 2)"), Value::Bool(true));
    assert_eq!(run("n not in (7, null)"), Value::Bool(false));
    assert_eq!(run("b in (1, 2)"), Value::Null);
    assert_eq!(run("s = 'click' and ok"), Value::Bool(true));
    assert_eq!(run("s <> 'click'"), Value::Bool(false));
    assert_eq!(run("s = 'it''s'"), Value::Bool(false));
}

#[test]
fn functions() {
    assert_eq!(run("if(n > 5, 1, 2.5)"), Value::Float64(1.0));
    assert_eq!(
        run("if(b > 0, 1, 2)"),
        Value::Int64(2),
        "null condition: else"
    );
    assert_eq!(run("coalesce(b, n, 3)"), Value::Float64(7.0));
    assert_eq!(run("coalesce(null, null)"), Value::Null);
    assert_eq!(run("abs(-n)"), Value::Int64(7));
    assert_eq!(run("greatest(a, b, n)"), Value::Float64(7.0));
    assert_eq!(run("least(a, b, n)"), Value::Float64(2.5));
    assert_eq!(run("least(b, null)"), Value::Null);
    assert_eq!(run("greatest('a', s)"), Value::String("click".into()));
    assert_eq!(run("sqrt(16)"), Value::Float64(4.0));
    assert_eq!(run("cast(a as int64)"), Value::Int64(2));
    assert_eq!(run("cast(-2.9 as int64)"), Value::Int64(-2));
    assert_eq!(run("cast(n as string)"), Value::String("7".into()));
    assert_eq!(run("cast('12' as int64) + 1"), Value::Int64(13));
    assert_eq!(run("cast('x' as float64)"), Value::Null);
    assert_eq!(
        run("cast(t as string)"),
        Value::String("1970-01-01T00:00:05.000000Z".into())
    );
    assert_eq!(
        run("cast('1970-01-01T00:00:01Z' as timestamp)"),
        Value::Timestamp(1_000_000)
    );
    assert_eq!(run("v.a + 1"), Value::Float64(3.5));
}

#[test]
fn errors_name_the_column() {
    let cases = [
        ("a +", 4, "expected a value"),
        ("a + zz", 5, "unknown column"),
        ("s + 1", 1, "needs numbers"),
        ("n = 'x'", 3, "mixes int64 and string"),
        ("'open", 1, "closing quote"),
        ("a # 1", 3, "unexpected character"),
        ("f(a)", 1, "unknown function f"),
        ("abs(a, b)", 1, "takes 1 argument"),
        ("if(a, 1, 2)", 4, "needs a bool"),
        ("(a + 1", 7, "closing )"),
        ("a b", 3, "after a complete expression"),
        ("cast(a as blob)", 11, "unknown type"),
        ("t * 2", 3, "not defined"),
        ("n in ()", 1, "at least one"),
        ("12abc", 1, "followed by a letter"),
        ("99999999999999999999", 1, "out of range"),
        ("not 1", 5, "needs a bool"),
        ("a is 1", 6, "expected null"),
    ];
    for (src, col, msg) in cases {
        let e = err(src);
        assert_eq!(e.column, col, "{src}: {e}");
        assert!(e.message.contains(msg), "{src}: {e}");
    }
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    assert!(err(&deep).message.contains("nests deeper"));
    let long = "1 + ".repeat(2000) + "1";
    assert!(err(&long).message.contains("bytes"));
    let p = Expr::predicate("a + 1", resolve).expect_err("not a condition");
    assert!(p.message.contains("condition"), "{p}");
}

// ---- property test: both evaluators against a brute-force model ----

/// A float-valued expression over `a`, `b` (float64) and `n` (int64).
#[derive(Debug, Clone)]
enum F {
    Var(usize),
    Int(i64),
    Lit(i32),
    Bin(char, Box<F>, Box<F>),
    Neg(Box<F>),
    Abs(Box<F>),
    Sqrt(Box<F>),
    Coalesce(Box<F>, Box<F>),
    Greatest(Box<F>, Box<F>),
    If(Box<B>, Box<F>, Box<F>),
}

#[derive(Debug, Clone)]
enum B {
    Cmp(&'static str, F, F),
    And(Box<B>, Box<B>),
    Or(Box<B>, Box<B>),
    Not(Box<B>),
    IsNull(F),
    In(F, Vec<F>),
}

const VARS: [&str; 3] = ["a", "b", "n"];

fn f_strategy() -> BoxedStrategy<F> {
    let leaf = prop_oneof![
        (0..3usize).prop_map(F::Var),
        (-3..4i64).prop_map(F::Int),
        (-40..40i32).prop_map(F::Lit),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let b = b_of(inner.clone());
        prop_oneof![
            (
                prop::sample::select(vec!['+', '-', '*', '/']),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(o, x, y)| F::Bin(o, Box::new(x), Box::new(y))),
            inner.clone().prop_map(|x| F::Neg(Box::new(x))),
            inner.clone().prop_map(|x| F::Abs(Box::new(x))),
            inner.clone().prop_map(|x| F::Sqrt(Box::new(x))),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| F::Coalesce(Box::new(x), Box::new(y))),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| F::Greatest(Box::new(x), Box::new(y))),
            (b, inner.clone(), inner).prop_map(|(c, x, y)| F::If(
                Box::new(c),
                Box::new(x),
                Box::new(y)
            )),
        ]
    })
    .boxed()
}

fn b_of(f: BoxedStrategy<F>) -> BoxedStrategy<B> {
    let leaf = prop_oneof![
        (
            prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="]),
            f.clone(),
            f.clone()
        )
            .prop_map(|(o, x, y)| B::Cmp(o, x, y)),
        f.clone().prop_map(B::IsNull),
        (f.clone(), prop::collection::vec(f, 1..3)).prop_map(|(x, l)| B::In(x, l)),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(x, y)| B::And(Box::new(x), Box::new(y))),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| B::Or(Box::new(x), Box::new(y))),
            inner.prop_map(|x| B::Not(Box::new(x))),
        ]
    })
    .boxed()
}

fn show_f(e: &F) -> String {
    match e {
        F::Var(i) => VARS[*i].into(),
        F::Int(i) => format!("({i})"),
        F::Lit(x) => format!("({}.5)", x),
        F::Bin(o, x, y) => format!("({} {o} {})", show_f(x), show_f(y)),
        F::Neg(x) => format!("(-{})", show_f(x)),
        F::Abs(x) => format!("abs({})", show_f(x)),
        F::Sqrt(x) => format!("sqrt({})", show_f(x)),
        F::Coalesce(x, y) => format!("coalesce({}, {})", show_f(x), show_f(y)),
        F::Greatest(x, y) => format!("greatest({}, {})", show_f(x), show_f(y)),
        F::If(c, x, y) => format!("if({}, {}, {})", show_b(c), show_f(x), show_f(y)),
    }
}

fn show_b(e: &B) -> String {
    match e {
        B::Cmp(o, x, y) => format!("({} {o} {})", show_f(x), show_f(y)),
        B::And(x, y) => format!("({} AND {})", show_b(x), show_b(y)),
        B::Or(x, y) => format!("({} or {})", show_b(x), show_b(y)),
        B::Not(x) => format!("(not {})", show_b(x)),
        B::IsNull(x) => format!("({} is null)", show_f(x)),
        B::In(x, l) => format!(
            "({} in ({}))",
            show_f(x),
            l.iter().map(show_f).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn fin(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The model: floats as `Option<f64>` (None = null), non-finite → None.
/// Integer arithmetic of the language is exact here because values stay
/// small, except `/`, which is float in both.
fn model_f(e: &F, env: &[Option<f64>; 3]) -> Option<f64> {
    match e {
        F::Var(i) => env[*i],
        F::Int(i) => Some(*i as f64),
        F::Lit(x) => Some(if *x < 0 {
            f64::from(*x) - 0.5
        } else {
            f64::from(*x) + 0.5
        }),
        F::Bin(o, x, y) => {
            let (x, y) = (model_f(x, env)?, model_f(y, env)?);
            fin(match o {
                '+' => x + y,
                '-' => x - y,
                '*' => x * y,
                _ => x / y,
            })
        }
        F::Neg(x) => model_f(x, env).map(|x| -x),
        F::Abs(x) => model_f(x, env).map(f64::abs),
        F::Sqrt(x) => model_f(x, env).and_then(|x| fin(x.sqrt())),
        F::Coalesce(x, y) => model_f(x, env).or_else(|| model_f(y, env)),
        F::Greatest(x, y) => match (model_f(x, env), model_f(y, env)) {
            (Some(p), Some(q)) => Some(p.max(q)),
            (p, q) => p.or(q),
        },
        F::If(c, x, y) => {
            if model_b(c, env) == Some(true) {
                model_f(x, env)
            } else {
                model_f(y, env)
            }
        }
    }
}

fn model_b(e: &B, env: &[Option<f64>; 3]) -> Option<bool> {
    match e {
        B::Cmp(o, x, y) => {
            let (x, y) = (model_f(x, env)?, model_f(y, env)?);
            Some(match *o {
                "=" => x == y,
                "!=" => x != y,
                "<" => x < y,
                "<=" => x <= y,
                ">" => x > y,
                _ => x >= y,
            })
        }
        B::And(x, y) => match (model_b(x, env), model_b(y, env)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        B::Or(x, y) => match (model_b(x, env), model_b(y, env)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        B::Not(x) => model_b(x, env).map(|b| !b),
        B::IsNull(x) => Some(model_f(x, env).is_none()),
        B::In(x, l) => {
            let x = model_f(x, env)?;
            let items: Vec<Option<f64>> = l.iter().map(|i| model_f(i, env)).collect();
            if items.contains(&Some(x)) {
                Some(true)
            } else if items.contains(&None) {
                None
            } else {
                Some(false)
            }
        }
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int64(i) => Some(*i as f64),
        Value::Float64(f) => Some(*f),
        _ => None,
    }
}

fn close(x: Option<f64>, y: Option<f64>) -> bool {
    match (x, y) {
        (Some(p), Some(q)) => p == q || (p - q).abs() <= 1e-9 * p.abs().max(q.abs()),
        (p, q) => p == q,
    }
}

fn env_strategy() -> impl Strategy<Value = Vec<[Option<f64>; 3]>> {
    let f = prop::option::weighted(0.8, (-20..20i32).prop_map(|x| f64::from(x) / 4.0));
    let n = prop::option::weighted(0.8, (-9..10i64).prop_map(|x| x as f64));
    prop::collection::vec((f.clone(), f, n).prop_map(|(a, b, n)| [a, b, n]), 1..6)
}

fn values(env: &[Option<f64>; 3], inputs: &[(String, Type)]) -> Vec<Value> {
    inputs
        .iter()
        .map(|(name, _)| {
            let i = VARS
                .iter()
                .position(|v| v == name)
                .expect("a generated name");
            match (i, env[i]) {
                (_, None) => Value::Null,
                (2, Some(x)) => Value::Int64(x as i64),
                (_, Some(x)) => Value::Float64(x),
            }
        })
        .collect()
}

fn three(name: &str) -> Result<Type, String> {
    match name {
        "a" | "b" => Ok(Type::Float64),
        "n" => Ok(Type::Int64),
        _ => Err("unknown".into()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Rows and columns evaluate every generated numeric expression as the
    /// model does; catches a wrong operator, null rule or promotion.
    #[test]
    fn numeric_expressions_match_the_model(e in f_strategy(), rows in env_strategy()) {
        let src = show_f(&e);
        let x = Expr::compile(&src, three).map_err(|err| TestCaseError::fail(format!("{src}: {err}")))?;
        let per_row: Vec<Vec<Value>> = rows.iter().map(|r| values(r, x.inputs())).collect();
        let columns: Vec<Vec<Value>> = (0..x.inputs().len())
            .map(|i| per_row.iter().map(|r| r[i].clone()).collect())
            .collect();
        let by_columns = x.eval_columns(&columns, rows.len());
        for (i, env) in rows.iter().enumerate() {
            let got = x.eval_row(&per_row[i]);
            prop_assert_eq!(&got, &by_columns[i], "{}", src);
            let want = model_f(&e, env);
            prop_assert!(close(as_f64(&got), want), "{} at {:?}: got {:?}, model {:?}", src, env, got, want);
        }
    }

    /// The same for conditions (three-valued logic).
    #[test]
    fn conditions_match_the_model(e in b_of(f_strategy()), rows in env_strategy()) {
        let src = show_b(&e);
        let x = Expr::predicate(&src, three).map_err(|err| TestCaseError::fail(format!("{src}: {err}")))?;
        for env in &rows {
            let got = x.eval_row(&values(env, x.inputs()));
            let want = model_b(&e, env).map_or(Value::Null, Value::Bool);
            prop_assert_eq!(got, want, "{} at {:?}", src, env);
        }
    }

    /// The parser never panics, whatever the text.
    #[test]
    fn parsing_never_panics(src in "[ -~]{0,60}") {
        let _ = Expr::compile(&src, three);
    }
}
