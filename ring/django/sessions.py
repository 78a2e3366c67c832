"""A Django session engine over the ring: `SESSION_ENGINE = "ring.django.sessions"`.

    SESSION_ENGINE = "ring.django.sessions"
    RING_SESSIONS = {"SOCKET": "/run/ring/ring.sock"}   # the instance's <local-socket>

Django's SessionMiddleware, `request.session`, `login()` (cycle_key) and `logout()` (flush) work
as with any engine; sessions live in the ring through the instance on this host (ring.client)
and survive the loss of any one host. RING_SESSIONS keys: SOCKET (default $RING_SOCKET), TIMEOUT
(seconds a call may wait, default 15), BACKEND (a ring.backend SessionBackend, or a dotted path to
a callable returning one, instead of the local client: MemoryBackend in tests).

Semantics Django's own suite checks (tests/django runs SessionTestsMixin against this engine):
- `save(must_create=True)` creates only if absent (CreateError otherwise);
- a save after another request deleted the session raises UpdateError (a logout is never undone);
- `set_expiry()` reaches the store: the session lives that long idle in the ring (its own
  lifetime, instead of the instance's <session-timeout>), and the deadline is also kept with the
  data so that a load past it finds nothing;
- loading an unknown key creates nothing; `clear_expired()` has nothing to do (the ring expires).
With `ring.django.middleware.RingSessionMiddleware` in place of Django's SessionMiddleware, the
locator cookie (where the session lives) is sent and read as a hint, as the WSGI middleware does.
Concurrent requests on one session merge per key (ring.web.merge). The async methods (aload,
asave, ...) await the AsyncRingClient on the running loop (no thread); with a BACKEND of your own
and no ASYNC_BACKEND they run it in a worker thread. Ids are 256 random bits.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.utils.module_loading import import_string

from ring.backend import (
    MAX_LIFETIME,
    AsyncSessionBackend,
    LoadedSession,
    Locator,
    SaveResult,
    SessionBackend,
    is_session_id,
)
from ring.errors import SessionExists, SessionInvalidated
from ring.web import merge

EXPIRES = "_ring_expires"  # kept beside the data in the ring, never in request.session

_clients: dict[tuple[str, float], tuple[Any, Any]] = {}


def ring_backends() -> tuple[SessionBackend, AsyncSessionBackend]:
    """The (sync, async) backends RING_SESSIONS names (the clients: one pair per process)."""
    conf: dict[str, Any] = getattr(settings, "RING_SESSIONS", {}) or {}
    backend = conf.get("BACKEND")
    if backend is not None:  # a backend, or a factory of them; ASYNC_BACKEND likewise
        if isinstance(backend, str):
            backend = import_string(backend)
        sync = backend if hasattr(backend, "load") else backend()
        other = conf.get("ASYNC_BACKEND")
        if isinstance(other, str):
            other = import_string(other)
        chosen = other if other is None or hasattr(other, "load") else other(sync)
        return sync, chosen or _InThread(sync)
    from ring.client import AsyncRingClient, RingClient, default_socket

    key = (conf.get("SOCKET") or default_socket(), float(conf.get("TIMEOUT", 15)))
    pair = _clients.get(key)
    if pair is None:  # they connect lazily, per process (and per loop): safe before a fork
        pair = _clients[key] = (RingClient(key[0], timeout=key[1]), AsyncRingClient(key[0], timeout=key[1]))
    return pair


class _InThread:
    """A sync backend awaited from a worker thread (when RING_SESSIONS names no async one)."""

    def __init__(self, backend: SessionBackend) -> None:
        self._b = backend

    @property
    def instance_id(self) -> str:
        return self._b.instance_id

    @property
    def max_session_size(self) -> int:
        return self._b.max_session_size

    async def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        return await asyncio.to_thread(self._b.load, session_id, hint)

    async def save(self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False, lifetime: float | None = None) -> SaveResult:
        return await asyncio.to_thread(self._b.save, session_id, base_version, data, touch_only=touch_only,
                                       lifetime=lifetime)

    async def invalidate(self, session_id: str, base_version: int) -> None:
        await asyncio.to_thread(self._b.invalidate, session_id, base_version)

    def new_session_id(self) -> str:
        return self._b.new_session_id()

    def replicate_on_read(self) -> bool:
        return self._b.replicate_on_read()


class SessionStore(SessionBase):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._ring, self._aring = ring_backends()
        self._version = 0  # the version loaded; 0 until this key is in the ring
        self._loaded_data: bytes | None = None
        self._loaded_dict: dict[str, Any] = {}
        self.hint: Locator | None = None  # the locator cookie's hint (ring.django.middleware)
        self.locator: Locator | None = None  # where the session lives, after a load or a save

    # --- encoding: Django's (signed, its SESSION_SERIALIZER) plus the expiry deadline ----------

    def _pack(self, contents: Any) -> bytes:
        data = dict(contents)
        if data.get("_session_expiry") is not None:  # set_expiry() was called: the store enforces it
            data[EXPIRES] = time.time() + self.get_expiry_age(expiry=data["_session_expiry"])
        return self.encode(data).encode("ascii")

    def _unpack(self, data: bytes) -> dict[str, Any]:
        contents: dict[str, Any] = self.decode(data.decode("ascii", "replace"))
        contents.pop(EXPIRES, None)
        return contents

    def _lifetime(self, contents: Any) -> float | None:
        """After set_expiry(), the session lives that long idle in the ring too (0 or a browser-close
        expiry: the instance's <session-timeout>)."""
        expiry = dict(contents).get("_session_expiry")
        if expiry is None or expiry == 0:
            return None
        age = self.get_expiry_age(expiry=expiry)
        return min(float(age), MAX_LIFETIME) if age > 0 else None

    @staticmethod
    def _expired(data: dict[str, Any]) -> bool:
        deadline = data.get(EXPIRES)
        return isinstance(deadline, int | float) and deadline <= time.time()

    def _get_new_session_key(self) -> str:
        return secrets.token_urlsafe(32)

    async def _aget_new_session_key(self) -> str:
        return secrets.token_urlsafe(32)

    # --- the engine (sync; the async twins below mirror it over an AsyncSessionBackend) --------

    def _accept(self, loaded: LoadedSession | None) -> dict[str, Any]:
        """What load() returns for what the ring answered (and the state a save needs)."""
        if loaded is not None:
            raw = self.decode(loaded.data.decode("ascii", "replace"))
            if not self._expired(raw):
                self._version, self._loaded_data, self.locator = loaded.version, loaded.data, loaded.locator
                raw.pop(EXPIRES, None)
                self._loaded_dict = dict(raw)
                return raw
        self._session_key = None  # unknown, expired or deleted: a new key at the next save
        self._version, self._loaded_data, self._loaded_dict = 0, None, {}
        return {}

    def _present(self, loaded: LoadedSession | None) -> bool:
        return loaded is not None and not self._expired(self.decode(loaded.data.decode("ascii", "replace")))

    def _created(self, result: SaveResult, data: bytes, contents: dict[str, Any]) -> None:
        self._version, self._loaded_data, self._loaded_dict = result.version, data, dict(contents)
        self.locator = result.locator

    def _merged(self, merged: merge.Merged) -> None:
        self._version, self._loaded_data = merged.result.version, merged.data
        self.locator = merged.result.locator
        self._loaded_dict = dict(merged.contents)

    def _forget(self, key: str) -> None:
        if key == self.session_key:
            self._version, self._loaded_data, self._loaded_dict = 0, None, {}
            self.locator = None

    @staticmethod
    def _valid(key: str | None) -> bool:
        return bool(key) and is_session_id(key)  # type: ignore[arg-type]

    def load(self) -> dict[str, Any]:
        key = self.session_key
        return self._accept(self._ring.load(key, self.hint) if self._valid(key) else None)  # type: ignore[arg-type]

    def exists(self, session_key: str | None) -> bool:
        return self._valid(session_key) and self._present(self._ring.load(session_key, None))  # type: ignore[arg-type]

    def create(self) -> None:
        while True:
            self._session_key = self._get_new_session_key()  # type: ignore[assignment]
            try:
                self.save(must_create=True)
            except CreateError:
                continue  # 256 random bits: practically never
            self.modified = True
            return

    def save(self, must_create: bool = False) -> None:
        contents = self._get_session(no_load=must_create)  # may load, and find the key unknown
        key = self.session_key
        if key is None:
            return self.create()
        if must_create or self._version == 0:
            data = self._pack(contents)
            try:
                self._created(self._ring.save(key, 0, data, lifetime=self._lifetime(contents)), data, contents)
            except SessionExists:
                raise CreateError from None
            except SessionInvalidated:
                raise (CreateError if must_create else UpdateError) from None
            return
        try:
            self._merged(merge.save_merging(
                self._ring, key, self._version, self._loaded_data, merge.delta(self._loaded_dict, contents),
                contents, encode=self._pack, decode=self._unpack, lifetime=self._lifetime(contents)))
        except SessionInvalidated:
            raise UpdateError from None  # deleted meanwhile (a logout): never resurrected

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if not self._valid(key):
            return
        loaded = self._ring.load(key, None)  # type: ignore[arg-type]  # the version to delete
        if loaded is not None:
            self._ring.invalidate(key, loaded.version)  # type: ignore[arg-type]
        self._forget(key)  # type: ignore[arg-type]

    # --- async twins (ASGI Django): awaited on the running loop, no thread ---------------------

    async def aload(self) -> dict[str, Any]:
        key = self.session_key
        return self._accept(await self._aring.load(key, self.hint) if self._valid(key) else None)  # type: ignore[arg-type]

    async def aexists(self, session_key: str | None) -> bool:
        return self._valid(session_key) and self._present(await self._aring.load(session_key, None))  # type: ignore[arg-type]

    async def acreate(self) -> None:
        while True:
            self._session_key = await self._aget_new_session_key()  # type: ignore[assignment]
            try:
                await self.asave(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return

    async def asave(self, must_create: bool = False) -> None:
        contents = await self._aget_session(no_load=must_create)
        key = self.session_key
        if key is None:
            return await self.acreate()
        if must_create or self._version == 0:
            data = self._pack(contents)
            try:
                self._created(await self._aring.save(key, 0, data, lifetime=self._lifetime(contents)), data,
                              contents)
            except SessionExists:
                raise CreateError from None
            except SessionInvalidated:
                raise (CreateError if must_create else UpdateError) from None
            return
        try:
            self._merged(await merge.asave_merging(
                self._aring, key, self._version, self._loaded_data, merge.delta(self._loaded_dict, contents),
                contents, encode=self._pack, decode=self._unpack, lifetime=self._lifetime(contents)))
        except SessionInvalidated:
            raise UpdateError from None

    async def adelete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if not self._valid(key):
            return
        loaded = await self._aring.load(key, None)  # type: ignore[arg-type]
        if loaded is not None:
            await self._aring.invalidate(key, loaded.version)  # type: ignore[arg-type]
        self._forget(key)  # type: ignore[arg-type]

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: the ring expires idle sessions itself."""
