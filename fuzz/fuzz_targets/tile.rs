//! Aggregation tile decoding (src/aggregate/state.rs, its columns' parts in
//! numeric.rs, sketch.rs and collected.rs) against a layout that uses every
//! part (moments, min/max, last, first, distinct and quantile sketches, the
//! value set, the ranked and sorted lists).
//!
//! Input: tile bytes, read both as a plain group's state and as a bucketed
//! group's buckets (src/aggregate/bucket.rs). Checks: no panic; a decoded
//! tile re-encodes to bytes that decode to the same state; merging it into
//! an empty state and finishing every function does not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_store::aggregate::bucket::Buckets;
use strata_store::aggregate::fixture::aggregation;
use strata_store::aggregate::{Layout, State};
use strata_store::catalog::aggregation::{Aggregation, Bucket, Function};
use strata_format::schema::FeatureType;

/// An aggregation over `column` (0: the float, 1: the string), bucketed
/// by the string column when `bucket`.
fn agg(function: Function, column: Option<usize>, bucket: bool) -> Aggregation {
    let by = Bucket {
        column: 1,
        limit: 3,
    };
    aggregation(function, column, bucket.then_some(by))
}

fn aggs() -> Vec<Aggregation> {
    let f = |function, column| agg(function, column, false);
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

/// The bucketed aggregations: per distinct value of column 1.
fn bucketed() -> Vec<Aggregation> {
    let f = |function, column| agg(function, column, true);
    vec![
        f(Function::Count, None),
        f(Function::Sum, Some(0)),
        f(Function::Mean, Some(0)),
        f(Function::Max, Some(0)),
        f(Function::Last, Some(0)),
    ]
}

/// Decodes `data`; if it decodes, checks that its encoding decodes to a
/// value that encodes the same, and returns both values.
fn round_trip<T, E>(
    data: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T, &mut Vec<u8>),
) -> Option<(T, T)> {
    let first = decode(data).ok()?;
    let mut buf = Vec::new();
    encode(&first, &mut buf);
    let Ok(again) = decode(&buf) else {
        panic!("a re-encoded tile does not decode");
    };
    let mut buf2 = Vec::new();
    encode(&again, &mut buf2);
    assert_eq!(buf, buf2, "tile encoding is not stable");
    Some((first, again))
}

fuzz_target!(|data: &[u8]| {
    let columns = [FeatureType::Float64, FeatureType::String];
    let aggs = aggs();
    let layout = Layout::new(&aggs, &columns);
    if let Some((state, again)) = round_trip(
        data,
        |b| State::decode(&layout, b),
        |s, out| s.encode(&layout, out),
    ) {
        let mut sum = State::new(&layout);
        sum.merge(&layout, &state);
        sum.merge(&layout, &again);
        for a in &aggs {
            let _ = sum.finish(&layout, a, 0);
        }
    }
    let aggs = bucketed();
    let layout = Layout::new(&aggs, &columns);
    if let Some((buckets, again)) = round_trip(
        data,
        |b| Buckets::decode(&layout, b),
        |s, out| s.encode(&layout, out),
    ) {
        let mut sum = Buckets::default();
        sum.merge(&layout, 3, &buckets);
        sum.merge(&layout, 3, &again);
        for a in &aggs {
            let _ = sum.finish(&layout, a, 3, 0);
        }
    }
});
