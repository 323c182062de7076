//! `strata._strata.Store`: an embedded store, in this process.
//!
//! Every method calls the store operation the CLI calls: definitions are
//! planned and applied by the catalog, `ingest` is `strata_offline::ingest`
//! (validation, expectations, statistics, one atomic segment), `push` is
//! `Store::write`, lookups are `Store::lookup`, training sets are
//! `strata_offline::export` over the caller's Arrow stream, `history`,
//! `delete` and freshness are the store's.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_ipc::writer::StreamWriter;
use arrow_pyarrow::FromPyArrow;
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value as Json;

use strata_format::protocol::{
    ExportStart, HistoryRequest, LookupRequest, LookupResponse, PushOptions, WriteSummary,
};

use strata_offline::export::{self, ExportRequest, Plan};
use strata_offline::{Format, IngestOptions};
use strata_store::catalog::search::Query;
use strata_store::catalog::{self, FeatureView};
use strata_store::freshness::Report;

use crate::backend::{Backend, shared_methods};
use crate::convert::{self, Definitions, RowShape};
use crate::errors::{Kind, write_pieces};
use crate::{Failure, arrow_out, registry, run};

/// Rows per atomic write of `push`.
const PUSH_BATCH_ROWS: usize = 10_000;

/// An open store directory (the `LOCK` is held until `close()` or until
/// the object is collected).
#[pyclass(frozen, module = "strata._strata")]
pub struct Store {
    inner: RwLock<Option<Arc<strata_store::Store>>>,
    dir: PathBuf,
}

impl Store {
    fn store(&self) -> Result<Arc<strata_store::Store>, Failure> {
        self.inner
            .read()
            .ok()
            .and_then(|g| g.clone())
            .ok_or_else(|| {
                Failure::new(
                    Kind::Unavailable,
                    format!("the store {} is closed", self.dir.display()),
                )
            })
    }
}

/// The Arrow stream of a Python object with `__arrow_c_stream__`.
pub fn stream(data: &Bound<'_, PyAny>) -> PyResult<RecordBatchStreamReader> {
    RecordBatchStreamReader::from_pyarrow_bound(data).map_err(|e| {
        Failure::invalid(format!(
            "expected Arrow data (an object with __arrow_c_stream__: a pyarrow Table or RecordBatchReader, a pandas or Polars DataFrame): {e}"
        ))
        .into()
    })
}

fn shape(view: &FeatureView, cat: &catalog::Catalog) -> RowShape {
    RowShape {
        view: view.qualified_name(),
        keys: cat
            .key_columns(view)
            .into_iter()
            .map(|k| (k.name, k.ty))
            .collect(),
        features: view
            .features
            .iter()
            .map(|f| (f.name.clone(), f.ty))
            .collect(),
    }
}

fn view_of(cat: &catalog::Catalog, name: &str) -> Result<FeatureView, Failure> {
    strata_store::registry::find_view(cat, name)
        .cloned()
        .map_err(|e| Failure::not_found(e.to_string()))
}

