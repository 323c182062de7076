//! One input file, read ([`crate::read`]), validated and encoded into
//! [`Run`]s for one view: the ingest's binding of a file's columns to the
//! view's schema (`--map` renames included, see [`columns`]).
//!
//! - Parquet: row groups are decoded on every core (two here), each thread
//!   into its own run; only the needed columns are read.
//! - Arrow IPC, CSV and JSON Lines: read a batch at a time into one run.
//!
//! Every batch goes through [`encode_batch`], whatever the format. Every
//! check happens here, before anything is written: a refused file leaves
//! the store as it was.

use std::path::Path;

use indicatif::ProgressBar;

use super::arrow_in::{Layout, encode_batch};
use super::encode::Run;
use super::read::{CellType, Columns, Declared, Part, ReadError, Source};
use super::{CREATED_TIMESTAMP, EVENT_TIMESTAMP, Error, Format, Target};
use strata_store::RowWrite;
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

/// The columns of a text file (CSV, JSON Lines) that `target` needs, with
/// their types: join keys and `event_timestamp` required in every row,
/// `created_timestamp` optional, and every feature.
pub fn columns(target: &Target, format: Format) -> Columns {
    let (key, event) = if format == Format::JsonLines {
        (
            "the join key is missing or null; every row needs a key",
            "the event timestamp is missing or null; every row needs one",
        )
    } else {
        (
            "the join key is empty (null); every row needs a key",
            "the event timestamp is empty; every row needs one",
        )
    };
    let column = |name: &str, ty: CellType, required: Option<&str>| Declared {
        name: target.source_name(name).to_string(),
        label: target.describe(name),
        ty,
        required: required.map(str::to_string),
        optional: name == CREATED_TIMESTAMP,
        omittable: false,
    };
    let mut declared: Vec<Declared> = target
        .keys
        .iter()
        .map(|k| column(&k.name, CellType::of_key(k.ty), Some(key)))
        .collect();
    declared.push(column(EVENT_TIMESTAMP, CellType::Timestamp, Some(event)));
    declared.push(column(CREATED_TIMESTAMP, CellType::Timestamp, None));
    // A feature declaring a default may be absent from a whole JSON Lines
    // file (written before it was added): the file then has no such column,
    // as a CSV file without it, and [`Layout`] decides whether it may be
    // left out. A field absent from some lines only is null on those lines.
    let view = &target.view;
    declared.extend(view.features.iter().enumerate().map(|(i, f)| Declared {
        omittable: view.feature_default(i).is_some_and(|d| !d.is_null()),
        ..column(&f.name, CellType::of(f.ty), None)
    }));
    Columns {
        declared,
        infer_rest: false,
    }
}

