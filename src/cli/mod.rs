//! The commands of the `strata` binary. `main.rs` holds the argument
//! definitions; this module does the work.

pub mod admin;
pub mod bench;
mod bench_attack;
pub mod demo;
pub mod export;
pub mod freshness;
pub mod ingest;
pub mod output;
pub mod parse;
pub mod registry;
pub mod remote;
pub mod serve;
pub mod token;

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use strata::catalog::{self, Catalog, FeatureView};
use strata::format::schema::KeyValue;
use strata::offline;
use strata::store::Store;

/// `println!` that returns write errors (a closed pipe) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

/// `print!` that returns write errors instead of panicking.
macro_rules! outp {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?
    }};
}

pub(crate) use {out, outp};

/// Why a command failed, and so its exit code.
#[derive(Debug)]
pub enum CliError {
    /// The arguments make no sense for this store (exit code 2).
    Usage(String),
    /// The command failed (exit code 1).
    Failed(Box<dyn StdError + Send + Sync>),
    /// The command ran and found a condition with its own exit code (an
    /// SLA violated: 3), said in the message.
    Exit(u8, String),
}

impl CliError {
    pub fn msg(text: impl Into<String>) -> CliError {
        CliError::Failed(text.into().into())
    }

    /// Whether stdout was closed by its reader (`strata history ... | head`):
    /// not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Failed(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
            CliError::Exit(code, _) => *code,
        }
    }

    /// The message with its whole cause chain, each cause once.
    pub fn report(&self) -> String {
        match self {
            CliError::Usage(m) | CliError::Exit(_, m) => m.clone(),
            CliError::Failed(e) => {
                let mut text = e.to_string();
                let mut cause = e.source();
                while let Some(c) = cause {
                    let t = c.to_string();
                    if !text.contains(&t) {
                        text.push_str(": ");
                        text.push_str(&t);
                    }
                    cause = c.source();
                }
                text
            }
        }
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for CliError {
    fn from(e: E) -> CliError {
        CliError::Failed(Box::new(e))
    }
}

pub type Result<T = ()> = std::result::Result<T, CliError>;

/// The store directory of commands that need an existing store.
fn existing_store(dir: &Path) -> Result<Store> {
    // A store has a MANIFEST (engine) or a catalog; refuse to turn any other
    // directory into one by reading from it.
    let is_store = dir.join("MANIFEST").exists() || catalog::persist::path(dir).exists();
    if !is_store {
        return Err(CliError::msg(format!(
            "no store at {}; create one with `strata apply --data {} DEFS.toml` (or set --data / STRATA_DATA)",
            dir.display(),
            dir.display()
        )));
    }
    Ok(Store::open(dir)?)
}

/// The store for a command that only reads (get, history, export,
/// snapshot, registry, freshness): always opened read-only. Such a command
/// never writes, so it works beside a running server or ingest (which
/// holds `LOCK`), on a full disk and on a read-only directory; it reads the
/// store as it was when the command started.
fn store_for_reading(dir: &Path) -> Result<Store> {
    let is_store = dir.join("MANIFEST").exists() || catalog::persist::path(dir).exists();
    if !is_store {
        return existing_store(dir);
    }
    let mut opts = strata::store::StoreOptions::default();
    opts.engine.mode = strata::engine::OpenMode::ReadOnly;
    Ok(Store::open_with(dir, opts)?)
}

/// A view of the store by `name` or `name@version`, or a usage error
/// listing the views there are.
fn view_of(cat: &Catalog, name: &str) -> Result<FeatureView> {
    strata::store::registry::find_view(cat, name)
        .cloned()
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// `user_id=7, country=fr`.
/// `user_id=42` (`a=1, b=x` for several join keys).
pub fn key_text(cols: &[catalog::JoinKey], key: &[KeyValue]) -> String {
    cols.iter()
        .zip(key)
        .map(|(c, k)| format!("{}={k}", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `strata apply`: prints the plan, and applies it unless `plan_only`
/// (the store's [`Store::plan`] and [`Store::apply`], as a server runs
/// them for `apply --server`).
pub fn apply(dir: &Path, defs_path: &Path, plan_only: bool) -> Result {
    let defs = catalog::defs::load(defs_path)?;
    let report = if plan_only {
        if dir.join("MANIFEST").exists() || catalog::persist::path(dir).exists() {
            store_for_reading(dir)?.plan(&defs)?
        } else {
            // No store yet: the plan against an empty catalog.
            strata::store::ApplyReport {
                plan: catalog::defs::plan(&Catalog::default(), &defs)?,
                applied: false,
            }
        }
    } else {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::msg(format!(
                "cannot create the store directory {}: {e}",
                dir.display()
            ))
        })?;
        Store::open(dir)?.apply(&defs)?
    };
    for l in report.lines() {
        out!("{l}");
    }
    Ok(())
}

/// The options shared by `get` and `history`.
pub struct ReadArgs<'a> {
    pub view: &'a str,
    pub key: &'a str,
    pub known_at: Option<i64>,
    pub json: bool,
}

/// The options of `get`.
pub struct GetArgs<'a> {
    pub view: &'a str,
    /// Keys as written (`K` or `K1,K2`).
    pub keys: &'a [String],
    pub known_at: Option<i64>,
    /// Request-time values (`--request NAME=VALUE`), sent for every key.
    pub request: &'a [(String, String)],
    pub json: bool,
}

/// `strata get`.
pub fn get(dir: &Path, args: &GetArgs, as_of: Option<i64>) -> Result {
    let store = store_for_reading(dir)?;
    let cat = store.catalog();
    let view = view_of(&cat, args.view)?;
    let cols = cat.key_columns(&view);
    let keys = parse_keys(&cols, args.keys)?;
    let mut req = output::keys_lookup(&view.reference(), &cols, &keys, as_of, args.known_at);
    req.request = output::request_columns(args.request, keys.len());
    print_get(&view, &cols, &keys, &store.lookup(&req)?, args, as_of)
}

/// The keys of `get`, parsed for the view's join keys.
pub fn parse_keys(cols: &[catalog::JoinKey], keys: &[String]) -> Result<Vec<Vec<KeyValue>>> {
    keys.iter()
        .map(|k| parse::key_arg(cols, k).map_err(CliError::Usage))
        .collect()
}

/// Prints a `get` answer, from the store or a server alike: one key as a
/// table of its features (or one JSON object); several keys as one row per
/// key (or one JSON object per line).
pub fn print_get(
    view: &FeatureView,
    cols: &[catalog::JoinKey],
    keys: &[Vec<KeyValue>],
    resp: &strata::format::protocol::LookupResponse,
    args: &GetArgs,
    as_of: Option<i64>,
) -> Result {
    let rows: Vec<_> = (0..keys.len())
        .map(|i| output::lookup_row(resp, i))
        .collect();
    if args.json {
        for (key, row) in keys.iter().zip(&rows) {
            out!("{}", output::feature_row_json(view, key, row));
        }
        return Ok(());
    }
    let mut title = view.qualified_name();
    if let [key] = keys {
        title.push_str(&format!(" {}", key_text(cols, key)));
    } else {
        title.push_str(&format!(", {} keys", keys.len()));
    }
    match as_of {
        Some(t) => title.push_str(&format!(", as of {}", offline::timestamp::format(t))),
        None => title.push_str(", latest"),
    }
    if let Some(k) = args.known_at {
        title.push_str(&format!(", known at {}", offline::timestamp::format(k)));
    }
    out!("{title}");
    match (keys, rows.as_slice()) {
        ([_], [row]) => outp!("{}", output::feature_row_table(view, row)),
        _ => outp!("{}", output::feature_rows_table(view, cols, keys, &rows)),
    }
    Ok(())
}

/// `strata history`.
pub fn history(dir: &Path, args: &ReadArgs, from: Option<i64>, to: Option<i64>) -> Result {
    let store = store_for_reading(dir)?;
    let cat = store.catalog();
    let view = view_of(&cat, args.view)?;
    let key = parse::key_arg(&cat.key_columns(&view), args.key).map_err(CliError::Usage)?;
    let (from, to) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX - 1));
    if from > to {
        return Err(CliError::Usage("--from is after --to".into()));
    }
    let rows = store.history(&view.reference(), &key, from, to, args.known_at)?;
    print_history(&view, &cat.key_columns(&view), &key, &rows, args.json)
}

