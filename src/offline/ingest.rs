//! `strata ingest`: a whole file into one view.
//!
//! The file is read and validated completely first ([`super::read_file`]);
//! a refused file leaves the store untouched. The rows are then written in
//! batches of [`BATCH_ROWS`] through [`Store::write`], each batch atomic and
//! durable. Rows without a `created_timestamp` get the store's clock at the
//! time their batch is written.

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{Error, Target, read_file, timestamp};
use crate::store::Store;

/// Rows per write batch.
pub const BATCH_ROWS: usize = 10_000;

/// What an ingest did.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestReport {
    /// The view written, as `name` or `name@version`.
    pub view: String,
    pub path: PathBuf,
    pub rows: usize,
    pub batches: usize,
    /// The range of `event_timestamp`s written, if any row was.
    pub event_range: Option<(i64, i64)>,
    pub elapsed: Duration,
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "ingested {} row(s) into {} from {} in {secs:.2} s",
            self.rows,
            self.view,
            self.path.display()
        )?;
        if secs > 0.0 && self.rows > 0 {
            write!(f, " ({:.0} rows/s)", self.rows as f64 / secs)?;
        }
        if let Some((lo, hi)) = self.event_range {
            write!(
                f,
                "; event times {} .. {}",
                timestamp::format(lo),
                timestamp::format(hi)
            )?;
        }
        Ok(())
    }
}

/// Reads, validates and writes `path` into `view`. With `progress`, shows a
/// progress bar when stderr is a terminal.
pub fn ingest_file(
    store: &Store,
    view: &str,
    path: &Path,
    progress: bool,
) -> Result<IngestReport, Error> {
    let start = Instant::now();
    let cat = store.catalog();
    let target = Target::new(&cat, view)?;
    let name = target.view.qualified_name();
    let show = progress && std::io::stderr().is_terminal();

    let reading = if show {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    reading.set_message(format!("reading and checking {}", path.display()));
    reading.enable_steady_tick(Duration::from_millis(120));
    let rows = read_file(&cat, &name, path);
    reading.finish_and_clear();
    let rows = rows.map_err(|e| Error::NothingWritten(Box::new(e)))?;

    let bar = if show {
        ProgressBar::new(rows.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {human_pos}/{human_len} rows ({per_sec:0}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("writing {name}"));
    let mut batches = 0;
    for (i, chunk) in rows.chunks(BATCH_ROWS).enumerate() {
        store.write(&name, chunk).map_err(|source| {
            bar.abandon();
            Error::Write {
                path: path.to_path_buf(),
                view: name.clone(),
                written: i * BATCH_ROWS,
                total: rows.len(),
                source: Box::new(source),
            }
        })?;
        batches += 1;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let event_range = rows
        .iter()
        .map(|r| r.event_ts)
        .fold(None, |acc: Option<(i64, i64)>, t| match acc {
            None => Some((t, t)),
            Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
        });
    Ok(IngestReport {
        view: name,
        path: path.to_path_buf(),
        rows: rows.len(),
        batches,
        event_range,
        elapsed: start.elapsed(),
    })
}
