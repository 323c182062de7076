//! JSON Lines: one JSON object per line (blank lines are skipped), read
//! into batches of the declared columns ([`super::Columns`]); other fields
//! are ignored. A field absent or `null` is a null cell (an error if the
//! column is required); a declared column that no line has is a missing
//! column, unless optional, or omittable: an omittable field that no line
//! of the file has is not a column of the file at all (a file written
//! before the feature was added), decided by a first pass over the lines
//! before the schema is given out. The pass holds one line at a time and
//! stops at the first line by which every omittable field has been seen,
//! so memory stays bounded and a file that has them costs a line or so;
//! only a file that never mentions one is read twice. The rule is per
//! file, not per batch, so a row's meaning never depends on batch size.

use std::fs::File;
use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};
use serde_json::Value as Json;

use super::cells::{self, Builder, Cell};
use super::text::{Rows, TextBatches};
use super::{Batches, Columns, Declared, ReadError, open_file};

/// The declared columns of a JSON Lines file.
pub(super) struct Table {
    columns: Vec<Declared>,
    schema: SchemaRef,
}

impl Table {
    /// The declared columns of the file at `path`, less the omittable ones
    /// that no line has (the first pass, only if some column is omittable).
    pub(super) fn open(path: &Path, spec: &Columns) -> Result<Table, ReadError> {
        let mut columns = spec.declared.clone();
        if columns.iter().any(|d| d.omittable) {
            let seen = first_pass(path, &columns)?;
            let mut seen = seen.into_iter();
            columns.retain(|d| seen.next().unwrap_or(true) || !d.omittable);
        }
        let fields: Vec<Field> = columns
            .iter()
            .map(|d| Field::new(&d.name, d.ty.arrow(), true))
            .collect();
        Ok(Table {
            columns,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    pub(super) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub(super) fn batches(&self, path: &Path, batch_rows: usize) -> Result<Batches, ReadError> {
        let lines = BufReader::with_capacity(1 << 20, open_file(path)?).lines();
        let rows = JsonRows {
            lines,
            seen: vec![false; self.columns.len()],
            columns: self.columns.clone(),
            line: 0,
            row: 0,
        };
        let types = self.columns.iter().map(|d| d.ty).collect();
        let iter = TextBatches::new(rows, self.schema.clone(), types, batch_rows);
        Ok(Batches::new(self.schema.clone(), iter))
    }
}

/// Per declared column, whether some line has the field (only the
/// omittable ones are looked for: the others are `true`). Stops once every
/// omittable field is seen; a line that is not an object stops the pass
/// (the read that follows reports it, naming the line).
fn first_pass(path: &Path, columns: &[Declared]) -> Result<Vec<bool>, ReadError> {
    let mut seen: Vec<bool> = columns.iter().map(|d| !d.omittable).collect();
    let mut rows = JsonRows {
        lines: BufReader::with_capacity(1 << 20, open_file(path)?).lines(),
        seen: Vec::new(),
        columns: Vec::new(),
        line: 0,
        row: 0,
    };
    while seen.iter().any(|s| !s) {
        let Ok(Some(obj)) = rows.next_object() else {
            break;
        };
        for (d, s) in columns.iter().zip(seen.iter_mut()) {
            *s |= obj.contains_key(&d.name);
        }
    }
    Ok(seen)
}

struct JsonRows {
    lines: Lines<BufReader<File>>,
    columns: Vec<Declared>,
    /// Per column, whether a line had the field.
    seen: Vec<bool>,
    /// Lines and rows read so far.
    line: usize,
    row: usize,
}

impl JsonRows {
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

    /// At the end: the columns no line had, if there were lines.
    fn missing(&self) -> Result<(), ReadError> {
        let missing: Vec<&str> = self
            .columns
            .iter()
            .zip(&self.seen)
            .filter(|(d, seen)| !**seen && !d.optional)
            .map(|(d, _)| d.label.as_str())
            .collect();
        if self.row > 0 && !missing.is_empty() {
            return Err(ReadError::Invalid(format!(
                "missing field(s) {}: no line has them",
                missing.join(", ")
            )));
        }
        Ok(())
    }
}

impl Rows for JsonRows {
    fn next_row(&mut self, builders: &mut [Builder]) -> Result<bool, ReadError> {
        let Some(obj) = self.next_object()? else {
            self.missing()?;
            return Ok(false);
        };
        let (row, line) = (self.row + 1, self.line);
        let mut cells = Vec::with_capacity(self.columns.len());
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
                _ => cells.push(c),
            }
        }
        for (b, c) in builders.iter_mut().zip(cells) {
            b.append(c);
        }
        self.row = row;
        Ok(true)
    }
}