/// Prints one key's history (local or from a server) as a table or JSON.
fn print_history(
    view: &FeatureView,
    cols: &[catalog::JoinKey],
    key: &[KeyValue],
    rows: &[strata::store::HistoryRow],
    json: bool,
) -> Result {
    if json {
        out!("{}", output::history_json(view, key, rows));
    } else {
        out!(
            "{} {}: {} version(s), newest first",
            view.qualified_name(),
            key_text(cols, key),
            rows.len()
        );
        if !rows.is_empty() {
            outp!("{}", output::history_table(view, rows));
        }
    }
    Ok(())
}

/// `strata delete`.
pub fn delete(dir: &Path, entity: &str, key_text: &str) -> Result {
    let store = existing_store(dir)?;
    let cat = store.catalog();
    let e = cat.entity(entity).ok_or_else(|| {
        let names: Vec<&str> = cat.entities.iter().map(|e| e.name.as_str()).collect();
        CliError::Usage(format!(
            "unknown entity {entity:?}; this store has: {}",
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        ))
    })?;
    let key = parse::key_arg(&e.join_keys, key_text).map_err(CliError::Usage)?;
    store.delete(entity, &key)?;
    out!("{}", strata::store::admin::deleted_line(&cat, entity, &key));
    Ok(())
}

/// `strata flush`.
pub fn flush(dir: &Path) -> Result {
    let store = existing_store(dir)?;
    store.flush()?;
    out!("flushed {}", dir.display());
    Ok(())
}

/// `strata compact`.
pub fn compact(dir: &Path) -> Result {
    let store = existing_store(dir)?;
    let stats = store.compact()?;
    out!("{}", strata::store::admin::compacted_line(&stats));
    Ok(())
}

/// The store directory: `--data`, `STRATA_DATA`, or `./strata-data`.
pub fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| PathBuf::from("./strata-data"))
}
