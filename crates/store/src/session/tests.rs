use super::*;

fn spec(features: &[(Function, Option<usize>)]) -> Spec {
    Spec {
        gap: 10,
        features: features
            .iter()
            .enumerate()
            .map(|(i, &(function, column))| SessionFeature {
                feature: format!("f{i}"),
                function,
                column,
                filter: None,
            })
            .collect(),
    }
}

#[test]
fn a_summary_does_not_depend_on_the_order_events_are_added() {
    let s = spec(&[
        (Function::Count, None),
        (Function::Count, Some(0)),
        (Function::CountDistinct, Some(0)),
        (Function::First, Some(0)),
        (Function::Last, Some(0)),
        (Function::Min, Some(1)),
        (Function::Max, Some(1)),
        (Function::Sum, Some(1)),
        (Function::Mean, Some(1)),
        (Function::SessionStart, None),
        (Function::SessionEnd, None),
        (Function::Duration, None),
        (Function::IsOpen, None),
    ]);
    let events = [
        (5, 1, [Value::String("a".into()), Value::Int64(3)]),
        (9, 1, [Value::String("b".into()), Value::Null]),
        (9, 2, [Value::Null, Value::Float64(-1.5)]),
        (12, 1, [Value::String("a".into()), Value::Int64(6)]),
    ];
    let want = vec![
        Value::Int64(4),
        Value::Int64(3),
        Value::Int64(2),
        Value::String("a".into()),
        Value::String("a".into()),
        Value::Float64(-1.5),
        Value::Float64(6.0),
        Value::Float64(7.5),
        Value::Float64(2.5),
        Value::Timestamp(5),
        Value::Timestamp(12),
        Value::Int64(7),
        Value::Bool(true),
    ];
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
        let mut sum = Summary::new(&s);
        for i in order {
            let (ts, c, v) = &events[i];
            sum.add(&s, *ts, *c, v);
        }
        assert_eq!(sum.finish(&s, 22), want, "order {order:?}");
        let closed = sum.finish(&s, 23);
        assert_eq!(closed[12], Value::Bool(false), "23 − 12 > gap 10");
    }
}

#[test]
fn first_and_last_break_ties_by_created_ts_and_keep_nulls() {
    let s = spec(&[(Function::First, Some(0)), (Function::Last, Some(0))]);
    let mut sum = Summary::new(&s);
    sum.add(&s, 4, 7, &[Value::Null]);
    sum.add(&s, 4, 3, &[Value::Int64(1)]);
    sum.add(&s, 4, 9, &[Value::Null]);
    assert_eq!(sum.finish(&s, 4), vec![Value::Int64(1), Value::Null]);
}

#[test]
fn numbers_over_only_nulls_are_null_and_counts_zero() {
    let s = spec(&[
        (Function::Sum, Some(0)),
        (Function::Count, Some(0)),
        (Function::CountDistinct, Some(0)),
    ]);
    let mut sum = Summary::new(&s);
    sum.add(&s, 1, 1, &[Value::Null]);
    assert_eq!(
        sum.finish(&s, 1),
        vec![Value::Null, Value::Int64(0), Value::Int64(0)]
    );
}

#[test]
fn distinct_floats_compare_zero_and_nan_as_one_value() {
    let s = spec(&[(Function::CountDistinct, Some(0))]);
    let mut sum = Summary::new(&s);
    for x in [0.0, -0.0, f64::NAN, -f64::NAN, 1.0] {
        sum.add(&s, 1, 1, &[Value::Float64(x)]);
    }
    assert_eq!(sum.finish(&s, 1), vec![Value::Int64(3)]);
}

#[test]
fn a_filter_selects_the_events_of_its_feature_only() {
    let source: crate::catalog::FeatureView = {
        let d = crate::catalog::defs::parse(
            "[[entities]]\nname = \"u\"\njoin_keys = [{ name = \"id\", type = \"int64\" }]\n\
             [[feature_views]]\nname = \"ev\"\nentities = [\"u\"]\n\
             features = [{ name = \"kind\", type = \"string\" }, { name = \"x\", type = \"int64\" }]\n",
        )
        .unwrap();
        d.views[0].clone()
    };
    let clicks = crate::catalog::aggregation::Filter::compile("kind = 'click'", &source).unwrap();
    let mut s = spec(&[
        (Function::Count, None),
        (Function::First, Some(1)),
        (Function::Last, Some(1)),
        (Function::Sum, Some(1)),
    ]);
    for f in &mut s.features[1..] {
        f.filter = Some(clicks.clone());
    }
    let mut sum = Summary::new(&s);
    let ev = |k: &str, x: i64| [Value::String(k.into()), Value::Int64(x)];
    sum.add(&s, 1, 1, &ev("view", 1));
    sum.add(&s, 3, 1, &ev("click", 2));
    sum.add(&s, 5, 1, &[Value::Null, Value::Int64(4)]);
    sum.add(&s, 4, 1, &ev("click", 3));
    sum.add(&s, 6, 1, &ev("view", 5));
    assert_eq!(
        sum.finish(&s, 6),
        vec![
            Value::Int64(5),
            Value::Int64(2),
            Value::Int64(3),
            Value::Float64(5.0)
        ]
    );
    let mut none = Summary::new(&s);
    none.add(&s, 1, 1, &ev("view", 1));
    assert_eq!(
        none.finish(&s, 1),
        vec![Value::Int64(1), Value::Null, Value::Null, Value::Null]
    );
}
