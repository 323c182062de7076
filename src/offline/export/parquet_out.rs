//! Parquet output with the columns of a row group encoded in parallel.
//!
//! Batches are buffered until a row group is full; its columns are then
//! encoded (and compressed) on several threads at once and the chunks
//! appended in order. Snappy compression; dictionary encoding except for
//! float columns, whose values rarely repeat.

use std::fs::File;
use std::io::BufWriter;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::{RecordBatch, new_empty_array};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

/// A Parquet file being written.
pub(crate) struct ParquetSink {
    writer: SerializedFileWriter<BufWriter<File>>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Leaf columns per top-level field.
    leaves: Vec<usize>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    row_group_rows: usize,
    row_groups: usize,
    threads: usize,
}

impl ParquetSink {
    pub(crate) fn new(
        file: BufWriter<File>,
        schema: SchemaRef,
        row_group_rows: usize,
        threads: usize,
    ) -> Result<ParquetSink, ParquetError> {
        let mut props = WriterProperties::builder().set_compression(Compression::SNAPPY);
        for f in schema.fields() {
            if matches!(f.data_type(), DataType::Float32 | DataType::Float64) {
                props =
                    props.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
            }
        }
        let w = ArrowWriter::try_new(file, schema.clone(), Some(props.build()))?;
        let (writer, factory) = w.into_serialized_writer()?;
        let leaves = schema
            .fields()
            .iter()
            .map(|f| compute_leaves(f, &new_empty_array(f.data_type())).map(|l| l.len()))
            .collect::<Result<_, _>>()?;
        Ok(ParquetSink {
            writer,
            factory,
            schema,
            leaves,
            pending: Vec::new(),
            pending_rows: 0,
            row_group_rows: row_group_rows.max(1),
            row_groups: 0,
            threads: threads.max(1),
        })
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        let mut at = 0;
        while at < batch.num_rows() {
            let n = (self.row_group_rows - self.pending_rows).min(batch.num_rows() - at);
            self.pending.push(batch.slice(at, n));
            self.pending_rows += n;
            at += n;
            if self.pending_rows == self.row_group_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Encodes the buffered rows as one row group.
    fn flush(&mut self) -> Result<(), ParquetError> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let mut writers = self
            .factory
            .create_column_writers(self.row_groups)?
            .into_iter();
        let per_field: Vec<Mutex<Vec<ArrowColumnWriter>>> = self
            .leaves
            .iter()
            .map(|&n| Mutex::new(writers.by_ref().take(n).collect()))
            .collect();
        let next = AtomicUsize::new(0);
        let (pending, schema) = (&self.pending, &self.schema);
        let encode = |f: usize| -> Result<Vec<ArrowColumnChunk>, ParquetError> {
            let mut ws = per_field[f]
                .lock()
                .map(|mut w| std::mem::take(&mut *w))
                .map_err(|_| ParquetError::General("a column writer was poisoned".into()))?;
            let field = schema.field(f);
            for b in pending {
                for (w, leaf) in ws.iter_mut().zip(compute_leaves(field, b.column(f))?) {
                    w.write(&leaf)?;
                }
            }
            ws.into_iter().map(ArrowColumnWriter::close).collect()
        };
        let fields = self.leaves.len();
        let mut results: Vec<(usize, Result<Vec<ArrowColumnChunk>, ParquetError>)> =
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..self.threads.min(fields))
                    .map(|_| {
                        s.spawn(|| {
                            let mut out = Vec::new();
                            loop {
                                let f = next.fetch_add(1, Ordering::Relaxed);
                                if f >= fields {
                                    return out;
                                }
                                out.push((f, encode(f)));
                            }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            });
        results.sort_by_key(|(f, _)| *f);
        let mut rg = self.writer.next_row_group()?;
        for (_, chunks) in results {
            for c in chunks? {
                c.append_to_row_group(&mut rg)?;
            }
        }
        rg.close()?;
        self.row_groups += 1;
        self.pending.clear();
        self.pending_rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub(crate) fn finish(mut self) -> Result<BufWriter<File>, ParquetError> {
        self.flush()?;
        self.writer.into_inner()
    }
}