shared_methods!(Store {
    /// Opens (creating it if `create`) the store in `path`.
    #[new]
    #[pyo3(signature = (path, create = true))]
    fn new(py: Python<'_>, path: PathBuf, create: bool) -> PyResult<Store> {
        let dir = path.clone();
        let store = run(py, move || {
            let is_store = path.join("MANIFEST").exists()
                || strata_store::catalog::persist::path(&path).exists();
            if !is_store && !create {
                return Err(Failure::not_found(format!(
                    "no store at {}; open it with create=True, or apply definitions there first",
                    path.display()
                )));
            }
            if create {
                std::fs::create_dir_all(&path).map_err(|e| {
                    Failure::new(
                        Kind::Storage,
                        format!("cannot create the store directory {}: {e}", path.display()),
                    )
                })?;
            }
            Ok(strata_store::Store::open(&path)?)
        })?;
        Ok(Store {
            inner: RwLock::new(Some(Arc::new(store))),
            dir,
        })
    }

    /// The store directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Closes the store (releases its lock once no call is running).
    fn close(&self, py: Python<'_>) {
        let taken = self.inner.write().ok().and_then(|mut g| g.take());
        py.detach(move || drop(taken));
    }

    /// Bulk ingest of Arrow data into `view`: `strata ingest`'s fast path
    /// (all validated first, then one atomic segment; expectations checked,
    /// statistics recorded). The data is identified by the digest of its
    /// Arrow IPC bytes, or by `batch_id`: data the view has already
    /// ingested is not written again unless `force`. `backfill` writes
    /// events whatever the watermark. Returns the ingest report as a dict
    /// (with `summary`, see [`crate::response::summary`]).
    #[pyo3(signature = (view, data, renames = Vec::new(), batch_id = None, backfill = false, force = false))]
    #[expect(clippy::too_many_arguments, reason = "the Python signature")]
    fn ingest<'py>(
        &self,
        py: Python<'py>,
        view: String,
        data: &Bound<'py, PyAny>,
        renames: Vec<(String, String)>,
        batch_id: Option<String>,
        backfill: bool,
        force: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let store = self.store()?;
        let reader = stream(data)?;
        let report = run(py, move || {
            // The offline ingest reads files: the stream is spooled to a
            // temporary Arrow IPC stream file, then ingested as one.
            let tmp = tempfile::Builder::new()
                .prefix("strata-python-ingest-")
                .suffix(".arrows")
                .tempfile()
                .map_err(|e| {
                    Failure::new(
                        Kind::Storage,
                        format!("cannot create a temporary file: {e}"),
                    )
                })?;
            let schema = reader.schema();
            let io = |e: arrow_schema::ArrowError| {
                Failure::new(Kind::Storage, format!("spooling the data: {e}"))
            };
            let mut w = StreamWriter::try_new(std::io::BufWriter::new(tmp.as_file()), &schema)
                .map_err(io)?;
            let mut rows = 0usize;
            for b in reader {
                let b = b.map_err(|e| {
                    Failure::invalid(format!("reading the data after row {rows}: {e}"))
                })?;
                rows += b.num_rows();
                w.write(&b).map_err(io)?;
            }
            w.finish().map_err(io)?;
            drop(w);
            let opts = IngestOptions {
                format: Some(Format::Arrow),
                renames,
                via_wal: false,
                progress: false,
                force,
                backfill,
                batch_name: batch_id,
            };
            let path = tmp.path().to_path_buf();
            strata_offline::ingest(&store, &view, std::slice::from_ref(&path), &opts).map_err(|e| {
                // Name the data, not the temporary file, in messages.
                let f = Failure::from(e);
                let spooled = path.display().to_string();
                Failure::new(f.kind, f.message.replace(&spooled, "the data"))
            })
        })?;
        let d = PyDict::new(py);
        d.set_item("view", &report.view)?;
        d.set_item("rows", report.rows)?;
        d.set_item("written", report.summary.written)?;
        d.set_item("summary", crate::response::summary(py, &report.summary)?)?;
        d.set_item("via_wal", report.via_wal)?;
        d.set_item("seconds", report.elapsed.as_secs_f64())?;
        d.set_item("event_range", report.event_range)?;
        d.set_item("late_rejected", report.summary.rejected_late)?;
        d.set_item(
            "violations",
            report
                .violations
                .iter()
                .map(|v| (v.column.clone(), v.rule.clone(), v.count))
                .collect::<Vec<_>>(),
        )?;
        Ok(d)
    }

    /// Removes every version of `key` in every view of `entity`, durably.
    fn delete(&self, py: Python<'_>, entity: String, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let store = self.store()?;
        let key = convert::key(key)?;
        run(py, move || Ok(store.delete(&entity, &key)?))
    }

    #[pyo3(signature = (text = None, tag = None, team = None, owner = None, entity = None))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        text: Option<String>,
        tag: Option<String>,
        team: Option<String>,
        owner: Option<String>,
        entity: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = Query {
            text,
            tag,
            team,
            owner,
            entity,
        };
        let j = registry::search(&self.store()?.catalog(), &q);
        registry::to_py(py, &j)
    }

    fn lineage<'py>(&self, py: Python<'py>, view: String) -> PyResult<Bound<'py, PyAny>> {
        let j = registry::lineage(&self.store()?.catalog(), &view)?;
        registry::to_py(py, &j)
    }

});

