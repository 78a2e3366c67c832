"""Flask sessions kept by the ring: `RingSession(app)` (or `RingSession().init_app(app)`).

    from ring.flask import RingSession
    app.config["RING_SOCKET"] = "/run/ring/ring.sock"   # the instance's <local-socket>
    RingSession(app)

`flask.session` then lives in the ring, through the instance on this host (ring.client), and
survives the loss of any one host. The cookie carries only the session id. Migration from
Flask-Session: replace `Session(app)` by `RingSession(app)` and drop SESSION_TYPE/SESSION_REDIS.

Configuration: Flask's own keys as Flask documents them (SESSION_COOKIE_NAME, _DOMAIN, _PATH,
_HTTPONLY, _SECURE, _SAMESITE, _PARTITIONED, PERMANENT_SESSION_LIFETIME for the cookie's
Expires, SESSION_REFRESH_EACH_REQUEST), Flask-Session's where they apply (SESSION_PERMANENT:
new sessions are permanent, default True; SESSION_USE_SIGNER: sign the id cookie with
SECRET_KEY), and RING_SOCKET (default: $RING_SOCKET), RING_BACKEND (any ring.backend
SessionBackend instead of the local client: MemoryBackend in tests), RING_LOCATOR_COOKIE,
RING_LOCATOR_KEY and RING_MEMBERS (send the locator cookie, a hint for failover and balancers).
How long an idle session lives in the ring is the cluster's <session-timeout>.

Values are encoded with Flask's TaggedJSONSerializer, so Markup, datetimes, tuples, bytes, UUIDs
round-trip as they do in Flask's cookie session (never pickle). Concurrent requests on one
session merge per key (ring.web.merge). `session.sid` is the id; `session.regenerate()` (or
`app.session_interface.regenerate(session)`) moves the data to a new id at login; `session.clear()`
logs out: the id is deleted everywhere, and a racing request cannot bring it back (it answers
409). When the ring cannot confirm a save, the response becomes 503 with Retry-After.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask.sessions import SessionInterface, SessionMixin, session_json_serializer
from itsdangerous import BadSignature, Signer

from ring.backend import MAX_LIFETIME, LoadedSession, Locator, SessionBackend, is_session_id
from ring.errors import (
    ReplicationError,
    SessionInvalidated,
    SessionTooLarge,
    SessionUnavailable,
    TransportError,
)
from ring.web import locator as locator_codec
from ring.web import merge
from ring.web.session import Session

if TYPE_CHECKING:
    from flask import Flask, Request, Response

__all__ = ["RingFlaskSession", "RingSession", "RingSessionInterface"]

log = logging.getLogger("ring.flask")

_UNAVAILABLE = (SessionUnavailable, ReplicationError, TransportError)
_UNAVAILABLE_KEY = "ring.unavailable"  # in the WSGI environ: the session could not be loaded


class RingFlaskSession(Session, SessionMixin):
    """flask.session: a ring.web.session.Session (change tracking) with Flask's SessionMixin."""

    loaded: LoadedSession | None = None
    hint: Locator | None = None
    sent_cookie = False
    unavailable = False  # the ring could not be reached: the request is answered 503

    @property
    def sid(self) -> str:
        return self.session_id

    @property
    def new(self) -> bool:  # type: ignore[override]
        return self.is_new

    def clear(self) -> None:
        """Log out: the session is deleted everywhere at the end of the request (Django's flush)."""
        self.invalidate()


def _encode(contents: Any) -> bytes:
    return session_json_serializer.dumps(dict(contents)).encode("utf-8")


def _decode(data: bytes) -> dict[str, Any]:
    contents = session_json_serializer.loads(data.decode("utf-8"))
    if not isinstance(contents, dict):
        raise ValueError("session data is not an object")
    return contents


