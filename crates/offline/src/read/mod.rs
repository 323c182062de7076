//! One reader per input format: a Parquet, Arrow IPC, CSV or JSON Lines
//! file opened as a [`Source`] with an Arrow schema, then read as
//! [`Batches`] of Arrow record batches, a batch at a time (bounded memory).
//!
//! Ingest ([`crate::source`], [`crate::arrow_in`]) and the export's entity
//! table ([`crate::export::input`]) both read through here, so a file reads
//! the same wherever it is given: one set of cell rules ([`cells`]), one
//! timestamp rule ([`crate::timestamp`] for text, [`convert`] for Arrow
//! types) and one set of messages. What sits on top (binding columns to a
//! view, `--map`, join keys, label columns) is the caller's.
//!
//! - Parquet ([`parquet`]) and Arrow IPC ([`ipc`]) columns keep their Arrow
//!   types; only the projected columns are decoded.
//! - CSV ([`csv`]) and JSON Lines ([`jsonl`]) have no types: the caller
//!   [declares](Declared) the columns it needs and their [`CellType`]s; the
//!   other CSV columns are text, or with [`Columns::infer_rest`] typed by a
//!   first pass over the file. A JSON Lines schema is the declared columns,
//!   less the [omittable](Declared::omittable) ones that no line names.
//!
//! Messages name the row (1-based, a CSV header not counted; JSON Lines
//! also the line) and the column: `row 17, column txn_count: "abc" is not an
//! int64`. The caller adds the file.

pub mod cells;
pub mod convert;
mod csv;
mod ipc;
mod jsonl;
mod parquet;
mod text;

use std::fs::File;
use std::path::{Path, PathBuf};

use ::parquet::arrow::arrow_reader::ArrowReaderMetadata;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::Format;
pub use cells::CellType;
pub use parquet::Part;

/// Why a file cannot be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// The file has no bytes (callers say what it should have held).
    Empty,
    /// The file, or a row of it, is not acceptable: why, and where.
    Invalid(String),
}

impl ReadError {
    /// Why the file is not acceptable, `empty` if it has no bytes; or the
    /// I/O error that stopped its reading.
    pub fn reason(self, empty: &str) -> Result<String, std::io::Error> {
        match self {
            ReadError::Io(e) => Err(e),
            ReadError::Empty => Ok(empty.to_string()),
            ReadError::Invalid(reason) => Ok(reason),
        }
    }
}

/// A column a text format must be read with.
#[derive(Debug, Clone)]
pub struct Declared {
    /// Its name in the file.
    pub name: String,
    /// How messages name it (e.g. `src (mapped to col)`).
    pub label: String,
    pub ty: CellType,
    /// If set, an empty (CSV) or absent or null (JSON Lines) cell is this
    /// error.
    pub required: Option<String>,
    /// JSON Lines: the field may be absent from every line. Otherwise such
    /// a field is a missing column (a file of no rows has none missing).
    pub optional: bool,
    /// JSON Lines: if no line of the file has the field, the file has no
    /// such column (it is left out of the schema, as a CSV file without
    /// it would be). A first pass over the lines finds out, and stops as
    /// soon as every omittable field has been seen.
    pub omittable: bool,
}

/// The columns of a text format: declared ones, and what the rest are.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub declared: Vec<Declared>,
    /// CSV: type the undeclared columns by reading the whole file first
    /// (`Int64` if every non-empty cell is an integer, else `Float64` if a
    /// number, else `Boolean` if `true`/`false`, else `Utf8`), checking
    /// every declared cell on the way; and refuse any repeated column name.
    /// Without it they are `Utf8`, and only declared names must be unique.
    pub infer_rest: bool,
}

/// Batches of a file, all of one schema.
pub struct Batches {
    schema: SchemaRef,
    iter: Box<dyn Iterator<Item = Result<RecordBatch, ReadError>> + Send>,
}

impl Batches {
    fn new(
        schema: SchemaRef,
        iter: impl Iterator<Item = Result<RecordBatch, ReadError>> + Send + 'static,
    ) -> Batches {
        Batches {
            schema,
            iter: Box::new(iter),
        }
    }

