//! `strata._strata`: the PyO3 module under the `strata` Python package.
//!
//! Translation only (docs/DESIGN.md, "one operation, every surface"):
//! Python values and Arrow C streams in, the store's operations
//! (`strata_store`, `strata_offline`) or the native client
//! (`strata_client`) called, their answers handed back as Python values or
//! pyarrow tables. The Python package (`python/strata/`) normalizes the
//! arguments (timestamps, keys, data frames) before they reach this module.
//!
//! Every call into the store or the network runs with the GIL released
//! ([`run`]), and inside `catch_unwind`, so that a panic becomes a
//! `strata.InternalError` rather than PyO3's `PanicException`.

mod arrow_out;
mod backend;
mod convert;
mod embedded;
mod errors;
mod registry;
mod remote;
mod response;

use std::panic::AssertUnwindSafe;

use pyo3::prelude::*;

pub use errors::Failure;

/// Runs `f` with the GIL released and any panic caught.
pub(crate) fn run<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> Result<T, Failure> + Send,
    T: Send,
{
    match py.detach(|| std::panic::catch_unwind(AssertUnwindSafe(f))) {
        Ok(r) => r.map_err(PyErr::from),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(
                Failure::internal(format!("internal error (panic: {msg}); please report it"))
                    .into(),
            )
        }
    }
}

/// Parses an RFC 3339 time (or integer microseconds) as the CLI does.
#[pyfunction]
fn parse_time(text: &str) -> PyResult<i64> {
    strata_offline::timestamp::parse(text)
        .map_err(|e| Failure::invalid(format!("time {text:?}: {e}")).into())
}

/// Formats microseconds since the epoch as RFC 3339 UTC, as the CLI does.
#[pyfunction]
fn format_time(micros: i64) -> String {
    strata_offline::timestamp::format(micros)
}

/// Panics inside [`run`], for the test that no panic crosses into Python.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>) -> PyResult<()> {
    run(py, || -> Result<(), Failure> {
        panic!("planted by _panic_for_tests")
    })
}

#[pymodule]
fn _strata(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<embedded::Store>()?;
    m.add_class::<remote::Client>()?;
    m.add_class::<response::OnlineResponse>()?;
    m.add_function(wrap_pyfunction!(parse_time, m)?)?;
    m.add_function(wrap_pyfunction!(format_time, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
