//! The errors of the catalog: reading and writing its files, checking
//! definitions, and the evolution rules.
//!
//! Every message says what was wrong, where (the file and byte offset, or
//! the entity, view, feature and field) and what to do. Match on the
//! variants to tell the kinds apart; the [`Subject`] and `field` of a
//! definition error name the declaration at fault.

use std::fmt;
use std::path::{Path, PathBuf};

pub use super::duration::DurationError;

/// The result type of the catalog.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a definition error is about, displayed as the definitions file
/// names it: `entity "user"`, `feature view "user_stats"`, `feature view
/// "user_stats": feature "age"`, `aggregation view "stats": aggregation 2`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subject {
    Entity(String),
    View(String),
    /// A feature of a view.
    Feature {
        view: String,
        feature: String,
    },
    AggregationView(String),
    /// Entry `index` (1-based) of an aggregation view's `aggregations`.
    Aggregation {
        view: String,
        index: usize,
    },
}

impl Subject {
    /// The entity or view the subject belongs to.
    pub fn name(&self) -> &str {
        match self {
            Subject::Entity(n) | Subject::View(n) | Subject::AggregationView(n) => n,
            Subject::Feature { view, .. } | Subject::Aggregation { view, .. } => view,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Entity(n) => write!(f, "entity {n:?}"),
            Subject::View(n) => write!(f, "feature view {n:?}"),
            Subject::Feature { view, feature } => {
                write!(f, "feature view {view:?}: feature {feature:?}")
            }
            Subject::AggregationView(n) => write!(f, "aggregation view {n:?}"),
            Subject::Aggregation { view, index } => {
                write!(f, "aggregation view {view:?}: aggregation {index}")
            }
        }
    }
}

/// What to do about a damaged catalog file.
const RESTORE: &str = "restore it from a backup (the view ids in it must stay as they were for the stored data to be readable)";

/// An error of the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operation on a file failed, e.g. `op` = `read the catalog file`.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The catalog file is damaged at byte `offset` (from the start of the
    /// file). `path` is `None` when bytes were decoded without a file.
    #[error("the catalog file{} is damaged at byte {offset}: {reason}; {RESTORE}", show(path.as_deref()))]
    Corrupt {
        path: Option<PathBuf>,
        offset: u64,
        reason: String,
    },
    /// The catalog file has a format version this build does not read
    /// (it reads `supported`).
    #[error(
        "the catalog file{}: format version {version} is not supported (this build reads version {supported}); use a matching strata build",
        show(path.as_deref())
    )]
    UnsupportedVersion {
        path: Option<PathBuf>,
        version: u32,
        supported: u32,
    },
    /// The statistics file is damaged; the next ingest replaces it.
    #[error("the statistics file {} is damaged at byte {offset}: {reason}; the next ingest of each view replaces it", path.display())]
    StatsCorrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The catalog or the statistics could not be encoded.
    #[error("cannot encode the {what} as JSON: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// An error in the definitions file at `path`.
    #[error("definitions file {}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    /// The definitions are not valid TOML of the expected shape (the
    /// message names the line). Not a `source`: the message is its text.
    #[error("{}", .0.to_string().trim_end())]
    Toml(toml::de::Error),
    /// A field of a declaration has a value that is not allowed.
    #[error("{subject}: {reason}")]
    Invalid {
        subject: Subject,
        field: String,
        reason: String,
    },
    /// A declaration lacks something it needs (`field`).
    #[error("{subject} {reason}")]
    Missing {
        subject: Subject,
        field: &'static str,
        reason: String,
    },
    /// An entity, or a view version, is declared twice.
    #[error("{subject} {reason}")]
    Duplicate { subject: Subject, reason: String },
    /// A field the declaration does not take; `expected` lists those it does.
    #[error("{subject}: unknown field {field:?}; {expected}")]
    UnknownField {
        subject: Subject,
        field: String,
        expected: String,
    },
    /// No view of the catalog has this name (`name` or `name@version`).
    #[error("unknown feature view {name:?}; `strata registry list` shows the views of this store")]
    UnknownView { name: String },
    /// No entity of the catalog has this name.
    #[error("unknown entity {name:?}; `strata registry list` shows the entities of this store")]
    UnknownEntity { name: String },
    /// A view of a definitions file names an entity the file does not declare.
    #[error(
        "feature view {view:?} uses the entity {entity:?}, which this file does not declare; add an [[entities]] table named {entity:?} or fix the name"
    )]
    UndeclaredEntity { view: String, entity: String },
    /// A view reads (by `source` or `inputs`) a view that is not declared.
    #[error(
        "feature view {view}: it reads the view {target:?} (source or inputs), which is not declared; declare it or fix the name"
    )]
    UndeclaredInput { view: String, target: String },
    /// A view reads itself, directly (`via` = the view) or through others.
    #[error("feature view {view}: {}", cycle(view, via))]
    Cycle { view: String, via: String },
    /// A change to an existing view that stored data forbids.
    #[error(
        "feature view {view}: {reason}; declare it as version = {next_version} instead (a new view with its own id and data)"
    )]
    ViewEvolution {
        view: String,
        reason: String,
        next_version: u32,
    },
    /// A change to an entity that stored keys forbid.
    #[error("entity {entity:?}: {reason}")]
    EntityEvolution { entity: String, reason: String },
    /// Every view id has been used.
    #[error("feature view {view:?}: this store has used up its view ids")]
    IdsExhausted { view: String },
    /// Several refusals, one per line (a plan reports them all at once).
    #[error("{}", join(.0))]
    Many(Vec<Error>),
}

impl Error {
    /// The refusals as a list: the errors of [`Error::Many`], or this one.
    pub fn all(&self) -> Vec<&Error> {
        match self {
            Error::Many(v) => v.iter().flat_map(Error::all).collect(),
            e => vec![e],
        }
    }

    /// One error for a non-empty list, `Many` for several.
    pub(crate) fn many(mut errors: Vec<Error>) -> Option<Error> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Error::Many(errors)),
        }
    }

    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io { op, path, source }
    }

    /// An error of the engine's I/O seam while writing `path` (a small-file
    /// replace): its operation and file when it names them.
    pub fn from_engine(
        what: &'static str,
        path: &std::path::Path,
        e: strata_engine::Error,
    ) -> Error {
        match e {
            strata_engine::Error::Io { op, path, source } => Error::Io { op, path, source },
            e => Error::Io {
                op: what,
                path: path.to_path_buf(),
                source: std::io::Error::other(e),
            },
        }
    }

    pub(crate) fn invalid(subject: Subject, field: &str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            subject,
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

fn show(path: Option<&Path>) -> String {
    path.map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

fn cycle(view: &str, via: &str) -> String {
    if view == via {
        "it reads itself (source or inputs); a view cannot be its own input".into()
    } else {
        format!(
            "its inputs form a cycle ({view} reads {via} which reads {view}); lineage must be acyclic"
        )
    }
}

fn join(errors: &[Error]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
