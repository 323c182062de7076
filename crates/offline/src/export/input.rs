//! Entity tables: Parquet, Arrow IPC (file or stream) or CSV, read by
//! [`crate::read`] (the readers ingest uses) as Arrow record batches of
//! bounded size.
//!
//! Parquet and Arrow IPC columns keep their Arrow types and pass through to
//! the output untouched. A CSV table is typed by a first pass over the whole
//! file (which also checks every join key and event time):
//! - join-key columns get the key's type (`Int64` or `Utf8`); an empty cell
//!   is a null key;
//! - `event_timestamp` is parsed like ingest timestamps
//!   ([`crate::timestamp`]) into `Timestamp(µs, UTC)`; an empty cell
//!   is an error;
//! - cells are read by the rules of [`crate::read::cells`], with the same
//!   messages as ingest;
//! - every other column is `Int64` if all its non-empty cells are integers,
//!   else `Float64` if all are numbers, else `Boolean` if all are
//!   `true`/`false` (any case), else `Utf8` (verbatim). An empty cell is null.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::{EVENT_TIMESTAMP, Error, Plan};
use crate::Format;
use crate::read::{self, CellType, Columns, Declared, Part, ReadError, Source};
use strata_format::schema::KeyType;

/// The formats of entity tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Parquet,
    /// Arrow IPC, file or stream format.
    Arrow,
    Csv,
}

impl InputFormat {
    /// The format a file name's extension names: `.parquet`/`.pq`,
    /// `.arrow`/`.arrows`/`.ipc`/`.feather`, `.csv`.
    pub fn of(path: &Path) -> Option<InputFormat> {
        InputFormat::parse(path.extension()?.to_str()?)
    }

    /// A format by name or extension, as [`Format::parse`] (JSON Lines is
    /// not an entity table format).
    pub fn parse(name: &str) -> Option<InputFormat> {
        match Format::parse(name)? {
            Format::Parquet => Some(InputFormat::Parquet),
            Format::Arrow => Some(InputFormat::Arrow),
            Format::Csv => Some(InputFormat::Csv),
            Format::JsonLines => None,
        }
    }
}

impl InputFormat {
    fn format(self) -> Format {
        match self {
            InputFormat::Parquet => Format::Parquet,
            InputFormat::Arrow => Format::Arrow,
            InputFormat::Csv => Format::Csv,
        }
    }
}

/// A batch iterator over an entity table.
pub type Batches = Box<dyn Iterator<Item = Result<RecordBatch, Error>> + Send>;

/// An entity table file, opened.
pub struct EntityTable {
    path: PathBuf,
    format: InputFormat,
    source: Source,
    rows: Option<usize>,
}

/// How an entity table's CSV columns are read: join keys as their types,
/// `event_timestamp` required, the others typed by their cells.
fn columns(key_types: &HashMap<String, KeyType>) -> Columns {
    let mut declared: Vec<Declared> = key_types
        .iter()
        .filter(|(name, _)| name.as_str() != EVENT_TIMESTAMP)
        .map(|(name, ty)| Declared {
            name: name.clone(),
            label: name.clone(),
            ty: CellType::of_key(*ty),
            required: None,
            optional: true,
            omittable: false,
        })
        .collect();
    declared.push(Declared {
        name: EVENT_TIMESTAMP.into(),
        label: EVENT_TIMESTAMP.into(),
        ty: CellType::Timestamp,
        required: Some("the event timestamp is empty; every entity row needs one".into()),
        optional: false,
        omittable: false,
    });
    Columns {
        declared,
        infer_rest: true,
    }
}

