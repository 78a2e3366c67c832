"""ring.flask with Flask's test client: MemoryBackend in process; one test against a real daemon."""

from __future__ import annotations

import datetime
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

flask = pytest.importorskip("flask")
from markupsafe import Markup  # noqa: E402

from ring.flask import RingSession  # noqa: E402
from ring.web.memory import MemoryBackend  # noqa: E402


def make_app(backend: Any = None, **config: Any) -> Any:
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY="test-secret", **config)
    if backend is not None:
        app.config["RING_BACKEND"] = backend
    RingSession(app)

    @app.post("/login/<user>")
    def login(user: str) -> Any:
        app.session_interface.regenerate(flask.session)
        flask.session["user"] = user
        return {"sid": flask.session.sid}

    @app.post("/set/<key>/<int:value>")
    def set_key(key: str, value: int) -> Any:
        flask.session[key] = value
        return {"sid": flask.session.sid}

    @app.get("/whoami")
    def whoami() -> Any:
        return {"user": flask.session.get("user"), "sid": flask.session.sid, "keys": sorted(flask.session)}

    @app.post("/logout")
    def logout() -> Any:
        flask.session.clear()
        return {}

    @app.post("/types")
    def types() -> Any:
        flask.session["markup"] = Markup("<b>hi</b>")
        flask.session["when"] = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
        flask.session["pair"] = (1, "two")
        flask.session["raw"] = b"\x00\xff"
        flask.session["id"] = uuid.UUID(int=7)
        return {}

    @app.get("/types")
    def read_types() -> Any:
        s = flask.session
        ok = (isinstance(s["markup"], Markup) and s["when"].year == 2026 and s["pair"] == (1, "two")
              and s["raw"] == b"\x00\xff" and s["id"] == uuid.UUID(int=7))
        return {"ok": ok}

    return app


def stored(backend: MemoryBackend) -> dict[str, bytes]:
    return {sid: e.data for sid, e in backend.store.entries.items()}


def test_the_session_lives_in_the_ring_and_the_cookie_holds_only_the_id() -> None:
    backend = MemoryBackend("a", ["a", "b"])
    client = make_app(backend).test_client()
    client.post("/login/alice")  # the id changes at the end of a login (regenerate)
    sid = client.get("/whoami").json["sid"]
    assert client.get("/whoami").json["user"] == "alice"
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.value == sid and cookie.http_only
    assert b"alice" in stored(backend)[sid]


def test_flask_cookie_keys_and_a_permanent_lifetime_reach_the_cookie() -> None:
    app = make_app(MemoryBackend(), SESSION_COOKIE_NAME="sid", SESSION_COOKIE_SAMESITE="Strict",
                   SESSION_COOKIE_SECURE=True, SESSION_COOKIE_PATH="/app", SESSION_COOKIE_DOMAIN="example.com",
                   PERMANENT_SESSION_LIFETIME=datetime.timedelta(days=3))
    response = app.test_client().post("/set/a/1")
    header = response.headers["Set-Cookie"]
    for part in ("sid=", "SameSite=Strict", "Secure", "Path=/app", "Domain=example.com", "Expires=", "HttpOnly"):
        assert part in header, header


def test_session_permanent_false_gives_a_browser_session_cookie() -> None:
    response = make_app(MemoryBackend(), SESSION_PERMANENT=False).test_client().post("/set/a/1")
    assert "Expires=" not in response.headers["Set-Cookie"]


