"""Python arguments into what the compiled module takes: times as integer
microseconds since the Unix epoch (UTC), data as Arrow C streams, entity
rows as key columns."""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Dict, List, Optional, Tuple

import pyarrow as pa

from . import _strata

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_MICRO = _dt.timedelta(microseconds=1)


def from_micros(micros: int) -> _dt.datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + _dt.timedelta(microseconds=micros)


def to_micros(t: Any, what: str) -> Optional[int]:
    """A time as microseconds since the epoch, UTC.

    Accepts an aware ``datetime`` (any zone), a naive ``datetime`` (read as
    UTC), a ``datetime.date`` (midnight UTC), a pandas ``Timestamp``, a numpy
    ``datetime64``, an ``int`` (microseconds) or an RFC 3339 ``str``; None
    stays None.
    """
    if t is None:
        return None
    if isinstance(t, bool):
        raise _strata.InvalidArgument(f"{what}: a bool is not a time")
    if isinstance(t, int):
        return int(t)
    if isinstance(t, str):
        return _strata.parse_time(t)
    # numpy.datetime64 (checked by name: numpy is not a dependency).
    if type(t).__name__ == "datetime64" and type(t).__module__ == "numpy":
        if t != t:  # NaT
            raise _strata.InvalidArgument(f"{what}: NaT is not a time")
        return int(t.astype("datetime64[us]").astype("int64"))
    # A pandas Timestamp is a datetime with nanoseconds; `.value` is UTC ns
    # (for a naive one, its wall time read as UTC).
    if isinstance(t, _dt.datetime) and hasattr(t, "value") and hasattr(t, "nanosecond"):
        if t != t:
            raise _strata.InvalidArgument(f"{what}: NaT is not a time")
        return int(t.value) // 1000
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None or t.tzinfo.utcoffset(t) is None:
            t = t.replace(tzinfo=_UTC)
        return (t - _EPOCH) // _MICRO
    if isinstance(t, _dt.date):
        return (_dt.datetime(t.year, t.month, t.day, tzinfo=_UTC) - _EPOCH) // _MICRO
    raise _strata.InvalidArgument(
        f"{what}: {type(t).__name__} is not a time; give a datetime (naive = UTC), "
        "a pandas Timestamp, a numpy datetime64, an int of microseconds or an RFC 3339 str"
    )


def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "columns")


def arrow_stream(data: Any, what: str) -> Any:
    """An object with ``__arrow_c_stream__`` for ``data``.

    pandas frames become Arrow without their index (``preserve_index=False``:
    a filtered frame's index is not a column of the data); pyarrow Tables,
    RecordBatchReaders, Polars and other frames that export an Arrow C
    stream are passed as they are; a dict of columns or a list of row dicts
    is turned into a pyarrow Table.
    """
    if _is_pandas(data):
        return pa.Table.from_pandas(data, preserve_index=False)
    if hasattr(data, "__arrow_c_stream__"):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, dict):
        return pa.table(data)
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        if not data:
            raise _strata.InvalidArgument(f"{what}: the list of rows is empty")
        return pa.Table.from_pylist(data)
    raise _strata.InvalidArgument(
        f"{what}: {type(data).__name__} is not tabular data; give a pandas or Polars "
        "DataFrame, a pyarrow Table or RecordBatchReader, a dict of columns or a list of row dicts"
    )


def _key_like(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or getattr(pa.types, "is_string_view", lambda _t: False)(t)
        or pa.types.is_dictionary(t)
    )


def entity_columns(entity_rows: Any) -> List[Tuple[str, List[Any]]]:
    """Entity rows as ``[(join key, [values...]), ...]``.

    Feast's list of dicts (every dict with the same keys), a dict of
    columns, or any table (pandas, Polars, pyarrow), whose integer and string
    columns are taken as key columns.
    """
    if isinstance(entity_rows, dict):
        return [(str(k), list(v)) for k, v in entity_rows.items()]
    if isinstance(entity_rows, list):
        if not entity_rows:
            raise _strata.InvalidArgument("entity_rows is empty; give at least one row")
        if not all(isinstance(r, dict) for r in entity_rows):
            raise _strata.InvalidArgument(
                "entity_rows: give a list of dicts ({join key: value}), a dict of columns or a DataFrame"
            )
        names = list(entity_rows[0].keys())
        cols: Dict[str, List[Any]] = {n: [] for n in names}
        for i, r in enumerate(entity_rows):
            if list(r.keys()) != names and set(r.keys()) != set(names):
                raise _strata.InvalidArgument(
                    f"entity row {i + 1} has the keys {sorted(r.keys())}, row 1 has {sorted(names)}; "
                    "every row needs the same join keys"
                )
            for n in names:
                cols[n].append(r[n])
        return list(cols.items())
    table = pa.table(arrow_stream(entity_rows, "entity_rows"))
    out = []
    for field, col in zip(table.schema, table.columns):
        if _key_like(field.type):
            if pa.types.is_dictionary(field.type):
                col = col.cast(field.type.value_type)
            out.append((field.name, col.to_pylist()))
    return out


def features_list(features: Any) -> List[str]:
    """Feature references: a list of ``view:feature`` / ``view:*`` strings
    (a single string may hold several, comma-separated)."""
    if isinstance(features, str):
        features = [f for f in (x.strip() for x in features.split(",")) if f]
    try:
        out = list(features)
    except TypeError:
        raise _strata.InvalidArgument(
            "features: give a list of references like 'user_stats:amount_avg' or 'user_stats:*'"
        ) from None
    for f in out:
        if not isinstance(f, str):
            raise _strata.InvalidArgument(
                f"features: {f!r} is not a reference; write 'view:feature' or 'view:*'"
            )
    if not out:
        raise _strata.InvalidArgument("features: the list is empty; name at least one feature")
    return out


def default_data_dir() -> str:
    """``$STRATA_DATA``, else ``./strata-data`` (as the CLI)."""
    return os.environ.get("STRATA_DATA") or "./strata-data"
