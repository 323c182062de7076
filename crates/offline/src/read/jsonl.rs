//! JSON Lines: one JSON object per line (blank lines are skipped), read
//! into batches of the declared columns ([`super::Columns`]); other fields
//! are ignored. A field absent or `null` is a null cell (an error if the
//! column is required); a declared column that no line has is a missing
//! column, unless optional.

use std::fs::File;
use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
use serde_json::Value as Json;

use super::cells::{self, Builder, Cell};
use super::{Batches, Columns, Declared, ReadError, open_file};

/// The declared columns of a JSON Lines file.
pub(super) struct Table {
    columns: Vec<Declared>,
    schema: SchemaRef,
}

impl Table {
    pub(super) fn new(spec: &Columns) -> Table {
        let fields: Vec<Field> = spec
            .declared
            .iter()
            .map(|d| Field::new(&d.name, d.ty.arrow(), true))
            .collect();
        Table {
            columns: spec.declared.clone(),
            schema: Arc::new(Schema::new(fields)),
        }
    }

    pub(super) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub(super) fn batches(&self, path: &Path, batch_rows: usize) -> Result<Batches, ReadError> {
        let lines = BufReader::with_capacity(1 << 20, open_file(path)?).lines();
        let iter = JsonBatches {
            lines,
            seen: vec![false; self.columns.len()],
            columns: self.columns.clone(),
            schema: self.schema.clone(),
            batch_rows,
            line: 0,
            row: 0,
            pending: None,
            done: false,
        };
        Ok(Batches::new(self.schema.clone(), iter))
    }
}

struct JsonBatches {
    lines: Lines<BufReader<File>>,
    columns: Vec<Declared>,
    /// Per column, whether a line had the field.
    seen: Vec<bool>,
    schema: SchemaRef,
    batch_rows: usize,
    /// Lines and rows read so far.
    line: usize,
    row: usize,
    pending: Option<ReadError>,
    done: bool,
}

impl JsonBatches {
    /// The next object, or `None` at the end.
    fn next_object(&mut self) -> Result<Option<serde_json::Map<String, Json>>, ReadError> {
        loop {
            let Some(line) = self.lines.next() else {
                return Ok(None);
            };
            self.line += 1;
            let l = self.line;
            let line = line.map_err(|e| ReadError::Invalid(format!("line {l}: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            return serde_json::from_str(&line).map(Some).map_err(|e| {
                ReadError::Invalid(format!(
                    "row {} (line {l}): not a JSON object: {e}",
                    self.row + 1
                ))
            });
        }
    }

    /// Reads the cells of one object, every one before any is appended.
    fn cells<'a>(
        &mut self,
        obj: &'a serde_json::Map<String, Json>,
    ) -> Result<Vec<Cell<'a>>, ReadError> {
        let (row, line) = (self.row + 1, self.line);
        let mut out = Vec::with_capacity(self.columns.len());
        for (d, seen) in self.columns.iter().zip(self.seen.iter_mut()) {
            let at = |why: &str| {
                ReadError::Invalid(format!("row {row} (line {line}), field {}: {why}", d.label))
            };
            let v = obj.get(&d.name);
            *seen |= v.is_some();
            let c = match v {
                None => Cell::Null,
                Some(v) => cells::from_json(d.ty, v).map_err(|e| at(&e))?,
            };
            match (&c, &d.required) {
                (Cell::Null, Some(why)) => return Err(at(why)),
                _ => out.push(c),
            }
        }
        Ok(out)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ReadError> {
        let mut builders: Vec<Builder> = self
            .columns
            .iter()
            .map(|d| Builder::new(d.ty, self.batch_rows))
            .collect();
        let mut got = 0;
        while got < self.batch_rows {
            let obj = match self.next_object() {
                Ok(Some(o)) => o,
                Ok(None) => {
                    self.done = true;
                    self.pending = self.missing();
                    break;
                }
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            };
            match self.cells(&obj) {
                Ok(cells) => {
                    for (b, c) in builders.iter_mut().zip(cells) {
                        b.append(c);
                    }
                }
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            }
            self.row += 1;
            got += 1;
        }
        if got == 0 {
            return match self.pending.take() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        let columns = builders.iter_mut().map(Builder::finish).collect();
        RecordBatch::try_new(self.schema.clone(), columns)
            .map(Some)
            .map_err(|e| ReadError::Invalid(format!("assembling a JSON Lines batch: {e}")))
    }

    /// At the end: the columns no line had, if there were lines.
    fn missing(&self) -> Option<ReadError> {
        let missing: Vec<&str> = self
            .columns
            .iter()
            .zip(&self.seen)
            .filter(|(d, seen)| !**seen && !d.optional)
            .map(|(d, _)| d.label.as_str())
            .collect();
        (self.row > 0 && !missing.is_empty()).then(|| {
            ReadError::Invalid(format!(
                "missing field(s) {}: no line has them",
                missing.join(", ")
            ))
        })
    }
}

impl Iterator for JsonBatches {
    type Item = Result<RecordBatch, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            self.done = true;
            return Some(Err(e));
        }
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
