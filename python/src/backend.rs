//! What the embedded store ([`crate::embedded::Store`]) and a server's
//! client ([`crate::remote::Client`]) both answer: the [`Backend`] trait,
//! in Rust types, and [`shared_methods!`], which declares the Python
//! methods over it once for both classes (the arguments converted, the
//! call run with the GIL released, the answer handed back to Python).

use arrow_array::RecordBatch;
use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_schema::SchemaRef;
use serde_json::Value as Json;

use strata_format::protocol::{
    ExportStart, HistoryRequest, LookupRequest, LookupResponse, PushOptions, WriteSummary,
};
use strata_store::freshness::Report;

use crate::Failure;
use crate::convert::Definitions;

/// The operations both Python classes have, each called with the GIL
/// released.
pub(crate) trait Backend: Sync {
    fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse, Failure>;

    /// Writes the rows of `reader` into `view`, durably, in pieces: with
    /// a batch id `ID`, piece `i` is the batch `ID/i`.
    fn push(
        &self,
        view: &str,
        reader: RecordBatchStreamReader,
        opts: &PushOptions,
    ) -> Result<WriteSummary, Failure>;

    /// The training set of the entity rows of `reader`.
    fn historical(
        &self,
        reader: RecordBatchStreamReader,
        start: ExportStart,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), Failure>;

    /// The versions of one key as a batch, and whether older ones were
    /// left out (a server's limit).
    fn history(&self, req: HistoryRequest) -> Result<(RecordBatch, bool), Failure>;

    /// The changes of the definitions, one line each, and whether they
    /// were applied (not with `plan_only`).
    fn apply(&self, defs: Definitions, plan_only: bool) -> Result<(Vec<String>, bool), Failure>;

    fn flush(&self) -> Result<(), Failure>;

    fn freshness(&self, at: Option<i64>) -> Result<Report, Failure>;

    /// `strata registry list --json`.
    fn registry_list(&self) -> Result<Json, Failure>;

    /// `strata registry describe VIEW --json`.
    fn describe(&self, view: &str) -> Result<Json, Failure>;
}

