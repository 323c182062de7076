"""The two ways in, one API: :class:`Store` (embedded) and :func:`connect`
(a :class:`RemoteStore` talking to ``strata serve``)."""

from __future__ import annotations

import os
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import pyarrow as pa

from . import _strata
from ._convert import (
    arrow_stream,
    default_data_dir,
    entity_columns,
    features_list,
    to_micros,
)

Time = Any
"""A time: aware datetime, naive datetime (read as UTC), pandas Timestamp,
numpy datetime64, int microseconds since the epoch, or RFC 3339 str."""

Key = Union[int, str, Tuple[Union[int, str], ...]]
"""An entity key: an int or a str, or a tuple of them for a composite key."""


class Frame:
    """A table answered by Strata (a training set, a key's history).

    The data is a ``pyarrow.Table`` (:meth:`to_arrow`); :meth:`to_pandas`
    and :meth:`to_polars` convert it, and the object itself exports an Arrow
    C stream, so ``polars.DataFrame(frame)`` works too.
    """

    __slots__ = ("_table",)

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def to_arrow(self) -> pa.Table:
        """The answer as a ``pyarrow.Table`` (no copy)."""
        return self._table

    def to_pandas(self, **kwargs: Any) -> Any:
        """``pyarrow.Table.to_pandas(**kwargs)``."""
        return self._table.to_pandas(**kwargs)

    def to_df(self, **kwargs: Any) -> Any:
        """Feast's name for :meth:`to_pandas`."""
        return self.to_pandas(**kwargs)

    def to_polars(self) -> Any:
        """``polars.from_arrow(...)`` (polars must be installed)."""
        import polars

        return polars.from_arrow(self._table)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._table.__arrow_c_stream__(requested_schema)

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    @property
    def column_names(self) -> List[str]:
        return list(self._table.column_names)

    def __len__(self) -> int:
        return self._table.num_rows

    def __repr__(self) -> str:
        return f"strata.Frame({self._table.num_rows} row(s): {', '.join(self._table.column_names)})"


class ApplyResult(NamedTuple):
    """What :meth:`Store.apply` planned (one line per change) and whether
    it changed the store."""

    changes: List[str]
    applied: bool


