"""SessionMiddleware end to end, in process: a tiny WSGI client, MemoryBackend, no sockets."""

from __future__ import annotations

import datetime
import io
import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from ring.backend import LoadedSession, Locator, SaveResult, SessionBackend, is_session_id
from ring.errors import ReplicationError, SessionTooLarge, SessionUnavailable
from ring.web import locator as locator_codec
from ring.web.memory import MemoryBackend, MemoryStore
from ring.web.session import LOCAL_ONLY_ATTRIBUTES, LOCAL_ONLY_TABLE, Session, local_only_attributes
from ring.web.wsgi import SessionMiddleware, parse_cookie_header

MEMBERS = ("a", "b", "c")
KEY = "locator-key"

# --- a tiny in-process WSGI client ----------------------------------------------------------------


class Response:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.status_code = int(status.split(" ", 1)[0])
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        values = self.headers_named(name)
        return values[0] if values else None

    def headers_named(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def set_cookies(self) -> dict[str, str]:
        """cookie name -> the whole Set-Cookie value."""
        return {value.split("=", 1)[0]: value for value in self.headers_named("Set-Cookie")}

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Sends requests to a WSGI app and keeps cookies like a browser (one path, no expiry)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], events: list[str] | None = None) -> None:
        self.app = app
        self.cookies: dict[str, str] = {}
        self.events = events if events is not None else []

    def request(
        self, method: str, path: str, *, cookie_header: str | None = None, body: bytes = b""
    ) -> Response:
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ.update(
            REQUEST_METHOD=method,
            PATH_INFO=path,
            CONTENT_LENGTH=str(len(body)),
        )
        environ["wsgi.input"] = io.BytesIO(body)
        if cookie_header is None:
            cookie_header = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if cookie_header:
            environ["HTTP_COOKIE"] = cookie_header
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            self.events.append("start_response")
            started.append((status, headers))
            return lambda data: None

        result = self.app(environ, start_response)
        chunks = []
        try:
            for chunk in result:
                self.events.append("client reads body")
                chunks.append(chunk)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = started[-1]
        response = Response(status, headers, b"".join(chunks))
        for name, value in response.set_cookies().items():
            cookie_value = value.split(";", 1)[0].split("=", 1)[1]
            if "Max-Age=0" in value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie_value
        return response

    def get(self, path: str = "/", **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str = "/", **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)


# --- backends and apps ----------------------------------------------------------------------------


