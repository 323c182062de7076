//! Re-cutting entity batches to the export's batch size.

use std::collections::VecDeque;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::Error;

/// Re-cuts batches to at most `max` rows, merging small ones; every batch
/// must have the columns (names and types) of `schema`, and is given
/// exactly that schema.
pub(crate) struct Rechunk<I> {
    inner: I,
    max: usize,
    schema: SchemaRef,
    /// Rows taken from `inner` so far.
    rows: usize,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    out: VecDeque<RecordBatch>,
    done: bool,
}

impl<I> Rechunk<I> {
    pub(crate) fn new(inner: I, max: usize, schema: SchemaRef) -> Rechunk<I> {
        Rechunk {
            inner,
            max: max.max(1),
            schema,
            rows: 0,
            pending: Vec::new(),
            pending_rows: 0,
            out: VecDeque::new(),
            done: false,
        }
    }

    /// The batch with exactly the expected schema.
    fn conform(&mut self, b: RecordBatch) -> Result<RecordBatch, Error> {
        let first = self.rows + 1;
        self.rows += b.num_rows();
        let same = b.num_columns() == self.schema.fields().len()
            && b.schema()
                .fields()
                .iter()
                .zip(self.schema.fields())
                .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type());
        if !same {
            let cols: Vec<String> = b
                .schema()
                .fields()
                .iter()
                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                .collect();
            return Err(Error::Table(format!(
                "batch starting at row {first} has the columns {}, not those the export was planned for",
                cols.join(", ")
            )));
        }
        RecordBatch::try_new(self.schema.clone(), b.columns().to_vec()).map_err(|e| {
            Error::Table(format!(
                "batch starting at row {first} does not fit the planned schema: {e}"
            ))
        })
    }

    fn flush(&mut self) -> Result<(), Error> {
        match self.pending.len() {
            0 => {}
            1 => self.out.extend(self.pending.pop()),
            _ => {
                let merged = arrow_select::concat::concat_batches(&self.schema, &self.pending)
                    .map_err(|e| Error::Internal(format!("merging entity batches: {e}")))?;
                self.pending.clear();
                self.out.push_back(merged);
            }
        }
        self.pending_rows = 0;
        Ok(())
    }
}

impl<I: Iterator<Item = Result<RecordBatch, Error>>> Iterator for Rechunk<I> {
    type Item = Result<RecordBatch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(b) = self.out.pop_front() {
                return Some(Ok(b));
            }
            if self.done {
                return None;
            }
            let b = match self.inner.next() {
                None => {
                    self.done = true;
                    if let Err(e) = self.flush() {
                        return Some(Err(e));
                    }
                    continue;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(b)) => match self.conform(b) {
                    Ok(b) => b,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
            };
            let n = b.num_rows();
            if n == 0 {
                continue;
            }
            if self.pending_rows + n > self.max
                && let Err(e) = self.flush()
            {
                self.done = true;
                return Some(Err(e));
            }
            if n >= self.max {
                let mut at = 0;
                while at < n {
                    let len = self.max.min(n - at);
                    self.out.push_back(b.slice(at, len));
                    at += len;
                }
            } else {
                self.pending.push(b);
                self.pending_rows += n;
                if self.pending_rows >= self.max / 2
                    && let Err(e) = self.flush()
                {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
