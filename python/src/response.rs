//! The answer of `get_online_features`: the store's (or the server's)
//! `LookupResponse`, kept whole, with statuses and event times.

use std::collections::HashMap;

use arrow_array::{ArrayRef, StringArray};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList};

use strata_format::protocol::{FeatureColumn, KeyColumn, KeyColumnValues, LookupResponse};
use strata_format::schema::Value;

use crate::Failure;
use crate::arrow_out;

/// `strata._convert.from_micros`: µs since the epoch as an aware UTC datetime.
pub fn datetime<'py>(py: Python<'py>, micros: i64) -> PyResult<Bound<'py, PyAny>> {
    static FROM_MICROS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let f = FROM_MICROS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("strata._convert")?
            .getattr("from_micros")?
            .unbind())
    })?;
    f.bind(py).call1((micros,))
}

pub fn opt_datetime<'py>(py: Python<'py>, micros: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
    match micros {
        Some(t) => datetime(py, t),
        None => Ok(py.None().into_bound(py)),
    }
}

/// What a write did (`strata_format::protocol::WriteSummary`, the same
/// numbers every surface prints) as a dict: `rows`, `written`,
/// `rejected_late`, `duplicates`, `violations`, `already_ingested_at`
/// (an aware datetime, or None), `complete`, `text` (the summary line).
pub fn summary<'py>(
    py: Python<'py>,
    s: &strata_format::protocol::WriteSummary,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows", s.rows)?;
    d.set_item("written", s.written)?;
    d.set_item("rejected_late", s.rejected_late)?;
    d.set_item("duplicates", s.duplicates)?;
    d.set_item("violations", s.violations)?;
    d.set_item(
        "already_ingested_at",
        opt_datetime(py, s.already_ingested_at)?,
    )?;
    d.set_item("complete", s.complete())?;
    d.set_item("text", s.to_string())?;
    Ok(d)
}

/// A feature value as a Python object.
pub fn value<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Int64(x) => x.into_pyobject(py)?.into_any(),
        Value::Float64(x) => x.into_pyobject(py)?.into_any(),
        Value::Float32(x) => f64::from(*x).into_pyobject(py)?.into_any(),
        Value::Bool(x) => x.into_pyobject(py)?.to_owned().into_any(),
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Timestamp(t) => datetime(py, *t)?,
        Value::ListFloat32(x) => PyList::new(py, x.iter().map(|f| f64::from(*f)))?.into_any(),
        Value::ListFloat64(x) => PyList::new(py, x)?.into_any(),
        Value::ListInt64(x) => PyList::new(py, x)?.into_any(),
        Value::ListString(x) => PyList::new(py, x)?.into_any(),
        // A dict keeps the entries' order (a histogram's: largest first).
        Value::MapStringInt64(m) => {
            let d = pyo3::types::PyDict::new(py);
            for (k, n) in m {
                d.set_item(k, n)?;
            }
            d.into_any()
        }
        Value::MapStringFloat64(m) => {
            let d = pyo3::types::PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, x)?;
            }
            d.into_any()
        }
    })
}

/// Online features of entity rows, as one lookup answered them.
///
/// Each requested feature has a value per entity row, a status (`PRESENT`,
/// `NULL_VALUE`, `NOT_FOUND`, `OUTSIDE_MAX_AGE`, `DEFAULTED`) and the event time of the
/// version it comes from (None when `NOT_FOUND`).
#[pyclass(frozen, module = "strata")]
pub struct OnlineResponse {
    resp: LookupResponse,
    keys: Vec<KeyColumn>,
    /// The output name of each feature column.
    names: Vec<String>,
}

impl OnlineResponse {
    /// Names the features `feature` (or `view__feature` with
    /// `full_feature_names`); a clash of short names is an error.
    pub fn new(
        resp: LookupResponse,
        keys: Vec<KeyColumn>,
        full_feature_names: bool,
    ) -> Result<OnlineResponse, Failure> {
        let mut names = Vec::with_capacity(resp.features.len());
        let mut seen: HashMap<String, &str> = HashMap::new();
        for k in &keys {
            seen.insert(k.name.clone(), "an entity column");
        }
        for f in &resp.features {
            let (view, feat) = f.name.split_once(':').unwrap_or(("", f.name.as_str()));
            let name = if full_feature_names {
                format!("{view}__{feat}")
            } else {
                feat.to_string()
            };
            if let Some(other) = seen.insert(name.clone(), &f.name) {
                return Err(Failure::invalid(format!(
                    "feature {} and {other} are both named {name:?}; pass full_feature_names=True",
                    f.name
                )));
            }
            names.push(name);
        }
        Ok(OnlineResponse { resp, keys, names })
    }

