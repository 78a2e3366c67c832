"""The session object an application sees, and its encoding.

A Session is a dict that remembers whether the request read it (``accessed``) or changed it
(``modified``); the middleware saves it only when needed. Changes inside a nested value
(``session["cart"].append(x)``) are not seen: call ``session.mark_modified()`` after them, or assign
the value again. (With getAttribute-triggers-replication on, a session that was read is compared
with what was loaded and saved if it differs, which also catches nested changes.)

Encoding is JSON only: ``json.dumps(..., separators=(",", ":"), sort_keys=True)``, never pickle.
JSON does not round-trip everything: tuples come back as lists and non-string keys inside nested
dicts come back as strings. Attributes that JSON cannot encode at all (or whose key is not a
string) are kept on this instance only, as iPlanet does with attributes that cannot be
serialized: they live in a bounded per-process table keyed by instance and session id, are missing
after a failover to another instance, and each one newly kept back is logged (by key, never by
value or session id) and counted in LOCAL_ONLY_ATTRIBUTES.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values

log = logging.getLogger("ring.web")

LOCAL_ONLY_MAX_SESSIONS = 10_000  # bounds the memory a process spends on unreplicable attributes

_MISSING: Any = object()


class Counter:
    """A thread-safe monotonic counter, exported as a metric by the instance."""

    __slots__ = ("name", "value", "_lock")

    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0
        self._lock = threading.Lock()

    def inc(self, amount: int = 1) -> None:
        with self._lock:
            self.value += amount

    def __repr__(self) -> str:
        return f"Counter({self.name!r}, value={self.value})"


LOCAL_ONLY_ATTRIBUTES = Counter("ring_session_local_only_attributes_total")


class Session(dict[str, Any]):
    """The session of one request: a dict with change tracking. See the module docstring."""

    def __init__(
        self,
        session_id: str,
        data: Mapping[str, Any] | None = None,
        *,
        version: int = 0,
        is_new: bool = True,
    ) -> None:
        super().__init__(data or {})
        self._session_id = session_id
        self.version = version  # the version loaded, 0 for a new session
        self.is_new = is_new
        self.modified = False
        self.accessed = False
        self.invalidated = False  # the old id is to be deleted at the end of the request
        self.regenerated = False  # the data moves to a new id at the end of the request
        self.assigned: set[str] = set()  # keys the request assigned (they win a merge: ring.web.merge)

    @property
    def session_id(self) -> str:
        return self._session_id

    # --- lifecycle ---------------------------------------------------------------------------

    def invalidate(self) -> None:
        """Log out: delete the session and its cookies at the end of the request.

        Its contents are cleared. Anything stored afterwards in the same request starts a new
        session under a new id (as Django's flush()).
        """
        self.accessed = True
        self.invalidated = True
        self.regenerated = False
        self.modified = False
        dict.clear(self)

    def regenerate(self) -> None:
        """Move the data to a new id at the end of the request (fixation defense after a login).

        The middleware saves the data under the new id, then deletes the old id.
        """
        self.accessed = True
        self.invalidated = True
        self.regenerated = True
        self.modified = True

    def mark_modified(self) -> None:
        """Save this session even though no assignment was seen (after a nested change)."""
        self.accessed = self.modified = True

    def data_snapshot(self) -> dict[str, Any]:
        """A plain copy of the contents that does not count as an access (for the middleware)."""
        return dict(dict.items(self))

    def _set_session_id(self, session_id: str) -> None:
        self._session_id = session_id

    # --- reads -------------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return super().__iter__()

    def __len__(self) -> int:
        self.accessed = True
        return super().__len__()

    def keys(self) -> dict_keys[str, Any]:
        self.accessed = True
        return super().keys()

    def values(self) -> dict_values[str, Any]:
        self.accessed = True
        return super().values()

    def items(self) -> dict_items[str, Any]:
        self.accessed = True
        return super().items()

    def copy(self) -> dict[str, Any]:
        self.accessed = True
        return self.data_snapshot()

    # --- writes ------------------------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self.accessed = self.modified = True
        self.assigned.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.accessed = self.modified = True
        super().__delitem__(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        if not super().__contains__(key):
            self.modified = True
            self.assigned.add(key)
        return super().setdefault(key, default)

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        self.accessed = True
        if super().__contains__(key):
            self.modified = True
            return super().pop(key)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[str, Any]:
        self.accessed = self.modified = True
        return super().popitem()

    def clear(self) -> None:
        self.accessed = self.modified = True
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.accessed = self.modified = True
        items = dict(*args, **kwargs)
        self.assigned.update(items)
        super().update(items)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __repr__(self) -> str:
        # No session id and no data: reprs end up in logs and tracebacks.
        return f"<Session new={self.is_new} modified={self.modified} keys={len(dict.keys(self))}>"


# --- encoding ------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def encode(contents: Mapping[Any, Any]) -> tuple[bytes, dict[Any, Any]]:
    """(the JSON bytes of the replicable attributes, the attributes JSON cannot hold)."""
    if all(isinstance(k, str) for k in contents):
        try:
            return _dumps(contents).encode("utf-8"), {}
        except (TypeError, ValueError, RecursionError):
            pass  # some value is not JSON: sort them out one by one below
    replicable: dict[str, Any] = {}
    local_only: dict[Any, Any] = {}
    for key, value in contents.items():
        if isinstance(key, str):
            try:
                _dumps(value)
            except (TypeError, ValueError, RecursionError):
                pass
            else:
                replicable[key] = value
                continue
        local_only[key] = value
    return _dumps(replicable).encode("utf-8"), local_only


def decode(data: bytes) -> dict[str, Any]:
    """The attributes in data; ValueError unless it is a JSON object (nested too deep included)."""
    try:
        contents = json.loads(data)
    except RecursionError:  # a forged or broken copy: ValueError, handled like any bad data
        raise ValueError("session data is nested too deeply to decode") from None
    if not isinstance(contents, dict):
        raise ValueError("session data is not a JSON object")
    return contents


# --- attributes kept on this instance only -------------------------------------------------------


class _LocalOnlyTable:
    """Bounded LRU: (instance id, session id) -> attributes that could not be replicated.

    Keyed by instance too, so that several instances simulated in one process (tests) still
    keep these attributes apart, as separate processes would.
    """

    def __init__(self, max_sessions: int) -> None:
        self._max_sessions = max_sessions
        self._entries: OrderedDict[tuple[str, str], dict[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, instance_id: str, session_id: str) -> dict[Any, Any]:
        with self._lock:
            attrs = self._entries.get((instance_id, session_id))
            if attrs is None:
                return {}
            self._entries.move_to_end((instance_id, session_id))
            return dict(attrs)

    def put(self, instance_id: str, session_id: str, attrs: Mapping[Any, Any]) -> list[Any]:
        """Store attrs (replacing what was there); the keys that were not kept before."""
        entry = (instance_id, session_id)
        with self._lock:
            previous = self._entries.pop(entry, {})
            if attrs:
                self._entries[entry] = dict(attrs)
                while len(self._entries) > self._max_sessions:
                    self._entries.popitem(last=False)
            return [key for key in attrs if key not in previous]

    def discard(self, instance_id: str, session_id: str) -> None:
        with self._lock:
            self._entries.pop((instance_id, session_id), None)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


LOCAL_ONLY_TABLE = _LocalOnlyTable(LOCAL_ONLY_MAX_SESSIONS)


def keep_local(instance_id: str, session_id: str, attrs: Mapping[Any, Any]) -> None:
    """Remember the attributes the ring could not take; warn about and count each new one.

    Called after a confirmed save. A session saved again with the same attribute still kept back
    does not warn again, so a read-mostly session does not flood the log.
    """
    for key in LOCAL_ONLY_TABLE.put(instance_id, session_id, attrs):
        LOCAL_ONLY_ATTRIBUTES.inc()
        log.warning(
            "session attribute %r cannot be encoded as JSON: kept on this instance only, lost on failover",
            key,
        )


def local_only_attributes(instance_id: str, session_id: str) -> dict[Any, Any]:
    """The attributes of session_id that instance_id keeps outside the ring (a copy)."""
    return LOCAL_ONLY_TABLE.get(instance_id, session_id)


def restore(instance_id: str, session_id: str, data: bytes, *, version: int) -> Session:
    """The Session for loaded data, with this instance's local-only attributes put back."""
    contents: dict[Any, Any] = local_only_attributes(instance_id, session_id)
    contents.update(decode(data))  # a replicated value set elsewhere wins over a stale local one
    return Session(session_id, contents, version=version, is_new=False)
