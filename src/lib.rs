//! Strata: a feature store built as one time-travel key-value engine.
//!
//! The layers are crates of their own, each depending only on those before
//! it: [`format`] (bytes) ← [`engine`] (the LSM) ← [`store`] (catalog,
//! aggregations, the store operations) ← [`offline`] (file import and
//! export) ← [`server`]; [`client`] depends on [`format`] only. This crate
//! is the `strata` CLI and re-exports the layers under one name.

pub use strata_client as client;
pub use strata_engine as engine;
pub use strata_format as format;
pub use strata_offline as offline;
pub use strata_server as server;
pub use strata_store as store;
pub use strata_store::{aggregate, catalog, freshness};
