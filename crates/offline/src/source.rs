//! One input file, read, validated and encoded into [`Run`]s.
//!
//! - Parquet: row groups are decoded on every core (two here), each thread
//!   into its own run; only the needed columns are read.
//! - Arrow IPC: the file format (`ARROW1` magic) or the stream format,
//!   told apart by content.
//! - CSV and JSON Lines: parsed into rows ([`super::csv`], [`super::jsonl`])
//!   and encoded.
//!
//! Every check happens here, before anything is written: a refused file
//! leaves the store as it was.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::ArrowError;
use indicatif::ProgressBar;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};

use super::arrow_in::{Layout, encode_batch};
use super::encode::{Run, push_rows};
use super::{Error, Format, Target, csv, jsonl};
use strata_store::catalog::quality::Checker;

/// Rows decoded per Arrow batch.
const BATCH_ROWS: usize = 8192;

/// A file's entries and what the checks saw.
#[derive(Debug)]
pub struct Encoded {
    pub runs: Vec<Run>,
    pub rows: u64,
    pub checker: Checker,
}

impl Encoded {
    /// The smallest and greatest event time, if any row.
    pub fn event_range(&self) -> Option<(i64, i64)> {
        self.runs
            .iter()
            .filter_map(Run::event_range)
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }
}

/// Reads, validates and encodes `path` for `target`. Rows without a
/// `created_timestamp` get `now`. `bar` counts rows read.
pub fn read_encode(
    target: &Target,
    path: &Path,
    format: Format,
    now: i64,
    bar: &ProgressBar,
) -> Result<Encoded, Error> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let len = std::fs::metadata(path)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if len == 0 && format != Format::Csv && format != Format::JsonLines {
        return Err(invalid(format!(
            "the file is empty; expected a {} file",
            format.name()
        )));
    }
    let mut checker = Checker::new(&target.view);
    let runs = match format {
        Format::Parquet => {
            let (runs, c) = parquet(target, path, now, bar).map_err(invalid)?;
            checker = c;
            runs
        }
        Format::Arrow => vec![arrow_ipc(target, path, now, bar, &mut checker).map_err(invalid)?],
        Format::Csv | Format::JsonLines => {
            let rows = if format == Format::Csv {
                csv::read(target, path)?
            } else {
                jsonl::read(target, path)?
            };
            let mut run = Run::new(0, rows.len(), Run::row_bytes(target));
            push_rows(target, &rows, 0, now, &mut run, &mut checker).map_err(invalid)?;
            bar.inc(rows.len() as u64);
            vec![run]
        }
    };
    let rows = runs.iter().map(|r| r.len() as u64).sum();
    Ok(Encoded {
        runs,
        rows,
        checker,
    })
}

