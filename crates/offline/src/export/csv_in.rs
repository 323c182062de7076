//! Reading CSV entity tables into typed Arrow batches (see [`super::input`]
//! for the typing rules).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};

use super::Error;
use crate::timestamp;

/// The type of a CSV column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CsvType {
    Int64,
    Float64,
    Bool,
    Utf8,
    Timestamp,
}

impl CsvType {
    pub(super) fn arrow(self) -> DataType {
        match self {
            CsvType::Int64 => DataType::Int64,
            CsvType::Float64 => DataType::Float64,
            CsvType::Bool => DataType::Boolean,
            CsvType::Utf8 => DataType::Utf8,
            CsvType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}

pub(super) fn csv_reader(file: File) -> csv::Reader<BufReader<File>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::with_capacity(1 << 20, file))
}

/// The column names of a CSV header (a byte-order mark and spaces trimmed).
pub(super) fn header(
    path: &Path,
    reader: &mut csv::Reader<BufReader<File>>,
) -> Result<Vec<String>, Error> {
    let h = reader.headers().map_err(|e| Error::Input {
        path: path.to_path_buf(),
        reason: format!("bad header row: {e}"),
    })?;
    Ok(h.iter()
        .enumerate()
        .map(|(i, n)| {
            let n = if i == 0 {
                n.trim_start_matches('\u{feff}')
            } else {
                n
            };
            n.trim().to_string()
        })
        .collect())
}

/// A parsed CSV cell of a typed column.
pub(super) enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'a str),
    Time(i64),
}

pub(super) fn parse_cell(ty: CsvType, cell: &str) -> Result<Cell<'_>, String> {
    if cell.is_empty() {
        return match ty {
            CsvType::Timestamp => {
                Err("the event timestamp is empty; every entity row needs one".into())
            }
            _ => Ok(Cell::Null),
        };
    }
    let t = cell.trim();
    Ok(match ty {
        CsvType::Int64 => Cell::Int(
            t.parse()
                .map_err(|_| format!("{cell:?} is not an int64 (the join key is int64)"))?,
        ),
        CsvType::Float64 => {
            Cell::Float(t.parse().map_err(|_| format!("{cell:?} is not a number"))?)
        }
        CsvType::Bool => Cell::Bool(t.eq_ignore_ascii_case("true")),
        CsvType::Utf8 => Cell::Str(cell),
        CsvType::Timestamp => Cell::Time(
            timestamp::parse(t).map_err(|e| format!("{cell:?} is not a timestamp: {e}"))?,
        ),
    })
}

/// Typed batches of a CSV file.
pub(super) struct CsvBatches {
    pub(super) path: PathBuf,
    pub(super) reader: csv::Reader<BufReader<File>>,
    /// The columns read, ascending.
    pub(super) cols: Vec<usize>,
    /// The type of every column of the file.
    pub(super) types: Vec<CsvType>,
    pub(super) schema: SchemaRef,
    pub(super) batch_rows: usize,
    /// Data rows read so far.
    pub(super) row: usize,
    pub(super) done: bool,
}

enum ColBuilder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Str(StringBuilder),
    Time(TimestampMicrosecondBuilder),
}

impl CsvBatches {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, Error> {
        let n = self.batch_rows;
        let mut builders: Vec<ColBuilder> = self
            .cols
            .iter()
            .map(|&c| match self.types[c] {
                CsvType::Int64 => ColBuilder::Int(Int64Builder::with_capacity(n)),
                CsvType::Float64 => ColBuilder::Float(Float64Builder::with_capacity(n)),
                CsvType::Bool => ColBuilder::Bool(BooleanBuilder::with_capacity(n)),
                CsvType::Utf8 => ColBuilder::Str(StringBuilder::with_capacity(n, n * 8)),
                CsvType::Timestamp => ColBuilder::Time(
                    TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
                ),
            })
            .collect();
        let mut rec = csv::StringRecord::new();
        let mut got = 0;
        while got < n {
            let more = self
                .reader
                .read_record(&mut rec)
                .map_err(|e| Error::Input {
                    path: self.path.clone(),
                    reason: format!("row {}: {e}", self.row + 1),
                })?;
            if !more {
                self.done = true;
                break;
            }
            self.row += 1;
            got += 1;
            for (j, (b, &c)) in builders.iter_mut().zip(&self.cols).enumerate() {
                let text = rec.get(c).unwrap_or("");
                let cell = parse_cell(self.types[c], text).map_err(|reason| Error::Input {
                    path: self.path.clone(),
                    reason: format!(
                        "row {}, column {}: {reason}",
                        self.row,
                        self.schema.field(j).name()
                    ),
                })?;
                match (b, cell) {
                    (ColBuilder::Int(b), Cell::Int(x)) => b.append_value(x),
                    (ColBuilder::Float(b), Cell::Float(x)) => b.append_value(x),
                    (ColBuilder::Bool(b), Cell::Bool(x)) => b.append_value(x),
                    (ColBuilder::Str(b), Cell::Str(s)) => b.append_value(s),
                    (ColBuilder::Time(b), Cell::Time(t)) => b.append_value(t),
                    (ColBuilder::Int(b), _) => b.append_null(),
                    (ColBuilder::Float(b), _) => b.append_null(),
                    (ColBuilder::Bool(b), _) => b.append_null(),
                    (ColBuilder::Str(b), _) => b.append_null(),
                    (ColBuilder::Time(b), _) => b.append_null(),
                }
            }
        }
        if got == 0 {
            return Ok(None);
        }
        let columns: Vec<ArrayRef> = builders
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    ColBuilder::Int(mut b) => Arc::new(b.finish()),
                    ColBuilder::Float(mut b) => Arc::new(b.finish()),
                    ColBuilder::Bool(mut b) => Arc::new(b.finish()),
                    ColBuilder::Str(mut b) => Arc::new(b.finish()),
                    ColBuilder::Time(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(self.schema.clone(), columns)
            .map(Some)
            .map_err(|e| Error::Internal(format!("assembling a CSV batch: {e}")))
    }
}

impl Iterator for CsvBatches {
    type Item = Result<RecordBatch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
