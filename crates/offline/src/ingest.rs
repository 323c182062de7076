//! `strata ingest`: files into one view, each file all or nothing.
//!
//! Each file is read, validated and encoded completely first
//! ([`super::source`]), then checked against the view's expectations
//! ([`strata_store::catalog::quality`]); a refused file leaves the store as it was.
//! Then, by default (**the fast path**), its entries are sorted by internal
//! key and written as one new segment that one manifest replacement adds to
//! the store ([`Engine::ingest_sorted`](strata_engine::Engine::ingest_sorted)):
//! a file is wholly in the store or not at all, even across a crash, and
//! neither the WAL nor the memtable sees it. A row repeated in one file with
//! the same `(key, event_timestamp, created_timestamp)` keeps its last copy.
//! The fast path is used for every file, of any size: a small file makes a
//! small segment, which compaction merges like any flushed one.
//!
//! With `via_wal` the entries are written in file order through the WAL in
//! atomic batches of [`WAL_BATCH_ROWS`](super::encode::WAL_BATCH_ROWS)
//! instead (a crash may then leave a prefix of the file).
//!
//! Rows without a `created_timestamp` get the store's clock at the start of
//! the ingest. After the data is durable, the statistics of the ingest
//! (per feature: rows, null fraction, min, max, mean) and any violations
//! are recorded ([`strata_store::catalog::stats`]).

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::encode::{self, WAL_BATCH_ROWS};
use super::source::read_encode;
use super::{Error, Format, Target, timestamp};
use strata_store::catalog::meta::QualityPolicy;
use strata_store::catalog::quality::{self, Checker};
use strata_store::catalog::stats::{self, IngestStats, Violation};
use strata_store::ingest::{self, BatchId, Claim, ContentDigest, WriteOptions, WriteSummary};
use strata_store::{self as store, Store};

/// Rows per write batch of the WAL path.
pub const BATCH_ROWS: usize = WAL_BATCH_ROWS;

/// How to ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The input format; by each file's extension if `None`.
    pub format: Option<Format>,
    /// `(input column, view column)` renames.
    pub renames: Vec<(String, String)>,
    /// Write through the WAL in batches instead of as one segment per file.
    pub via_wal: bool,
    /// Show a progress bar when stderr is a terminal.
    pub progress: bool,
    /// Write a file even if the view's ledger says it was ingested.
    pub force: bool,
    /// Write historical events whatever the watermark of the aggregation
    /// views over the view, correcting their tiles.
    pub backfill: bool,
    /// The batch name of the data (instead of the files' digests): file
    /// `i` of several is the batch `NAME/i`.
    pub batch_name: Option<String>,
}

/// What an ingest did.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestReport {
    /// The view written, as `name` or `name@version`.
    pub view: String,
    /// The first file (see `files` for all).
    pub path: PathBuf,
    pub files: Vec<PathBuf>,
    /// Rows read.
    pub rows: usize,
    /// What the store did with them (the numbers every surface prints).
    pub summary: WriteSummary,
    /// Files the view's ledger already had (not written again).
    pub skipped: Vec<PathBuf>,
    /// WAL batches (WAL path) or segments (fast path) written.
    pub batches: usize,
    pub via_wal: bool,
    /// The range of `event_timestamp`s written, if any row was.
    pub event_range: Option<(i64, i64)>,
    /// Expectations broken (recorded, as the view's policy is `warn`).
    pub violations: Vec<Violation>,
    pub elapsed: Duration,
    /// Time spent reading + validating + encoding, sorting, and writing.
    pub phases: Phases,
}

/// Where an ingest's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    pub read: Duration,
    pub sort: Duration,
    pub write: Duration,
}

impl fmt::Display for IngestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let from = match self.files.len() + self.skipped.len() {
            1 => self.path.display().to_string(),
            n => format!("{n} files"),
        };
        write!(
            f,
            "ingest into {} from {from} in {secs:.2} s: {}",
            self.view, self.summary
        )?;
        if !self.skipped.is_empty() && !self.files.is_empty() {
            write!(
                f,
                " ({} file(s) already ingested: {})",
                self.skipped.len(),
                self.skipped
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        if secs > 0.0 && self.summary.written > 0 {
            write!(f, " ({:.0} rows/s", self.rows as f64 / secs)?;
            let how = if self.via_wal {
                format!("{} WAL batch(es)", self.batches)
            } else {
                format!("{} segment(s)", self.batches)
            };
            write!(f, ", {how})")?;
        }
        if let Some((lo, hi)) = self.event_range {
            write!(
                f,
                "; event times {} .. {}",
                timestamp::format(lo),
                timestamp::format(hi)
            )?;
        }
        if !self.violations.is_empty() {
            write!(
                f,
                "; WARNING: expectation violations recorded:\n{}",
                quality::report(&self.violations)
            )?;
        }
        Ok(())
    }
}

