//! Parquet output with the columns of a row group encoded in parallel.
//!
//! Batches are buffered until a row group is full; its columns are then
//! encoded (and compressed) on several threads at once and the chunks
//! appended in order, while the writer takes the next rows (a few row
//! groups are encoded at once). Snappy compression; dictionary encoding
//! except for float columns, whose values rarely repeat, and for columns
//! whose first values are mostly distinct (ids, times): a dictionary would
//! fill up and be abandoned after costing a hash lookup per value. Such
//! columns of 64-bit integers or timestamps are delta-encoded
//! (`DELTA_BINARY_PACKED`) instead of plain.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, new_empty_array};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::basic::{Compression, Encoding};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

/// A Parquet file being written.
pub(crate) struct ParquetSink {
    /// Created with the first row group, whose values choose the encodings.
    writer: Option<FileWriter>,
    file: Option<BufWriter<File>>,
    schema: SchemaRef,
    /// Leaf columns per top-level field.
    leaves: Vec<usize>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    /// The bytes of `pending` (its share of its batches' buffers).
    pending_bytes: usize,
    row_group_rows: usize,
    row_groups: usize,
    threads: usize,
    /// Row groups being encoded, oldest first: each its encoding threads.
    in_flight: VecDeque<Vec<JoinHandle<Vec<EncodedColumn>>>>,
}

/// The file writer and the factory of its row groups' column writers.
type FileWriter = (
    SerializedFileWriter<BufWriter<File>>,
    ArrowRowGroupWriterFactory,
);

/// A column of a row group (by field), encoded.
type EncodedColumn = (usize, Result<Vec<ArrowColumnChunk>, ParquetError>);

/// Row groups encoded at once while the writer takes the next rows.
const IN_FLIGHT: usize = 3;

/// A row group is started once its rows hold this many bytes, however few
/// they are (wide string values), so that the rows buffered are bounded in
/// bytes and not only in rows.
const ROW_GROUP_BYTES: usize = 16 << 20;

/// Encodes field `f` of `batches` with its leaves' writers.
fn encode_column(
    schema: &SchemaRef,
    f: usize,
    batches: &[RecordBatch],
    mut ws: Vec<ArrowColumnWriter>,
) -> Result<Vec<ArrowColumnChunk>, ParquetError> {
    let field = schema.field(f);
    for b in batches {
        for (w, leaf) in ws.iter_mut().zip(compute_leaves(field, b.column(f))?) {
            w.write(&leaf)?;
        }
    }
    ws.into_iter().map(ArrowColumnWriter::close).collect()
}

impl ParquetSink {
    pub(crate) fn new(
        file: BufWriter<File>,
        schema: SchemaRef,
        row_group_rows: usize,
        threads: usize,
    ) -> Result<ParquetSink, ParquetError> {
        // Refuse a schema Parquet cannot hold now, before any row is joined.
        ArrowWriter::try_new(Vec::new(), schema.clone(), None)?;
        let leaves = schema
            .fields()
            .iter()
            .map(|f| compute_leaves(f, &new_empty_array(f.data_type())).map(|l| l.len()))
            .collect::<Result<_, _>>()?;
        Ok(ParquetSink {
            writer: None,
            file: Some(file),
            schema,
            leaves,
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            row_group_rows: row_group_rows.max(1),
            row_groups: 0,
            threads: threads.max(1),
            in_flight: VecDeque::new(),
        })
    }

