"""WSGI middleware: a replicated session for every request, framework-free.

Per request:
  1. read the session id cookie and the locator cookie (both untrusted: a bad shape, a forged mac
     or an instance outside the member set count as absent);
  2. load the session from the backend, which may adopt it from another instance; an id the
     cluster does not hold starts a new session under a NEW id (never the client's: fixation);
  3. run the application with ``environ["ring.session"]`` and ``environ["ring.instance"]``, and
     buffer its whole response;
  4. save (or invalidate) the session, which returns once the successor acknowledged; only then is
     the response released, with the cookies it needs. When the save cannot be confirmed the
     application's response is dropped and the client gets 503 + Retry-After: the write is
     indeterminate and the client must retry.

What is saved: a modified session; a session that was only read when the backend replicates on
read (compared with what was loaded, so unchanged data goes as a touch); a new session only once
it holds something. Responses with a 5xx status save nothing (as Django): the request failed
half-way. Session ids and data are never logged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from ring.backend import LoadedSession, Locator, SaveResult, SessionBackend, check_lifetime, is_session_id
from ring.errors import (
    ReplicationError,
    SessionInvalidated,
    SessionTooLarge,
    SessionUnavailable,
    TransportError,
)
from ring.web import locator as locator_cookie_codec
from ring.web import merge
from ring.web import session as session_codec
from ring.web.session import LOCAL_ONLY_TABLE, Session

log = logging.getLogger("ring.web")

StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

ENVIRON_SESSION = "ring.session"
ENVIRON_INSTANCE = "ring.instance"

# Errors after which the outcome of a write is unknown, or the session cannot be reached: 503.
_UNAVAILABLE = (SessionUnavailable, ReplicationError, TransportError)

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 7230 token: a legal cookie name
_COOKIE_PATH = re.compile(r"/[\x21-\x2b\x2d-\x3a\x3c-\x7e]*")  # printable ASCII minus ';' and ','
_DOMAIN = re.compile(r"\.?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


_UNAVAILABLE_BODY = b"session temporarily unavailable; retry the request\n"
_TOO_LARGE_BODY = b"session too large\n"
_INVALIDATED_BODY = b"session was logged out by a concurrent request; nothing saved\n"


def check_cookie_options(session_cookie: str, locator_cookie: str, path: str, *,
                         session_argument: str = "cookie_name", domain: str | None = None,
                         same_site: str = "lax", secure: bool = True, max_age: object = None) -> None:
    """The cookie names, path, domain, SameSite and Max-Age the middlewares accept (ValueError
    naming the argument). `secure`: the cookies can be Secure (SameSite=None needs it)."""
    if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0):
        raise ValueError(f"max_age must be a positive number of seconds or None, got {max_age!r}")
    if same_site not in ("lax", "strict", "none"):
        raise ValueError(f"same_site must be 'lax', 'strict' or 'none', got {same_site!r}")
    if same_site == "none" and not secure:
        raise ValueError("same_site='none' needs secure cookies (browsers refuse SameSite=None without Secure)")
    if domain is not None and not _DOMAIN.fullmatch(domain):
        raise ValueError(f"cookie domain {domain!r} is not a host name")
    for name in (session_cookie, locator_cookie):
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"cookie name {name!r} is not a valid token; use letters, digits, _ or -")
    if session_cookie == locator_cookie:
        raise ValueError(f"{session_argument} and locator_cookie must differ")
    if not _COOKIE_PATH.fullmatch(path):
        raise ValueError(f"cookie path {path!r} must start with '/' and hold no ';', ',' or spaces")


def cookie_attributes(path: str, same_site: str, secure: bool, domain: str | None, partitioned: bool) -> str:
    """The attributes both middlewares give their cookies (after the value and any Max-Age)."""
    flags = f"; Path={path}; HttpOnly; SameSite={same_site.capitalize()}"
    if secure:
        flags += "; Secure"
    if domain is not None:
        flags += f"; Domain={domain}"
    if partitioned:
        flags += "; Partitioned"
    return flags


class SessionMiddleware:
    """Wraps a WSGI app so that each request has a ring-replicated session."""

    def __init__(
        self,
        app: WSGIApp,
        backend: SessionBackend,
        *,
        cookie_name: str = "RINGSESSION",
        locator_cookie: str = "CLUSTERSESSIONLOCATOR",
        key: str | None = None,
        members: Iterable[str],
        secure: bool = False,
        path: str = "/",
        max_age: int | None = None,
        domain: str | None = None,
        same_site: str = "lax",
        partitioned: bool = False,
        lifetime: float | None = None,
    ) -> None:
        """max_age: the cookies' Max-Age in seconds (None: browser-session cookies); lifetime: how
        long a session lives idle in the ring (None: the instance's <session-timeout>; give max_age
        for a session that lives as long as its cookie)."""
        check_cookie_options(cookie_name, locator_cookie, path, domain=domain, same_site=same_site, secure=secure,
                             max_age=max_age)
        check_lifetime(lifetime)
        if key == "":
            raise ValueError("key must be None (unsigned locator) or a non-empty secret")
        self.app = app
        self.backend = backend
        self.cookie_name = cookie_name
        self.locator_cookie = locator_cookie
        self.key = key
        self.members = frozenset(members)
        self.secure = secure
        self.path = path
        self.max_age = max_age
        self.domain = domain
        self.same_site = same_site
        self.partitioned = partitioned
        self.lifetime = lifetime

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        cookies = parse_cookie_header(environ.get("HTTP_COOKIE", ""))
        request = _Request(
            sent_session_cookie=self.cookie_name in cookies,
            sent_locator_cookie=self.locator_cookie in cookies,
            hint=locator_cookie_codec.decode(cookies.get(self.locator_cookie), self.key, self.members),
        )
        try:
            session = self._open(cookies.get(self.cookie_name), request)
        except _UNAVAILABLE as exc:
            log.warning("session load failed (%s): answering 503", type(exc).__name__)
            return _plain(start_response, "503 Service Unavailable", _UNAVAILABLE_BODY, retry_after=True)

        environ[ENVIRON_SESSION] = session
        environ[ENVIRON_INSTANCE] = self.backend.instance_id
        response = _run(self.app, environ)

        try:
            cookie_headers = self._close(session, request, response.status_code)
        except SessionTooLarge:
            return _plain(start_response, "500 Internal Server Error", _TOO_LARGE_BODY)
        except SessionInvalidated:  # logged out by a concurrent request: this request's save is void
            return _plain(start_response, "409 Conflict", _INVALIDATED_BODY)
        except _UNAVAILABLE as exc:
            log.warning("session save not confirmed (%s): answering 503", type(exc).__name__)
            return _plain(start_response, "503 Service Unavailable", _UNAVAILABLE_BODY, retry_after=True)

        headers = list(response.headers)
        headers.extend(("Set-Cookie", value) for value in cookie_headers)
        if session.accessed and not _varies_on_cookie(headers):
            headers.append(("Vary", "Cookie"))
        start_response(response.status, headers)
        return response.body

    # --- load ----------------------------------------------------------------------------------

    def _open(self, sent_id: str | None, request: _Request) -> Session:
        if sent_id is not None and is_session_id(sent_id):
            loaded = self.backend.load(sent_id, request.hint)
            if loaded is not None:
                try:
                    session = session_codec.restore(
                        self.backend.instance_id, loaded.session_id, loaded.data, version=loaded.version
                    )
                except ValueError:
                    log.error("stored session data is not a JSON object: starting a new session")
                else:
                    request.loaded = loaded
                    return session
        return Session(self.backend.new_session_id(), is_new=True)

    # --- save ----------------------------------------------------------------------------------

    def _close(self, session: Session, request: _Request, status_code: int) -> list[str]:
        """Save or invalidate as the request requires; the Set-Cookie values to send."""
        if status_code >= 500:
            return []
        loaded = request.loaded
        contents = session.data_snapshot()

        if session.invalidated:
            cookies: list[str] = []
            if contents and (session.regenerated or session.modified):
                new_id = self.backend.new_session_id()
                result = self._save(new_id, 0, contents, loaded_data=None)
                session._set_session_id(new_id)
                cookies = [self._cookie(self.cookie_name, new_id), self._locator(result.locator)]
            if loaded is not None:
                # After the save: if deleting the old id fails, the old session is still intact.
                self.backend.invalidate(loaded.session_id, loaded.version)
                LOCAL_ONLY_TABLE.discard(self.backend.instance_id, loaded.session_id)
            if not cookies:
                cookies = [self._expired(self.cookie_name), self._expired(self.locator_cookie)]
            return cookies

        if loaded is None:  # a new session
            if contents:
                result = self._save(session.session_id, 0, contents, loaded_data=None)
                return [self._cookie(self.cookie_name, session.session_id), self._locator(result.locator)]
            # Nothing to keep. Drop cookies naming a session the cluster does not hold, so the
            # browser stops sending them (each one costs a search of the ring).
            stale = []
            if request.sent_session_cookie:
                stale.append(self._expired(self.cookie_name))
            if request.sent_locator_cookie:
                stale.append(self._expired(self.locator_cookie))
            return stale

        where = loaded.locator
        if session.modified or (session.accessed and self.backend.replicate_on_read()):
            where = self._save(loaded.session_id, loaded.version, contents, loaded_data=loaded.data,
                               assigned=session.assigned).locator
        if where != request.hint:
            return [self._locator(where)]
        return []

    def _save(
        self, session_id: str, base_version: int, contents: dict[Any, Any], *, loaded_data: bytes | None,
        assigned: Collection[str] = (),
    ) -> SaveResult:
        data, local_only = session_codec.encode(contents)
        limit = self.backend.max_session_size
        if len(data) > limit:
            message = (
                f"session not saved: {len(data)} bytes encoded, over max-session-size {limit}; "
                f"largest attribute: {_largest_attribute(contents)!r}"
            )
            log.error("%s", message)
            raise SessionTooLarge(message)
        try:
            if loaded_data is None:
                result = self.backend.save(session_id, base_version, data, touch_only=False, lifetime=self.lifetime)
            else:  # conditional: a concurrent save is merged per key (ring.web.merge)
                change = merge.delta(session_codec.decode(loaded_data), contents, assigned)
                merged = merge.save_merging(self.backend, session_id, base_version, loaded_data, change,
                                            contents, encode=lambda c: session_codec.encode(c)[0],
                                            decode=session_codec.decode, lifetime=self.lifetime)
                result, local_only = merged.result, session_codec.encode(merged.contents)[1]
        except SessionTooLarge:
            # The backend's message is not logged: it may name the session.
            log.error("session not saved: the backend refused %d bytes as too large", len(data))
            raise
        session_codec.keep_local(self.backend.instance_id, session_id, local_only)
        if not result.replicated:
            # The engine counts and logs these; at warning level here it would repeat per request.
            log.debug("session saved without a backup: no successor reachable")
        return result

    # --- cookies -------------------------------------------------------------------------------

    def _attributes(self) -> str:
        return cookie_attributes(self.path, self.same_site, self.secure, self.domain, self.partitioned)

    def _cookie(self, name: str, value: str) -> str:
        # Without max_age a browser-session cookie; the ring expires the session itself.
        max_age = f"; Max-Age={self.max_age}" if self.max_age is not None else ""
        return f"{name}={value}{max_age}{self._attributes()}"

    def _expired(self, name: str) -> str:
        return f"{name}=; Max-Age=0; Expires={_EPOCH}{self._attributes()}"

    def _locator(self, where: Locator) -> str:
        return self._cookie(self.locator_cookie, locator_cookie_codec.encode(where, self.key))


@dataclass(slots=True)
class _Request:
    """What the middleware learned about one request before running the app."""

    sent_session_cookie: bool
    sent_locator_cookie: bool
    hint: Locator | None
    loaded: LoadedSession | None = None


@dataclass(slots=True)
class _Response:
    status: str
    headers: list[tuple[str, str]]
    body: list[bytes] = field(default_factory=list)

    @property
    def status_code(self) -> int:
        try:
            return int(self.status.split(" ", 1)[0])
        except ValueError:
            return 0


def _run(app: WSGIApp, environ: dict[str, Any]) -> _Response:
    """Call app and buffer its whole response; it is released only after the save."""
    body: list[bytes] = []
    started: list[_Response] = []

    def capture(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        # Nothing has been sent yet, so a later call (an error page, with exc_info) simply
        # replaces the earlier status and headers (PEP 3333).
        del exc_info
        started[:] = [_Response(status, list(headers), body)]
        return body.append

    app_iter = app(environ, capture)
    try:
        for chunk in app_iter:
            body.append(chunk)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("the WSGI application returned without calling start_response")
    return started[0]


def _plain(
    start_response: StartResponse, status: str, body: bytes, *, retry_after: bool = False
) -> list[bytes]:
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]
    if retry_after:
        headers.append(("Retry-After", "1"))
    start_response(status, headers)
    return [body]


def _varies_on_cookie(headers: list[tuple[str, str]]) -> bool:
    for name, value in headers:
        if name.lower() == "vary":
            tokens = {token.strip().lower() for token in value.split(",")}
            if "*" in tokens or "cookie" in tokens:
                return True
    return False


def _largest_attribute(contents: dict[Any, Any]) -> Any:
    """The key of the attribute with the longest JSON encoding (for the error message)."""

    def encoded_size(item: tuple[Any, Any]) -> int:
        try:
            return len(json.dumps(item[1], separators=(",", ":")))
        except (TypeError, ValueError, RecursionError):
            return 0

    return max(contents.items(), key=encoded_size)[0] if contents else None


def parse_cookie_header(header: str) -> dict[str, str]:
    """name -> value of a Cookie header; the first of duplicate names wins (the most specific path).

    Not http.cookies.SimpleCookie: it gives up on the rest of the header at the first cookie it
    does not like (a space in another application's value is enough), which would silently drop
    the session. Pieces that do not parse are skipped; values are validated by their users.
    """
    cookies: dict[str, str] = {}
    if not header or len(header) > 16384:  # beyond any browser's limit: hostile, ignore it all
        return cookies
    for piece in header.split(";"):
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not sep or not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies
