//! Batches of a text format (CSV, JSON Lines) read a row at a time: every
//! cell of a row is read before any is appended, and a bad row ends the
//! batch before it, its error being the next item (so an error is always
//! the first bad row's, after the good rows before it).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::ReadError;
use super::cells::{Builder, CellType};

/// A text file read a row at a time.
pub(super) trait Rows: Send {
    /// Reads the next row and appends its cells to `builders` (one per
    /// column of the schema); `false` at the end.
    fn next_row(&mut self, builders: &mut [Builder]) -> Result<bool, ReadError>;
}

/// The batches of a [`Rows`].
pub(super) struct TextBatches<R> {
    rows: R,
    types: Vec<CellType>,
    schema: SchemaRef,
    batch_rows: usize,
    pending: Option<ReadError>,
    done: bool,
}

impl<R: Rows> TextBatches<R> {
    pub(super) fn new(rows: R, schema: SchemaRef, types: Vec<CellType>, batch_rows: usize) -> Self {
        TextBatches {
            rows,
            types,
            schema,
            batch_rows,
            pending: None,
            done: false,
        }
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ReadError> {
        let mut builders: Vec<Builder> = self
            .types
            .iter()
            .map(|t| Builder::new(*t, self.batch_rows))
            .collect();
        let mut got = 0;
        while got < self.batch_rows {
            match self.rows.next_row(&mut builders) {
                Ok(true) => got += 1,
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            }
        }
        if got == 0 {
            return match self.pending.take() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        let columns = builders.iter_mut().map(Builder::finish).collect();
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map(Some)
            .map_err(|e| ReadError::Invalid(format!("assembling a batch: {e}")))
    }
}

impl<R: Rows> Iterator for TextBatches<R> {
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
