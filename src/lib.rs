//! Strata: a feature store built as one time-travel key-value engine.
//!
//! Layers, each depending only on those before it:
//! [`format`] (bytes) ← [`engine`] (the LSM) ← [`catalog`] (the registry) ←
//! [`store`] (the embedded store: catalog + engine by name) ← [`offline`]
//! (file import and export).

pub mod aggregate;
pub mod catalog;
pub mod client;
pub mod engine;
pub mod format;
pub mod freshness;
pub mod offline;
pub mod server;
pub mod store;
pub mod sync;