impl Backend for Store {
    fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse, Failure> {
        Ok(self.store()?.lookup(req)?)
    }

    /// Through the WAL, in atomic batches of 10 000 rows.
    fn push(
        &self,
        view: &str,
        reader: RecordBatchStreamReader,
        opts: &PushOptions,
    ) -> Result<WriteSummary, Failure> {
        let store = self.store()?;
        let cat = store.catalog();
        let v = view_of(&cat, view)?;
        let rows = convert::rows_of_stream(&shape(&v, &cat), reader)?;
        write_pieces(
            convert::pieces(&rows, PUSH_BATCH_ROWS),
            rows.len(),
            |i, piece| {
                let w = strata_store::WriteOptions {
                    batch: opts
                        .batch_id
                        .as_deref()
                        .map(|b| strata_store::BatchId::named(&format!("{b}/{i}"))),
                    label: opts.batch_id.clone().unwrap_or_default(),
                    force: opts.force,
                    backfill: opts.backfill,
                    created_at: None,
                };
                Ok(store.write_with(&v.reference(), piece, &w)?)
            },
        )
    }

    /// `strata_offline::export` (the join of `strata export`).
    fn historical(
        &self,
        reader: RecordBatchStreamReader,
        start: ExportStart,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), Failure> {
        let store = self.store()?;
        let features = strata_store::refs::parse_each(&start.features)
            .map_err(|e| Failure::invalid(e.to_string()))?;
        let req = ExportRequest {
            features,
            full_feature_names: start.full_feature_names,
            fill_defaults: false,
            known_at: start.known_at.into(),
            memory_budget: export::DEFAULT_MEMORY_BUDGET,
            threads: 0,
        };
        let input_schema = reader.schema();
        let plan = Plan::new(&store, &req, &input_schema)?;
        let input =
            reader.map(|b| b.map_err(|e| export::Error::Table(format!("cannot be read: {e}"))));
        let batches = export::export(&store, &plan, input).collect::<Result<Vec<_>, _>>()?;
        Ok((plan.schema(), batches))
    }

    /// Every version (no limit).
    fn history(&self, req: HistoryRequest) -> Result<(RecordBatch, bool), Failure> {
        let store = self.store()?;
        let cat = store.catalog();
        let v = view_of(&cat, &req.view)?;
        let rows = store.history(&v.reference(), &req.key, req.from, req.to, req.known_at)?;
        let feats: Vec<_> = v.features.iter().map(|f| (f.name.clone(), f.ty)).collect();
        Ok((arrow_out::history_batch(&feats, &rows)?, false))
    }

    fn apply(&self, defs: Definitions, plan_only: bool) -> Result<(Vec<String>, bool), Failure> {
        let store = self.store()?;
        let defs = match defs {
            Definitions::Text(t) => catalog::defs::parse(&t),
            Definitions::File(p) => catalog::defs::load(&p),
        }
        .map_err(|e| Failure::invalid(e.to_string()))?;
        let plan = catalog::defs::plan(&store.catalog(), &defs)
            .map_err(|e| Failure::invalid(e.to_string()))?;
        let changes: Vec<String> = plan.changes.iter().map(|c| c.to_string()).collect();
        let applied = !plan_only && !plan.is_noop();
        if applied {
            store.set_catalog(plan.catalog)?;
        }
        Ok((changes, applied))
    }

    fn flush(&self) -> Result<(), Failure> {
        Ok(self.store()?.flush()?)
    }

    fn freshness(&self, at: Option<i64>) -> Result<Report, Failure> {
        let store = self.store()?;
        let now = at.unwrap_or_else(|| store.now());
        Ok(strata_store::freshness::report(&store, now))
    }

    fn registry_list(&self) -> Result<Json, Failure> {
        Ok(registry::list(&self.store()?.catalog()))
    }

    fn describe(&self, view: &str) -> Result<Json, Failure> {
        let store = self.store()?;
        registry::describe(&store.catalog(), store.dir(), view)
    }
}