    /// The file writer, created on first use with encodings chosen from
    /// the first buffered batch (if any).
    fn writer(&mut self) -> Result<&mut FileWriter, ParquetError> {
        if self.writer.is_none() {
            let file = self
                .file
                .take()
                .ok_or_else(|| ParquetError::General("the output file is gone".into()))?;
            let mut props = WriterProperties::builder().set_compression(Compression::SNAPPY);
            for (i, f) in self.schema.fields().iter().enumerate() {
                let float = matches!(f.data_type(), DataType::Float32 | DataType::Float64);
                let distinct = self
                    .pending
                    .first()
                    .is_some_and(|b| mostly_distinct(b.column(i).as_ref()));
                if float || distinct {
                    props = props
                        .set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
                }
                // Mostly distinct 64-bit integers (ids, times): deltas,
                // bit-packed, are smaller than plain values and cheaper to
                // compress.
                if distinct && matches!(f.data_type(), DataType::Int64 | DataType::Timestamp(_, _))
                {
                    props = props.set_column_encoding(
                        ColumnPath::from(f.name().as_str()),
                        Encoding::DELTA_BINARY_PACKED,
                    );
                }
            }
            let w = ArrowWriter::try_new(file, self.schema.clone(), Some(props.build()))?;
            self.writer = Some(w.into_serialized_writer()?);
        }
        self.writer
            .as_mut()
            .ok_or_else(|| ParquetError::General("no writer".into()))
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        let mut at = 0;
        let per_row = batch.get_array_memory_size() / batch.num_rows().max(1);
        while at < batch.num_rows() {
            // As many rows as fit the row group's rows and bytes (at least one).
            let by_bytes =
                (ROW_GROUP_BYTES.saturating_sub(self.pending_bytes) / per_row.max(1)).max(1);
            let n = (self.row_group_rows - self.pending_rows)
                .min(batch.num_rows() - at)
                .min(by_bytes);
            self.pending.push(batch.slice(at, n));
            self.pending_rows += n;
            self.pending_bytes += n * per_row;
            at += n;
            if self.pending_rows == self.row_group_rows || self.pending_bytes >= ROW_GROUP_BYTES {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Starts encoding the buffered rows as one row group, on `threads`
    /// threads of its own, and appends the oldest row group in flight
    /// once more than [`IN_FLIGHT`] are.
    fn flush(&mut self) -> Result<(), ParquetError> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let row_group = self.row_groups;
        let mut writers = self
            .writer()?
            .1
            .create_column_writers(row_group)?
            .into_iter();
        // Columns in reverse order: workers pop the first ones first.
        let mut columns: Vec<(usize, Vec<ArrowColumnWriter>)> = self
            .leaves
            .iter()
            .enumerate()
            .map(|(f, &n)| (f, writers.by_ref().take(n).collect()))
            .collect();
        columns.reverse();
        let queue = Arc::new(Mutex::new(columns));
        let batches = Arc::new(std::mem::take(&mut self.pending));
        self.pending_rows = 0;
        self.pending_bytes = 0;
        self.row_groups += 1;
        let mut workers = Vec::with_capacity(self.threads);
        for _ in 0..self.threads.min(self.leaves.len()) {
            let (queue, batches, schema) = (queue.clone(), batches.clone(), self.schema.clone());
            let spawned = std::thread::Builder::new()
                .name("strata-parquet".into())
                .spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let next = match queue.lock() {
                            Ok(mut q) => q.pop(),
                            Err(_) => None,
                        };
                        let Some((f, ws)) = next else { return out };
                        out.push((f, encode_column(&schema, f, &batches, ws)));
                    }
                })
                .map_err(|e| ParquetError::External(Box::new(e)))?;
            workers.push(spawned);
        }
        self.in_flight.push_back(workers);
        while self.in_flight.len() > IN_FLIGHT {
            self.append_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest row group in flight and appends it to the file.
    fn append_oldest(&mut self) -> Result<(), ParquetError> {
        let Some(workers) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let mut results: Vec<(usize, Result<Vec<ArrowColumnChunk>, ParquetError>)> = workers
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        results.sort_by_key(|(f, _)| *f);
        if results.len() != self.leaves.len() {
            return Err(ParquetError::General(
                "a column of a row group was lost".into(),
            ));
        }
        let mut rg = self.writer()?.0.next_row_group()?;
        for (_, chunks) in results {
            for c in chunks? {
                c.append_to_row_group(&mut rg)?;
            }
        }
        rg.close()?;
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub(crate) fn finish(mut self) -> Result<BufWriter<File>, ParquetError> {
        self.flush()?;
        while !self.in_flight.is_empty() {
            self.append_oldest()?;
        }
        self.writer()?;
        match self.writer.take() {
            Some((w, _)) => w.into_inner(),
            None => Err(ParquetError::General("no writer".into())),
        }
    }
}

/// Values sampled to judge whether a column's values repeat.
const DICTIONARY_SAMPLE: usize = 4096;

/// Whether more than half of the first non-null values of a column of
/// integers, times, strings or bytes are distinct (other types: `false`).
fn mostly_distinct(a: &dyn Array) -> bool {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};
    let hasher = RandomState::new();
    let mut seen: HashSet<u64> = HashSet::with_capacity(DICTIONARY_SAMPLE);
    let mut sampled = 0usize;
    let mut add = |bytes: &[u8]| {
        seen.insert(hasher.hash_one(bytes));
        sampled += 1;
        sampled < DICTIONARY_SAMPLE
    };
    let valid = |i: usize| a.is_valid(i);
    match a.data_type() {
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            for i in (0..a.len()).filter(|&i| valid(i)) {
                if !add(s.value(i).as_bytes()) {
                    break;
                }
            }
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            for i in (0..a.len()).filter(|&i| valid(i)) {
                if !add(s.value(i).as_bytes()) {
                    break;
                }
            }
        }
        DataType::Binary => {
            let s = a.as_binary::<i32>();
            for i in (0..a.len()).filter(|&i| valid(i)) {
                if !add(s.value(i)) {
                    break;
                }
            }
        }
        dt if dt.is_integer()
            || matches!(
                dt,
                DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
            ) =>
        {
            let Some(width) = dt.primitive_width() else {
                return false;
            };
            let data = a.to_data();
            let Some(values) = data.buffers().first() else {
                return false;
            };
            let values = values.as_slice();
            for i in (0..a.len()).filter(|&i| valid(i)) {
                let at = (data.offset() + i) * width;
                let Some(v) = values.get(at..at + width) else {
                    return false;
                };
                if !add(v) {
                    break;
                }
            }
        }
        _ => return false,
    }
    sampled >= 64 && seen.len() * 2 > sampled
}