/// Reads, validates and writes `path` into `view` (the fast path). With
/// `progress`, shows a progress bar when stderr is a terminal.
pub fn ingest_file(
    store: &Store,
    view: &str,
    path: &Path,
    progress: bool,
) -> Result<IngestReport, Error> {
    ingest(
        store,
        view,
        &[path.to_path_buf()],
        &IngestOptions {
            progress,
            ..IngestOptions::default()
        },
    )
}

fn bar(show: bool, len: Option<u64>, msg: String) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let b = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {human_pos}/{human_len} rows ({per_sec:0}, eta {eta})",
    ) && len.is_some()
    {
        b.set_style(style.progress_chars("=> "));
    }
    b.set_message(msg);
    b.enable_steady_tick(Duration::from_millis(120));
    b
}

/// Ingests `files` into `view` in order, each file atomically (fast path)
/// and refused as a whole if invalid. If a file fails after others were
/// ingested, the error says which were.
pub fn ingest(
    store: &Store,
    view: &str,
    files: &[PathBuf],
    opts: &IngestOptions,
) -> Result<IngestReport, Error> {
    let start = Instant::now();
    let cat = store.catalog();
    let mut target = Target::new(&cat, view)?;
    target.renames = opts.renames.clone();
    let name = target.view.qualified_name();
    if target.view.is_aggregation() {
        return Err(Error::NothingWritten(Box::new(Error::Computed(name))));
    }
    if target.view.is_derived() {
        return Err(Error::NothingWritten(Box::new(Error::Derived(name))));
    }
    let show = opts.progress && std::io::stderr().is_terminal();
    let now = store::now_micros();
    let mut report = IngestReport {
        view: name.clone(),
        path: files.first().cloned().unwrap_or_default(),
        files: Vec::new(),
        rows: 0,
        summary: WriteSummary::default(),
        skipped: Vec::new(),
        batches: 0,
        via_wal: opts.via_wal,
        event_range: None,
        violations: Vec::new(),
        elapsed: Duration::ZERO,
        phases: Phases::default(),
    };
    let mut all = Checker::new(&target.view);
    for (i, path) in files.iter().enumerate() {
        let batch = match &opts.batch_name {
            Some(n) if files.len() == 1 => BatchId::named(n),
            Some(n) => BatchId::named(&format!("{n}/{i}")),
            None => file_digest(path, &target.renames)?,
        };
        let wopts = WriteOptions {
            batch: Some(batch),
            label: path.display().to_string(),
            force: opts.force,
            backfill: opts.backfill,
            created_at: Some(now),
        };
        match one_file(store, &target, path, opts, &wopts, now, show, &mut report) {
            Ok(Some(checker)) => all.merge(checker),
            Ok(None) => report.skipped.push(path.to_path_buf()),
            Err(e) => {
                if report.files.is_empty() {
                    return Err(e);
                }
                record(store, &target, &report, all);
                return Err(Error::AfterFiles {
                    done: report.files.clone(),
                    source: Box::new(e),
                });
            }
        }
    }
    report.elapsed = start.elapsed();
    if !report.files.is_empty() {
        record(store, &target, &report, all);
    }
    Ok(report)
}

/// Records the statistics; a failure to do so is reported on stderr, as
/// the data is already in the store.
fn record(store: &Store, target: &Target, report: &IngestReport, checker: Checker) {
    let (features, violations) = checker.finish(report.rows as u64);
    let s = IngestStats {
        view: report.view.clone(),
        at_micros: store::now_micros(),
        files: report
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        rows: report.rows as u64,
        policy: target.view.quality_policy().name().into(),
        features,
        violations,
    };
    if let Err(e) = stats::record(store.dir(), target.view.id, s) {
        eprintln!("warning: the data was ingested, but its statistics were not saved: {e}");
    }
}

/// The batch id of a file: the digest of its bytes and of the renames
/// applied to it (the same bytes read with other names are other data).
pub fn file_digest(path: &Path, renames: &[(String, String)]) -> Result<BatchId, Error> {
    use std::io::Read;
    let io = |source| {
        Error::NothingWritten(Box::new(Error::Io {
            path: path.to_path_buf(),
            source,
        }))
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut d = ContentDigest::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        d.update(&buf[..n]);
    }
    for (a, b) in renames {
        d.update(&[0xff]);
        d.update(a.as_bytes());
        d.update(&[0]);
        d.update(b.as_bytes());
    }
    Ok(d.finish())
}