class RecordingBackend(MemoryBackend):
    """MemoryBackend that records its calls and can be told to fail."""

    def __init__(self, *args: Any, events: list[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("members", MEMBERS)
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[Any, ...]] = []
        self.lifetimes: list[float | None] = []
        self.events = events if events is not None else []
        self.fail: dict[str, Exception] = {}

    def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        self.calls.append(("load", session_id, hint))
        if "load" in self.fail:
            raise self.fail["load"]
        return super().load(session_id, hint)

    def save(
        self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False,
        lifetime: float | None = None,
    ) -> SaveResult:
        self.calls.append(("save", session_id, base_version, data, touch_only))
        self.lifetimes.append(lifetime)
        self.events.append("save begins")
        if "save" in self.fail:
            raise self.fail["save"]
        result = super().save(session_id, base_version, data, touch_only=touch_only)
        self.events.append("save returns")
        return result

    def invalidate(self, session_id: str, base_version: int) -> None:
        self.calls.append(("invalidate", session_id, base_version))
        if "invalidate" in self.fail:
            raise self.fail["invalidate"]
        super().invalidate(session_id, base_version)

    def named(self, method: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == method]


Handler = Callable[[Session, dict[str, Any]], Any]


def session_app(handlers: dict[str, Handler], events: list[str] | None = None):
    """A WSGI app: PATH_INFO picks a handler(session, environ); its result is the JSON body."""
    events = events if events is not None else []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        session = environ["ring.session"]
        result = handlers[environ["PATH_INFO"]](session, environ)
        body = json.dumps(result, default=repr).encode()
        start_response("200 OK", [("Content-Type", "application/json")])

        def produce() -> Iterable[bytes]:
            events.append("app produces body")
            yield body

        return produce()

    return app


def count(session: Session, environ: dict[str, Any]) -> Any:
    session["count"] = session.get("count", 0) + 1
    return {"count": session["count"], "instance": environ["ring.instance"]}


def read(session: Session, environ: dict[str, Any]) -> Any:
    return session.copy()


def nothing(session: Session, environ: dict[str, Any]) -> Any:
    return {}


def logout(session: Session, environ: dict[str, Any]) -> Any:
    session.invalidate()
    return {}


HANDLERS: dict[str, Handler] = {"/count": count, "/read": read, "/nothing": nothing, "/logout": logout}


def make(
    handlers: dict[str, Handler] | None = None,
    backend: SessionBackend | None = None,
    events: list[str] | None = None,
    **options: Any,
) -> tuple[Client, RecordingBackend]:
    events = events if events is not None else []
    backend = backend or RecordingBackend("a", events=events)
    options.setdefault("members", frozenset(MEMBERS))
    options.setdefault("key", KEY)
    app = SessionMiddleware(session_app(handlers or HANDLERS, events), backend, **options)
    return Client(app, events), backend  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def _fresh_local_table():
    LOCAL_ONLY_TABLE.clear()
    yield
    LOCAL_ONLY_TABLE.clear()


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    for record in caplog.records:
        message = record.getMessage()
        for secret in secrets:
            assert secret not in message


# --- cookies --------------------------------------------------------------------------------------


def test_a_new_session_gets_both_cookies_with_safe_flags():
    client, backend = make()
    response = client.post("/count")
    assert response.status_code == 200
    assert response.json() == {"count": 1, "instance": "a"}
    cookies = response.set_cookies()
    assert set(cookies) == {"RINGSESSION", "CLUSTERSESSIONLOCATOR"}
    for value in cookies.values():
        attributes = [part.strip() for part in value.split(";")[1:]]
        assert "HttpOnly" in attributes
        assert "SameSite=Lax" in attributes
        assert "Path=/" in attributes
        assert "Secure" not in attributes
        assert not any(a.startswith(("Max-Age", "Expires")) for a in attributes)  # browser session
    assert is_session_id(client.cookies["RINGSESSION"])
    hint = locator_codec.decode(client.cookies["CLUSTERSESSIONLOCATOR"], KEY, frozenset(MEMBERS))
    assert hint == Locator("a", "b")
    assert backend.named("save")[0][2] == 0  # base_version 0: a new session


def test_secure_and_path_are_applied_when_configured():
    client, _ = make(secure=True, path="/app")
    for value in client.post("/count").set_cookies().values():
        attributes = [part.strip() for part in value.split(";")[1:]]
        assert "Secure" in attributes and "Path=/app" in attributes


def test_max_age_domain_samesite_partitioned_and_the_lifetime_are_applied_when_configured():
    client, backend = make(secure=True, max_age=3600, domain="example.com", same_site="none", partitioned=True,
                           lifetime=3600.0)
    first = client.post("/count")
    client.post("/count")
    for value in first.set_cookies().values():
        attributes = [part.strip() for part in value.split(";")[1:]]
        assert {"Max-Age=3600", "Domain=example.com", "SameSite=None", "Partitioned", "Secure"} <= set(attributes)
    assert backend.lifetimes == [3600.0, 3600.0]  # every save asks for it


@pytest.mark.parametrize("options, complaint", [
    ({"same_site": "none"}, "needs secure"),
    ({"same_site": "sometimes"}, "same_site must be"),
    ({"domain": "bad domain;"}, "not a host name"),
    ({"max_age": 0}, "max_age must be"),
    ({"lifetime": -1.0}, "lifetime"),
    ({"lifetime": 1e12}, "lifetime"),
])
def test_bad_cookie_options_are_refused_at_start(options: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        make(**options)


def test_counter_survives_across_requests_and_cookies_are_not_resent():
    client, backend = make()
    sid = None
    for expected in (1, 2, 3):
        response = client.post("/count")
        assert response.json()["count"] == expected
        if expected == 1:
            sid = client.cookies["RINGSESSION"]
        else:
            assert response.set_cookies() == {}  # id and locator unchanged
    assert client.cookies["RINGSESSION"] == sid
    versions = [call[2] for call in backend.named("save")]
    assert versions == [0, 1, 2]


def test_empty_new_sessions_are_not_saved_and_set_no_cookie():
    client, backend = make()
    untouched = client.get("/nothing")
    assert untouched.headers_named("Set-Cookie") == []
    assert untouched.header("Vary") is None
    read_only = client.get("/read")
    assert read_only.headers_named("Set-Cookie") == []
    assert read_only.header("Vary") == "Cookie"
    assert backend.named("save") == [] and backend.named("load") == []


def test_vary_cookie_is_merged_with_the_apps_vary():
    def app(environ, start_response):
        environ["ring.session"].get("x")
        start_response("200 OK", [("Vary", "Accept-Encoding")])
        return [b""]

    backend = RecordingBackend("a")
    client = Client(SessionMiddleware(app, backend, members=MEMBERS))
    assert client.get().headers_named("Vary") == ["Accept-Encoding", "Cookie"]

    def app_star(environ, start_response):
        environ["ring.session"].get("x")
        start_response("200 OK", [("Vary", "*")])
        return [b""]

    client = Client(SessionMiddleware(app_star, backend, members=MEMBERS))
    assert client.get().headers_named("Vary") == ["*"]


# --- untrusted input ------------------------------------------------------------------------------

VALID_SHAPE_UNKNOWN = "A" * 43


@pytest.mark.parametrize(
    "session_cookie",
    [
        "garbage",
        "A" * 42,
        "A" * 44,
        "A" * 42 + "=",
        "../../../../etc/passwd",
        "ÄÖÜ" * 15,
        "x" * 10_000,
        '"' + "A" * 43,
        VALID_SHAPE_UNKNOWN,
    ],
)
@pytest.mark.parametrize(
    "locator_cookie",
    [
        None,
        "garbage",
        locator_codec.encode(Locator("a", "b"), "a forged key"),
        locator_codec.encode(Locator("a", "b"), None),  # unsigned while a key is set
        locator_codec.encode(Locator("evil.example.com:50051", ""), KEY),
        locator_codec.encode(Locator("a", "169.254.169.254"), KEY),
        "A" * 5000,
    ],
)
def test_bad_cookies_start_a_new_session_and_never_reach_load_as_hints(
    session_cookie, locator_cookie, caplog
):
    client, backend = make()
    header = f"RINGSESSION={session_cookie}"
    if locator_cookie is not None:
        header += f"; CLUSTERSESSIONLOCATOR={locator_cookie}"
    response = client.post("/count", cookie_header=header)
    assert response.status_code == 200
    assert response.json()["count"] == 1
    new_id = client.cookies["RINGSESSION"]
    assert new_id != session_cookie and is_session_id(new_id)
    for _, sent_id, hint in backend.named("load"):
        assert is_session_id(sent_id)
        assert hint is None  # none of the locators above may be trusted
    if session_cookie != VALID_SHAPE_UNKNOWN:
        assert backend.named("load") == []  # a bad shape never reaches the backend
    assert_no_secret_logged(caplog, session_cookie, new_id)


def test_only_member_hints_reach_load():
    client, backend = make()
    client.post("/count")
    sid = client.cookies["RINGSESSION"]
    good = locator_codec.encode(Locator("c", "a"), KEY)
    client.get("/read", cookie_header=f"RINGSESSION={sid}; CLUSTERSESSIONLOCATOR={good}")
    assert backend.named("load")[-1] == ("load", sid, Locator("c", "a"))


def test_unknown_id_is_never_reused_and_stale_cookies_are_dropped():
    client, backend = make()
    response = client.get(
        "/read", cookie_header=f"RINGSESSION={VALID_SHAPE_UNKNOWN}; CLUSTERSESSIONLOCATOR=x"
    )
    assert backend.named("load") == [("load", VALID_SHAPE_UNKNOWN, None)]
    expired = response.set_cookies()
    assert set(expired) == {"RINGSESSION", "CLUSTERSESSIONLOCATOR"}
    assert all("Max-Age=0" in value for value in expired.values())
    assert backend.named("save") == []


def test_another_apps_malformed_cookie_does_not_hide_ours():
    client, backend = make()
    client.post("/count")
    sid, loc = client.cookies["RINGSESSION"], client.cookies["CLUSTERSESSIONLOCATOR"]
    header = f'tracker="a b c; foo{{bar}}=1; RINGSESSION={sid}; junk; CLUSTERSESSIONLOCATOR={loc}'
    assert client.post("/count", cookie_header=header).json()["count"] == 2


def test_parse_cookie_header_tolerates_garbage():
    assert parse_cookie_header("") == {}
    assert parse_cookie_header(';;;=;=x; a=1; a=2; b = 2 ;c="3"') == {"a": "1", "b": "2", "c": "3"}
    assert parse_cookie_header("a=" + "x" * 20000) == {}


# --- invalidation and regeneration ----------------------------------------------------------------


def test_logout_invalidates_expires_both_cookies_and_the_old_id_stays_dead():
    client, backend = make()
    client.post("/count")
    client.post("/count")
    old_id, old_locator = client.cookies["RINGSESSION"], client.cookies["CLUSTERSESSIONLOCATOR"]
    response = client.post("/logout")
    assert backend.named("invalidate") == [("invalidate", old_id, 2)]
    expired = response.set_cookies()
    assert set(expired) == {"RINGSESSION", "CLUSTERSESSIONLOCATOR"}
    assert all("Max-Age=0" in value and "Path=/" in value for value in expired.values())
    assert client.cookies == {}

    # A client that kept the old cookies gets a fresh, empty session under a new id.
    replay = client.post("/count", cookie_header=f"RINGSESSION={old_id}; CLUSTERSESSIONLOCATOR={old_locator}")
    assert replay.json()["count"] == 1
    assert client.cookies["RINGSESSION"] != old_id
    assert backend.load(old_id, None) is None


def test_writes_after_invalidate_start_a_new_session():
    def logout_then_flash(session, environ):
        session.invalidate()
        session["flash"] = "bye"
        return {}

    client, backend = make({**HANDLERS, "/logout": logout_then_flash})
    client.post("/count")
    old_id = client.cookies["RINGSESSION"]
    client.post("/logout")
    new_id = client.cookies["RINGSESSION"]
    assert new_id != old_id
    assert backend.named("invalidate") == [("invalidate", old_id, 1)]
    assert client.get("/read").json() == {"flash": "bye"}


def test_regenerate_moves_the_data_to_a_new_id_after_saving_it():
    def login(session, environ):
        session["user"] = "alice"
        session.regenerate()
        return {}

    client, backend = make({**HANDLERS, "/login": login})
    client.post("/count")
    old_id = client.cookies["RINGSESSION"]
    response = client.post("/login")
    new_id = client.cookies["RINGSESSION"]
    assert new_id != old_id and "RINGSESSION" in response.set_cookies()
    order = [(call[0], call[1]) for call in backend.calls[-2:]]
    assert order == [("save", new_id), ("invalidate", old_id)]
    assert backend.named("save")[-1][2] == 0  # saved as a new session
    assert client.get("/read").json() == {"count": 1, "user": "alice"}
    assert backend.load(old_id, None) is None


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [SessionUnavailable("no copy reachable"), ReplicationError("no ack")])
def test_unconfirmed_save_answers_503_and_discards_the_apps_response(error, caplog):
    client, backend = make()
    client.post("/count")
    backend.fail["save"] = error
    response = client.post("/count")
    assert response.status_code == 503
    assert response.header("Retry-After") == "1"
    assert b"count" not in response.body and response.body
    assert response.headers_named("Set-Cookie") == []
    assert_no_secret_logged(caplog, client.cookies["RINGSESSION"])


def test_unreachable_session_on_load_answers_503_without_running_the_app():
    ran = []

    def spy(session, environ):
        ran.append(True)
        return {}

    client, backend = make({**HANDLERS, "/spy": spy})
    client.post("/count")
    backend.fail["load"] = SessionUnavailable("copies unreachable")
    response = client.get("/spy")
    assert response.status_code == 503 and response.header("Retry-After") == "1"
    assert ran == []


def test_invalidate_failure_answers_503_and_keeps_the_cookies():
    client, backend = make()
    client.post("/count")
    backend.fail["invalidate"] = ReplicationError("no ack")
    response = client.post("/logout")
    assert response.status_code == 503
    assert response.headers_named("Set-Cookie") == []
    assert "RINGSESSION" in client.cookies


def test_too_large_session_is_refused_before_save(caplog):
    def big(session, environ):
        session["blob"] = "x" * 500
        return {}

    client, backend = make({**HANDLERS, "/big": big}, backend=RecordingBackend("a", max_session_size=200))
    response = client.post("/big")
    assert response.status_code == 500
    assert response.body == b"session too large\n"
    assert backend.named("save") == []
    assert response.headers_named("Set-Cookie") == []
    assert any("blob" in record.getMessage() for record in caplog.records)  # names the attribute
    assert_no_secret_logged(caplog, "x" * 50)


def test_too_large_from_the_backend_is_a_500_as_well():
    client, backend = make()
    backend.fail["save"] = SessionTooLarge("over the engine's limit")
    assert client.post("/count").status_code == 500


def test_app_5xx_saves_nothing():
    def app(environ, start_response):
        environ["ring.session"]["half"] = "done"
        start_response("500 Internal Server Error", [])
        return [b"oops"]

    backend = RecordingBackend("a")
    response = Client(SessionMiddleware(app, backend, members=MEMBERS)).post()
    assert response.status_code == 500 and response.body == b"oops"
    assert backend.named("save") == [] and response.headers_named("Set-Cookie") == []


def test_stored_data_that_is_not_a_json_object_starts_a_new_session():
    client, backend = make()
    client.post("/count")
    sid = client.cookies["RINGSESSION"]
    backend.store.entries[sid].data = b"[1, 2]"
    assert client.post("/count").json()["count"] == 1
    assert client.cookies["RINGSESSION"] != sid


# --- ordering: the response waits for the acknowledgement ----------------------------------------


def test_response_is_released_only_after_save_returns():
    events: list[str] = []
    client, _ = make(events=events)
    client.post("/count")
    assert events == [
        "app produces body",
        "save begins",
        "save returns",
        "start_response",
        "client reads body",
    ]


def test_app_iterable_is_closed_and_write_callable_is_buffered():
    closed = []

    class Body:
        def __iter__(self):
            yield b"second"

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        environ["ring.session"]["k"] = "v"
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"first ")
        return Body()

    backend = RecordingBackend("a")
    response = Client(SessionMiddleware(app, backend, members=MEMBERS)).post()
    assert response.body == b"first second"
    assert closed == [True]
    assert len(backend.named("save")) == 1


