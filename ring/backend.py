"""The port: the contract between the HTTP side and whatever holds the sessions.

Both sides import this module and nothing of each other: the middlewares (ring.web) talk to a
SessionBackend (threads) or an AsyncSessionBackend (asyncio), and the engine's facades (ring.io),
a local client of the instance on this host, or ring.web.memory implement them. A backend sees a
session as (id, version, opaque bytes); the middleware owns the encoding and the cookies. Sync
calls may block for a replication round trip and come from many worker threads at once; async
calls are awaited on the loop that runs the backend.

Errors, all from ring.errors (the middleware maps them to HTTP):

    load        SessionUnavailable       copies unreachable before the deadline         503
    save        SessionTooLarge          data over max_session_size                     500
                SessionInvalidated       a concurrent request logged the session out    409
                SessionExists            base_version 0 for an id the ring already has  409
                SessionStale             base_version is no longer the newest version:  merge
                                         nothing written; reload, re-apply, save again
                SessionUnavailable,      the write is indeterminate: it may or may not  503
                ReplicationError         have been applied (the client retries)
    invalidate  SessionUnavailable, ReplicationError                                    503
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# secrets.token_urlsafe(32): 32 random bytes, base64url without padding, always 43 characters.
SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")

# RFC 6265 cookie-name (an RFC 7230 token): what server.xml may name the session and locator cookies.
COOKIE_NAME_PATTERN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")


MAX_LIFETIME = 400 * 86400.0  # a session's longest lifetime: the longest a browser keeps a cookie (RFC 6265bis)


def check_lifetime(lifetime: float | None) -> None:
    """ValueError unless lifetime is None or a whole-or-fractional number of seconds in (0, MAX_LIFETIME]."""
    if lifetime is None:
        return
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError(f"a session lifetime is a number of seconds above 0 and at most {MAX_LIFETIME:.0f} "
                         f"(400 days), not {lifetime!r}")


def is_session_id(value: str) -> bool:
    """True when value has the shape of a session id this project issues (not that it exists)."""
    return SESSION_ID_PATTERN.fullmatch(value) is not None


def is_cookie_name(value: str) -> bool:
    return COOKIE_NAME_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Locator:
    """The CLUSTERSESSIONLOCATOR cookie's content: where a session lives. A hint, never trusted."""

    primary: str  # instance id
    backup: str  # instance id ("" when none)


@dataclass(frozen=True, slots=True)
class LoadedSession:
    session_id: str
    version: int
    data: bytes  # opaque to the engine; the middleware stores its encoding here
    locator: Locator  # where it lives now (after a possible adoption)


@dataclass(frozen=True, slots=True)
class SaveResult:
    version: int
    locator: Locator
    replicated: bool  # False when no backup was reachable (counted, logged)


@runtime_checkable
class SessionBackend(Protocol):
    """The synchronous form, for WSGI worker threads."""

    @property
    def instance_id(self) -> str: ...  # an attribute or a property (a client asks its instance)

    @property
    def max_session_size(self) -> int: ...

    def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        """The session, adopted here if another instance held it.

        None: the cluster holds no such session (never issued, invalidated or expired); the
        middleware then starts a new one under a new id. hint comes from the client's locator
        cookie, already checked against the member set, and may still be stale.
        Raises SessionUnavailable when its copies cannot be reached before the deadline.
        """
        ...

    def save(
        self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False,
    lifetime: float | None = None
    ) -> SaveResult:
        """Store data as the session's next version; return once the successor acknowledged.

        base_version is the version the request loaded, 0 for a new session. touch_only: data is
        byte-for-byte what was loaded; only the last access changes. lifetime: the seconds of
        inactivity after which this session expires (Flask's PERMANENT_SESSION_LIFETIME, Django's
        set_expiry), at most MAX_LIFETIME; None: the instance's <session-timeout> (a touch keeps
        the session's own). ValueError for a lifetime that is not a positive number of seconds.
        A save that is not touch_only with base_version > 0 is conditional: when the session's
        newest version is no longer base_version (a concurrent request saved it), nothing is
        written and SessionStale is raised (ring.web.merge then merges per key). A backend may be
        last-writer-wins instead (never raise it); the middleware works with both.
        Raises SessionTooLarge, SessionInvalidated, SessionExists, SessionStale,
        SessionUnavailable, ReplicationError.
        """
        ...

    def invalidate(self, session_id: str, base_version: int) -> None:
        """Delete the session everywhere (a tombstone, so it never comes back)."""
        ...

    def new_session_id(self) -> str:
        """A fresh id: 256 random bits, secrets.token_urlsafe(32)."""
        ...

    def replicate_on_read(self) -> bool:
        """getAttribute-triggers-replication: also save sessions that were only read."""
        ...


@runtime_checkable
class AsyncSessionBackend(Protocol):
    """The asyncio form: the same operations, awaited on the loop that runs the backend."""

    @property
    def instance_id(self) -> str: ...

    @property
    def max_session_size(self) -> int: ...

    async def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None: ...

    async def save(
        self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False,
    lifetime: float | None = None
    ) -> SaveResult: ...

    async def invalidate(self, session_id: str, base_version: int) -> None: ...

    def new_session_id(self) -> str: ...

    def replicate_on_read(self) -> bool: ...