/// Ingests one file; `None` if the view's ledger already has it (nothing
/// is read or written, and the report counts its rows as already there).
#[expect(
    clippy::too_many_arguments,
    reason = "one call site, all of it context"
)]
fn one_file(
    store: &Store,
    target: &Target,
    path: &Path,
    opts: &IngestOptions,
    wopts: &WriteOptions,
    now: i64,
    show: bool,
    report: &mut IngestReport,
) -> Result<Option<Checker>, Error> {
    let refused = |e: Error| Error::NothingWritten(Box::new(e));
    // The ledger is checked before the file is read (a file ingested
    // before is not read again), and again, holding the claim, before it
    // is written (another writer of the same batch may have come first).
    let claim = |report: &mut IngestReport| match store.claim(target.view.id, wopts) {
        Err(e) => Err(refused(Error::Store(Box::new(e)))),
        Ok(Claim::Done(rec)) => {
            let s = ingest::repeated(rec.summary.rows, &rec);
            report.rows += s.rows as usize;
            report.summary.add(&s);
            Ok(None)
        }
        Ok(Claim::Fresh { guard, prior }) => Ok(Some((guard, prior))),
    };
    let Some((_, prior)) = claim(report)? else {
        return Ok(None);
    };
    // Rows without a created_timestamp: the ingest's time, or the time
    // they were given by the run that this backfill retries.
    let now = prior.map_or(now, |p| p.created_at);
    let wopts = &WriteOptions {
        created_at: Some(now),
        ..wopts.clone()
    };
    let aggregated = !store.aggregations().over(target.view.id).is_empty();
    let format = match opts.format {
        Some(f) => f,
        None => Format::of(path).ok_or_else(|| {
            refused(Error::UnknownFormat {
                path: path.to_path_buf(),
            })
        })?,
    };
    let reading = bar(
        show,
        parquet_rows(path, format),
        format!("reading {}", path.display()),
    );
    let t = Instant::now();
    let enc = read_encode(target, path, format, now, &reading);
    report.phases.read += t.elapsed();
    reading.finish_and_clear();
    let mut enc = enc.map_err(refused)?;
    let (_, violations) = enc.checker.clone().finish(enc.rows);
    if !violations.is_empty() && target.view.quality_policy() == QualityPolicy::Reject {
        return Err(refused(Error::Quality {
            path: path.to_path_buf(),
            view: target.view.qualified_name(),
            report: quality::report(&violations),
        }));
    }
    let total = enc.rows;
    let Some((_claim, _)) = claim(report)? else {
        return Ok(None);
    };
    let write_err = |written: u64, source: store::Error| Error::Write {
        path: path.to_path_buf(),
        view: target.view.qualified_name(),
        written: written as usize,
        total: total as usize,
        source: Box::new(source),
    };
    let t = Instant::now();
    let summary = if opts.via_wal {
        let b = bar(
            show,
            Some(total),
            format!("writing {}", target.view.qualified_name()),
        );
        let r = encode::write_wal(store, &target.view, &enc.runs, wopts, &b);
        b.finish_and_clear();
        let s = r.map_err(|(w, e)| write_err(w, e))?;
        report.batches += (total as usize).div_ceil(WAL_BATCH_ROWS);
        s
    } else if aggregated {
        // A source of aggregations: its events and their tiles (and the
        // ledger record) as one segment.
        let b = bar(
            show,
            None,
            format!("writing {} with its tiles", target.view.qualified_name()),
        );
        let events = encode::events_in_file_order(&enc.runs);
        let r = store.ingest_events(&target.view, events, wopts);
        b.finish_and_clear();
        let s = r.map_err(|e| write_err(0, e))?;
        report.batches += usize::from(s.written > 0);
        s
    } else {
        let sorting = bar(show, None, format!("sorting {total} rows"));
        let t = Instant::now();
        let sorted = encode::sort(&mut enc.runs);
        report.phases.sort += t.elapsed();
        sorting.finish_and_clear();
        let b = bar(
            show,
            Some(total),
            format!("writing a segment of {}", target.view.qualified_name()),
        );
        let ledger = |written: u64| {
            let s = WriteSummary {
                rows: total,
                written,
                duplicates: total - written,
                ..WriteSummary::default()
            };
            let batch = wopts.batch.unwrap_or(BatchId([0; 16]));
            ingest::ledger_entry(target.view.id, &batch, &store.ledger_record(wopts, s))
        };
        let r = encode::write_segment(store, &enc.runs, &sorted, &ledger, &b);
        b.finish_and_clear();
        let w = r.map_err(|e| write_err(0, e.into()))?;
        report.batches += usize::from(w > 0);
        WriteSummary {
            rows: total,
            written: w,
            duplicates: total - w,
            ..WriteSummary::default()
        }
    };
    report.phases.write += t.elapsed()
        - if opts.via_wal {
            Duration::ZERO
        } else {
            report.phases.sort
        };
    report.rows += total as usize;
    let violated: u64 = violations.iter().map(|v| v.count).sum();
    report.summary.add(&WriteSummary {
        violations: violated,
        ..summary
    });
    report.files.push(path.to_path_buf());
    report.event_range = match (report.event_range, enc.event_range()) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        (a, b) => a.or(b),
    };
    report.violations.extend(violations);
    Ok(Some(enc.checker))
}

/// The row count of a Parquet file from its footer, for the progress bar.
fn parquet_rows(path: &Path, format: Format) -> Option<u64> {
    if format != Format::Parquet {
        return None;
    }
    let f = std::fs::File::open(path).ok()?;
    let r = parquet::file::reader::SerializedFileReader::new(f).ok()?;
    use parquet::file::reader::FileReader;
    u64::try_from(r.metadata().file_metadata().num_rows()).ok()
}
