//! Entity tables: Parquet, Arrow IPC (file or stream) or CSV, read as
//! Arrow record batches of bounded size.
//!
//! Parquet and Arrow IPC columns keep their Arrow types and pass through to
//! the output untouched. A CSV table is typed by a first pass over the whole
//! file (which also checks every join key and event time):
//! - join-key columns get the key's type (`Int64` or `Utf8`); an empty cell
//!   is a null key;
//! - `event_timestamp` is parsed like ingest timestamps
//!   ([`crate::timestamp`]) into `Timestamp(µs, UTC)`; an empty cell
//!   is an error;
//! - every other column is `Int64` if all its non-empty cells are integers,
//!   else `Float64` if all are numbers, else `Boolean` if all are
//!   `true`/`false` (any case), else `Utf8` (verbatim). An empty cell is null.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::csv_in::{CsvBatches, CsvType, csv_reader, header, parse_cell};
use super::{EVENT_TIMESTAMP, Error, Plan};
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
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        InputFormat::parse(&ext)
    }

    pub fn parse(name: &str) -> Option<InputFormat> {
        match name {
            "parquet" | "pq" => Some(InputFormat::Parquet),
            "arrow" | "arrows" | "ipc" | "feather" => Some(InputFormat::Arrow),
            "csv" => Some(InputFormat::Csv),
            _ => None,
        }
    }
}

/// A batch iterator over an entity table.
pub type Batches = Box<dyn Iterator<Item = Result<RecordBatch, Error>> + Send>;

