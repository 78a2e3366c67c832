"""ASGI middleware: Starlette's SessionMiddleware, with the session in the ring instead of the cookie.

An app that uses ``starlette.middleware.sessions.SessionMiddleware`` switches by changing the
import to ``ring.asgi``: the signature is Starlette's (``secret_key``, ``session_cookie``,
``max_age``, ``path``, ``same_site``, ``https_only``, ``domain``, ``partitioned``) plus where the
sessions live (``backend``, any ring.backend.AsyncSessionBackend). ``scope["session"]`` is a dict
(a ring.web.session.Session), so ``request.session`` works in Starlette and FastAPI. The cookie
carries only a random id (and the locator cookie, where the session lives); the data is JSON in
the ring (ring.web.session's encoding), never in the browser.

Per connection:
  http       load at the start (the locator cookie is a hint, as in ring.web.wsgi); the app runs;
             at ``http.response.start``, before the first body byte, the session is saved (or
             invalidated) and the status line goes out with its Set-Cookie headers, so streaming
             responses keep streaming. When the save is refused or not confirmed the app's response
             is replaced by a short error (below) and the rest of its body is dropped.
  websocket  the session is loaded and readable; changes are not saved (as Starlette).
  lifespan   passed through untouched.

Errors from the backend (ring.backend's table): a load not served, a save not confirmed
(SessionUnavailable, ReplicationError, TransportError) 503 with Retry-After: 1; a concurrent logout
or an id already taken (SessionInvalidated, SessionExists) 409; the session too large 500. A
websocket whose session cannot be loaded is closed with 1013 (try again later).

What is saved follows ring.web.wsgi: a modified session; one only read when the backend replicates
on read; a new one once it holds something; nothing after a 5xx. As Starlette, clearing a loaded
session (``request.session.clear()``) logs out: the ring deletes it and both cookies expire. The
session cookie has ``Max-Age=max_age`` (None: a browser-session cookie) and is re-sent, with the
locator, whenever the session changes; the ring expires idle sessions on its own clock.

backend=None: the backend comes from the host, ``ring serve --asgi`` (``scope["ring.host"]``, a
HostContext: the engine on the server's loop, and the locator cookie's name, key and member set from
server.xml), so an app built with Starlette's ``add_middleware`` needs no other change.

A subclass may make its backend at the first request instead (``_make_backend``): ring.asgi does,
for the daemon of the host (``local_socket=``), so that each worker process makes its own client
after the fork. Until one is made (the daemon is down), requests answer 503 and the next one tries
again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from ring.backend import (
    AsyncSessionBackend,
    LoadedSession,
    Locator,
    SaveResult,
    check_lifetime,
    is_session_id,
)
from ring.errors import (
    ReplicationError,
    SessionExists,
    SessionInvalidated,
    SessionTooLarge,
    SessionUnavailable,
    TransportError,
)
from ring.web import locator as locator_cookie_codec
from ring.web import merge
from ring.web import session as session_codec
from ring.web.session import LOCAL_ONLY_TABLE, Session
from ring.web.wsgi import _largest_attribute, check_cookie_options, cookie_attributes, parse_cookie_header

log = logging.getLogger("ring.web")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_HOST = "ring.host"  # HostContext, set by ring serve --asgi
SCOPE_INSTANCE = "ring.instance"  # the instance id that served the request
_SCOPE_OWNER = "ring.session_owner"  # the middleware that loaded scope["session"]

_UNAVAILABLE = (SessionUnavailable, ReplicationError, TransportError)
_CONFLICT = (SessionInvalidated, SessionExists)

_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"

_ERRORS: dict[str, tuple[int, bytes]] = {
    "unavailable": (503, b"session temporarily unavailable; retry the request\n"),
    "conflict": (409, b"session changed by a concurrent request (logged out or taken); reload\n"),
    "too_large": (500, b"session too large\n"),
    "no_backend": (500, b"no session backend: pass backend= or run under `ring serve --asgi`\n"),
}


@dataclass(frozen=True, slots=True)
class HostContext:
    """What a hosting process lends the middlewares of its app (``scope["ring.host"]``)."""

    backend: AsyncSessionBackend
    members: frozenset[str]
    locator_cookie: str = "CLUSTERSESSIONLOCATOR"
    key: str | None = None  # the locator cookie's HMAC key (server.xml <key>)
    secure: bool = False  # server.xml <cookie-secure>: Secure cookies whatever https_only says


@dataclass(slots=True)
class _Request:
    host: HostContext
    sent_session_cookie: bool
    sent_locator_cookie: bool
    hint: Locator | None
    loaded: LoadedSession | None = None


class SessionMiddleware:
    """Starlette's SessionMiddleware over a ring AsyncSessionBackend. See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        secret_key: object = None,
        session_cookie: str = "session",
        max_age: int | None = 14 * 24 * 60 * 60,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
        partitioned: bool = False,
        *,
        backend: AsyncSessionBackend | None = None,
        locator_cookie: str = "CLUSTERSESSIONLOCATOR",
        members: Iterable[str] | None = None,
        lifetime: float | None = None,
    ) -> None:
        """secret_key signs the locator cookie (with a backend given here; hosted, server.xml's key
        does). members: the instances a locator may name (default: the backend's ``members``, or
        its own id). lifetime: how long a session lives idle in the ring (None: the instance's
        <session-timeout>; give max_age for a session that lives as long as its cookie)."""
        check_cookie_options(session_cookie, locator_cookie, path, session_argument="session_cookie",
                             domain=domain, same_site=same_site, max_age=max_age)  # Secure may come from the host
        check_lifetime(lifetime)
        self.lifetime = lifetime
        key = None if secret_key is None else str(secret_key)
        if key == "":
            raise ValueError("secret_key must be None or a non-empty secret")
        self.app = app
        self.session_cookie = session_cookie
        self.max_age = max_age
        self.path = path
        self.same_site = same_site
        self.https_only = https_only
        self.domain = domain
        self.partitioned = partitioned
        self._own: HostContext | None = None
        self._given_members = None if members is None else frozenset(members)
        self._locator_cookie, self._key = locator_cookie, key
        if backend is not None:
            if members is None:
                members = getattr(backend, "members", None) or (backend.instance_id,)
            self._own = HostContext(backend, frozenset(members), locator_cookie, key)
        self._warned_no_backend = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get(_SCOPE_OWNER) is not None:
            # lifespan, or an outer ring middleware already serves this connection's session
            await self.app(scope, receive, send)
            return
        host = self._own or scope.get(SCOPE_HOST)
        if self._own is None and self._makes_backend():
            try:
                host = await self._made_host()
            except _UNAVAILABLE as exc:
                log.warning("no session backend yet (%s): answering %s", exc,
                            "503" if kind == "http" else "websocket close 1013")
                await _refuse(kind, send, "unavailable", close_code=1013)
                return
        if host is None:
            if not self._warned_no_backend:
                self._warned_no_backend = True
                log.error("ring.asgi.SessionMiddleware has no backend: pass backend=... "
                          "or host the app with `ring serve --asgi`")
            await _refuse(kind, send, "no_backend", close_code=1011)
            return
        cookies = parse_cookie_header(_cookie_header(scope))
        request = _Request(
            host=host,
            sent_session_cookie=self.session_cookie in cookies,
            sent_locator_cookie=host.locator_cookie in cookies,
            hint=locator_cookie_codec.decode(cookies.get(host.locator_cookie), host.key, host.members),
        )
        try:
            session = await self._open(cookies.get(self.session_cookie), request)
        except _UNAVAILABLE as exc:
            log.warning("session load failed (%s): answering %s", type(exc).__name__,
                        "503" if kind == "http" else "websocket close 1013")
            await _refuse(kind, send, "unavailable", close_code=1013)
            return
        scope["session"] = session
        scope[SCOPE_INSTANCE] = host.backend.instance_id
        scope[_SCOPE_OWNER] = self
        if kind == "websocket":  # read-only: nothing is saved
            await self.app(scope, receive, send)
            return

        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # our error response went out instead; the app's body is dropped
            if message["type"] != "http.response.start":
                await send(message)
                return
            try:
                cookie_values = await self._close(session, request, int(message["status"]))
            except SessionTooLarge:
                replaced = True
                await _error_response(send, "too_large")
                return
            except _CONFLICT as exc:
                log.warning("session save refused (%s): answering 409", type(exc).__name__)
                replaced = True
                await _error_response(send, "conflict")
                return
            except _UNAVAILABLE as exc:
                log.warning("session save not confirmed (%s): answering 503", type(exc).__name__)
                replaced = True
                await _error_response(send, "unavailable")
                return
            headers = list(message.get("headers", ()))
            headers.extend((b"set-cookie", value.encode("latin-1")) for value in cookie_values)
            if session.accessed and not _varies_on_cookie(headers):
                headers.append((b"vary", b"Cookie"))
            await send({**message, "headers": headers})

        await self.app(scope, receive, send_wrapper)

    # --- a backend made at the first request (subclasses) ---------------------------------------

    def _makes_backend(self) -> bool:
        return False

    async def _make_backend(self) -> AsyncSessionBackend:
        """The backend, made in the serving process; TransportError (or another of ring.backend's
        unavailable errors) when it cannot be reached yet."""
        raise NotImplementedError

    async def _made_host(self) -> HostContext:
        backend = await self._make_backend()
        if self._own is None:  # another request of this process may have made it meanwhile
            members = self._given_members or frozenset({backend.instance_id})
            self._own = HostContext(backend, members, self._locator_cookie, self._key)
        return self._own

    # --- load ----------------------------------------------------------------------------------

    async def _open(self, sent_id: str | None, request: _Request) -> Session:
        backend = request.host.backend
        if sent_id is not None and is_session_id(sent_id):
            loaded = await backend.load(sent_id, request.hint)
            if loaded is not None:
                try:
                    session = session_codec.restore(
                        backend.instance_id, loaded.session_id, loaded.data, version=loaded.version
                    )
                except ValueError:
                    log.error("stored session data is not a JSON object: starting a new session")
                else:
                    request.loaded = loaded
                    return session
        return Session(backend.new_session_id(), is_new=True)

    # --- save ----------------------------------------------------------------------------------

    async def _close(self, session: Session, request: _Request, status_code: int) -> list[str]:
        """Save or invalidate as the request requires; the Set-Cookie values to send."""
        if status_code >= 500:
            return []
        host, loaded = request.host, request.loaded
        backend = host.backend
        contents = session.data_snapshot()
        logged_out = [self._expired(host, self.session_cookie), self._expired(host, host.locator_cookie)]

        if session.invalidated or (loaded is not None and session.modified and not contents):
            # ring's invalidate()/regenerate(), or Starlette's logout: the session was cleared
            cookies: list[str] = []
            if contents and (session.regenerated or session.modified):
                new_id = backend.new_session_id()
                result = await self._save(backend, new_id, 0, contents, loaded_data=None)
                session._set_session_id(new_id)
                cookies = self._issue(host, new_id, result.locator)
            if loaded is not None:
                # After the save: if deleting the old id fails, the old session is still intact.
                await backend.invalidate(loaded.session_id, loaded.version)
                LOCAL_ONLY_TABLE.discard(backend.instance_id, loaded.session_id)
            return cookies or logged_out

        if loaded is None:  # a new session
            if contents:
                result = await self._save(backend, session.session_id, 0, contents, loaded_data=None)
                return self._issue(host, session.session_id, result.locator)
            # Nothing to keep: drop cookies naming a session the cluster does not hold.
            stale = []
            if request.sent_session_cookie:
                stale.append(logged_out[0])
            if request.sent_locator_cookie:
                stale.append(logged_out[1])
            return stale

        where = loaded.locator
        if session.modified or (session.accessed and backend.replicate_on_read()):
            result = await self._save(backend, loaded.session_id, loaded.version, contents,
                                      loaded_data=loaded.data, assigned=session.assigned)
            where = result.locator
            if session.modified and self.max_age is not None:  # Starlette's sliding Max-Age
                return self._issue(host, loaded.session_id, where)
        if where != request.hint:
            return [self._cookie(host, host.locator_cookie, locator_cookie_codec.encode(where, host.key))]
        return []

    async def _save(self, backend: AsyncSessionBackend, session_id: str, base_version: int,
                    contents: dict[Any, Any], *, loaded_data: bytes | None,
                    assigned: set[str] | frozenset[str] = frozenset()) -> SaveResult:
        data, local_only = session_codec.encode(contents)
        limit = backend.max_session_size
        if len(data) > limit:
            log.error("session not saved: %d bytes encoded, over max-session-size %d; largest attribute: %r",
                      len(data), limit, _largest_attribute(contents))
            raise SessionTooLarge(f"{len(data)} bytes, limit {limit}")
        try:
            if loaded_data is None:
                result = await backend.save(session_id, base_version, data, touch_only=False, lifetime=self.lifetime)
            else:  # conditional: a concurrent save is merged per key (ring.web.merge)
                change = merge.delta(session_codec.decode(loaded_data), contents, assigned)
                merged = await merge.asave_merging(backend, session_id, base_version, loaded_data, change,
                                                   contents, encode=lambda c: session_codec.encode(c)[0],
                                                   decode=session_codec.decode, lifetime=self.lifetime)
                result, local_only = merged.result, session_codec.encode(merged.contents)[1]
        except SessionTooLarge:
            log.error("session not saved: the backend refused %d bytes as too large", len(data))
            raise
        session_codec.keep_local(backend.instance_id, session_id, local_only)
        if not result.replicated:
            log.debug("session saved without a backup: no successor reachable")
        return result

    # --- cookies -------------------------------------------------------------------------------

    def _attributes(self, host: HostContext) -> str:
        return cookie_attributes(self.path, self.same_site, self.https_only or host.secure, self.domain,
                                 self.partitioned)

    def _cookie(self, host: HostContext, name: str, value: str) -> str:
        max_age = f"; Max-Age={self.max_age}" if self.max_age is not None else ""
        return f"{name}={value}{max_age}{self._attributes(host)}"

    def _issue(self, host: HostContext, session_id: str, where: Locator) -> list[str]:
        return [self._cookie(host, self.session_cookie, session_id),
                self._cookie(host, host.locator_cookie, locator_cookie_codec.encode(where, host.key))]

    def _expired(self, host: HostContext, name: str) -> str:
        # the live cookie's attributes (else the browser keeps that one), expired
        return f"{name}=; Max-Age=0; Expires={_EPOCH}{self._attributes(host)}"


def wraps_sessions(app: object, depth: int = 32) -> bool:
    """True when app already puts a ring SessionMiddleware around its routes: a Starlette or
    FastAPI app that added it (``user_middleware``), or a chain of middlewares (``.app``) with one."""
    for _ in range(depth):
        if isinstance(app, SessionMiddleware):
            return True
        for entry in getattr(app, "user_middleware", None) or ():
            cls = getattr(entry, "cls", None)
            if isinstance(cls, type) and issubclass(cls, SessionMiddleware):
                return True
        app = getattr(app, "app", None)
        if app is None:
            return False
    return False


def _cookie_header(scope: Scope) -> str:
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"cookie"]
    return "; ".join(values)  # HTTP/2 may split cookies over several headers


def _varies_on_cookie(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"vary":
            tokens = {token.strip().lower() for token in value.split(b",")}
            if b"*" in tokens or b"cookie" in tokens:
                return True
    return False


async def _error_response(send: Send, which: str) -> None:
    status, body = _ERRORS[which]
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    if status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _refuse(kind: str, send: Send, which: str, *, close_code: int) -> None:
    if kind == "http":
        await _error_response(send, which)
    else:  # before accept: the handshake is refused
        await send({"type": "websocket.close", "code": close_code})