class RingSessionInterface(SessionInterface):
    session_class = RingFlaskSession
    serializer = session_json_serializer

    def __init__(self, backend: SessionBackend, *, permanent: bool = True, use_signer: bool = False,
                 locator_cookie: str | None = None, locator_key: str | None = None,
                 members: frozenset[str] = frozenset()) -> None:
        self.backend = backend
        self.permanent = permanent
        self.use_signer = use_signer
        self.locator_cookie = locator_cookie
        self.locator_key = locator_key
        self.members = members

    # --- cookies -------------------------------------------------------------------------------

    def _signer(self, app: Flask) -> Signer:
        if not app.secret_key:
            raise RuntimeError("SESSION_USE_SIGNER needs app.secret_key (SECRET_KEY)")
        return Signer(app.secret_key, salt="ring-session", key_derivation="hmac")

    def _cookie_value(self, app: Flask, sid: str) -> str:
        return self._signer(app).sign(sid).decode() if self.use_signer else sid

    def _sid_from(self, app: Flask, value: str | None) -> str | None:
        if not value:
            return None
        if self.use_signer:
            try:
                value = self._signer(app).unsign(value).decode()
            except BadSignature:
                return None
        return value if is_session_id(value) else None

    def _set(self, app: Flask, response: Response, name: str, value: str, session: RingFlaskSession) -> None:
        response.set_cookie(
            name, value, expires=self.get_expiration_time(app, session), httponly=self.get_cookie_httponly(app),
            domain=self.get_cookie_domain(app), path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app), partitioned=self.get_cookie_partitioned(app))

    def _delete(self, app: Flask, response: Response, name: str) -> None:
        response.delete_cookie(
            name, domain=self.get_cookie_domain(app), path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app), samesite=self.get_cookie_samesite(app),
            httponly=self.get_cookie_httponly(app), partitioned=self.get_cookie_partitioned(app))

    # --- the SessionInterface ------------------------------------------------------------------

    def open_session(self, app: Flask, request: Request) -> RingFlaskSession:
        raw = request.cookies.get(self.get_cookie_name(app))
        hint = None
        if self.locator_cookie:
            hint = locator_codec.decode(request.cookies.get(self.locator_cookie), self.locator_key, self.members)
        sid = self._sid_from(app, raw)
        try:
            loaded = self.backend.load(sid, hint) if sid is not None else None
        except _UNAVAILABLE as exc:
            log.warning("session load failed (%s): answering 503", type(exc).__name__)
            refused = self.session_class(sid or "", is_new=False)
            refused.unavailable = True
            request.environ[_UNAVAILABLE_KEY] = True  # _refuse_unavailable answers before the view runs
            return refused
        session: RingFlaskSession | None = None
        if loaded is not None:
            try:
                session = self.session_class(loaded.session_id, _decode(loaded.data), version=loaded.version,
                                             is_new=False)
            except ValueError:
                log.error("stored session data is not a tagged JSON object: starting a new session")
            else:
                session.loaded = loaded
        if session is None:
            session = self.session_class(self.backend.new_session_id(), is_new=True)
            if self.permanent:  # Flask-Session's SESSION_PERMANENT; not a change of the session
                dict.__setitem__(session, "_permanent", True)
        session.hint = hint
        session.sent_cookie = raw is not None
        return session

    def regenerate(self, session: RingFlaskSession) -> None:
        """A new id for this session's data at the end of the request (call it at login)."""
        session.regenerate()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, RingFlaskSession)
        if session.unavailable or response.status_code >= 500:
            return  # the request failed half-way: save nothing (as Django)
        try:
            self._save(app, session, response)
        except SessionInvalidated:
            response.status_code = 409
            response.set_data(b"session was logged out by a concurrent request; nothing saved\n")
            self._delete(app, response, self.get_cookie_name(app))
        except SessionTooLarge:
            log.error("session not saved: too large for the ring's max-session-size")
            response.status_code = 500
            response.set_data(b"session too large\n")
        except _UNAVAILABLE as exc:
            log.warning("session save not confirmed (%s): answering 503", type(exc).__name__)
            response.status_code = 503
            response.headers["Retry-After"] = "1"
            response.set_data(b"session temporarily unavailable; retry the request\n")
        if session.accessed:
            response.vary.add("Cookie")

    def _save(self, app: Flask, session: RingFlaskSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        loaded = session.loaded
        contents = session.data_snapshot()
        lifetime = self._lifetime(app, session)
        if session.invalidated:
            saved_new = False
            if contents and (session.regenerated or session.modified):
                new_id = self.backend.new_session_id()
                result = self.backend.save(new_id, 0, _encode(contents), lifetime=lifetime)
                session._set_session_id(new_id)
                self._set(app, response, name, self._cookie_value(app, new_id), session)
                self._locator(app, response, result.locator, session)
                saved_new = True
            if loaded is not None:
                self.backend.invalidate(loaded.session_id, loaded.version)  # after the save: nothing lost
            if not saved_new:
                self._delete(app, response, name)
                if self.locator_cookie:
                    self._delete(app, response, self.locator_cookie)
            return
        if loaded is None:
            if session.modified and contents:
                result = self.backend.save(session.session_id, 0, _encode(contents), lifetime=lifetime)
                self._set(app, response, name, self._cookie_value(app, session.session_id), session)
                self._locator(app, response, result.locator, session)
            elif session.sent_cookie:
                self._delete(app, response, name)  # names a session the ring does not hold
            return
        # Flask's should_set_cookie, without reading session.permanent (that would count as an
        # access, and make every request, even one that never used the session, write it)
        refresh = session.modified or (bool(dict.get(session, "_permanent")) and session.accessed
                                       and bool(app.config["SESSION_REFRESH_EACH_REQUEST"]))
        where = loaded.locator
        if session.modified or (session.accessed and (refresh or self.backend.replicate_on_read())):
            change = merge.delta(_decode(loaded.data), contents, session.assigned)
            where = merge.save_merging(self.backend, loaded.session_id, loaded.version, loaded.data, change,
                                       contents, encode=_encode, decode=_decode, lifetime=lifetime).result.locator
        if refresh:
            self._set(app, response, name, self._cookie_value(app, session.session_id), session)
        if where != session.hint:
            self._locator(app, response, where, session)

    @staticmethod
    def _lifetime(app: Flask, session: RingFlaskSession) -> float | None:
        """A permanent session lives PERMANENT_SESSION_LIFETIME idle in the ring, as its cookie does;
        a browser-session one lives the instance's <session-timeout>."""
        if not dict.get(session, "_permanent"):  # read without counting as an access
            return None
        return min(app.permanent_session_lifetime.total_seconds(), MAX_LIFETIME)

    def _locator(self, app: Flask, response: Response, where: Locator, session: RingFlaskSession) -> None:
        if self.locator_cookie:
            self._set(app, response, self.locator_cookie, locator_codec.encode(where, self.locator_key), session)


class RingSession:
    """The Flask extension: `RingSession(app)` or `ext = RingSession(); ext.init_app(app)`."""

    def __init__(self, app: Flask | None = None, *, backend: SessionBackend | None = None) -> None:
        self.backend = backend
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        config = app.config
        backend: SessionBackend | None = self.backend or config.get("RING_BACKEND")
        if backend is None:
            from ring.client import local_client  # connects lazily, per process: safe before a fork

            backend = local_client(config.get("RING_SOCKET") or None)
        members = config.get("RING_MEMBERS") or ()
        app.session_interface = RingSessionInterface(
            backend,
            permanent=bool(config.get("SESSION_PERMANENT", True)),
            use_signer=bool(config.get("SESSION_USE_SIGNER", False)),
            locator_cookie=config.get("RING_LOCATOR_COOKIE") if members else None,
            locator_key=config.get("RING_LOCATOR_KEY"),
            members=frozenset(members),
        )
        app.extensions["ring"] = self
        app.before_request(_refuse_unavailable)


def _refuse_unavailable() -> Any:
    from flask import request  # not flask.session: reading it counts as an access in Flask 3.1

    if request.environ.get(_UNAVAILABLE_KEY):
        return "session temporarily unavailable; retry the request\n", 503, {"Retry-After": "1"}
    return None
