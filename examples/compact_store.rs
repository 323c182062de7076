//! Merges every segment of a store into one (used by
//! `scripts/bench_export_vs_duckdb.sh` to benchmark a store at rest).
//!
//! `cargo run --release --example compact_store -- DIR`

#![allow(
    clippy::unwrap_used,
    reason = "an example may unwrap: a failure ends it with the error"
)]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: compact_store STORE_DIR")?;
    let store = strata::store::Store::open(&dir)?;
    store.flush()?;
    let stats = store.engine().compact()?;
    println!("compacted {dir}: {stats:?}; {:?}", store.engine().stats());
    Ok(())
}