class Lifetimes(MemoryBackend):
    """Records the lifetime every save asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[float | None] = []

    def save(self, *args: Any, **kwargs: Any) -> Any:
        self.asked.append(kwargs.get("lifetime"))
        return super().save(*args, **kwargs)


def test_a_permanent_session_lives_permanent_session_lifetime_in_the_ring() -> None:
    backend = Lifetimes()
    client = make_app(backend, PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=2)).test_client()
    client.post("/login/alice")
    client.post("/set/a/1")
    assert backend.asked == [7200.0, 7200.0]
    browser = Lifetimes()
    make_app(browser, SESSION_PERMANENT=False).test_client().post("/set/a/1")
    assert browser.asked == [None]  # a browser session: the instance's <session-timeout>


def test_a_request_that_does_not_use_the_session_writes_nothing() -> None:
    saves: list[int] = []

    class Counting(MemoryBackend):
        def save(self, *args: Any, **kwargs: Any) -> Any:
            saves.append(1)
            return super().save(*args, **kwargs)

    app = make_app(Counting())

    @app.get("/static-ish")
    def plain() -> Any:
        return "hello"

    client = app.test_client()
    client.post("/set/a/1")
    response = client.get("/static-ish")
    assert len(saves) == 1 and "Set-Cookie" not in response.headers and "Cookie" not in response.vary


def test_flask_types_round_trip_through_tagged_json() -> None:
    backend = MemoryBackend()
    client = make_app(backend).test_client()
    client.post("/types")
    assert client.get("/types").json == {"ok": True}
    assert b"pickle" not in next(iter(stored(backend).values()))


def test_regenerate_at_login_moves_the_data_to_a_new_id_and_deletes_the_old() -> None:
    backend = MemoryBackend()
    client = make_app(backend).test_client()
    first = client.post("/set/cart/3").json["sid"]
    client.post("/login/bob")
    second = client.get("/whoami").json["sid"]
    assert first != second and first not in stored(backend)
    assert client.get("/whoami").json["keys"] == ["_permanent", "cart", "user"]


def test_clear_logs_out_everywhere_and_a_racing_save_cannot_resurrect() -> None:
    backend = MemoryBackend()
    client = make_app(backend).test_client()
    client.post("/login/carol")
    sid = client.get("/whoami").json["sid"]
    other_tab = make_app(backend).test_client()
    other_tab.set_cookie("session", sid)
    client.post("/logout")
    assert client.get_cookie("session") is None and sid not in stored(backend)
    assert other_tab.get("/whoami").json["user"] is None  # a new, empty session


def test_a_save_that_loses_to_a_logout_answers_409() -> None:
    backend = MemoryBackend()
    app = make_app(backend)

    @app.post("/slow")
    def slow() -> Any:
        flask.session["late"] = 1
        backend.invalidate(flask.session.sid, 0)  # another request logs out meanwhile
        return {}

    client = app.test_client()
    client.post("/login/dan")
    assert client.post("/slow").status_code == 409


def test_unknown_or_forged_ids_start_a_new_session() -> None:
    client = make_app(MemoryBackend()).test_client()
    client.set_cookie("session", "not-an-id")
    response = client.get("/whoami")
    assert response.json["sid"] != "not-an-id" and response.json["user"] is None


def test_the_signer_signs_the_id_cookie() -> None:
    client = make_app(MemoryBackend(), SESSION_USE_SIGNER=True).test_client()
    sid = client.post("/set/a/1").json["sid"]
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.value.startswith(sid + ".")
    assert client.get("/whoami").json["sid"] == sid


def test_an_unavailable_ring_answers_503_with_retry_after() -> None:
    from ring.errors import SessionUnavailable

    class Down(MemoryBackend):
        def save(self, *args: Any, **kwargs: Any) -> Any:
            raise SessionUnavailable("no copy reachable")

    response = make_app(Down()).test_client().post("/set/a/1")
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"


def test_a_ring_that_cannot_be_reached_at_load_answers_503_before_the_view() -> None:
    from ring.errors import TransportError

    calls: list[str] = []

    class Gone(MemoryBackend):
        def load(self, *args: Any, **kwargs: Any) -> Any:
            raise TransportError("cannot reach the ring instance")

    app = make_app(Gone())
    client = app.test_client()
    client.set_cookie("session", MemoryBackend().new_session_id())
    app.before_request_funcs.setdefault(None, []).append(lambda: calls.append("view") and None)
    response = client.get("/whoami")
    assert response.status_code == 503 and response.headers["Retry-After"] == "1" and calls == []


def test_concurrent_requests_on_different_keys_both_survive() -> None:
    backend = MemoryBackend()
    app = make_app(backend)
    other_app = make_app(backend)  # another worker
    sid_box: list[str] = []

    @app.post("/race")
    def race() -> Any:
        flask.session.get("start")  # loaded; now another request commits a key first
        other = other_app.test_client()
        other.set_cookie("session", sid_box[0])
        other.post("/set/x/1")
        flask.session["y"] = 1
        return {}

    client = app.test_client()
    sid_box.append(client.post("/set/start/1").json["sid"])
    client.post("/race")
    assert client.get("/whoami").json["keys"] == ["_permanent", "start", "x", "y"]


def test_init_app_and_the_local_client_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RING_SOCKET", "ring-test-nowhere.sock")
    app = flask.Flask(__name__)
    ext = RingSession()
    ext.init_app(app)
    assert app.extensions["ring"] is ext
    assert type(app.session_interface.backend).__name__ == "RingClient"


@pytest.mark.integration
def test_against_a_real_daemon_over_the_socket() -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent / "client"))
    from daemons import Ring

    with Ring(("a",)) as ring:
        app = make_app(None, RING_SOCKET=ring.socket("a"))
        client = app.test_client()
        client.post("/login/erin")
        client.post("/types")
        assert client.get("/whoami").json["user"] == "erin"
        assert client.get("/types").json == {"ok": True}
        other = app.test_client()  # another browser
        assert other.get("/whoami").json["user"] is None
