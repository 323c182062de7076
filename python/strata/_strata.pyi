"""Type stubs of the compiled module ``strata._strata`` (PyO3).

Use the public API of ``strata`` (``Store``, ``connect``); this module
takes normalized arguments: times as int microseconds since the epoch, data
as objects with ``__arrow_c_stream__``, entity rows as key columns.
"""

import datetime
from os import PathLike
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple, Union

import pandas
import polars
import pyarrow

__version__: str

class StrataError(Exception): ...
class InvalidArgument(StrataError): ...
class NotFound(StrataError): ...
class PermissionDenied(StrataError): ...
class Unavailable(StrataError): ...
class Corruption(StrataError): ...
class StorageError(StrataError): ...
class Unsupported(StrataError): ...
class InternalError(StrataError): ...

_Key = Union[int, str, Tuple[Union[int, str], ...], List[Union[int, str]]]

def parse_time(text: str) -> int: ...
def format_time(micros: int) -> str: ...
def _panic_for_tests() -> None: ...

class OnlineResponse:
    """Online features of entity rows: values, statuses and event times."""

    def to_dict(
        self, include_event_timestamps: bool = False, include_statuses: bool = False
    ) -> Dict[str, List[Any]]: ...
    def to_arrow(
        self, include_statuses: bool = True, include_event_timestamps: bool = True
    ) -> pyarrow.Table: ...
    def to_pandas(
        self, include_statuses: bool = True, include_event_timestamps: bool = True
    ) -> pandas.DataFrame: ...
    def to_polars(
        self, include_statuses: bool = True, include_event_timestamps: bool = True
    ) -> polars.DataFrame: ...
    @property
    def statuses(self) -> Dict[str, List[str]]: ...
    @property
    def event_timestamps(self) -> Dict[str, List[Optional[datetime.datetime]]]: ...
    @property
    def feature_names(self) -> List[str]: ...
    def __len__(self) -> int: ...

class _Backend(Protocol):
    """Typing only (no such class at runtime): the methods that the
    embedded :class:`Store` and the remote :class:`Client` both have, with
    the same arguments and results; ``strata._api`` calls them through
    either."""

    def apply(
        self, text: Optional[str] = None, path: Optional[str] = None, plan_only: bool = False
    ) -> Tuple[List[str], bool]: ...
    def push(
        self,
        view: str,
        data: Any,
        batch_id: Optional[str] = None,
        backfill: bool = False,
        force: bool = False,
    ) -> Dict[str, Any]: ...
    def lookup(
        self,
        features: Sequence[str],
        entities: Sequence[Tuple[str, List[Any]]],
        as_of: Optional[int] = None,
        known_at: Optional[int] = None,
        full_feature_names: bool = False,
        request: Sequence[Tuple[str, List[Optional[str]]]] = ...,
    ) -> OnlineResponse: ...
    def historical(
        self,
        data: Any,
        features: Sequence[str],
        full_feature_names: bool = False,
        as_known_at: Optional[int] = None,
        no_future_writes: bool = False,
    ) -> pyarrow.Table: ...
    def history(
        self,
        view: str,
        key: _Key,
        start: Optional[int] = None,
        end: Optional[int] = None,
        known_at: Optional[int] = None,
    ) -> pyarrow.Table: ...
    def flush(self) -> None: ...
    def registry_list(self) -> List[Dict[str, Any]]: ...
    def describe(self, view: str) -> Dict[str, Any]: ...
    def freshness(self, at: Optional[int] = None) -> Dict[str, Any]: ...

class Store(_Backend):
    def __init__(self, path: Union[str, PathLike[str]], create: bool = True) -> None: ...
    @property
    def path(self) -> str: ...
    def close(self) -> None: ...
    def ingest(
        self,
        view: str,
        data: Any,
        renames: Sequence[Tuple[str, str]] = ...,
        batch_id: Optional[str] = None,
        backfill: bool = False,
        force: bool = False,
    ) -> Dict[str, Any]: ...
    def delete(self, entity: str, key: _Key) -> None: ...
    def search(
        self,
        text: Optional[str] = None,
        tag: Optional[str] = None,
        team: Optional[str] = None,
        owner: Optional[str] = None,
        entity: Optional[str] = None,
    ) -> List[Dict[str, Any]]: ...
    def lineage(self, view: str) -> Dict[str, Any]: ...

class Client(_Backend):
    def __init__(
        self,
        addr: str,
        token: str,
        server_cert: Optional[str] = None,
        ca: Optional[str] = None,
        server_name: Optional[str] = None,
        timeout: float = 60.0,
    ) -> None: ...
    @property
    def addr(self) -> str: ...
    def search(self, text: str) -> List[Dict[str, Any]]: ...
    def lineage(self, view: str) -> List[str]: ...
    def health(self) -> Dict[str, Any]: ...
