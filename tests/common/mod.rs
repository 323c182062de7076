//! Test support shared by the integration-test crates: each includes it
//! with `mod common;` (or `#[path = "../common/mod.rs"] mod common;` from a
//! directory crate). Cargo does not build `tests/common/` as a test of its
//! own.
//!
//! - [`agg_model`]: the harness of the brute-force aggregation tests, and
//!   [`agg_checks`]: the lookups and exports it checks;
//! - [`cli`]: running the `strata` binary and reading what it printed;
//! - [`tables`]: entity tables and Parquet files;
//! - [`engine_ops`]: random engine operations and what they leave;
//! - [`stores`]: stores with definitions applied, and engine options;
//! - [`serve`]: starting `strata serve` and reading its addresses.
//!
//! The catalog definitions the tests apply are TOML files in
//! `tests/fixtures/`, read with `include_str!`.

// Each test crate uses only some of these helpers; the rest would warn as
// dead code in that crate. Acceptable for test support, not for the library.
#![allow(dead_code)]

pub mod agg_checks;
pub mod agg_model;
pub mod cli;
pub mod engine_ops;
pub mod serve;
pub mod stores;
pub mod tables;
