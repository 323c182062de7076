//! `strata`: the command-line interface of the Strata feature store.
//!
//! Every command takes `--data DIR` (or `STRATA_DATA`; default
//! `./strata-data`). Errors go to stderr as `error: ...` with their causes;
//! the exit code is 1 for a failure and 2 for a usage error (and 3 for
//! `freshness` when an SLA is violated).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::parse::{request_arg, time_arg};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "A feature store with time travel: every version of every feature, online and offline"
)]
struct Args {
    /// The store directory [default: ./strata-data; for `demo`, a new temporary directory]
    #[arg(long, global = true, env = "STRATA_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(flatten)]
    remote: cli::remote::RemoteArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or update entities and feature views from a definitions file
    Apply {
        /// The definitions file (TOML)
        defs: PathBuf,
        /// Only print what would change
        #[arg(long)]
        plan: bool,
    },
    /// Import Parquet, CSV, Arrow IPC or JSON Lines files into a feature view
    /// (each file all or nothing, as one new segment)
    Ingest(cli::ingest::IngestArgs),
    /// The registry: list, describe, search and lineage of feature views
    Registry {
        #[command(subcommand)]
        cmd: cli::registry::RegistryCmd,
    },
    /// The features of entity keys: latest, or as of a time (one row per key)
    Get {
        /// The feature view (`name` or `name@version`)
        #[arg(long)]
        view: String,
        /// A key (repeat for several); several join keys as K1,K2
        #[arg(long, required_unless_present = "keys")]
        key: Vec<String>,
        /// A file of keys, one per line (as --key writes them)
        #[arg(long, value_name = "FILE")]
        keys: Option<PathBuf>,
        /// Read as of this event time (RFC 3339, a date, or µs since the epoch)
        #[arg(long, value_name = "T", value_parser = time_arg)]
        as_of: Option<i64>,
        /// Ignore versions written after this time
        #[arg(long, value_name = "T", value_parser = time_arg)]
        known_at: Option<i64>,
        /// A request-time value of a derived view, NAME=VALUE (repeat for
        /// several; the same for every key)
        #[arg(long, value_name = "NAME=VALUE", value_parser = request_arg)]
        request: Vec<(String, String)>,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Every version of one entity key, newest first
    History {
        #[arg(long)]
        view: String,
        #[arg(long)]
        key: String,
        /// Earliest event time (inclusive)
        #[arg(long, value_name = "T", value_parser = time_arg)]
        from: Option<i64>,
        /// Latest event time (inclusive)
        #[arg(long, value_name = "T", value_parser = time_arg)]
        to: Option<i64>,
        #[arg(long, value_name = "T", value_parser = time_arg)]
        known_at: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Remove every version of an entity key from every view that uses the entity
    Delete {
        #[arg(long)]
        entity: String,
        #[arg(long)]
        key: String,
    },
    /// Move everything written so far into segment files
    Flush,
    /// Merge every segment into one (dropping what retention and deletes no longer keep)
    Compact,
    /// Build a point-in-time-correct training set: each entity row gets the
    /// features as of its event_timestamp
    Export(cli::export::ExportArgs),
    /// Write a view's history as Hive-partitioned Parquet
    /// (OUT/view=NAME/date=YYYY-MM-DD/part-N.parquet) for Spark, Trino or DuckDB;
    /// with --server, the server writes OUT on its own file system
    Snapshot(cli::export::SnapshotArgs),
    /// Create an example store, ingest example data, read it back and export a training set
    Demo,
    /// Every feature view's lag against its freshness_sla; exits 3 if any is violated
    Freshness(cli::freshness::FreshnessArgs),
    /// Serve the store over QUIC (TLS) until SIGTERM; clients use --server
    Serve(cli::serve::ServeArgs),
    /// Manage the access tokens of a store's server
    Token {
        #[command(subcommand)]
        cmd: cli::token::TokenCmd,
    },
    /// Load-generate lookups against a server (and measure the bare QUIC echo baseline)
    BenchClient(cli::bench::BenchArgs),
}

fn run(args: Args) -> cli::Result {
    let data = args.data;
    let remote = args.remote;
    match args.command {
        Command::Serve(a) => cli::serve::serve(&cli::data_dir(data), a),
        Command::Token { cmd } if remote.active() => cli::admin::token(&remote, cmd),
        Command::Token { cmd } => cli::token::run(&cli::data_dir(data), cmd),
        Command::BenchClient(a) => cli::bench::run(&cli::data_dir(data), &remote, a),
        Command::Freshness(a) => cli::freshness::run(&cli::data_dir(data), &remote, a),
        Command::Ingest(a) if remote.active() => {
            cli::remote::ingest(&remote, &a, &a.single_file()?)
        }
        Command::Apply { defs, plan } if remote.active() => cli::admin::apply(&remote, &defs, plan),
        Command::Registry { cmd } if remote.active() => cli::admin::registry(&remote, cmd),
        Command::Delete { entity, key } if remote.active() => {
            cli::admin::delete(&remote, &entity, &key)
        }
        Command::Flush if remote.active() => {
            cli::admin::store_wide(&remote, strata::format::protocol::AdminOp::Flush)
        }
        Command::Compact if remote.active() => {
            cli::admin::store_wide(&remote, strata::format::protocol::AdminOp::Compact)
        }
        Command::Demo if remote.active() => Err(cli::CliError::Usage(
            "demo makes a store of its own; run it without --server".into(),
        )),
        Command::Apply { defs, plan } => cli::apply(&cli::data_dir(data), &defs, plan),
        Command::Ingest(a) => cli::ingest::run(&cli::data_dir(data), a),
        Command::Registry { cmd } => cli::registry::run(&cli::data_dir(data), cmd),
        Command::Get {
            view,
            key,
            keys,
            as_of,
            known_at,
            request,
            json,
        } => {
            let keys = cli::parse::key_list(key, keys.as_deref())?;
            let get = cli::GetArgs {
                view: &view,
                keys: &keys,
                known_at,
                request: &request,
                json,
            };
            if remote.active() {
                cli::remote::get(&remote, &get, as_of)
            } else {
                cli::get(&cli::data_dir(data), &get, as_of)
            }
        }
        Command::History {
            view,
            key,
            from,
            to,
            known_at,
            json,
        } => {
            let read = cli::ReadArgs {
                view: &view,
                key: &key,
                known_at,
                json,
            };
            if remote.active() {
                cli::remote::history(&remote, &read, from, to)
            } else {
                cli::history(&cli::data_dir(data), &read, from, to)
            }
        }
        Command::Delete { entity, key } => cli::delete(&cli::data_dir(data), &entity, &key),
        Command::Flush => cli::flush(&cli::data_dir(data)),
        Command::Compact => cli::compact(&cli::data_dir(data)),
        Command::Export(export) => {
            if remote.active() {
                cli::remote::export(&remote, export)
            } else {
                cli::export::export(&cli::data_dir(data), export)
            }
        }
        Command::Snapshot(args) => {
            if remote.active() {
                cli::admin::snapshot(&remote, &args)
            } else {
                cli::export::snapshot_cmd(&cli::data_dir(data), args)
            }
        }
        Command::Demo => cli::demo::run(data),
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.report());
            ExitCode::from(e.exit_code())
        }
    }
}
