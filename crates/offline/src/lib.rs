//! File import, and point-in-time export ([`export`]).
//!
//! [`read_file`] reads a CSV, Parquet, Arrow IPC or JSON Lines file into [`RowWrite`]s for one
//! feature view and validates **all** of it before anything is written;
//! [`ingest::ingest_file`] then writes the rows in batches.
//!
//! Columns, found by name (other columns are ignored):
//! - the view's join keys (a null or empty key is an error);
//! - `event_timestamp` (required, never null);
//! - `created_timestamp` (optional; a null cell means "the store's clock");
//! - every feature of the view (a missing feature column is an error; a null
//!   cell is a null value).
//!
//! Files are read by [`read`], one reader per format (the same readers
//! the export's entity table uses); this crate's root and [`source`] bind
//! the columns to the view:
//! - CSV and JSON Lines cells as [`read::cells`] reads them, typed by the
//!   view (`bytes` as hex, `list<float32>` as `[1.0, 2.5]` or `1.0;2.5`).
//! - Parquet and Arrow IPC: Arrow types matching the feature type (see
//!   [`read::convert`]), dictionary-encoded columns included; a column of
//!   Arrow type `Null` is all nulls of the declared type.
//! - Timestamps: see [`timestamp`] for text; in Arrow any `Timestamp` unit
//!   with or without a zone (instants, read as UTC), `Int64` microseconds,
//!   `Date32` and `Date64`.
//!
//! Errors name the file, the 1-based data row (the CSV header is not
//! counted) and the column: `row 17, column txn_count: "abc" is not an int64`.

pub mod arrow_in;
pub mod collections;
pub mod encode;
pub mod export;
pub mod glob;
pub mod ingest;
pub mod read;
pub mod source;
/// Timestamps as text (RFC 3339), kept in the store crate.
pub use strata_store::timestamp;

use std::path::{Path, PathBuf};

use strata_format::key::{self, TOMBSTONE_TS};
use strata_format::schema::KeyType;
use strata_store::catalog::{Catalog, FeatureView, JoinKey};
use strata_store::{self as store, RowWrite};

pub use ingest::{IngestOptions, IngestReport, file_digest, ingest, ingest_file};

/// Name of the event-time column of inputs.
pub const EVENT_TIMESTAMP: &str = "event_timestamp";
/// Name of the optional created-time column of inputs.
pub const CREATED_TIMESTAMP: &str = "created_timestamp";

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The input is not acceptable; nothing was read into the store.
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "{path}: unknown file type; name the file *.csv, *.parquet, *.pq, *.arrow, *.arrows, *.ipc, *.feather, *.jsonl or *.ndjson, or pass --format"
    )]
    UnknownFormat { path: PathBuf },
    /// The file breaks the view's expectations and its policy is `reject`.
    #[error("{path}: the file breaks the expectations of {view} (quality = \"reject\"):\n{report}")]
    Quality {
        path: PathBuf,
        view: String,
        report: String,
    },
    #[error("unknown feature view {0:?}; `strata apply` declares views")]
    UnknownView(String),
    #[error(
        "feature view {0:?} is an aggregation view, computed from its source's events; ingest the source view instead"
    )]
    Computed(String),
    #[error(
        "feature view {0:?} is a derived view, evaluated from its inputs at read time; ingest its input views instead"
    )]
    Derived(String),
    /// A file failed after the files `done` were ingested (they stay).
    #[error("{source}; the file(s) before it were ingested: {}", done.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    AfterFiles {
        done: Vec<PathBuf>,
        #[source]
        source: Box<Error>,
    },
    /// The store refused an operation before anything was written.
    #[error(transparent)]
    Store(Box<store::Error>),
    /// Validation failed: the store was not touched.
    #[error("{0}; nothing was written")]
    NothingWritten(Box<Error>),
    /// A write failed part way: the first `written` rows are in the store.
    #[error(
        "writing {path} into {view} failed after {written} of {total} rows: {source}; re-running the ingest is safe for rows with a created_timestamp, others will get a second version"
    )]
    Write {
        path: PathBuf,
        view: String,
        written: usize,
        total: usize,
        #[source]
        source: Box<store::Error>,
    },
}

/// The input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    /// Arrow IPC, file (`ARROW1` magic) or stream format (told apart by content).
    Arrow,
    /// JSON Lines: one JSON object per line.
    JsonLines,
}

impl Format {
    /// The format a file name's extension names.
    pub fn of(path: &Path) -> Option<Format> {
        Format::parse(path.extension()?.to_str()?)
    }

    /// A format by name or extension (`--format`).
    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            "arrow" | "arrows" | "ipc" | "feather" => Some(Format::Arrow),
            "jsonl" | "ndjson" | "json" => Some(Format::JsonLines),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
            Format::JsonLines => "jsonl",
        }
    }
}

/// What an input must contain for one view.
#[derive(Debug, Clone)]
pub struct Target {
    pub view: FeatureView,
    /// The view's join keys, in key order.
    pub keys: Vec<JoinKey>,
    /// Renames `(input column, view column)` from `--map`.
    pub renames: Vec<(String, String)>,
}