/// An entity table file, opened.
pub struct EntityTable {
    path: PathBuf,
    format: InputFormat,
    schema: SchemaRef,
    csv_types: Vec<CsvType>,
    rows: Option<usize>,
    /// Parquet: the row count and row groups of the file's metadata.
    parquet_rows: Option<usize>,
    row_groups: usize,
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
        let invalid = |reason: String| Error::Input {
            path: path.to_path_buf(),
            reason,
        };
        let format = format.or_else(|| InputFormat::of(path)).ok_or_else(|| {
            invalid(
                "unknown file type; name it *.parquet, *.arrow or *.csv, or pass --entities-format"
                    .into(),
            )
        })?;
        let mut file = open_file(path)?;
        let len = file
            .metadata()
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        if len == 0 {
            return Err(invalid(
                "the file is empty; an entity table has the join-key columns, event_timestamp and any label columns".into(),
            ));
        }
        let mut table = EntityTable {
            path: path.to_path_buf(),
            format,
            schema: Arc::new(Schema::empty()),
            csv_types: Vec::new(),
            rows: None,
            parquet_rows: None,
            row_groups: 0,
        };
        match format {
            InputFormat::Parquet => {
                let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
                    invalid(format!(
                        "not a readable Parquet file (damaged or truncated?): {e}"
                    ))
                })?;
                table.schema = b.schema().clone();
                table.parquet_rows = usize::try_from(b.metadata().file_metadata().num_rows()).ok();
                table.row_groups = b.metadata().num_row_groups();
            }
            InputFormat::Arrow => {
                let stream = is_ipc_stream(&mut file).map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                table.schema = if stream {
                    arrow_ipc::reader::StreamReader::try_new_buffered(file, None)
                        .map_err(|e| invalid(format!("not a readable Arrow IPC stream: {e}")))?
                        .schema()
                } else {
                    arrow_ipc::reader::FileReader::try_new_buffered(file, None)
                        .map_err(|e| invalid(format!("not a readable Arrow IPC file: {e}")))?
                        .schema()
                };
            }
            InputFormat::Csv => table.type_csv(key_types)?,
        }
        Ok(table)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> InputFormat {
        self.format
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The number of rows, once known (after [`EntityTable::validate`]).
    pub fn rows(&self) -> Option<usize> {
        self.rows
    }

    /// The number of rows as the file says before it is read (Parquet
    /// metadata; CSV, which is read when opened), if it says.
    pub fn rows_hint(&self) -> Option<usize> {
        self.rows.or(self.parquet_rows)
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
        if self.format == InputFormat::Parquet && readers > 1 && self.row_groups > 1 {
            return self.parquet_parallel(batch_rows, readers, ahead_rows);
        }
        self.read(None, batch_rows)
    }

    /// Contiguous ranges of row groups read by several threads, drained in
    /// order.
    fn parquet_parallel(
        &self,
        batch_rows: usize,
        readers: usize,
        ahead_rows: usize,
    ) -> Result<Batches, Error> {
        let per = self.row_groups.div_ceil(readers);
        let ahead = ahead_rows.div_ceil(batch_rows.max(1)).max(1);
        let mut receivers = Vec::with_capacity(readers);
        for r in 0..readers {
            let groups: Vec<usize> = (r * per..((r + 1) * per).min(self.row_groups)).collect();
            if groups.is_empty() {
                break;
            }
            let path = self.path.clone();
            let invalid = move |reason: String| Error::Input {
                path: path.clone(),
                reason,
            };
            let reader = ParquetRecordBatchReaderBuilder::try_new(open_file(&self.path)?)
                .and_then(|b| {
                    b.with_row_groups(groups)
                        .with_batch_size(batch_rows.max(1))
                        .build()
                })
                .map_err(|e| invalid(format!("cannot read the Parquet data: {e}")))?;
            let (tx, rx) = std::sync::mpsc::sync_channel(ahead);
            std::thread::Builder::new()
                .name("strata-export-read".into())
                .spawn(move || {
                    for b in reader {
                        let b =
                            b.map_err(|e| invalid(format!("cannot read the Parquet data: {e}")));
                        if tx.send(b).is_err() {
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
        let invalid = move |reason: String| Error::Input {
            path: path.clone(),
            reason,
        };
        let file = open_file(&self.path)?;
        Ok(match self.format {
            InputFormat::Parquet => {
                let b = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| invalid(format!("not a readable Parquet file: {e}")))?;
                let b = match projection {
                    Some(p) => {
                        let mask = ProjectionMask::roots(b.parquet_schema(), p.iter().copied());
                        b.with_projection(mask)
                    }
                    None => b,
                };
                let reader = b
                    .with_batch_size(batch_rows.max(1))
                    .build()
                    .map_err(|e| invalid(format!("cannot read the Parquet data: {e}")))?;
                Box::new(reader.map(move |b| {
                    b.map_err(|e| invalid(format!("cannot read the Parquet data: {e}")))
                }))
            }
            InputFormat::Arrow => {
                let mut file = file;
                let stream = is_ipc_stream(&mut file).map_err(|source| Error::Io {
                    path: self.path.clone(),
                    source,
                })?;
                let p = projection.map(<[usize]>::to_vec);
                let it: Box<dyn Iterator<Item = _> + Send> = if stream {
                    Box::new(
                        arrow_ipc::reader::StreamReader::try_new_buffered(file, p).map_err(
                            |e| invalid(format!("not a readable Arrow IPC stream: {e}")),
                        )?,
                    )
                } else {
                    Box::new(
                        arrow_ipc::reader::FileReader::try_new_buffered(file, p)
                            .map_err(|e| invalid(format!("not a readable Arrow IPC file: {e}")))?,
                    )
                };
                Box::new(it.map(move |b| {
                    b.map_err(|e| invalid(format!("cannot read the Arrow IPC data: {e}")))
                }))
            }
            InputFormat::Csv => {
                let mut reader = csv_reader(file);
                header(&self.path, &mut reader)?;
                let all: Vec<usize> = (0..self.csv_types.len()).collect();
                let cols = projection.map_or(all, <[usize]>::to_vec);
                let fields: Vec<Field> =
                    cols.iter().map(|&c| self.schema.field(c).clone()).collect();
                Box::new(CsvBatches {
                    path: self.path.clone(),
                    reader,
                    cols,
                    types: self.csv_types.clone(),
                    schema: Arc::new(Schema::new(fields)),
                    batch_rows: batch_rows.max(1),
                    row: 0,
                    done: false,
                })
            }
        })
    }

    /// Types the columns of a CSV file by reading all of it.
    fn type_csv(&mut self, key_types: &HashMap<String, KeyType>) -> Result<(), Error> {
        let mut reader = csv_reader(open_file(&self.path)?);
        let names = header(&self.path, &mut reader)?;
        let mut seen = HashMap::new();
        for n in &names {
            if seen.insert(n.as_str(), ()).is_some() {
                return Err(Error::Input {
                    path: self.path.clone(),
                    reason: format!("the header names the column {n} more than once"),
                });
            }
        }
        let fixed: Vec<Option<CsvType>> = names
            .iter()
            .map(|n| match (n.as_str(), key_types.get(n)) {
                (EVENT_TIMESTAMP, _) => Some(CsvType::Timestamp),
                (_, Some(KeyType::Int64)) => Some(CsvType::Int64),
                (_, Some(KeyType::String)) => Some(CsvType::Utf8),
                _ => None,
            })
            .collect();
        // Per free column: could it still be an int, a float, a bool?
        let mut maybe = vec![[true; 3]; names.len()];
        let mut filled = vec![false; names.len()];
        let mut rec = csv::StringRecord::new();
        let mut row = 0usize;
        loop {
            match reader.read_record(&mut rec) {
                Ok(true) => row += 1,
                Ok(false) => break,
                Err(e) => {
                    return Err(Error::Input {
                        path: self.path.clone(),
                        reason: format!("row {}: {e}", row + 1),
                    });
                }
            }
            for (c, cell) in rec.iter().enumerate() {
                match fixed[c] {
                    Some(ty) => {
                        parse_cell(ty, cell).map_err(|reason| Error::Input {
                            path: self.path.clone(),
                            reason: format!("row {row}, column {}: {reason}", names[c]),
                        })?;
                    }
                    None if cell.is_empty() => {}
                    None => {
                        filled[c] = true;
                        let m = &mut maybe[c];
                        let t = cell.trim();
                        m[0] = m[0] && t.parse::<i64>().is_ok();
                        m[1] = m[1] && t.parse::<f64>().is_ok();
                        m[2] = m[2]
                            && (t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false"));
                    }
                }
            }
        }
        self.csv_types = fixed
            .iter()
            .zip(&maybe)
            .map(|(f, m)| {
                f.unwrap_or(match m {
                    [true, _, _] => CsvType::Int64,
                    [_, true, _] => CsvType::Float64,
                    [_, _, true] => CsvType::Bool,
                    _ => CsvType::Utf8,
                })
            })
            .collect();
        // A free column with no non-empty cell is Utf8 (all null).
        for ((t, f), any) in self.csv_types.iter_mut().zip(&fixed).zip(&filled) {
            if f.is_none() && !any {
                *t = CsvType::Utf8;
            }
        }
        let fields: Vec<Field> = names
            .iter()
            .zip(&self.csv_types)
            .map(|(n, t)| Field::new(n, t.arrow(), true))
            .collect();
        self.schema = Arc::new(Schema::new(fields));
        self.rows = Some(row);
        Ok(())
    }
}

fn open_file(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether an Arrow IPC file is in the stream format (no `ARROW1` magic).
fn is_ipc_stream(file: &mut File) -> std::io::Result<bool> {
    let mut magic = [0u8; 6];
    let n = file.read(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(!(n == 6 && &magic == b"ARROW1"))
}