impl EntityTable {
    /// Opens `path` and reads its schema; `key_types` gives the type of each
    /// join-key column (used to type a CSV file, whose cells are all checked
    /// here).
    pub fn open(
        path: &Path,
        format: Option<InputFormat>,
        key_types: &HashMap<String, KeyType>,
    ) -> Result<EntityTable, Error> {
        let format =
            format.or_else(|| InputFormat::of(path)).ok_or_else(|| {
                Error::Input {
            path: path.to_path_buf(),
            reason:
                "unknown file type; name it *.parquet, *.arrow or *.csv, or pass --entities-format"
                    .into(),
        }
            })?;
        let source = Source::open(path, format.format(), &columns(key_types))
            .map_err(|e| read_error(path, e))?;
        Ok(EntityTable {
            path: path.to_path_buf(),
            format,
            rows: source.checked_rows(),
            source,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> InputFormat {
        self.format
    }

    pub fn schema(&self) -> SchemaRef {
        self.source.schema().clone()
    }

    /// The number of rows, once known (after [`EntityTable::validate`]).
    pub fn rows(&self) -> Option<usize> {
        self.rows
    }

    /// The number of rows as the file says before it is read (Parquet
    /// metadata; CSV, which is read when opened), if it says.
    pub fn rows_hint(&self) -> Option<usize> {
        self.rows.or(self.source.rows_hint())
    }

    /// Reads the join-key and event-time columns of every row and checks
    /// them against `plan`; returns the number of rows. Nothing is written
    /// before this succeeds.
    pub fn validate(&mut self, plan: &Plan) -> Result<usize, Error> {
        if let Some(n) = self.rows {
            return Ok(n); // a CSV file was checked while it was typed
        }
        let cols = plan.checked_columns();
        let mut rows = 0;
        for batch in self.read(Some(&cols), 64 * 1024)? {
            let batch = batch?;
            plan.check_batch(&batch, &cols, rows)
                .map_err(|e| e.in_file(&self.path))?;
            rows += batch.num_rows();
        }
        self.rows = Some(rows);
        Ok(rows)
    }

    /// The table's batches of at most `batch_rows` rows (Arrow IPC batches
    /// keep their written sizes). A Parquet file of several row groups is
    /// read by `readers` threads at once, each reading up to `ahead_rows`
    /// rows ahead of the consumer.
    pub fn batches(
        &self,
        batch_rows: usize,
        readers: usize,
        ahead_rows: usize,
    ) -> Result<Batches, Error> {
        let groups = self
            .source
            .parquet_metadata()
            .map_or(0, |m| m.metadata().num_row_groups());
        if readers > 1 && groups > 1 {
            return self.parquet_parallel(groups, batch_rows, readers, ahead_rows);
        }
        self.read(None, batch_rows)
    }

    /// Contiguous ranges of row groups read by several threads, drained in
    /// order.
    fn parquet_parallel(
        &self,
        row_groups: usize,
        batch_rows: usize,
        readers: usize,
        ahead_rows: usize,
    ) -> Result<Batches, Error> {
        let per = row_groups.div_ceil(readers);
        let ahead = ahead_rows.div_ceil(batch_rows.max(1)).max(1);
        let group_rows: Vec<u64> = self.source.parquet_metadata().map_or(Vec::new(), |m| {
            let md = m.metadata();
            (0..md.num_row_groups())
                .map(|g| u64::try_from(md.row_group(g).num_rows()).unwrap_or(0))
                .collect()
        });
        let mut receivers = Vec::with_capacity(readers);
        for r in 0..readers {
            let groups: Vec<usize> = (r * per..((r + 1) * per).min(row_groups)).collect();
            let Some(&first) = groups.first() else {
                break;
            };
            let part = Part::Groups {
                groups,
                first_row: group_rows.iter().take(first).sum(),
            };
            let reader = self
                .source
                .parquet_part(None, &part, batch_rows)
                .map_err(|e| read_error(&self.path, e))?;
            let path = self.path.clone();
            let (tx, rx) = std::sync::mpsc::sync_channel(ahead);
            std::thread::Builder::new()
                .name("strata-export-read".into())
                .spawn(move || {
                    for b in reader {
                        if tx.send(b.map_err(|e| read_error(&path, e))).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|source| Error::Io {
                    path: self.path.clone(),
                    source,
                })?;
            receivers.push(rx);
        }
        Ok(Box::new(
            receivers.into_iter().flat_map(|rx| rx.into_iter()),
        ))
    }

    /// Batches of the columns `projection` (input column indices,
    /// ascending), or of all columns.
    fn read(&self, projection: Option<&[usize]>, batch_rows: usize) -> Result<Batches, Error> {
        let path = self.path.clone();
        let batches: read::Batches = self
            .source
            .batches(projection, batch_rows)
            .map_err(|e| read_error(&path, e))?;
        Ok(Box::new(
            batches.map(move |b| b.map_err(|e| read_error(&path, e))),
        ))
    }
}

/// A reader's error about the entity table at `path`.
fn read_error(path: &Path, e: ReadError) -> Error {
    let path = path.to_path_buf();
    match e.reason(
        "the file is empty; an entity table has the join-key columns, event_timestamp and any label columns",
    ) {
        Ok(reason) => Error::Input { path, reason },
        Err(source) => Error::Io { path, source },
    }
}
