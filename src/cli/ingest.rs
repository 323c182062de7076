//! `strata ingest`: files, globs, or the view's declared `source`.

use std::path::{Path, PathBuf};

use strata::catalog::lineage;
use strata::catalog::meta::Source;
use strata::offline::{self, Format, IngestOptions, glob};

use super::{CliError, Result, existing_store, out, view_of};

/// The arguments of `strata ingest`.
#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// The feature view (`name` or `name@version`)
    #[arg(long)]
    pub view: String,
    /// Files or quoted globs (`'data/*.parquet'`); with none, the view's
    /// declared `source` glob is read (for schedulers such as cron or Airflow)
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    /// The input format: parquet, csv, arrow (IPC file or stream) or jsonl [default: by extension]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Read the input column SRC as the view's column DEST (repeatable)
    #[arg(long = "map", value_name = "SRC=DEST")]
    pub map: Vec<String>,
    /// Write through the WAL in batches of 10 000 rows instead of one
    /// segment per file (a crash may then leave part of a file)
    #[arg(long)]
    pub via_wal: bool,
    /// Write a file again although the view's ledger says it was ingested
    #[arg(long)]
    pub force: bool,
    /// Write historical events whatever the watermark of the aggregation
    /// views over the view, correcting their tiles
    #[arg(long)]
    pub backfill: bool,
    /// Name the batch (a retried run with the same name writes nothing
    /// again) instead of identifying each file by the digest of its bytes
    #[arg(long, value_name = "NAME")]
    pub batch_id: Option<String>,
}

/// Exit code of an ingest that ran but did not write every row (rows
/// refused as late): the summary line says how many.
pub const EXIT_INCOMPLETE: u8 = 4;

/// The command's outcome for a summary: exit 0 when every row is in the
/// store, [`EXIT_INCOMPLETE`] when some were refused.
pub fn outcome(line: String, summary: &strata::store::WriteSummary) -> Result {
    out!("{line}");
    if summary.complete() {
        Ok(())
    } else {
        Err(CliError::Exit(
            EXIT_INCOMPLETE,
            format!(
                "not every row was written: {} of {} refused as late",
                summary.rejected_late, summary.rows
            ),
        ))
    }
}

impl IngestArgs {
    /// The one plain file given (what `--server` ingest takes).
    pub fn single_file(&self) -> Result<PathBuf> {
        match &self.files[..] {
            [f] if !glob::is_pattern(f) && self.map.is_empty() && self.format.is_none() => {
                Ok(PathBuf::from(f))
            }
            _ => Err(CliError::Usage(
                "with --server, ingest takes exactly one file, without globs, --map or --format"
                    .into(),
            )),
        }
    }
}

/// `--map a=b` arguments as pairs.
pub fn renames(map: &[String]) -> Result<Vec<(String, String)>> {
    map.iter()
        .map(|m| match m.split_once('=') {
            Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
                Ok((a.trim().to_string(), b.trim().to_string()))
            }
            _ => Err(CliError::Usage(format!(
                "--map {m:?}: write it as SOURCE_COLUMN=FEATURE, e.g. --map amt=amount_avg"
            ))),
        })
        .collect()
}

/// The files of the arguments, or of the view's `source` glob.
fn inputs(args: &IngestArgs, source: Source, view: &str) -> Result<Vec<PathBuf>> {
    let patterns: Vec<String> = if args.files.is_empty() {
        match source {
            Source::Files(g) => vec![g],
            Source::None => {
                return Err(CliError::Usage(format!(
                    "no file given, and view {view} declares no source; pass files, or add source = \"/path/*.parquet\" to its definition"
                )));
            }
            other => {
                return Err(CliError::Usage(format!(
                    "no file given, and the source of view {view} is {other:?}, not files; pass the files to ingest"
                )));
            }
        }
    } else {
        args.files.clone()
    };
    let mut files = Vec::new();
    for p in &patterns {
        let found = glob::expand(p).map_err(CliError::msg)?;
        if found.is_empty() {
            return Err(CliError::msg(format!("no file matches {p:?}")));
        }
        files.extend(found);
    }
    Ok(files)
}

/// `strata ingest`.
pub fn run(dir: &Path, args: IngestArgs) -> Result {
    let store = existing_store(dir)?;
    let cat = store.catalog();
    let view = view_of(&cat, &args.view)?;
    let format = match &args.format {
        None => None,
        Some(f) => Some(Format::parse(f).ok_or_else(|| {
            CliError::Usage(format!("--format {f:?}: use parquet, csv, arrow or jsonl"))
        })?),
    };
    let files = inputs(&args, lineage::source(&cat, &view), &view.qualified_name())?;
    let opts = IngestOptions {
        format,
        renames: renames(&args.map)?,
        via_wal: args.via_wal,
        progress: true,
        force: args.force,
        backfill: args.backfill,
        batch_name: args.batch_id.clone(),
    };
    let report = offline::ingest(&store, &view.reference(), &files, &opts)?;
    outcome(report.to_string(), &report.summary)
}
