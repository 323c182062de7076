//! An aggregation built in code rather than parsed from a view definition:
//! what the tile tests and the tile fuzz target build their layouts from.

use crate::catalog::aggregation::{Aggregation, Bucket, Function};

/// An aggregation of `function` over source column `column` (none: over
/// events), in a sliding window of 10 µs, without a filter, bucketed per
/// `bucket`; its feature name is empty.
pub fn aggregation(
    function: Function,
    column: Option<usize>,
    bucket: Option<Bucket>,
) -> Aggregation {
    Aggregation {
        feature: String::new(),
        function,
        column,
        window: 10,
        slide: 0,
        filter: None,
        bucket,
    }
}
