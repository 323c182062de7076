//! Output files: Parquet, Arrow IPC (file format) or CSV.
//!
//! A file is written under a temporary name in the output's directory and
//! renamed over the output only once complete and synced, so a failed
//! export leaves no partial file behind (and an existing output untouched).
//! Its data is synced in the background as it is written (every 8 MiB),
//! so that the final sync waits for little.
//!
//! - Parquet: Snappy-compressed; the columns of a row group are encoded in
//!   parallel ([`super::parquet_out`]).
//! - Arrow IPC: the file format (`.arrow`), readable by pyarrow, DuckDB,
//!   Polars and Spark. Dictionary-encoded columns of the entity table are
//!   written decoded (the file format allows one dictionary per column for
//!   the whole file).
//! - CSV: a header row, then one line per row; a null is an empty cell,
//!   floats in their shortest round-trip form (`2.5`, `1.0`, `NaN`, `inf`),
//!   timestamps as RFC 3339 UTC, dates as `YYYY-MM-DD`, binary as lower-case
//!   hex, lists as JSON arrays (`[1.0,2.5]`, `[1,2]`, `["a","b"]`), maps of
//!   string keys to integers as JSON objects in entry order
//!   (`{"a":3,"b":1}`). Columns of other Arrow types (decimals, structs,
//!   other maps...) cannot be written as CSV: that is an error before
//!   anything is written.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Error;
use super::parquet_out::ParquetSink;
use crate::read::cells::to_hex;
use crate::timestamp;
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, SecondsFormat};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Parquet,
    Arrow,
    Csv,
}

impl OutputFormat {
    /// The format an output file's extension names.
    pub fn of(path: &Path) -> Option<OutputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        OutputFormat::parse(&ext)
    }

    /// `parquet` (or `pq`), `arrow` (or `ipc`, `feather`), `csv`.
    pub fn parse(name: &str) -> Option<OutputFormat> {
        match name {
            "parquet" | "pq" => Some(OutputFormat::Parquet),
            "arrow" | "ipc" | "feather" => Some(OutputFormat::Arrow),
            "csv" => Some(OutputFormat::Csv),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Arrow => "arrow",
            OutputFormat::Csv => "csv",
        }
    }
}

/// Checks that every column can be written in `format`.
pub fn check_writable(format: OutputFormat, schema: &SchemaRef) -> Result<(), String> {
    if format != OutputFormat::Csv {
        return Ok(());
    }
    for f in schema.fields() {
        if !csv_writable(f.data_type()) {
            return Err(format!(
                "the column {} is {}, which CSV output cannot write; use --format parquet or arrow",
                f.name(),
                f.data_type()
            ));
        }
    }
    Ok(())
}

fn csv_writable(dt: &DataType) -> bool {
    match dt {
        DataType::Null
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_)
        | DataType::Timestamp(_, _)
        | DataType::Date32
        | DataType::Date64 => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            matches!(
                f.data_type(),
                DataType::Float32
                    | DataType::Float64
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::Utf8
                    | DataType::LargeUtf8
            )
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) => {
                kv.len() == 2
                    && kv[0].data_type() == &DataType::Utf8
                    && matches!(kv[1].data_type(), DataType::Int64 | DataType::Float64)
            }
            _ => false,
        },
        DataType::Dictionary(_, v) => csv_writable(v),
        _ => false,
    }
}

enum Writer {
    Parquet(ParquetSink),
    /// With the schema written (dictionaries decoded).
    Arrow(arrow_ipc::writer::FileWriter<BufWriter<File>>, SchemaRef),
    Csv(csv::Writer<BufWriter<File>>),
}

/// An output file being written.
pub struct FileSink {
    out: PathBuf,
    tmp: tempfile::NamedTempFile,
    writer: Writer,
    rows: u64,
    syncer: Option<Syncer>,
}

/// Bytes written between two background syncs of the output.
const SYNC_EVERY: u64 = 8 << 20;

