//! Strata: a feature store built as one time-travel key-value engine.
//!
//! Layers, each depending only on those before it:
//! [`format`] (bytes) ← [`engine`] (the LSM) ← [`catalog`] (the registry) ←
//! [`store`] (the embedded store: catalog + engine by name) ← [`offline`]
//! (file import and export).

pub mod format;
pub mod engine;
pub mod catalog;
pub mod store;
pub mod offline;