    /// The batches of `iter`, counting their rows from `row`: an error is
    /// worded by `failed` with the number of rows read before it.
    fn counting<E>(
        schema: SchemaRef,
        mut row: u64,
        iter: impl Iterator<Item = Result<RecordBatch, E>> + Send + 'static,
        failed: impl Fn(u64, E) -> ReadError + Send + 'static,
    ) -> Batches {
        let iter = iter.map(move |b| match b {
            Ok(b) => {
                row += b.num_rows() as u64;
                Ok(b)
            }
            Err(e) => Err(failed(row, e)),
        });
        Batches::new(schema, iter)
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.iter.next()
    }
}

/// An input file, opened: its schema is known.
pub struct Source {
    path: PathBuf,
    schema: SchemaRef,
    inner: Inner,
}

enum Inner {
    Parquet(ArrowReaderMetadata),
    Ipc,
    Csv(csv::Table),
    Jsonl(jsonl::Table),
}

impl Source {
    /// Opens `path` as `format` and reads its schema (`columns` types the
    /// text formats).
    pub fn open(path: &Path, format: Format, columns: &Columns) -> Result<Source, ReadError> {
        let file = File::open(path).map_err(ReadError::Io)?;
        if file.metadata().map_err(ReadError::Io)?.len() == 0 {
            return Err(ReadError::Empty);
        }
        let (schema, inner) = match format {
            Format::Parquet => {
                let meta = parquet::open(&file)?;
                (meta.schema().clone(), Inner::Parquet(meta))
            }
            Format::Arrow => {
                let schema = ipc::open(&file)?;
                (schema, Inner::Ipc)
            }
            Format::Csv => {
                let t = csv::Table::open(file, columns)?;
                (t.schema(), Inner::Csv(t))
            }
            Format::JsonLines => {
                drop(file);
                let t = jsonl::Table::open(path, columns)?;
                (t.schema(), Inner::Jsonl(t))
            }
        };
        Ok(Source {
            path: path.to_path_buf(),
            schema,
            inner,
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The number of rows as known before reading: a Parquet file's
    /// metadata, or a CSV file's first pass ([`Columns::infer_rest`]).
    pub fn rows_hint(&self) -> Option<usize> {
        match &self.inner {
            Inner::Parquet(m) => usize::try_from(m.metadata().file_metadata().num_rows()).ok(),
            Inner::Csv(t) => t.rows(),
            _ => None,
        }
    }

    /// The number of rows if the first pass of a CSV file read them all
    /// and checked every declared cell.
    pub fn checked_rows(&self) -> Option<usize> {
        match &self.inner {
            Inner::Csv(t) => t.rows(),
            _ => None,
        }
    }

    /// A Parquet file's metadata (row groups, for parallel reads).
    pub fn parquet_metadata(&self) -> Option<&ArrowReaderMetadata> {
        match &self.inner {
            Inner::Parquet(m) => Some(m),
            _ => None,
        }
    }

    /// The batches of the columns `projection` (schema positions,
    /// ascending; a CSV file's come in the order given, which is the order
    /// a row's cells are checked in), or of every column, of at most
    /// `batch_rows` rows (Arrow IPC batches keep their written sizes).
    pub fn batches(
        &self,
        projection: Option<&[usize]>,
        batch_rows: usize,
    ) -> Result<Batches, ReadError> {
        let batch_rows = batch_rows.max(1);
        match &self.inner {
            Inner::Parquet(m) => {
                parquet::batches(&self.path, m, projection, &parquet::Part::All, batch_rows)
            }
            Inner::Ipc => ipc::batches(&self.path, projection),
            Inner::Csv(t) => t.batches(&self.path, projection, batch_rows),
            Inner::Jsonl(t) => t.batches(&self.path, batch_rows),
        }
    }

    /// The batches of part of a Parquet file (one reader of several).
    pub fn parquet_part(
        &self,
        projection: Option<&[usize]>,
        part: &parquet::Part,
        batch_rows: usize,
    ) -> Result<Batches, ReadError> {
        match &self.inner {
            Inner::Parquet(m) => {
                parquet::batches(&self.path, m, projection, part, batch_rows.max(1))
            }
            _ => Err(ReadError::Invalid("not a Parquet file".into())),
        }
    }
}

fn open_file(path: &Path) -> Result<File, ReadError> {
    File::open(path).map_err(ReadError::Io)
}

#[cfg(test)]
mod tests;