/// Opens `path` for `target`, and where its needed columns are.
fn open(target: &Target, path: &Path, format: Format) -> Result<(Source, Layout), Error> {
    let src = Source::open(path, format, &columns(target, format)).map_err(|e| match e {
        ReadError::Empty => Error::Invalid {
            path: path.to_path_buf(),
            reason: match format {
                Format::Csv => format!(
                    "the file is empty; a CSV input starts with a header row naming the columns {}",
                    target.required_columns().join(",")
                ),
                Format::JsonLines => format!(
                    "the file is empty; a JSON Lines input has one object per line with the fields {}",
                    target.required_columns().join(", ")
                ),
                f => format!("the file is empty; expected a {} file", f.name()),
            },
        },
        e => read_error(path, e),
    })?;
    let layout = Layout::new(target, src.schema()).map_err(|reason| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok((src, layout))
}

fn read_error(path: &Path, e: ReadError) -> Error {
    let path = path.to_path_buf();
    match e.reason("the file is empty") {
        Ok(reason) => Error::Invalid { path, reason },
        Err(source) => Error::Io { path, source },
    }
}

/// The needed columns of a file, as read: for CSV in the order the view
/// names them (a row's cells are checked in that order), else ascending.
fn projection(layout: &Layout, format: Format) -> Vec<usize> {
    let mut cols = layout.columns();
    if format != Format::Csv {
        cols.sort_unstable();
    }
    cols
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
    let (src, layout) = open(target, path, format)?;
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let (runs, checker) = if format == Format::Parquet {
        parquet(target, &src, &layout, now, bar).map_err(|e| read_error(path, e))?
    } else {
        let mut run = Run::new(0, src.rows_hint().unwrap_or(0), Run::row_bytes(target));
        let mut checker = Checker::new(&target.view);
        let batches = src
            .batches(Some(&projection(&layout, format)), BATCH_ROWS)
            .map_err(|e| read_error(path, e))?;
        let layout = Layout::new(target, &batches.schema()).map_err(invalid)?;
        let mut base = 0u64;
        for batch in batches {
            let batch = batch.map_err(|e| read_error(path, e))?;
            encode_batch(target, &layout, &batch, base, now, &mut run, &mut checker)
                .map_err(invalid)?;
            base += batch.num_rows() as u64;
            bar.inc(batch.num_rows() as u64);
        }
        (vec![run], checker)
    };
    let rows = runs.iter().map(|r| r.len() as u64).sum();
    Ok(Encoded {
        runs,
        rows,
        checker,
    })
}

/// Reads and validates a whole file for `target` into rows (the rows a
/// client pushes); the store's own limits are checked by the caller.
pub fn read_rows(target: &Target, path: &Path, format: Format) -> Result<Vec<RowWrite>, Error> {
    let (src, layout) = open(target, path, format)?;
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let batches = src
        .batches(Some(&projection(&layout, format)), BATCH_ROWS)
        .map_err(|e| read_error(path, e))?;
    let layout = Layout::new(target, &batches.schema()).map_err(invalid)?;
    let mut rows = Vec::with_capacity(src.rows_hint().unwrap_or(0));
    for batch in batches {
        let batch = batch.map_err(|e| read_error(path, e))?;
        layout
            .rows(target, &batch, rows.len() as u64, &mut rows)
            .map_err(invalid)?;
    }
    Ok(rows)
}

/// Reads the row groups of a Parquet file on all cores.
fn parquet(
    target: &Target,
    src: &Source,
    layout: &Layout,
    now: i64,
    bar: &ProgressBar,
) -> Result<(Vec<Run>, Checker), ReadError> {
    let Some(meta) = src.parquet_metadata() else {
        return Err(ReadError::Invalid("not a Parquet file".into()));
    };
    let cols = projection(layout, Format::Parquet);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Work items; a file with fewer row groups than cores has its groups split.
    let pieces = {
        let md = meta.metadata();
        let per_group = threads.div_ceil(md.num_row_groups().max(1));
        let mut start = 0u64;
        let mut v: Vec<(Part, usize)> = Vec::new();
        for group in 0..md.num_row_groups() {
            let n = usize::try_from(md.row_group(group).num_rows()).unwrap_or(0);
            let step = n.div_ceil(per_group).max(1);
            for offset in (0..n).step_by(step) {
                let len = step.min(n - offset);
                let part = Part::Rows {
                    group,
                    first_row: start,
                    offset,
                    len,
                };
                v.push((part, len));
            }
            start += n as u64;
        }
        v
    };
    let threads = threads.clamp(1, pieces.len().max(1));
    let results: Vec<Result<(Run, Checker), (u64, ReadError)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<&(Part, usize)> = pieces.iter().skip(t).step_by(threads).collect();
                let cols = &cols;
                s.spawn(move || -> Result<(Run, Checker), (u64, ReadError)> {
                    let rows: usize = mine.iter().map(|p| p.1).sum();
                    let mut run = Run::new(t as u16, rows, Run::row_bytes(target));
                    let mut checker = Checker::new(&target.view);
                    for (part, _) in mine {
                        let mut base = match part {
                            Part::Rows {
                                first_row, offset, ..
                            } => first_row + *offset as u64,
                            _ => 0,
                        };
                        let fail = |e: ReadError| (base, e);
                        let batches = src
                            .parquet_part(Some(cols), part, BATCH_ROWS)
                            .map_err(fail)?;
                        let layout = Layout::new(target, &batches.schema())
                            .map_err(|e| fail(ReadError::Invalid(e)))?;
                        for batch in batches {
                            let batch = batch.map_err(|e| (base, e))?;
                            encode_batch(
                                target,
                                &layout,
                                &batch,
                                base,
                                now,
                                &mut run,
                                &mut checker,
                            )
                            .map_err(|e| (base, ReadError::Invalid(e)))?;
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
                h.join().unwrap_or_else(|_| {
                    Err((0, ReadError::Invalid("a reader thread panicked".into())))
                })
            })
            .collect()
    });
    let mut runs = Vec::with_capacity(results.len());
    let mut checker: Option<Checker> = None;
    let mut first_error: Option<(u64, ReadError)> = None;
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
