"""Per-key merge of concurrent requests on one session, over the port's conditional save.

Two requests that loaded the same version and changed different keys must both survive. A save
with a base version is conditional (ring.backend: SessionStale when a concurrent request saved
first). Each request's change is a `Delta`: the keys it set (to their values) and the keys it
deleted, relative to what it loaded. On SessionStale the newest version is loaded, the delta is
applied to it, and the save is tried again against the newest version, a bounded number of times.
So the later commit wins on a key both changed, keys only one changed keep that change, and a
logout (the newest version is gone) beats any racing save: SessionInvalidated, never a
resurrection.

The delta is the difference between what was loaded and what the request leaves, plus the keys
the application assigned explicitly (an assignment of an equal value still wins the key). A
nested change (`session["cart"].append(x)`) is found by that comparison too. Framework adapters
bring their own encoding (`encode`, `decode`); nothing here knows JSON or HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ring.backend import AsyncSessionBackend, SaveResult, SessionBackend
from ring.errors import SessionInvalidated, SessionStale, SessionUnavailable

MERGE_ATTEMPTS = 8  # saves per request under contention; past it the request answers 503 (retry)

Encode = Callable[[Mapping[str, Any]], bytes]
Decode = Callable[[bytes], dict[str, Any]]

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Delta:
    """What one request changed: keys set (with their values) and keys deleted."""

    set: Mapping[str, Any]
    deleted: frozenset[str]

    def apply(self, newest: Mapping[str, Any]) -> dict[str, Any]:
        merged = {k: v for k, v in newest.items() if k not in self.deleted}
        merged.update(self.set)
        return merged

    def __bool__(self) -> bool:
        return bool(self.set) or bool(self.deleted)


def delta(loaded: Mapping[str, Any], current: Mapping[str, Any], assigned: Collection[str] = ()) -> Delta:
    """The change from loaded to current; keys in `assigned` count as set even when equal."""
    changed = {k: v for k, v in current.items()
               if k in assigned or loaded.get(k, _MISSING) is _MISSING or _differs(loaded[k], v)}
    return Delta(changed, frozenset(k for k in loaded if k not in current))


def _differs(a: Any, b: Any) -> bool:
    try:
        return bool(a != b) or type(a) is not type(b)
    except Exception:  # an odd __eq__: count it as a change, the save decides
        return True


@dataclass(slots=True)
class Merged:
    result: SaveResult
    contents: dict[str, Any]  # what was finally stored (the delta applied to the newest version)
    data: bytes


def save_merging(backend: SessionBackend, session_id: str, base_version: int,
                 loaded_data: bytes | None, change: Delta,
                 current: Mapping[str, Any], *, encode: Encode, decode: Decode,
                 attempts: int = MERGE_ATTEMPTS, lifetime: float | None = None) -> Merged:
    """Save current (= change applied to loaded); on SessionStale re-apply change to the newest."""
    contents = dict(current)
    for _ in range(attempts):
        data = encode(contents)
        touch = loaded_data is not None and data == loaded_data
        try:
            return Merged(backend.save(session_id, base_version, data, touch_only=touch, lifetime=lifetime),
                          contents, data)
        except SessionStale:
            newest = backend.load(session_id, None)
        if newest is None:
            raise SessionInvalidated("the session was logged out or expired by a concurrent request")
        base_version, loaded_data = newest.version, newest.data
        contents = change.apply(decode(newest.data))
    raise SessionUnavailable(f"session still contended after {attempts} merged saves; retry")


async def asave_merging(backend: AsyncSessionBackend, session_id: str, base_version: int,
                        loaded_data: bytes | None, change: Delta,
                        current: Mapping[str, Any], *, encode: Encode, decode: Decode,
                        attempts: int = MERGE_ATTEMPTS, lifetime: float | None = None) -> Merged:
    """save_merging for an AsyncSessionBackend."""
    contents = dict(current)
    for _ in range(attempts):
        data = encode(contents)
        touch = loaded_data is not None and data == loaded_data
        try:
            return Merged(await backend.save(session_id, base_version, data, touch_only=touch, lifetime=lifetime),
                          contents, data)
        except SessionStale:
            newest = await backend.load(session_id, None)
        if newest is None:
            raise SessionInvalidated("the session was logged out or expired by a concurrent request")
        base_version, loaded_data = newest.version, newest.data
        contents = change.apply(decode(newest.data))
    raise SessionUnavailable(f"session still contended after {attempts} merged saves; retry")
