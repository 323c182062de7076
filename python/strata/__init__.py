"""Strata from Python.

Two ways in, one API:

- ``strata.Store(path)`` opens an embedded store in this process (default
  ``$STRATA_DATA``, else ``./strata-data``);
- ``strata.connect("host:port", token=..., server_cert=...)`` talks to
  ``strata serve`` through the native Rust client.

Both have Feast's names: ``apply``, ``ingest``, ``push``,
``get_online_features``, ``get_historical_features``, ``history``,
``registry.list() / describe() / search() / lineage()``, ``freshness`` and
``delete``. Data goes in as Arrow C streams (pandas and Polars DataFrames,
pyarrow Tables and RecordBatchReaders) and comes back as pyarrow, with
``.to_pandas()`` and ``.to_polars()``.

Errors are :class:`StrataError` subclasses carrying Strata's message.
Times are aware datetimes, naive datetimes (read as UTC), pandas
Timestamps, numpy datetime64, int microseconds since the epoch, or RFC 3339
strings.
"""

from ._strata import (
    Corruption,
    InternalError,
    InvalidArgument,
    NotFound,
    OnlineResponse,
    PermissionDenied,
    StorageError,
    StrataError,
    Unavailable,
    Unsupported,
    __version__,
)
from ._api import ApplyResult, Frame, Registry, RemoteStore, Store, connect

__all__ = [
    "ApplyResult",
    "Corruption",
    "Frame",
    "InternalError",
    "InvalidArgument",
    "NotFound",
    "OnlineResponse",
    "PermissionDenied",
    "Registry",
    "RemoteStore",
    "StorageError",
    "Store",
    "StrataError",
    "Unavailable",
    "Unsupported",
    "__version__",
    "connect",
]
