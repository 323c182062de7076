//! Aggregation tile decoding (src/aggregate/state.rs) against a layout that
//! uses every part (moments, min/max, last, first, distinct and quantile
//! sketches, the value set, the ranked and sorted lists).
//!
//! Input: tile bytes. Checks: no panic; a decoded tile re-encodes to bytes
//! that decode to the same state; merging it into an empty state and
//! finishing every function does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_store::aggregate::{Layout, State};
use strata_store::catalog::aggregation::{Aggregation, Function};
use strata_format::schema::FeatureType;

fn aggs() -> Vec<Aggregation> {
    let f = |function, column| Aggregation {
        feature: String::new(),
        function,
        column,
        window: 10,
        slide: 0,
        filter: None,
    };
    vec![
        f(Function::Count, None),
        f(Function::AgeOfLast, None),
        f(Function::Sum, Some(0)),
        f(Function::Stddev, Some(0)),
        f(Function::Min, Some(0)),
        f(Function::Percentile(95), Some(0)),
        f(Function::Last, Some(1)),
        f(Function::CountDistinct, Some(1)),
        f(Function::Variance, Some(0)),
        f(Function::Quantile(9000), Some(0)),
        f(Function::TopK(3), Some(0)),
        f(Function::CollectSet { limit: 4 }, Some(0)),
        f(Function::First, Some(1)),
        f(Function::FirstK(2), Some(1)),
        f(Function::LastK(2), Some(1)),
        f(Function::BottomK(2), Some(1)),
        f(Function::Histogram { k: 2, limit: 3 }, Some(1)),
        f(Function::CountDistinctExact { limit: 3 }, Some(1)),
    ]
}

fuzz_target!(|data: &[u8]| {
    let aggs = aggs();
    let layout = Layout::new(&aggs, &[FeatureType::Float64, FeatureType::String]);
    let Ok(state) = State::decode(&layout, data) else {
        return;
    };
    let mut buf = Vec::new();
    state.encode(&layout, &mut buf);
    let again = State::decode(&layout, &buf).expect("a re-encoded tile decodes");
    let mut buf2 = Vec::new();
    again.encode(&layout, &mut buf2);
    assert_eq!(buf, buf2, "tile encoding is not stable");
    let mut sum = State::new(&layout);
    sum.merge(&layout, &state);
    sum.merge(&layout, &again);
    for a in &aggs {
        let _ = sum.finish(&layout, a, 0);
    }
});