/// A thread that syncs the output's data while it is written, so that the
/// final sync only waits for the last bytes.
struct Syncer {
    wake: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
    /// The file's length at the last request.
    requested: u64,
}

impl Syncer {
    fn start(file: File) -> std::io::Result<Syncer> {
        let (wake, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("strata-export-sync".into())
            .spawn(move || {
                for () in rx {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(Syncer {
            wake,
            thread,
            requested: 0,
        })
    }

    /// Asks for a sync if `len` bytes are written and a good deal more
    /// than at the last request (a sync already asked for is not queued
    /// twice).
    fn written(&mut self, len: u64) {
        if len >= self.requested + SYNC_EVERY && self.wake.try_send(()).is_ok() {
            self.requested = len;
        }
    }

    /// Stops the thread; its first failure, if any.
    fn stop(self) -> std::io::Result<()> {
        drop(self.wake);
        self.thread
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

impl FileSink {
    /// Starts writing `out` (under a temporary name) with `schema`;
    /// `row_group_rows` is the size of a Parquet row group, whose columns
    /// are encoded on `threads` threads.
    pub fn create(
        out: &Path,
        format: OutputFormat,
        schema: SchemaRef,
        row_group_rows: usize,
        threads: usize,
    ) -> Result<FileSink, Error> {
        let failed = |reason: String| Error::Output {
            path: out.to_path_buf(),
            reason,
        };
        if out.is_dir() {
            return Err(failed("it is a directory; name an output file".into()));
        }
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".strata-export-")
            .tempfile_in(&dir)
            .map_err(|e| failed(format!("cannot create a file in {}: {e}", dir.display())))?;
        let file = tmp
            .as_file()
            .try_clone()
            .map_err(|e| failed(e.to_string()))?;
        let syncer = tmp
            .as_file()
            .try_clone()
            .and_then(Syncer::start)
            .map_err(|e| failed(e.to_string()))?;
        let buf = BufWriter::with_capacity(1 << 20, file);
        let writer = match format {
            OutputFormat::Parquet => Writer::Parquet(
                ParquetSink::new(buf, schema, row_group_rows, threads)
                    .map_err(|e| failed(e.to_string()))?,
            ),
            OutputFormat::Arrow => {
                let fields: Vec<Field> = schema
                    .fields()
                    .iter()
                    .map(|f| match f.data_type() {
                        DataType::Dictionary(_, v) => {
                            f.as_ref().clone().with_data_type(v.as_ref().clone())
                        }
                        _ => f.as_ref().clone(),
                    })
                    .collect();
                let plain = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
                Writer::Arrow(
                    arrow_ipc::writer::FileWriter::try_new(buf, &plain)
                        .map_err(|e| failed(e.to_string()))?,
                    plain,
                )
            }
            OutputFormat::Csv => {
                let mut w = csv::WriterBuilder::new().from_writer(buf);
                w.write_record(schema.fields().iter().map(|f| f.name().as_str()))
                    .map_err(|e| failed(e.to_string()))?;
                Writer::Csv(w)
            }
        };
        Ok(FileSink {
            out: out.to_path_buf(),
            tmp,
            writer,
            rows: 0,
            syncer: Some(syncer),
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let failed = |reason: String| Error::Output {
            path: self.out.clone(),
            reason,
        };
        match &mut self.writer {
            Writer::Parquet(w) => w.write(batch).map_err(|e| failed(e.to_string()))?,
            Writer::Arrow(w, plain) => {
                let columns: Vec<ArrayRef> = batch
                    .columns()
                    .iter()
                    .map(|c| match c.as_any_dictionary_opt() {
                        Some(d) => arrow_select::take::take(d.values().as_ref(), d.keys(), None),
                        None => Ok(c.clone()),
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| failed(e.to_string()))?;
                let plain = RecordBatch::try_new(plain.clone(), columns)
                    .map_err(|e| failed(e.to_string()))?;
                w.write(&plain).map_err(|e| failed(e.to_string()))?
            }
            Writer::Csv(w) => write_csv(w, batch).map_err(failed)?,
        }
        self.rows += batch.num_rows() as u64;
        if let Some(s) = &mut self.syncer
            && let Ok(m) = self.tmp.as_file().metadata()
        {
            s.written(m.len());
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Completes the file and moves it to the output path.
    pub fn finish(mut self) -> Result<u64, Error> {
        let synced = self.syncer.take().map_or(Ok(()), Syncer::stop);
        let out = self.out;
        let failed = |reason: String| Error::Output {
            path: out.clone(),
            reason,
        };
        let buf = match self.writer {
            Writer::Parquet(w) => w.finish().map_err(|e| failed(e.to_string()))?,
            Writer::Arrow(mut w, _) => {
                w.finish().map_err(|e| failed(e.to_string()))?;
                w.into_inner().map_err(|e| failed(e.to_string()))?
            }
            Writer::Csv(w) => w.into_inner().map_err(|e| failed(e.to_string()))?,
        };
        let file = buf.into_inner().map_err(|e| failed(e.to_string()))?;
        synced.map_err(|e| failed(e.to_string()))?;
        file.sync_all().map_err(|e| failed(e.to_string()))?;
        // A temporary file is private (0600); the output gets the usual 0644.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(|e| failed(e.to_string()))?;
        }
        // A file being replaced is released (its pages and blocks freed)
        // when its last handle closes: hold one over the rename and close
        // it in the background, instead of inside the rename.
        let replaced = File::open(&out).ok();
        self.tmp
            .persist(&out)
            .map_err(|e| failed(format!("cannot move the finished file into place: {e}")))?;
        if let Some(f) = replaced {
            let _ = std::thread::Builder::new()
                .name("strata-export-release".into())
                .spawn(move || drop(f));
        }
        Ok(self.rows)
    }
}

/// One column of a batch, ready to print cell by cell: `p(row, out)`
/// appends the text of a non-null cell.
type Printer<'a> = Box<dyn Fn(usize, &mut String) + 'a>;

/// The printer of an array with a `value(i)`: the text of each value by
/// `$text`.
macro_rules! text {
    ($array:expr, $text:expr) => {{
        let x = $array;
        Box::new(move |i, s: &mut String| s.push_str(&$text(x.value(i))))
    }};
}

fn printer<'a>(a: &'a dyn Array) -> Result<Printer<'a>, String> {
    use std::fmt::Write as _;
    macro_rules! display {
        ($t:ty) => {{
            let p = a.as_primitive::<$t>();
            Box::new(move |i, s: &mut String| {
                let _ = write!(s, "{}", p.value(i));
            })
        }};
    }
    macro_rules! float {
        ($t:ty) => {{
            let p = a.as_primitive::<$t>();
            Box::new(move |i, s: &mut String| {
                let _ = write!(s, "{:?}", p.value(i));
            })
        }};
    }
    macro_rules! time {
        ($t:ty, $to_micros:expr) => {{
            let p = a.as_primitive::<$t>();
            Box::new(move |i, s: &mut String| s.push_str(&$to_micros(p.value(i))))
        }};
    }
    let f: Printer<'a> = match a.data_type() {
        DataType::Null => Box::new(|_, _| {}),
        DataType::Boolean => {
            let b = a.as_boolean();
            Box::new(move |i, s: &mut String| s.push_str(if b.value(i) { "true" } else { "false" }))
        }
        DataType::Int8 => display!(Int8Type),
        DataType::Int16 => display!(Int16Type),
        DataType::Int32 => display!(Int32Type),
        DataType::Int64 => display!(Int64Type),
        DataType::UInt8 => display!(UInt8Type),
        DataType::UInt16 => display!(UInt16Type),
        DataType::UInt32 => display!(UInt32Type),
        DataType::UInt64 => display!(UInt64Type),
        DataType::Float32 => float!(Float32Type),
        DataType::Float64 => float!(Float64Type),
        DataType::Utf8 => text!(a.as_string::<i32>(), |v| v),
        DataType::LargeUtf8 => text!(a.as_string::<i64>(), |v| v),
        DataType::Utf8View => text!(a.as_string_view(), |v| v),
        DataType::Binary => text!(a.as_binary::<i32>(), to_hex),
        DataType::LargeBinary => text!(a.as_binary::<i64>(), to_hex),
        DataType::BinaryView => text!(a.as_binary_view(), to_hex),
        DataType::FixedSizeBinary(_) => text!(a.as_fixed_size_binary(), to_hex),
        DataType::Timestamp(TimeUnit::Second, _) => {
            time!(TimestampSecondType, |v: i64| timestamp::format(
                v.saturating_mul(1_000_000)
            ))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            time!(TimestampMillisecondType, |v: i64| timestamp::format(
                v.saturating_mul(1_000)
            ))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            time!(TimestampMicrosecondType, timestamp::format)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            time!(TimestampNanosecondType, |v: i64| {
                DateTime::from_timestamp_nanos(v).to_rfc3339_opts(SecondsFormat::AutoSi, true)
            })
        }
        DataType::Date32 => time!(Date32Type, |d: i32| date(i64::from(d))),
        DataType::Date64 => time!(Date64Type, |ms: i64| date(ms.div_euclid(86_400_000))),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
            let (values, spans) = crate::read::convert::list_spans(a)
                .ok_or_else(|| format!("cannot print a {} column", a.data_type()))?;
            let item = json_item_printer(values)?;
            Box::new(move |i, s: &mut String| {
                let (start, end) = spans[i];
                s.push('[');
                for j in start..end {
                    if j > start {
                        s.push(',');
                    }
                    if values.is_null(j) {
                        s.push_str("null");
                    } else {
                        item(j, s);
                    }
                }
                s.push(']');
            })
        }
        DataType::Map(_, _) => {
            let m = a.as_map();
            let offsets = m.value_offsets();
            let keys = m.keys().as_string::<i32>();
            let values = json_item_printer(m.values())?;
            Box::new(move |i, s: &mut String| {
                s.push('{');
                for j in offsets[i] as usize..offsets[i + 1] as usize {
                    if j > offsets[i] as usize {
                        s.push(',');
                    }
                    s.push_str(&json_string(keys.value(j)));
                    s.push(':');
                    values(j, s);
                }
                s.push('}');
            })
        }
        DataType::Dictionary(_, _) => {
            let d = a
                .as_any_dictionary_opt()
                .ok_or_else(|| format!("cannot read the dictionary column {}", a.data_type()))?;
            let keys = d.normalized_keys();
            let values = d.values().as_ref();
            let item = printer(values)?;
            Box::new(move |i, s: &mut String| {
                if !values.is_null(keys[i]) {
                    item(keys[i], s)
                }
            })
        }
        other => return Err(format!("CSV output cannot write {other} columns")),
    };
    Ok(f)
}

/// A list item's printer: strings as JSON strings, others as in a cell.
fn json_item_printer(values: &dyn Array) -> Result<Printer<'_>, String> {
    Ok(match values.data_type() {
        DataType::Utf8 => text!(values.as_string::<i32>(), json_string),
        DataType::LargeUtf8 => text!(values.as_string::<i64>(), json_string),
        _ => printer(values)?,
    })
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn date(days: i64) -> String {
    let t = timestamp::format(days.saturating_mul(86_400_000_000));
    t.split('T').next().unwrap_or(&t).to_string()
}

fn write_csv(w: &mut csv::Writer<BufWriter<File>>, batch: &RecordBatch) -> Result<(), String> {
    let printers: Vec<Printer> = batch
        .columns()
        .iter()
        .map(|c| printer(c.as_ref()))
        .collect::<Result<_, _>>()?;
    let mut cell = String::new();
    for i in 0..batch.num_rows() {
        for (c, p) in batch.columns().iter().zip(&printers) {
            cell.clear();
            if !c.is_null(i) {
                p(i, &mut cell);
            }
            w.write_field(cell.as_bytes()).map_err(|e| e.to_string())?;
        }
        w.write_record(None::<&[u8]>).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
