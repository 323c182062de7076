//! Strata's errors as Python exceptions: `strata.StrataError` and one
//! subclass per kind of failure, each carrying Strata's own message.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use strata_format::protocol::{ErrorCode, WriteSummary};

create_exception!(
    strata,
    StrataError,
    PyException,
    "Every error Strata raises."
);
create_exception!(
    strata,
    InvalidArgument,
    StrataError,
    "A request that does not fit the store: bad keys, types, references, rows or files."
);
create_exception!(
    strata,
    NotFound,
    StrataError,
    "An unknown feature view, feature, entity or file."
);
create_exception!(
    strata,
    PermissionDenied,
    StrataError,
    "The token is unknown or revoked, or does not grant the request."
);
create_exception!(
    strata,
    Unavailable,
    StrataError,
    "The server cannot be reached, or the store is held by another process or closed."
);
create_exception!(
    strata,
    Corruption,
    StrataError,
    "Damaged data: a checksum or a decoder failed; the message names the file and offset."
);
create_exception!(
    strata,
    StorageError,
    StrataError,
    "The store failed to read or write (I/O)."
);
create_exception!(
    strata,
    Unsupported,
    StrataError,
    "The operation is not available here (e.g. a server connection cannot apply definitions)."
);
create_exception!(
    strata,
    InternalError,
    StrataError,
    "A bug in Strata; please report it with the message."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("StrataError", py.get_type::<StrataError>())?;
    m.add("InvalidArgument", py.get_type::<InvalidArgument>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("PermissionDenied", py.get_type::<PermissionDenied>())?;
    m.add("Unavailable", py.get_type::<Unavailable>())?;
    m.add("Corruption", py.get_type::<Corruption>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("Unsupported", py.get_type::<Unsupported>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}

/// Which exception a failure raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    NotFound,
    Permission,
    Unavailable,
    Corruption,
    Storage,
    Unsupported,
    Internal,
}

/// A failure on the Rust side, raised as the exception of its kind once the
/// GIL is held again.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Invalid, message)
    }
    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(Kind::NotFound, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Unsupported, message)
    }
    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Internal, message)
    }
}

/// Writes `pieces` (of `rows` rows in all) in order with `write(i,
/// piece)`, adding up their summaries; the failure of a piece says how
/// many rows the pieces before it wrote.
pub fn write_pieces<P>(
    pieces: impl IntoIterator<Item = P>,
    rows: usize,
    mut write: impl FnMut(usize, P) -> Result<WriteSummary, Failure>,
) -> Result<WriteSummary, Failure> {
    let mut total = WriteSummary::default();
    for (i, piece) in pieces.into_iter().enumerate() {
        let s = write(i, piece).map_err(|f| {
            Failure::new(
                f.kind,
                format!(
                    "{} (after {} of {rows} rows were written)",
                    f.message, total.written
                ),
            )
        })?;
        total.add(&s);
    }
    Ok(total)
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        let m = f.message;
        match f.kind {
            Kind::Invalid => InvalidArgument::new_err(m),
            Kind::NotFound => NotFound::new_err(m),
            Kind::Permission => PermissionDenied::new_err(m),
            Kind::Unavailable => Unavailable::new_err(m),
            Kind::Corruption => Corruption::new_err(m),
            Kind::Storage => StorageError::new_err(m),
            Kind::Unsupported => Unsupported::new_err(m),
            Kind::Internal => InternalError::new_err(m),
        }
    }
}

fn engine_kind(e: &strata_engine::Error) -> Kind {
    use strata_engine::Error as E;
    match e {
        E::Corruption { .. } | E::CorruptRow { .. } => Kind::Corruption,
        E::Locked { .. } | E::Closed => Kind::Unavailable,
        E::NotAStore { .. } | E::InvalidWrite(_) => Kind::Invalid,
        E::Io { .. } | E::Poisoned(_) => Kind::Storage,
        _ => Kind::Storage,
    }
}

impl From<strata_store::Error> for Failure {
    fn from(e: strata_store::Error) -> Failure {
        use strata_store::Error as E;
        let kind = match &e {
            E::Engine(inner) => engine_kind(inner),
            E::UnknownView(_) | E::UnknownEntity(_) => Kind::NotFound,
            E::Request(strata_store::refs::RefError::UnknownView { .. })
            | E::Request(strata_store::refs::RefError::UnknownFeature { .. }) => Kind::NotFound,
            E::Internal(_) => Kind::Internal,
            E::Catalog(_) => Kind::Storage,
            _ => Kind::Invalid,
        };
        Failure::new(kind, e.to_string())
    }
}

impl From<strata_offline::Error> for Failure {
    fn from(e: strata_offline::Error) -> Failure {
        use strata_offline::Error as E;
        fn kind(e: &E) -> Kind {
            match e {
                E::UnknownView(_) => Kind::NotFound,
                E::Io { .. } => Kind::Storage,
                E::Write { source, .. } => store_kind(source),
                E::NothingWritten(inner) | E::AfterFiles { source: inner, .. } => kind(inner),
                _ => Kind::Invalid,
            }
        }
        Failure::new(kind(&e), e.to_string())
    }
}

/// The kind of a store error that arrives by reference (inside another error).
fn store_kind(e: &strata_store::Error) -> Kind {
    match e {
        strata_store::Error::Engine(inner) => engine_kind(inner),
        strata_store::Error::Internal(_) => Kind::Internal,
        _ => Kind::Invalid,
    }
}

impl From<strata_offline::export::Error> for Failure {
    fn from(e: strata_offline::export::Error) -> Failure {
        use strata_offline::export::Error as E;
        match e {
            E::Resolve(inner) => Failure::from(inner),
            E::Engine(inner) => Failure::new(engine_kind(&inner), inner.to_string()),
            E::Internal(_) => Failure::internal(e.to_string()),
            E::Io { .. } | E::Output { .. } => Failure::new(Kind::Storage, e.to_string()),
            e => Failure::invalid(e.to_string()),
        }
    }
}

impl From<strata_client::Error> for Failure {
    fn from(e: strata_client::Error) -> Failure {
        use strata_client::Error as E;
        let kind = match &e {
            E::Server { code, .. } => match code {
                Some(ErrorCode::NotFound) => Kind::NotFound,
                Some(
                    ErrorCode::InvalidArgument
                    | ErrorCode::Malformed
                    | ErrorCode::LimitExceeded
                    | ErrorCode::FrameTooLarge,
                ) => Kind::Invalid,
                Some(ErrorCode::Unauthenticated | ErrorCode::PermissionDenied) => Kind::Permission,
                Some(
                    ErrorCode::TooManyConnections
                    | ErrorCode::ShuttingDown
                    | ErrorCode::Timeout
                    | ErrorCode::BadHandshake
                    | ErrorCode::UnsupportedVersion,
                ) => Kind::Unavailable,
                Some(ErrorCode::UnknownRequest) => Kind::Unsupported,
                Some(ErrorCode::Storage) => Kind::Storage,
                _ => Kind::Internal,
            },
            E::Connect { .. } | E::Connection(_) | E::Timeout(_) | E::Tls(_) => Kind::Unavailable,
            E::Invalid(_) => Kind::Invalid,
            _ => Kind::Internal,
        };
        Failure::new(kind, e.to_string())
    }
}