    fn arrow(
        &self,
        statuses: bool,
        event_timestamps: bool,
    ) -> Result<arrow_array::RecordBatch, Failure> {
        let mut cols: Vec<(String, ArrayRef)> = self
            .keys
            .iter()
            .map(|k| (k.name.clone(), arrow_out::key_array(&k.values)))
            .collect();
        for (f, name) in self.resp.features.iter().zip(&self.names) {
            cols.push((name.clone(), arrow_out::values_array(f.ty, f.values.iter())));
            if statuses {
                cols.push((
                    format!("{name}__status"),
                    std::sync::Arc::new(StringArray::from_iter_values(
                        f.statuses.iter().map(|s| s.name()),
                    )),
                ));
            }
            if event_timestamps {
                cols.push((
                    format!("{name}__event_timestamp"),
                    arrow_out::times_array(f.event_ts.iter().copied()),
                ));
            }
        }
        arrow_out::batch(cols)
    }
}

/// The names of a feature's statuses, one per entity row.
fn status_names(f: &FeatureColumn) -> Vec<&'static str> {
    f.statuses.iter().map(|s| s.name()).collect()
}

/// A feature's event times (`None` where no version was read), one per
/// entity row.
fn event_times<'py>(py: Python<'py>, f: &FeatureColumn) -> PyResult<Bound<'py, PyList>> {
    let ts = PyList::empty(py);
    for t in &f.event_ts {
        ts.append(opt_datetime(py, *t)?)?;
    }
    Ok(ts)
}

#[pymethods]
impl OnlineResponse {
    /// Feast's shape: `{join key: [...], feature: [...], ...}`, one list
    /// entry per entity row. With `include_event_timestamps`, also
    /// `feature__event_timestamp` lists; with `include_statuses`, also
    /// `feature__status` lists of status names.
    #[pyo3(signature = (include_event_timestamps = false, include_statuses = false))]
    fn to_dict<'py>(
        &self,
        py: Python<'py>,
        include_event_timestamps: bool,
        include_statuses: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for k in &self.keys {
            match &k.values {
                KeyColumnValues::Int64(v) => d.set_item(&k.name, v)?,
                KeyColumnValues::String(v) => d.set_item(&k.name, v)?,
            }
        }
        for (f, name) in self.resp.features.iter().zip(&self.names) {
            let vals = PyList::empty(py);
            for v in &f.values {
                vals.append(value(py, v)?)?;
            }
            d.set_item(name, vals)?;
            if include_event_timestamps {
                d.set_item(format!("{name}__event_timestamp"), event_times(py, f)?)?;
            }
            if include_statuses {
                d.set_item(format!("{name}__status"), status_names(f))?;
            }
        }
        Ok(d)
    }

    /// A `pyarrow.Table`: the entity columns, then per feature its values,
    /// `feature__status` (string) and `feature__event_timestamp`
    /// (timestamp[us, UTC]) unless turned off.
    #[pyo3(signature = (include_statuses = true, include_event_timestamps = true))]
    fn to_arrow<'py>(
        &self,
        py: Python<'py>,
        include_statuses: bool,
        include_event_timestamps: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let b = self.arrow(include_statuses, include_event_timestamps)?;
        arrow_out::table(py, b.schema(), vec![b])
    }

    /// `to_arrow(...).to_pandas()`.
    #[pyo3(signature = (include_statuses = true, include_event_timestamps = true))]
    fn to_pandas<'py>(
        &self,
        py: Python<'py>,
        include_statuses: bool,
        include_event_timestamps: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.to_arrow(py, include_statuses, include_event_timestamps)?
            .call_method0("to_pandas")
    }

    /// `polars.from_arrow(to_arrow(...))` (needs polars installed).
    #[pyo3(signature = (include_statuses = true, include_event_timestamps = true))]
    fn to_polars<'py>(
        &self,
        py: Python<'py>,
        include_statuses: bool,
        include_event_timestamps: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let t = self.to_arrow(py, include_statuses, include_event_timestamps)?;
        py.import("polars")?.call_method1("from_arrow", (t,))
    }

    /// `{feature: [status name per entity row]}`.
    #[getter]
    fn statuses<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (f, name) in self.resp.features.iter().zip(&self.names) {
            d.set_item(name, status_names(f))?;
        }
        Ok(d)
    }

    /// `{feature: [event time of the version per entity row, or None]}`.
    #[getter]
    fn event_timestamps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (f, name) in self.resp.features.iter().zip(&self.names) {
            d.set_item(name, event_times(py, f)?)?;
        }
        Ok(d)
    }

    /// The output names of the features, in request order.
    #[getter]
    fn feature_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn __len__(&self) -> usize {
        self.resp.rows
    }

    fn __repr__(&self) -> String {
        format!(
            "OnlineResponse({} entity row(s), features {})",
            self.resp.rows,
            self.names.join(", ")
        )
    }
}