class Registry:
    """The registry of a store: views, their metadata and lineage."""

    __slots__ = ("_owner",)

    def __init__(self, owner: "_Api") -> None:
        self._owner = owner

    def list(self) -> List[Dict[str, Any]]:
        """Every feature view (name, version, entities, features, ttl, online,
        owner, team, tags, description, ...), as ``strata registry list --json``."""
        return self._owner._inner.registry_list()

    def describe(self, view: str) -> Dict[str, Any]:
        """One view: its metadata, join keys, features and (embedded) the
        statistics of its last ingest."""
        return self._owner._inner.describe(view)

    def search(
        self,
        text: Optional[str] = None,
        *,
        tag: Optional[str] = None,
        team: Optional[str] = None,
        owner: Optional[str] = None,
        entity: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """Views matching ``text`` (names, descriptions, tags) and the
        filters; each hit says where it ``matched``."""
        return self._owner._search(text, tag=tag, team=team, owner=owner, entity=entity)

    def lineage(self, view: str) -> Dict[str, Any]:
        """The views ``view`` reads from (upstream) and that read it
        (downstream), transitively."""
        return self._owner._lineage(view)


def _request_text(v: Any) -> Optional[str]:
    """A request value as the text the store parses by the declared type."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _request_columns(
    data: Optional[Dict[str, Any]], rows: int
) -> List[Tuple[str, List[Optional[str]]]]:
    """``request_data`` as text columns of ``rows`` values (a scalar is
    repeated for every row)."""
    if not data:
        return []
    out = []
    for name, values in data.items():
        if isinstance(values, (list, tuple)):
            out.append((str(name), [_request_text(v) for v in values]))
        else:
            out.append((str(name), [_request_text(values)] * rows))
    return out


class _Api:
    """What the embedded store and a server connection have in common: the
    methods of ``_strata._Backend`` that both inner objects have."""

    _inner: "_strata._Backend"

    @property
    def registry(self) -> Registry:
        """List, describe, search and lineage of the feature views."""
        return Registry(self)

    def get_online_features(
        self,
        features: Union[Sequence[str], str],
        entity_rows: Any,
        *,
        as_of: Time = None,
        known_at: Time = None,
        full_feature_names: bool = False,
        request_data: Optional[Dict[str, Any]] = None,
    ) -> _strata.OnlineResponse:
        """The features of each entity row: latest, or as of a time.

        ``features``: references ``view:feature`` / ``view:*`` /
        ``view@2:feature``. ``entity_rows``: a list of dicts ``{join key:
        value}`` (Feast's form), a dict of columns, or a DataFrame / Arrow
        table of join-key columns. ``as_of``: read as of this event time
        (default: latest, with the view's ttl measured from now).
        ``known_at``: ignore versions written after this time.
        ``request_data``: request-time values of derived views, ``{name:
        value}`` (the same for every row) or ``{name: [one per row]}``.

        Returns an :class:`OnlineResponse` with values, statuses
        (``PRESENT``, ``NULL_VALUE``, ``NOT_FOUND``, ``OUTSIDE_MAX_AGE``,
        ``DEFAULTED``) and
        event times: ``.to_dict()`` (Feast's shape), ``.to_arrow()``.
        """
        entities = entity_columns(entity_rows)
        rows = len(entities[0][1]) if entities else 0
        return self._inner.lookup(
            features_list(features),
            entities,
            to_micros(as_of, "as_of"),
            to_micros(known_at, "known_at"),
            bool(full_feature_names),
            _request_columns(request_data, rows),
        )

    def get_historical_features(
        self,
        entity_df: Any,
        features: Union[Sequence[str], str],
        *,
        full_feature_names: bool = False,
        as_known_at: Time = None,
        no_future_writes: bool = False,
    ) -> Frame:
        """A point-in-time-correct training set: the export of ``strata
        export`` over the rows of ``entity_df``.

        ``entity_df`` (pandas or Polars DataFrame, pyarrow Table or
        RecordBatchReader) has the join-key columns, an ``event_timestamp``
        column and any label columns, which pass through in place. Each row
        gets, per view, the newest version with ``event_ts <=
        event_timestamp`` (none if older than the view's ttl). Rows keep
        their order; feature columns are named ``feature``, or
        ``view__feature`` with ``full_feature_names``. ``as_known_at``
        ignores versions written after that time; ``no_future_writes``
        ignores, per row, versions written after the row's event time.
        """
        return Frame(
            self._inner.historical(
                arrow_stream(entity_df, "entity_df"),
                features_list(features),
                bool(full_feature_names),
                to_micros(as_known_at, "as_known_at"),
                bool(no_future_writes),
            )
        )

    def push(
        self,
        view: str,
        data: Any,
        *,
        batch_id: Optional[str] = None,
        backfill: bool = False,
        force: bool = False,
    ) -> int:
        """Writes rows (join keys, ``event_timestamp``, optional
        ``created_timestamp``, the features) into ``view`` through the
        write-ahead log; durable when this returns. Returns the versions
        written (:meth:`push_summary` says what happened to the others).
        With ``batch_id``, a retry of the same batch writes nothing again;
        ``backfill`` writes events older than the aggregations' watermark."""
        return int(self.push_summary(view, data, batch_id=batch_id, backfill=backfill, force=force)["written"])

    def push_summary(
        self,
        view: str,
        data: Any,
        *,
        batch_id: Optional[str] = None,
        backfill: bool = False,
        force: bool = False,
    ) -> Dict[str, Any]:
        """:meth:`push`, returning the write summary (the numbers the CLI
        prints): ``rows``, ``written``, ``rejected_late``, ``duplicates``,
        ``violations``, ``already_ingested_at``, ``complete``, ``text``."""
        return self._inner.push(
            view, arrow_stream(data, "data"), batch_id, bool(backfill), bool(force)
        )

    def history(
        self,
        view: str,
        key: Key,
        start: Time = None,
        end: Time = None,
        *,
        known_at: Time = None,
    ) -> Frame:
        """Every version of one key with ``start <= event_ts <= end``,
        newest first: ``event_timestamp``, ``created_timestamp`` and the
        features."""
        return Frame(
            self._inner.history(
                view,
                key,
                to_micros(start, "start"),
                to_micros(end, "end"),
                to_micros(known_at, "known_at"),
            )
        )

    def freshness(self, at: Time = None) -> Dict[str, Any]:
        """Each view's newest event, lag, SLA and status (``OK``,
        ``VIOLATED``, ``NO_SLA``, ``NO_DATA``), measured at ``at`` (default
        now): ``{"now": datetime, "views": [...]}``."""
        return self._inner.freshness(to_micros(at, "at"))

    def apply(self, path_or_toml: Union[str, "os.PathLike[str]"], plan: bool = False) -> ApplyResult:
        """Declares entities and feature views from a definitions file (a
        path) or TOML text, as ``strata apply`` (over a connection: live on
        the server, with an ``admin:*`` token). With ``plan=True`` only the
        plan is returned and nothing changes."""
        if isinstance(path_or_toml, os.PathLike):
            changes, applied = self._inner.apply(None, os.fspath(path_or_toml), plan)
        elif isinstance(path_or_toml, str):
            if "\n" not in path_or_toml and os.path.exists(path_or_toml):
                changes, applied = self._inner.apply(None, path_or_toml, plan)
            elif "\n" in path_or_toml or "[[" in path_or_toml or "=" in path_or_toml:
                changes, applied = self._inner.apply(path_or_toml, None, plan)
            else:
                raise _strata.NotFound(
                    f"no definitions file {path_or_toml!r}; give a path or the TOML text"
                )
        else:
            raise _strata.InvalidArgument(
                f"apply takes a path or TOML text, not {type(path_or_toml).__name__}"
            )
        return ApplyResult(list(changes), bool(applied))

    def ingest(
        self,
        view: str,
        data: Any,
        *,
        renames: Optional[Dict[str, str]] = None,
        batch_id: Optional[str] = None,
        backfill: bool = False,
        force: bool = False,
    ) -> Dict[str, Any]:
        """Bulk ingest into ``view`` of ``data`` (a DataFrame or Arrow table
        with the join keys, ``event_timestamp``, optionally
        ``created_timestamp``, and every feature). ``renames`` maps data
        columns to view columns; ``backfill`` writes events older than the
        aggregations' watermark; ``batch_id`` makes a retry write nothing
        again (unless ``force``).

        Embedded, as ``strata ingest``: validated whole and written as one
        atomic segment; returns the report, whose ``summary`` has the
        numbers the CLI prints. Over a connection: a sequence of pushes,
        each durable when acknowledged; returns ``{"view", "rows",
        "written", "summary"}``."""
        return self._ingest(view, arrow_stream(data, "data"), renames or {}, batch_id, bool(backfill), bool(force))

    def _ingest(
        self, view: str, stream: Any, renames: Dict[str, str], batch_id: Optional[str], backfill: bool, force: bool
    ) -> Dict[str, Any]:
        raise NotImplementedError

    def _search(self, text: Optional[str], **filters: Optional[str]) -> List[Dict[str, Any]]:
        raise NotImplementedError

    def _lineage(self, view: str) -> Dict[str, Any]:
        raise NotImplementedError


class Store(_Api):
    """An embedded store: a directory opened in this process.

    ``Store(path)`` opens (creating if needed, unless ``create=False``) the
    store in ``path``, by default ``$STRATA_DATA``, else ``./strata-data``.
    A store directory is opened by one process at a time; one ``Store``
    object is safe to share between threads (every call releases the GIL).
    Use it as a context manager, or call :meth:`close`, to release the
    directory.
    """

    _inner: "_strata.Store"

    def __init__(self, path: Union[str, "os.PathLike[str]", None] = None, *, create: bool = True) -> None:
        self._inner = _strata.Store(os.fspath(path) if path is not None else default_data_dir(), create)

    @property
    def path(self) -> str:
        return str(self._inner.path)

    def close(self) -> None:
        """Releases the store directory."""
        self._inner.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"strata.Store({self.path!r})"

    def _ingest(
        self, view: str, stream: Any, renames: Dict[str, str], batch_id: Optional[str], backfill: bool, force: bool
    ) -> Dict[str, Any]:
        """As ``strata ingest``: the data is validated whole, checked
        against the view's expectations, and written as one atomic segment
        (with the tiles of aggregations over the view). The same data
        ingested again (or the same ``batch_id``) writes nothing unless
        ``force``. Returns the report; its ``summary`` has the numbers the
        CLI prints."""
        return self._inner.ingest(view, stream, list(renames.items()), batch_id, backfill, force)

    def delete(self, entity: str, key: Key) -> None:
        """Removes every version of ``key`` in every view of ``entity``,
        durably (the right to be forgotten)."""
        self._inner.delete(entity, key)

    def flush(self) -> None:
        """Moves everything written so far into segments."""
        self._inner.flush()

    def _search(self, text: Optional[str], **filters: Optional[str]) -> List[Dict[str, Any]]:
        return self._inner.search(text, filters.get("tag"), filters.get("team"), filters.get("owner"), filters.get("entity"))

    def _lineage(self, view: str) -> Dict[str, Any]:
        return self._inner.lineage(view)


class RemoteStore(_Api):
    """A connection to ``strata serve`` (QUIC + TLS, the native client):
    made by :func:`connect`. Safe to share between threads.

    It has the methods of :class:`Store` that the protocol carries; the
    others (``apply``, ``delete``, ``flush``, ``registry.lineage``, search
    filters) raise :class:`strata.Unsupported`.
    """

    _inner: "_strata.Client"

    def __init__(self, inner: "_strata.Client") -> None:
        self._inner = inner

    def __repr__(self) -> str:
        return f"strata.RemoteStore({self._inner.addr!r})"

    def __enter__(self) -> "RemoteStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def close(self) -> None:
        """Nothing to do: the connection closes when the object is collected."""

    def _ingest(
        self, view: str, stream: Any, renames: Dict[str, str], batch_id: Optional[str], backfill: bool, force: bool
    ) -> Dict[str, Any]:
        """Over the network an ingest is a sequence of pushes (each durable
        when acknowledged; with ``batch_id``, push ``i`` is the batch
        ``batch_id/i``, so a retry writes only what is missing); returns
        ``{"view", "rows", "written", "summary"}``."""
        if renames:
            table = pa.table(stream)
            stream = table.rename_columns([renames.get(c, c) for c in table.column_names])
        summary = self._inner.push(view, stream, batch_id, backfill, force)
        return {"view": view, "rows": summary["rows"], "written": summary["written"], "summary": summary}

    def health(self) -> Dict[str, Any]:
        """The server's health: ``serving``, ``server_version``,
        ``uptime_seconds``, ``views``."""
        return self._inner.health()

    def delete(self, entity: str, key: Key) -> None:
        raise _strata.Unsupported(
            "delete is not part of the protocol: run `strata delete --data DIR` where the server's store is"
        )

    def flush(self) -> None:
        """Moves the server's memtable into segments (needs ``admin:*``)."""
        self._inner.flush()

    def _search(self, text: Optional[str], **filters: Optional[str]) -> List[Dict[str, Any]]:
        used = [k for k, v in filters.items() if v is not None]
        if used:
            raise _strata.Unsupported(
                f"search filters ({', '.join(used)}) are not part of the protocol; search by text"
            )
        return self._inner.search(text or "")

    def _lineage(self, view: str) -> Dict[str, Any]:
        return {"view": view, "tree": self._inner.lineage(view)}


def connect(
    addr: Optional[str] = None,
    token: Optional[str] = None,
    *,
    server_cert: Union[str, "os.PathLike[str]", None] = None,
    ca: Union[str, "os.PathLike[str]", None] = None,
    server_name: Optional[str] = None,
    timeout: float = 60.0,
) -> RemoteStore:
    """Connects to ``strata serve`` at ``addr`` (``HOST:PORT``).

    ``token``: an access token (``strata token create``). Trust the server
    by pinning its certificate (``server_cert``: its ``DIR/tls/cert.pem``)
    or by a CA (``ca``). Unset arguments come from ``STRATA_SERVER``,
    ``STRATA_TOKEN``, ``STRATA_SERVER_CERT`` and ``STRATA_CA``, as for the
    CLI. ``timeout``: seconds per request.
    """
    addr = addr or os.environ.get("STRATA_SERVER")
    token = token if token is not None else os.environ.get("STRATA_TOKEN")
    if server_cert is None and ca is None:
        server_cert = os.environ.get("STRATA_SERVER_CERT")
        ca = os.environ.get("STRATA_CA") if server_cert is None else None
    if not addr:
        raise _strata.InvalidArgument("connect needs an address HOST:PORT (or STRATA_SERVER)")
    if not token:
        raise _strata.InvalidArgument(
            "connect needs a token (or STRATA_TOKEN); `strata token create` makes one"
        )
    return RemoteStore(
        _strata.Client(
            addr,
            token,
            os.fspath(server_cert) if server_cert is not None else None,
            os.fspath(ca) if ca is not None else None,
            server_name,
            float(timeout),
        )
    )
