//! `strata export` and `strata snapshot`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use strata::offline::export::{
    self, ExportFiles, ExportRequest, InputFormat, KnownAt, OutputFormat, Progress,
    snapshot::{SnapshotRequest, snapshot},
};

use super::{CliError, Result, out, store_for_reading, view_of};

/// The options of `strata export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The entity table (.parquet, .arrow or .csv): the join keys, event_timestamp, and any label columns
    #[arg(long, value_name = "FILE")]
    pub entities: PathBuf,
    /// Features as view:feature, view:* or view@2:feature, separated by commas
    #[arg(long, value_name = "REFS")]
    pub features: String,
    /// The output file
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Name feature columns view__feature instead of feature
    #[arg(long)]
    pub full_feature_names: bool,
    /// Fill features that have no value with their declared defaults
    #[arg(long)]
    pub fill_defaults: bool,
    /// Ignore versions written (created) after T
    #[arg(long, value_name = "T", value_parser = super::parse::time_arg, alias = "known-at", conflicts_with = "no_future_writes")]
    pub as_known_at: Option<i64>,
    /// For each row, ignore versions written after the row's event_timestamp
    #[arg(long)]
    pub no_future_writes: bool,
    /// The output format: parquet, arrow or csv [default: by --out's extension]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// The entity table's format: parquet, arrow or csv [default: by its extension]
    #[arg(long, value_name = "FORMAT")]
    pub entities_format: Option<String>,
    /// Memory for rows in flight, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub memory_mb: usize,
    /// Joining threads [default: one per core]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// The options of `strata snapshot`.
#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    /// The feature view (`name` or `name@version`)
    #[arg(long)]
    pub view: String,
    /// The output directory
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Earliest event time (inclusive)
    #[arg(long, value_name = "T", value_parser = super::parse::time_arg)]
    pub from: Option<i64>,
    /// Latest event time (inclusive)
    #[arg(long, value_name = "T", value_parser = super::parse::time_arg)]
    pub to: Option<i64>,
    /// Ignore versions written (created) after T
    #[arg(long, value_name = "T", value_parser = super::parse::time_arg, alias = "as-known-at")]
    pub known_at: Option<i64>,
    /// Memory for buffered rows, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub memory_mb: usize,
    /// Threads [default: one per core]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Request errors are usage errors (exit code 2); the rest failures.
fn cli_error(e: export::Error) -> CliError {
    match e {
        export::Error::Request(m) => CliError::Usage(m),
        export::Error::Resolve(e @ strata::store::Error::Request(_)) => {
            CliError::Usage(e.to_string())
        }
        e => CliError::from(e),
    }
}

fn memory(mb: usize) -> Result<usize> {
    if mb < 64 {
        return Err(CliError::Usage(format!(
            "--memory-mb {mb} is too small; give at least 64"
        )));
    }
    Ok(mb.saturating_mul(1 << 20))
}

/// A bar on a terminal (hidden otherwise), starting as a spinner.
fn progress_bar(message: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn counting(bar: &ProgressBar, total: u64, unit: &str) {
    bar.disable_steady_tick();
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec:0}}, eta {{eta}})"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_length(total);
}

/// `strata export`.
pub fn export(dir: &Path, args: ExportArgs) -> Result {
    let store = store_for_reading(dir)?;
    let mut req = ExportRequest::new(&args.features).map_err(cli_error)?;
    req.full_feature_names = args.full_feature_names;
    req.fill_defaults = args.fill_defaults;
    req.known_at = match (args.as_known_at, args.no_future_writes) {
        (Some(t), false) => KnownAt::At(t),
        (None, true) => KnownAt::EventTime,
        (None, false) => KnownAt::Unbounded,
        (Some(_), true) => {
            return Err(CliError::Usage(
                "--as-known-at and --no-future-writes exclude each other; pass one".into(),
            ));
        }
    };
    req.memory_budget = memory(args.memory_mb)?;
    req.threads = args.threads.unwrap_or(0);
    let entities_format = args
        .entities_format
        .as_deref()
        .map(|f| {
            InputFormat::parse(f).ok_or_else(|| {
                CliError::Usage(format!(
                    "--entities-format {f:?}: use parquet, arrow or csv"
                ))
            })
        })
        .transpose()?;
    let out_format = args
        .format
        .as_deref()
        .map(|f| {
            OutputFormat::parse(f).ok_or_else(|| {
                CliError::Usage(format!("--format {f:?}: use parquet, arrow or csv"))
            })
        })
        .transpose()?;
    let files = ExportFiles {
        entities: args.entities,
        entities_format,
        out: args.out,
        out_format,
    };
    let bar = progress_bar(&format!("checking {}", files.entities.display()));
    let started = AtomicBool::new(false);
    let report = export::export_to_file(&store, &req, &files, &|p| match p {
        Progress::Checking => {}
        Progress::Writing { done, total } => {
            if !started.swap(true, Ordering::Relaxed) {
                counting(&bar, total, "rows");
                bar.set_message(format!("exporting to {}", files.out.display()));
            }
            bar.set_position(done);
        }
    });
    bar.finish_and_clear();
    out!("{}", report.map_err(cli_error)?);
    Ok(())
}

/// `strata snapshot`.
pub fn snapshot_cmd(dir: &Path, args: SnapshotArgs) -> Result {
    let store = store_for_reading(dir)?;
    let view = view_of(&store.catalog(), &args.view)?;
    let mut req = SnapshotRequest::new(&view.reference());
    if let Some(f) = args.from {
        req.from = f;
    }
    if let Some(t) = args.to {
        req.to = t;
    }
    if req.from > req.to {
        return Err(CliError::Usage("--from is after --to".into()));
    }
    req.known_at = args.known_at;
    req.memory_budget = memory(args.memory_mb)?;
    req.threads = args.threads.unwrap_or(0);
    let bar = progress_bar(&format!("listing the keys of {}", view.qualified_name()));
    let started = AtomicBool::new(false);
    let report = snapshot(&store, &req, &args.out, &|done, total| {
        if !started.swap(true, Ordering::Relaxed) {
            counting(&bar, total, "keys");
            bar.set_message(format!("writing {}", view.qualified_name()));
        }
        bar.set_position(done);
    });
    bar.finish_and_clear();
    out!("{}", report.map_err(cli_error)?);
    Ok(())
}