/// Reads the row groups of a Parquet file on all cores.
fn parquet(
    target: &Target,
    path: &Path,
    now: i64,
    bar: &ProgressBar,
) -> Result<(Vec<Run>, Checker), String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::default())
        .map_err(|e| format!("not a readable Parquet file (damaged or truncated?): {e}"))?;
    let layout = Layout::new(target, meta.schema())?;
    let mask = ProjectionMask::roots(meta.parquet_schema(), layout.columns());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Work items (row group, first row of the file, offset in the group,
    // rows); a file with fewer row groups than cores has its groups split.
    let pieces = {
        let md = meta.metadata();
        let per_group = threads.div_ceil(md.num_row_groups().max(1));
        let mut start = 0u64;
        let mut v: Vec<(usize, u64, usize, usize)> = Vec::new();
        for g in 0..md.num_row_groups() {
            let n = usize::try_from(md.row_group(g).num_rows()).unwrap_or(0);
            let step = n.div_ceil(per_group).max(1);
            for off in (0..n).step_by(step) {
                let len = step.min(n - off);
                v.push((g, start + off as u64, off, len));
            }
            start += n as u64;
        }
        v
    };
    let threads = threads.clamp(1, pieces.len().max(1));
    let results: Vec<Result<(Run, Checker), (u64, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<(usize, u64, usize, usize)> =
                    pieces.iter().copied().skip(t).step_by(threads).collect();
                let (meta, mask) = (meta.clone(), mask.clone());
                s.spawn(move || -> Result<(Run, Checker), (u64, String)> {
                    let rows: usize = mine.iter().map(|g| g.3).sum();
                    let mut run = Run::new(t as u16, rows, Run::row_bytes(target));
                    let mut checker = Checker::new(&target.view);
                    for (g, start, off, len) in mine {
                        let fail = |e: String| (start, e);
                        // Its own descriptor: a cloned one would share the
                        // file offset with the other threads.
                        let f =
                            File::open(path).map_err(|e| fail(format!("cannot reopen: {e}")))?;
                        let reader =
                            ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta.clone())
                                .with_projection(mask.clone())
                                .with_row_groups(vec![g])
                                .with_row_selection(RowSelection::from(vec![
                                    RowSelector::skip(off),
                                    RowSelector::select(len),
                                ]))
                                .with_batch_size(BATCH_ROWS)
                                .build()
                                .map_err(|e| fail(format!("cannot read the Parquet data: {e}")))?;
                        let layout = Layout::new(target, &reader.schema()).map_err(fail)?;
                        let mut base = start;
                        for batch in reader {
                            let batch = batch.map_err(|e| {
                                fail(format!(
                                    "cannot read the Parquet data after row {base}: {e}"
                                ))
                            })?;
                            encode_batch(
                                target,
                                &layout,
                                &batch,
                                base,
                                now,
                                &mut run,
                                &mut checker,
                            )
                            .map_err(|e| (base, e))?;
                            base += batch.num_rows() as u64;
                            bar.inc(batch.num_rows() as u64);
                        }
                    }
                    Ok((run, checker))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err((0, "a reader thread panicked".into())))
            })
            .collect()
    });
    let mut runs = Vec::with_capacity(results.len());
    let mut checker: Option<Checker> = None;
    let mut first_error: Option<(u64, String)> = None;
    for r in results {
        match r {
            Ok((run, c)) => {
                runs.push(run);
                match &mut checker {
                    Some(all) => all.merge(c),
                    None => checker = Some(c),
                }
            }
            Err(e) => {
                if first_error.as_ref().is_none_or(|f| e.0 < f.0) {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some((_, e)) = first_error {
        return Err(e);
    }
    Ok((runs, checker.unwrap_or_else(|| Checker::new(&target.view))))
}

/// Reads an Arrow IPC file or stream.
fn arrow_ipc(
    target: &Target,
    path: &Path,
    now: i64,
    bar: &ProgressBar,
    checker: &mut Checker,
) -> Result<Run, String> {
    let mut f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut magic = [0u8; 6];
    let is_file = f.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
    f.seek(SeekFrom::Start(0))
        .map_err(|e| format!("cannot seek: {e}"))?;
    let bad = |e: ArrowError| {
        format!(
            "not a readable Arrow IPC {} (damaged or truncated?): {e}",
            if is_file { "file" } else { "stream" }
        )
    };
    let (schema, batches): (_, Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>>>) =
        if is_file {
            let r = arrow_ipc::reader::FileReader::try_new(BufReader::new(f), None).map_err(bad)?;
            (r.schema(), Box::new(r))
        } else {
            let r =
                arrow_ipc::reader::StreamReader::try_new(BufReader::new(f), None).map_err(bad)?;
            (r.schema(), Box::new(r))
        };
    let layout = Layout::new(target, &schema)?;
    let mut run = Run::new(0, 0, 0);
    let mut base = 0u64;
    for batch in batches {
        let batch = batch.map_err(|e| format!("after row {base}: {}", bad(e)))?;
        encode_batch(target, &layout, &batch, base, now, &mut run, checker)?;
        base += batch.num_rows() as u64;
        bar.inc(batch.num_rows() as u64);
    }
    Ok(run)
}
