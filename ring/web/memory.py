"""An in-memory SessionBackend: for tests, examples, and as a readable statement of the contract.

One MemoryStore stands for the whole cluster; each MemoryBackend is one instance's view of it. A
load on an instance that does not own the session adopts it (the owner becomes this instance, the
version goes up, the locator is rewritten), which is what the ring does on a failed-over or
non-sticky request. Nothing is replicated and nothing expires; invalidated ids leave a tombstone so
that a late save cannot bring them back (SessionInvalidated). A save with a base version is
conditional, as the port says: SessionStale when the stored version moved past it (a touch is not).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from ring.backend import LoadedSession, Locator, SaveResult, check_lifetime
from ring.errors import SessionExists, SessionInvalidated, SessionStale, SessionTooLarge


@dataclass(slots=True)
class _Entry:
    version: int
    data: bytes
    owner: str


class MemoryStore:
    """The sessions of a simulated cluster, shared by the MemoryBackends built on it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[str, _Entry] = {}
        self.tombstones: set[str] = set()

    def __len__(self) -> int:
        return len(self.entries)


class MemoryBackend:
    """SessionBackend over a MemoryStore.

    members is the ring in order (document order of server.xml); the backup named in locators is
    this instance's successor in it, "" when alone.
    """

    def __init__(
        self,
        instance_id: str = "mem",
        members: Iterable[str] = (),
        max_session_size: int = 1 << 20,
        replicate_on_read: bool = True,
        *,
        store: MemoryStore | None = None,
    ) -> None:
        ring = list(dict.fromkeys(members)) or [instance_id]
        if instance_id not in ring:
            raise ValueError(f"instance {instance_id!r} is not one of the members {ring}")
        if max_session_size <= 0:
            raise ValueError("max_session_size must be positive")
        self.instance_id = instance_id
        self.ring = tuple(ring)
        self.members = frozenset(ring)
        self.max_session_size = max_session_size
        self.store = store if store is not None else MemoryStore()
        self._replicate_on_read = replicate_on_read

    @property
    def locator(self) -> Locator:
        """Where this instance puts the sessions it owns."""
        successor = self.ring[(self.ring.index(self.instance_id) + 1) % len(self.ring)]
        return Locator(primary=self.instance_id, backup="" if successor == self.instance_id else successor)

    def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        del hint  # one shared dict: nothing to search
        with self.store.lock:
            entry = self.store.entries.get(session_id)
            if entry is None:
                return None
            if entry.owner != self.instance_id:  # adoption: ownership follows the request
                entry.owner = self.instance_id
                entry.version += 1
            return LoadedSession(session_id, entry.version, entry.data, self.locator)

    def save(
        self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False,
    lifetime: float | None = None
    ) -> SaveResult:
        check_lifetime(lifetime)  # checked, then ignored: nothing expires in memory
        if len(data) > self.max_session_size:
            raise SessionTooLarge(f"{len(data)} bytes, limit {self.max_session_size}")
        with self.store.lock:
            if session_id in self.store.tombstones:
                raise SessionInvalidated("the session was invalidated by a concurrent request")
            entry = self.store.entries.get(session_id)
            if entry is not None and base_version == 0:
                raise SessionExists("a new session's id is already held")
            if entry is not None and not touch_only and entry.version != base_version:
                raise SessionStale(f"base version {base_version}, newest {entry.version}")
            if entry is None:
                entry = self.store.entries[session_id] = _Entry(base_version + 1, data, self.instance_id)
            elif touch_only and entry.data == data:
                entry.owner = self.instance_id
            else:
                entry.version = max(entry.version, base_version) + 1
                entry.data = data
                entry.owner = self.instance_id
            return SaveResult(version=entry.version, locator=self.locator, replicated=len(self.ring) > 1)

    def invalidate(self, session_id: str, base_version: int) -> None:
        del base_version  # last-writer-wins: deletion always applies
        with self.store.lock:
            self.store.entries.pop(session_id, None)
            self.store.tombstones.add(session_id)

    def new_session_id(self) -> str:
        return secrets.token_urlsafe(32)

    def replicate_on_read(self) -> bool:
        return self._replicate_on_read


class AsyncMemoryBackend:
    """AsyncSessionBackend over a MemoryBackend (ring.asgi in tests and examples): the same store,
    the same adoption and tombstones, awaited. Nothing in it waits, so each call completes at once."""

    def __init__(self, sync: MemoryBackend | None = None, /, **kwargs: object) -> None:
        """Wrap sync, or build a MemoryBackend from kwargs (instance_id, members, store, ...)."""
        self.sync = sync if sync is not None else MemoryBackend(**kwargs)  # type: ignore[arg-type]
        self.instance_id = self.sync.instance_id
        self.members = self.sync.members
        self.max_session_size = self.sync.max_session_size
        self.store = self.sync.store

    async def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        return self.sync.load(session_id, hint)

    async def save(
        self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False,
    lifetime: float | None = None
    ) -> SaveResult:
        return self.sync.save(session_id, base_version, data, touch_only=touch_only, lifetime=lifetime)

    async def invalidate(self, session_id: str, base_version: int) -> None:
        self.sync.invalidate(session_id, base_version)

    def new_session_id(self) -> str:
        return self.sync.new_session_id()

    def replicate_on_read(self) -> bool:
        return self.sync.replicate_on_read()