def test_app_iterable_is_closed_when_it_raises_and_nothing_is_saved():
    closed = []

    class Body:
        def __iter__(self):
            raise RuntimeError("boom")
            yield b""  # pragma: no cover

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        environ["ring.session"]["k"] = "v"
        start_response("200 OK", [])
        return Body()

    backend = RecordingBackend("a")
    with pytest.raises(RuntimeError, match="boom"):
        Client(SessionMiddleware(app, backend, members=MEMBERS)).post()
    assert closed == [True] and backend.named("save") == []


def test_error_page_replaces_headers_via_exc_info():
    def app(environ, start_response):
        environ["ring.session"]["k"] = "v"
        start_response("200 OK", [("X-First", "1")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("400 Bad Request", [("X-Second", "1")], sys.exc_info())
        return [b"bad"]

    response = Client(SessionMiddleware(app, RecordingBackend("a"), members=MEMBERS)).post()
    assert response.status_code == 400
    assert response.header("X-Second") == "1" and response.header("X-First") is None


# --- what is saved --------------------------------------------------------------------------------


def test_read_only_requests_touch_when_replicating_on_read():
    client, backend = make()
    client.post("/count")
    client.get("/read")
    assert backend.named("save")[-1][4] is True  # touch_only
    client.get("/nothing")
    assert len(backend.named("save")) == 2  # not accessed: nothing to replicate


def test_read_only_requests_save_nothing_without_replicate_on_read():
    client, backend = make(backend=RecordingBackend("a", replicate_on_read=False))
    client.post("/count")
    client.get("/read")
    assert len(backend.named("save")) == 1


def test_nested_change_is_saved_by_mark_modified_or_by_replicate_on_read():
    def add(session, environ):
        session.setdefault("cart", [])
        return {}

    def append_nested(session, environ):
        session["cart"].append("apple")
        return {}

    def append_marked(session, environ):
        session["cart"].append("pear")
        session.mark_modified()
        return {}

    handlers = {**HANDLERS, "/add": add, "/nested": append_nested, "/marked": append_marked}
    client, backend = make(handlers, backend=RecordingBackend("a", replicate_on_read=False))
    client.post("/add")
    client.post("/nested")  # not seen: not saved
    client.post("/marked")
    assert json.loads(backend.named("save")[-1][3]) == {"cart": ["pear"]}

    client, backend = make(handlers, backend=RecordingBackend("a", replicate_on_read=True))
    client.post("/add")
    client.post("/nested")  # read, then compared with what was loaded: saved in full
    last = backend.named("save")[-1]
    assert json.loads(last[3]) == {"cart": ["apple"]} and last[4] is False


def test_locator_is_rewritten_after_adoption_by_another_instance():
    store = MemoryStore()
    on_a, _ = make(backend=RecordingBackend("a", store=store))
    on_a.post("/count")
    on_b, backend_b = make(backend=RecordingBackend("b", store=store))
    on_b.cookies = dict(on_a.cookies)  # the balancer failed the client over to b
    response = on_b.post("/count")
    assert response.json() == {"count": 2, "instance": "b"}
    cookies = response.set_cookies()
    assert set(cookies) == {"CLUSTERSESSIONLOCATOR"}  # same session id, new location
    hint = locator_codec.decode(on_b.cookies["CLUSTERSESSIONLOCATOR"], KEY, frozenset(MEMBERS))
    assert hint == Locator("b", "c")
    assert backend_b.named("load")[0][2] == Locator("a", "b")  # the old locator was the hint


def test_locator_is_rewritten_on_a_read_that_adopted_without_saving():
    store = MemoryStore()
    on_a, _ = make(backend=RecordingBackend("a", store=store))
    on_a.post("/count")
    on_c, backend_c = make(backend=RecordingBackend("c", store=store, replicate_on_read=False))
    on_c.cookies = dict(on_a.cookies)
    response = on_c.get("/read")
    assert response.json() == {"count": 1}
    assert backend_c.named("save") == []
    assert locator_codec.decode(
        response.set_cookies()["CLUSTERSESSIONLOCATOR"].split(";")[0].split("=", 1)[1],
        KEY,
        frozenset(MEMBERS),
    ) == Locator("c", "a")


# --- attributes JSON cannot hold ------------------------------------------------------------------


def test_non_json_attribute_stays_local_with_a_warning_and_a_count(caplog):
    when = datetime.datetime(2024, 5, 1, 12, 0)

    def store_date(session, environ):
        session["when"] = when
        session["name"] = "alice"
        return {}

    def show_types(session, environ):
        return {key: type(value).__name__ for key, value in session.items()}

    store = MemoryStore()
    handlers = {**HANDLERS, "/date": store_date, "/types": show_types}
    client, backend = make(handlers, backend=RecordingBackend("a", store=store))
    before = LOCAL_ONLY_ATTRIBUTES.value
    with caplog.at_level(logging.WARNING, logger="ring.web"):
        client.post("/date")
    sid = client.cookies["RINGSESSION"]
    assert LOCAL_ONLY_ATTRIBUTES.value == before + 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "when" in r.getMessage()]
    assert len(warnings) == 1
    assert_no_secret_logged(caplog, sid, repr(when), str(when), "2024")
    assert json.loads(backend.named("save")[-1][3]) == {"name": "alice"}  # the JSON part is saved
    assert local_only_attributes("a", sid) == {"when": when}

    # on this instance the attribute is still there; on another one it is gone (failover)
    with caplog.at_level(logging.WARNING, logger="ring.web"):
        assert client.get("/types").json() == {"name": "str", "when": "datetime"}
    assert LOCAL_ONLY_ATTRIBUTES.value == before + 1  # saved again (a touch), not counted again
    assert len([r for r in caplog.records if "when" in r.getMessage()]) == 1
    elsewhere, _ = make(handlers, backend=RecordingBackend("b", store=store))
    elsewhere.cookies = dict(client.cookies)
    assert elsewhere.get("/types").json() == {"name": "str"}


def test_non_string_top_level_keys_stay_local():
    def odd_key(session, environ):
        session[1] = "one"  # type: ignore[index]
        session["ok"] = True
        return {}

    client, backend = make({**HANDLERS, "/odd": odd_key})
    before = LOCAL_ONLY_ATTRIBUTES.value
    client.post("/odd")
    assert LOCAL_ONLY_ATTRIBUTES.value == before + 1
    assert json.loads(backend.named("save")[-1][3]) == {"ok": True}


def test_local_only_attributes_are_dropped_on_logout():
    def store_set(session, environ):
        session["tags"] = {"x"}
        return {}

    client, _ = make({**HANDLERS, "/set": store_set})
    client.post("/set")
    sid = client.cookies["RINGSESSION"]
    assert local_only_attributes("a", sid) == {"tags": {"x"}}
    client.post("/logout")
    assert local_only_attributes("a", sid) == {}


# --- the Session object ---------------------------------------------------------------------------


def test_session_tracks_reads_and_writes():
    session = Session("id", {"a": 1}, version=3, is_new=False)
    assert not session.accessed and not session.modified
    assert session["a"] == 1 and session.accessed and not session.modified
    session = Session("id", {"a": 1})
    assert session.pop("missing", None) is None and not session.modified
    session.setdefault("a", 5)
    assert not session.modified
    session.update(b=2)
    assert session.modified
    for mutate in (
        lambda s: s.__setitem__("x", 1),
        lambda s: s.__delitem__("a"),
        lambda s: s.pop("a"),
        lambda s: s.popitem(),
        lambda s: s.clear(),
        lambda s: s.setdefault("new", 1),
        lambda s: s.__ior__({"y": 2}),
    ):
        fresh = Session("id", {"a": 1})
        mutate(fresh)
        assert fresh.modified and fresh.accessed
    for look in (len, list, lambda s: "a" in s, lambda s: s.get("a"), lambda s: list(s.items())):
        fresh = Session("id", {"a": 1})
        look(fresh)
        assert fresh.accessed and not fresh.modified
    snapshot_only = Session("id", {"a": 1})
    assert snapshot_only.data_snapshot() == {"a": 1} and not snapshot_only.accessed


def test_session_repr_hides_id_and_data():
    session = Session("A" * 43, {"secret": "hunter2"})
    assert "hunter2" not in repr(session) and "A" * 43 not in repr(session)


def test_middleware_rejects_bad_configuration():
    backend = RecordingBackend("a")
    for bad in (
        {"cookie_name": "bad name"},
        {"locator_cookie": "a;b"},
        {"path": "no-slash"},
        {"path": "/x; Domain=evil"},
        {"key": ""},
        {"cookie_name": "SAME", "locator_cookie": "SAME"},
    ):
        with pytest.raises(ValueError):
            SessionMiddleware(session_app(HANDLERS), backend, members=MEMBERS, **bad)


def test_memory_backend_satisfies_the_protocol():
    backend = MemoryBackend("a", MEMBERS)
    assert isinstance(backend, SessionBackend)
    assert backend.locator == Locator("a", "b")
    assert MemoryBackend("c", MEMBERS).locator == Locator("c", "a")
    assert MemoryBackend().locator == Locator("mem", "")
    assert is_session_id(backend.new_session_id())