/// `#[pymethods] impl CLASS { ... }` with the class's own methods and the
/// methods of [`Backend`], whose Python signatures are the same for the
/// embedded store and a client (python/strata/_strata.pyi).
macro_rules! shared_methods {
    ($class:ty { $($own:tt)* }) => {
        #[pymethods]
        impl $class {
            $($own)*

            /// One lookup: `features` are references (`view:feature`,
            /// `view:*`), `entities` the key columns.
            #[pyo3(signature = (features, entities, as_of = None, known_at = None, full_feature_names = false, request = Vec::new()))]
            #[allow(
                clippy::too_many_arguments,
                reason = "the Python signature, keyword arguments"
            )]
            fn lookup(
                &self,
                py: Python<'_>,
                features: Vec<String>,
                entities: Vec<(String, Bound<'_, PyAny>)>,
                as_of: Option<i64>,
                known_at: Option<i64>,
                full_feature_names: bool,
                request: Vec<(String, Vec<Option<String>>)>,
            ) -> PyResult<$crate::response::OnlineResponse> {
                let req = $crate::convert::lookup_request(features, entities, as_of, known_at, request)?;
                let resp = $crate::run(py, || $crate::backend::Backend::lookup(self, &req))?;
                Ok($crate::response::OnlineResponse::new(resp, req.entities, full_feature_names)?)
            }

            /// Writes rows of Arrow data into `view`, durably, in pieces
            /// (with `batch_id`, piece `i` is the batch `ID/i`: a retry
            /// writes only the pieces not written before). Returns the
            /// summary as a dict.
            #[pyo3(signature = (view, data, batch_id = None, backfill = false, force = false))]
            fn push<'py>(
                &self,
                py: Python<'py>,
                view: String,
                data: &Bound<'py, PyAny>,
                batch_id: Option<String>,
                backfill: bool,
                force: bool,
            ) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                let reader = $crate::embedded::stream(data)?;
                let opts = strata_format::protocol::PushOptions {
                    batch_id,
                    backfill,
                    force,
                };
                let total = $crate::run(py, move || {
                    $crate::backend::Backend::push(self, &view, reader, &opts)
                })?;
                $crate::response::summary(py, &total)
            }

            /// A training set (the join of `strata export`) over the
            /// entity rows of `data`. `known_at`: None, an int (µs:
            /// `--as-known-at`) or "event_time" (`--no-future-writes`).
            #[pyo3(signature = (data, features, full_feature_names = false, as_known_at = None, no_future_writes = false))]
            fn historical<'py>(
                &self,
                py: Python<'py>,
                data: &Bound<'py, PyAny>,
                features: Vec<String>,
                full_feature_names: bool,
                as_known_at: Option<i64>,
                no_future_writes: bool,
            ) -> PyResult<Bound<'py, PyAny>> {
                let reader = $crate::embedded::stream(data)?;
                let start = strata_format::protocol::ExportStart {
                    features,
                    full_feature_names,
                    known_at: $crate::convert::known_at(as_known_at, no_future_writes)?,
                };
                let (schema, batches) = $crate::run(py, move || {
                    $crate::backend::Backend::historical(self, reader, start)
                })?;
                $crate::arrow_out::table(py, schema, batches)
            }

            /// Every version of one key with `start <= event_ts <= end`,
            /// newest first, as a table (`event_timestamp`,
            /// `created_timestamp`, features).
            #[pyo3(signature = (view, key, start = None, end = None, known_at = None))]
            fn history<'py>(
                &self,
                py: Python<'py>,
                view: String,
                key: &Bound<'py, PyAny>,
                start: Option<i64>,
                end: Option<i64>,
                known_at: Option<i64>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let (from, to) = $crate::convert::history_range(start, end)?;
                let req = strata_format::protocol::HistoryRequest {
                    view,
                    key: $crate::convert::key(key)?,
                    from,
                    to,
                    known_at,
                    limit: 0,
                };
                let (b, truncated) =
                    $crate::run(py, move || $crate::backend::Backend::history(self, req))?;
                if truncated {
                    PyErr::warn(
                        py,
                        &py.get_type::<pyo3::exceptions::PyUserWarning>(),
                        c"the server sent only the newest versions (its limit); narrow start/end to see older ones",
                        1,
                    )?;
                }
                $crate::arrow_out::table(py, b.schema(), vec![b])
            }

            /// Plans, and unless `plan_only` applies, definitions (TOML
            /// text, or the file at `path`). Returns the changes, one line
            /// each, and whether they were applied.
            #[pyo3(signature = (text = None, path = None, plan_only = false))]
            fn apply(
                &self,
                py: Python<'_>,
                text: Option<String>,
                path: Option<std::path::PathBuf>,
                plan_only: bool,
            ) -> PyResult<(Vec<String>, bool)> {
                let defs = $crate::convert::Definitions::of(text, path)?;
                $crate::run(py, move || $crate::backend::Backend::apply(self, defs, plan_only))
            }

            /// Moves everything written so far into segments.
            fn flush(&self, py: Python<'_>) -> PyResult<()> {
                $crate::run(py, || $crate::backend::Backend::flush(self))
            }

            /// Freshness of every view at `at` (µs; default: the store's
            /// clock).
            #[pyo3(signature = (at = None))]
            fn freshness<'py>(
                &self,
                py: Python<'py>,
                at: Option<i64>,
            ) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                let r = $crate::run(py, || $crate::backend::Backend::freshness(self, at))?;
                $crate::registry::freshness(py, &r)
            }

            fn registry_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let j = $crate::run(py, || $crate::backend::Backend::registry_list(self))?;
                $crate::registry::to_py(py, &j)
            }

            fn describe<'py>(&self, py: Python<'py>, view: String) -> PyResult<Bound<'py, PyAny>> {
                let j = $crate::run(py, || $crate::backend::Backend::describe(self, &view))?;
                $crate::registry::to_py(py, &j)
            }
        }
    };
}

pub(crate) use shared_methods;
