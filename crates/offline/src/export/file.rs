//! Exports from an entity table file into an output file.
//!
//! Everything that can be refused is checked first (the request, the
//! table's columns and types, every event time and join key, the output's
//! types); then three stages run until the table is done:
//!
//! ```text
//! reader ──batches──▶ runs joined on all cores ──batches, in order──▶ writer
//! ```
//!
//! The channels between them hold a few batches each, so memory is a run
//! (sized from the budget) plus those.

use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;

use super::pieces::join_run;
use super::rechunk::Rechunk;
use super::{EntityTable, Error, ExportRequest, FileSink, InputFormat, OutputFormat, Plan};
use strata_store::Store;

/// Rows per Parquet row group of the output (fewer if a run is smaller:
/// the writer buffers a row group). About DuckDB's 122,880: row groups are
/// encoded while the next rows are joined, and the last one is soon done.
const ROW_GROUP_ROWS: usize = 1 << 17;

/// The files of [`export_to_file`].
#[derive(Debug, Clone)]
pub struct ExportFiles {
    pub entities: PathBuf,
    /// The entity table's format; by its extension if `None`.
    pub entities_format: Option<InputFormat>,
    pub out: PathBuf,
    /// The output format; by the output's extension if `None`.
    pub out_format: Option<OutputFormat>,
}

/// What a progress callback is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Reading the entity table's keys and times to check them.
    Checking,
    /// `done` of `total` rows written.
    Writing { done: u64, total: u64 },
}

/// What a file export did.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportReport {
    pub out: PathBuf,
    pub format: OutputFormat,
    pub rows: u64,
    pub features: usize,
    /// Per view: its name as requested and the rows that got a version.
    pub matched: Vec<(String, u64)>,
    pub elapsed: Duration,
}

impl std::fmt::Display for ExportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "exported {} row(s) with {} feature(s) to {} ({}) in {secs:.2} s",
            self.rows,
            self.features,
            self.out.display(),
            self.format.name()
        )?;
        if secs > 0.0 && self.rows > 0 {
            write!(f, " ({:.0} rows/s)", self.rows as f64 / secs)?;
        }
        let parts: Vec<String> = self
            .matched
            .iter()
            .map(|(v, n)| {
                let pct = if self.rows == 0 {
                    0.0
                } else {
                    *n as f64 * 100.0 / self.rows as f64
                };
                format!("{v} {n} ({pct:.1} %)")
            })
            .collect();
        write!(f, "; rows with a value: {}", parts.join(", "))
    }
}

/// Exports an entity table file to an output file; see the module docs.
/// Nothing is left at the output path unless the export succeeds.
pub fn export_to_file(
    store: &Store,
    req: &ExportRequest,
    files: &ExportFiles,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ExportReport, Error> {
    let start = Instant::now();
    let out_format = files
        .out_format
        .or_else(|| OutputFormat::of(&files.out))
        .ok_or_else(|| Error::Output {
            path: files.out.clone(),
            reason: "unknown file type; name it *.parquet, *.arrow or *.csv, or pass --format"
                .into(),
        })?;
    let resolved = Plan::resolve(store, req)?;
    let key_types = resolved.key_types().map_err(strata_store::Error::from)?;
    progress(Progress::Checking);
    let mut table = EntityTable::open(&files.entities, files.entities_format, &key_types)?;
    let path = files.entities.as_path();
    let mut plan = Plan::bind(resolved, req, &table.schema()).map_err(|e| e.in_file(path))?;
    super::output::check_writable(out_format, &plan.schema()).map_err(|reason| Error::Output {
        path: files.out.clone(),
        reason,
    })?;
    // A table that fits in one run is checked as the run is read, before
    // any of it is joined or written; a longer one first, in one pass.
    let total = match table.rows_hint() {
        Some(n) if n <= plan.run_rows => n,
        _ => table.validate(&plan)?,
    };
    // A table smaller than a run: batches that spread it over the threads.
    plan.batch_rows = plan.batch_rows.min(super::piece_rows(total, plan.threads));
    let sink = FileSink::create(
        &files.out,
        out_format,
        plan.schema(),
        ROW_GROUP_ROWS.min(plan.run_rows),
        plan.threads,
    )?;
    progress(Progress::Writing {
        done: 0,
        total: total as u64,
    });
    let (sink, matched) = pipeline(store, &plan, &table, sink, &|done| {
        progress(Progress::Writing {
            done,
            total: total as u64,
        })
    })
    .map_err(|e| e.in_file(path))?;
    if sink.rows() != total as u64 {
        return Err(Error::Internal(format!(
            "joined {} rows of {total}; did the entity table change while it was exported?",
            sink.rows()
        )));
    }
    let rows = sink.finish()?;
    Ok(ExportReport {
        out: files.out.clone(),
        format: out_format,
        rows,
        features: plan.outputs().len(),
        matched: plan.view_names().into_iter().zip(matched).collect(),
        elapsed: start.elapsed(),
    })
}

/// Runs the reader, the joins and the writer; returns the sink (not yet
/// finished) and the per-view hits.
fn pipeline(
    store: &Store,
    plan: &Plan,
    table: &EntityTable,
    mut sink: FileSink,
    written: &(dyn Fn(u64) + Sync),
) -> Result<(FileSink, Vec<u64>), Error> {
    let (in_tx, in_rx) = sync_channel::<Result<RecordBatch, Error>>(4);
    // Room for a row group: the joins go on while the writer encodes one.
    let ahead = (ROW_GROUP_ROWS.min(plan.run_rows) / plan.batch_rows.max(1)).max(4);
    let (out_tx, out_rx) = sync_channel::<RecordBatch>(ahead);
    let spec = plan.spec(store);
    // `move`: returning early drops `in_rx` and `out_tx`, which stops the
    // reader and the writer before the scope waits for them.
    std::thread::scope(move |s| {
        let ahead = plan.run_rows / plan.threads;
        s.spawn(
            move || match table.batches(plan.batch_rows, plan.threads, ahead) {
                Ok(batches) => {
                    let pieces = Rechunk::new(batches, plan.batch_rows, plan.input.clone());
                    for b in pieces {
                        if in_tx.send(b).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = in_tx.send(Err(e));
                }
            },
        );
        let writer = s.spawn(move || -> Result<FileSink, Error> {
            let mut rows = 0u64;
            for b in out_rx {
                sink.write(&b)?;
                rows += b.num_rows() as u64;
                written(rows);
            }
            Ok(sink)
        });
        let mut input = in_rx.into_iter();
        let mut matched = vec![0u64; plan.resolved.views.len()];
        let mut first = 0;
        let mut failure = None;
        loop {
            let run = match super::read_run(&mut input, plan.run_rows) {
                Ok(run) if run.is_empty() => break,
                Ok(run) => run,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            let rows: usize = run.iter().map(RecordBatch::num_rows).sum();
            let hits = join_run(&spec, &run, first, &mut |b| {
                out_tx
                    .send(b)
                    .map_err(|_| Error::Internal("the writer stopped".into()))
            });
            match hits {
                Ok(hits) => {
                    for (m, h) in matched.iter_mut().zip(hits) {
                        *m += h;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            first += rows;
        }
        drop(out_tx);
        drop(input);
        let sink = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        // A writer failure explains a "writer stopped" in the joins.
        let sink = sink?;
        match failure {
            Some(e) => Err(e),
            None => Ok((sink, matched)),
        }
    })
}