impl Target {
    pub fn new(cat: &Catalog, view: &str) -> Result<Target, Error> {
        let v = cat
            .view(view)
            .ok_or_else(|| Error::UnknownView(view.to_string()))?;
        Ok(Target {
            view: v.clone(),
            keys: cat.key_columns(v),
            renames: Vec::new(),
        })
    }

    /// The input column that provides the view column `col`.
    pub fn source_name<'a>(&'a self, col: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(_, to)| to == col)
            .map_or(col, |(from, _)| from.as_str())
    }

    /// `col`, or `src (mapped to col)` when renamed, for messages.
    pub fn describe(&self, col: &str) -> String {
        match self.source_name(col) {
            s if s == col => col.to_string(),
            s => format!("{s} (mapped to {col})"),
        }
    }

    /// Every column the input must have, in the order errors list them.
    pub fn required_columns(&self) -> Vec<&str> {
        let mut cols: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
        cols.push(EVENT_TIMESTAMP);
        cols.extend(self.view.features.iter().map(|f| f.name.as_str()));
        cols
    }

    fn key_types(&self) -> Vec<KeyType> {
        self.keys.iter().map(|k| k.ty).collect()
    }
}

/// The message for required columns an input lacks.
pub(crate) fn missing_columns(missing: &[&str], present: &[&str]) -> String {
    format!(
        "missing column(s) {}; the file has {}",
        missing.join(", "),
        column_list(present)
    )
}

/// Column names, listed; or `no columns`.
pub(crate) fn column_list<S: std::borrow::Borrow<str>>(names: &[S]) -> String {
    if names.is_empty() {
        return "no columns".to_string();
    }
    names.join(", ")
}

/// Reads and validates a whole input file for `view`; writes nothing.
pub fn read_file(cat: &Catalog, view: &str, path: &Path) -> Result<Vec<RowWrite>, Error> {
    let target = Target::new(cat, view)?;
    let format = Format::of(path).ok_or_else(|| Error::UnknownFormat {
        path: path.to_path_buf(),
    })?;
    let rows = source::read_rows(&target, path, format)?;
    check_rows(&target, &rows).map_err(|reason| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(rows)
}

/// Checks what the store would refuse at write time (reserved timestamps,
/// oversized keys and values), so that a refusal happens before the first
/// batch is written.
pub fn check_rows(target: &Target, rows: &[RowWrite]) -> Result<(), String> {
    let types = target.key_types();
    let schema = target.view.schema();
    let (mut k, mut r) = (Vec::new(), Vec::new());
    for (i, w) in rows.iter().enumerate() {
        let n = i + 1;
        if w.event_ts == TOMBSTONE_TS {
            return Err(format!(
                "row {n}, column {EVENT_TIMESTAMP}: {TOMBSTONE_TS} is reserved; use a smaller timestamp"
            ));
        }
        k.clear();
        key::encode_entity_key(&types, &w.key, &mut k)
            .map_err(|e| format!("row {n}: the key is not valid: {e}"))?;
        strata_store::encode_version_row(&target.view, &schema, &w.values, &mut r)
            .map_err(|e| name_field_error(target, &format!("row {n}"), &e))?;
    }
    Ok(())
}

/// An `encode_row` error ("field 3 ...") as `row N, column NAME: ...`.
pub(crate) fn name_field_error(target: &Target, at: &str, e: &str) -> String {
    let index = e.strip_prefix("field ").and_then(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        rest[..digits].parse::<usize>().ok()
    });
    let named = index
        .and_then(|j| target.view.features.get(j))
        .map_or(String::new(), |f| {
            format!(", column {}", target.describe(&f.name))
        });
    format!("{at}{named}: {e}")
}

/// A catalog with one view of every feature type, for the tests.
#[cfg(test)]
pub(crate) fn test_catalog() -> Catalog {
    let text = include_str!("testdata/all-types.toml");
    let defs = strata_store::catalog::defs::parse(text).expect("test definitions parse");
    strata_store::catalog::defs::apply(
        &Catalog {
            next_view_id: 1,
            ..Catalog::default()
        },
        &defs,
    )
    .expect("test definitions apply")
}

/// A row of `all_types` in [`test_catalog`]: the values of its features
/// `i f g b s y t e`, in order.
#[cfg(test)]
type AllTypes<'a> = (i64, f64, f32, bool, &'a str, &'a [u8], i64, &'a [f32]);

/// The values of a row of `all_types` in [`test_catalog`].
#[cfg(test)]
pub(crate) fn all_types_values(
    (i, f, g, b, s, y, t, e): AllTypes<'_>,
) -> Vec<strata_format::schema::Value> {
    use strata_format::schema::Value;
    vec![
        Value::Int64(i),
        Value::Float64(f),
        Value::Float32(g),
        Value::Bool(b),
        Value::String(s.into()),
        Value::Bytes(y.to_vec()),
        Value::Timestamp(t),
        Value::ListFloat32(e.to_vec()),
    ]
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod read_tests;

#[cfg(test)]
#[path = "parquet_tests.rs"]
mod parquet_tests;

#[cfg(test)]
#[path = "evolved_tests.rs"]
mod evolved_tests;
