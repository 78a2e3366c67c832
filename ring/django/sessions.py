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
- `set_expiry()` reaches the store: the deadline is kept with the data and a load past it finds
  nothing; the ring's <session-timeout> still bounds how long an idle session lives;
- loading an unknown key creates nothing; `clear_expired()` has nothing to do (the ring expires).
Concurrent requests on one session merge per key (ring.web.merge). The async methods (aload,
asave, ...) are Django's defaults, running these in a thread. Ids are 256 random bits.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.utils.module_loading import import_string

from ring.backend import SessionBackend, is_session_id
from ring.errors import SessionExists, SessionInvalidated
from ring.web import merge

EXPIRES = "_ring_expires"  # kept beside the data in the ring, never in request.session

_backends: dict[tuple[str, float], SessionBackend] = {}


def ring_backend() -> SessionBackend:
    """The backend RING_SESSIONS names (one per process and configuration)."""
    conf: dict[str, Any] = getattr(settings, "RING_SESSIONS", {}) or {}
    backend = conf.get("BACKEND")
    if backend is not None:
        if isinstance(backend, str):
            backend = import_string(backend)
        return backend if hasattr(backend, "load") else backend()  # a backend, or a factory of them
    from ring.client import RingClient, default_socket

    key = (conf.get("SOCKET") or default_socket(), float(conf.get("TIMEOUT", 15)))
    client = _backends.get(key)
    if client is None:
        client = _backends[key] = RingClient(key[0], timeout=key[1])  # connects lazily, per process
    return client


class SessionStore(SessionBase):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._ring = ring_backend()
        self._version = 0  # the version loaded; 0 until this key is in the ring
        self._loaded_data: bytes | None = None
        self._loaded_dict: dict[str, Any] = {}

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

    @staticmethod
    def _expired(data: dict[str, Any]) -> bool:
        deadline = data.get(EXPIRES)
        return isinstance(deadline, int | float) and deadline <= time.time()

    def _get_new_session_key(self) -> str:
        return secrets.token_urlsafe(32)

    async def _aget_new_session_key(self) -> str:
        return secrets.token_urlsafe(32)

    # --- the engine ----------------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        key = self.session_key
        loaded = self._ring.load(key, None) if key is not None and is_session_id(key) else None
        if loaded is not None:
            raw = self.decode(loaded.data.decode("ascii", "replace"))
            if not self._expired(raw):
                self._version, self._loaded_data = loaded.version, loaded.data
                raw.pop(EXPIRES, None)
                self._loaded_dict = dict(raw)
                return raw
        self._session_key = None  # unknown, expired or deleted: a new key at the next save
        self._version, self._loaded_data, self._loaded_dict = 0, None, {}
        return {}

    def exists(self, session_key: str | None) -> bool:
        if not session_key or not is_session_id(session_key):
            return False
        loaded = self._ring.load(session_key, None)
        return loaded is not None and not self._expired(self.decode(loaded.data.decode("ascii", "replace")))

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
            try:
                result = self._ring.save(key, 0, self._pack(contents))
            except SessionExists:
                raise CreateError from None
            except SessionInvalidated:
                raise (CreateError if must_create else UpdateError) from None
            self._version, self._loaded_data, self._loaded_dict = result.version, None, dict(contents)
            return
        change = merge.delta(self._loaded_dict, contents)
        try:
            merged = merge.save_merging(self._ring, key, self._version, self._loaded_data, change, contents,
                                        encode=self._pack, decode=self._unpack)
        except SessionInvalidated:
            raise UpdateError from None  # deleted meanwhile (a logout): never resurrected
        self._version, self._loaded_data = merged.result.version, merged.data
        self._loaded_dict = dict(merged.contents)

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        if key is None or not is_session_id(key):
            return
        loaded = self._ring.load(key, None)  # the version to delete (adopting it here if it moved)
        if loaded is not None:
            self._ring.invalidate(key, loaded.version)
        if key == self.session_key:
            self._version, self._loaded_data, self._loaded_dict = 0, None, {}

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: the ring expires idle sessions itself."""
