"""ring.asgi.SessionMiddleware under real Starlette and FastAPI apps, over ring.web.memory's backend.

The same app code runs under Starlette's own SessionMiddleware and under ring's (only the import
differs) and must answer the same. Then what ring adds: the session is in the store, not in the
cookie; a second instance adopts it; backend errors become 503/409/500; the save happens before
the first body byte of a streaming response; websockets read the session and save nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.applications import Starlette  # noqa: E402
from starlette.middleware.sessions import SessionMiddleware as StarletteSessions  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse  # noqa: E402
from starlette.routing import Route, WebSocketRoute  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocket, WebSocketDisconnect  # noqa: E402

from ring.asgi import AsyncMemoryBackend, HostContext, SessionMiddleware, wraps_sessions  # noqa: E402
from ring.backend import is_session_id  # noqa: E402
from ring.errors import SessionInvalidated, SessionUnavailable  # noqa: E402
from ring.web.locator import decode as decode_locator  # noqa: E402
from ring.web.memory import MemoryStore  # noqa: E402


async def login(request: Request) -> JSONResponse:
    request.session["user"] = request.query_params.get("user", "alice")
    return JSONResponse({"ok": True})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.session.get("user")})


async def incr(request: Request) -> JSONResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return JSONResponse({"count": request.session["count"]})


async def logout(request: Request) -> JSONResponse:
    request.session.clear()
    return JSONResponse({"ok": True})


async def stream(request: Request) -> StreamingResponse:
    request.session["streamed"] = True

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"chunk{i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def boom(request: Request) -> PlainTextResponse:
    request.session["half"] = "done"
    return PlainTextResponse("failed", status_code=500)


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user": websocket.session.get("user")})
    websocket.session["user"] = "mallory"  # read-only: never saved
    await websocket.close()


ROUTES = [Route("/login", login, methods=["POST"]), Route("/whoami", whoami), Route("/incr", incr, methods=["POST"]),
          Route("/logout", logout, methods=["POST"]), Route("/stream", stream), Route("/boom", boom),
          WebSocketRoute("/ws", ws)]


def starlette_app(middleware: type, **options: Any) -> Starlette:
    app = Starlette(routes=ROUTES)
    app.add_middleware(middleware, secret_key="s3cret", **options)  # type: ignore[arg-type]
    return app


def ring_app(backend: AsyncMemoryBackend | None = None, **options: Any) -> Starlette:
    return starlette_app(SessionMiddleware, backend=backend or AsyncMemoryBackend(instance_id="a"), **options)


def set_cookies(response: Any) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def story(client: TestClient) -> list[Any]:
    """What a user sees: log in, count, stream, log out."""
    seen = [client.get("/whoami").json(), client.post("/login?user=bob").json(), client.get("/whoami").json()]
    seen += [client.post("/incr").json() for _ in range(3)]
    seen.append(client.get("/stream").text)
    seen += [client.post("/logout").json(), client.get("/whoami").json(), client.post("/incr").json()]
    return seen


def test_the_same_app_answers_the_same_under_starlettes_middleware_and_rings() -> None:
    with TestClient(starlette_app(StarletteSessions)) as theirs, TestClient(ring_app()) as ours:
        assert story(theirs) == story(ours)
        assert story(ours)[2] == {"user": "bob"}


def test_the_cookie_carries_an_id_and_the_data_stays_in_the_store() -> None:
    backend = AsyncMemoryBackend(instance_id="a", members=["a", "b"])
    with TestClient(ring_app(backend)) as client:
        response = client.post("/login?user=carol")
        cookies = set_cookies(response)
        assert set(cookies) == {"session", "CLUSTERSESSIONLOCATOR"}
        session_id = client.cookies["session"]
        assert is_session_id(session_id) and "carol" not in cookies["session"]
        assert backend.store.entries[session_id].data == b'{"user":"carol"}'
        assert decode_locator(client.cookies["CLUSTERSESSIONLOCATOR"], "s3cret", frozenset({"a", "b"})) is not None
        assert "cookie" in response.headers["vary"].lower()


@pytest.mark.parametrize("options, present, absent", [
    ({}, ["Max-Age=1209600", "Path=/", "HttpOnly", "SameSite=Lax"], ["Secure", "Domain", "Partitioned"]),
    ({"max_age": None}, ["HttpOnly"], ["Max-Age"]),
    ({"https_only": True, "same_site": "none", "partitioned": True, "domain": "example.com", "path": "/app"},
     ["Secure", "SameSite=None", "Partitioned", "Domain=example.com", "Path=/app"], []),
])
def test_cookie_attributes_follow_starlettes_options(options: dict[str, Any], present: list[str],
                                                     absent: list[str]) -> None:
    base = "https://testserver" if options.get("https_only") else "http://testserver"
    with TestClient(ring_app(**options), base_url=base) as client:
        cookies = set_cookies(client.post(options.get("path", "") + "/login"))
        for header in cookies.values():  # the session and the locator cookie alike
            for attribute in present:
                assert attribute in header, header
            for attribute in absent:
                assert attribute not in header, header


def test_clearing_the_session_logs_out_everywhere() -> None:
    backend = AsyncMemoryBackend(instance_id="a")
    with TestClient(ring_app(backend)) as client:
        client.post("/login")
        old = client.cookies["session"]
        cookies = set_cookies(client.post("/logout"))
        assert all("Max-Age=0" in h for h in cookies.values()) and len(cookies) == 2
        assert old in backend.store.tombstones and old not in backend.store.entries
        client.cookies.set("session", old)  # a stolen cookie replayed: a new empty session
        assert client.get("/whoami").json() == {"user": None}


def test_a_second_instance_adopts_the_session_of_the_first() -> None:
    store = MemoryStore()
    a = AsyncMemoryBackend(instance_id="a", members=["a", "b"], store=store)
    b = AsyncMemoryBackend(instance_id="b", members=["a", "b"], store=store)
    with TestClient(ring_app(a)) as on_a, TestClient(ring_app(b)) as on_b:
        on_a.post("/login?user=dave")
        on_b.cookies.update(on_a.cookies)
        response = on_b.get("/whoami")
        assert response.json() == {"user": "dave"}
        locator = decode_locator(on_b.cookies["CLUSTERSESSIONLOCATOR"], "s3cret", frozenset({"a", "b"}))
        assert locator is not None and locator.primary == "b"


def test_a_fastapi_app_switches_by_the_import() -> None:
    fastapi = pytest.importorskip("fastapi")
    app = fastapi.FastAPI()
    app.add_middleware(SessionMiddleware, secret_key="k", backend=AsyncMemoryBackend(instance_id="a"))

    @app.post("/login")
    async def do_login(request: Request, user: str) -> dict[str, str]:
        request.session["user"] = user
        return {"ok": user}

    @app.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        return {"user": request.session.get("user")}

    with TestClient(app) as client:
        assert client.get("/me").json() == {"user": None}
        client.post("/login", params={"user": "erin"})
        assert client.get("/me").json() == {"user": "erin"}
    assert wraps_sessions(app)


def test_streaming_is_saved_before_the_first_body_byte() -> None:
    backend = AsyncMemoryBackend(instance_id="a")
    order: list[str] = []
    save = backend.save

    async def recording_save(*args: Any, **kwargs: Any) -> Any:
        order.append("save")
        return await save(*args, **kwargs)

    backend.save = recording_save  # type: ignore[method-assign]
    middleware = SessionMiddleware(Starlette(routes=ROUTES), backend=backend)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        order.append(message["type"])
        sent.append(message)

    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client never disconnects (the app is cancelled when done)
        raise AssertionError("unreachable")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/stream", "raw_path": b"/stream", "query_string": b"", "headers": [], "server": ("t", 80),
             "client": ("c", 1), "root_path": ""}
    asyncio.run(middleware(scope, receive, send))  # type: ignore[arg-type]
    assert order[:2] == ["save", "http.response.start"]
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"chunk0\nchunk1\nchunk2\n"
    assert any(name == b"set-cookie" for name, _ in sent[0]["headers"])


def test_a_websocket_reads_the_session_and_saves_nothing() -> None:
    backend = AsyncMemoryBackend(instance_id="a")
    with TestClient(ring_app(backend)) as client:
        client.post("/login?user=frank")
        with client.websocket_connect("/ws") as socket:
            assert socket.receive_json() == {"user": "frank"}
        assert client.get("/whoami").json() == {"user": "frank"}


def test_a_5xx_saves_nothing() -> None:
    backend = AsyncMemoryBackend(instance_id="a")
    with TestClient(ring_app(backend), raise_server_exceptions=False) as client:
        response = client.get("/boom")
        assert response.status_code == 500 and not set_cookies(response) and len(backend.store) == 0


def test_lifespan_passes_through() -> None:
    events: list[str] = []

    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    import contextlib

    app = Starlette(routes=ROUTES, lifespan=contextlib.asynccontextmanager(lifespan))
    app.add_middleware(SessionMiddleware, backend=AsyncMemoryBackend(instance_id="a"))
    with TestClient(app) as client:
        assert client.get("/whoami").status_code == 200
    assert events == ["startup", "shutdown"]


class Failing(AsyncMemoryBackend):
    def __init__(self, on: str, error: Exception, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on, self.error, self.armed = on, error, False

    async def load(self, session_id: str, hint: Any) -> Any:
        if self.armed and self.on == "load":
            raise self.error
        return await super().load(session_id, hint)

    async def save(self, *args: Any, **kwargs: Any) -> Any:
        if self.armed and self.on == "save":
            raise self.error
        return await super().save(*args, **kwargs)


@pytest.mark.parametrize("on, error, status", [
    ("load", SessionUnavailable("x"), 503), ("save", SessionUnavailable("x"), 503),
    ("save", SessionInvalidated("x"), 409),
])
def test_backend_errors_map_to_http(on: str, error: Exception, status: int) -> None:
    backend = Failing(on, error, instance_id="a")
    with TestClient(ring_app(backend)) as client:
        client.post("/login")
        backend.armed = True
        response = client.post("/incr")
        assert response.status_code == status
        assert "count" not in response.text and len(response.text) < 100
        assert ("retry-after" in response.headers) == (status == 503)
        if on == "load":
            with pytest.raises(WebSocketDisconnect) as refused:
                with client.websocket_connect("/ws") as socket:
                    socket.receive_json()
            assert refused.value.code == 1013  # try again later


def test_a_session_over_the_size_limit_is_a_500_and_not_saved() -> None:
    backend = AsyncMemoryBackend(instance_id="a", max_session_size=10)
    with TestClient(ring_app(backend)) as client:
        response = client.post("/login?user=" + "x" * 50)
        assert response.status_code == 500 and "too large" in response.text and len(backend.store) == 0


def test_without_a_backend_the_host_lends_one() -> None:
    backend = AsyncMemoryBackend(instance_id="h", members=["h"])
    inner = starlette_app(SessionMiddleware)  # what an app switched by import looks like

    async def hosted(scope: Any, receive: Any, send: Any) -> None:
        scope["ring.host"] = HostContext(backend=backend, members=frozenset({"h"}), key="cluster-key")
        await inner(scope, receive, send)

    with TestClient(hosted) as client:
        client.post("/login?user=gina")
        assert client.get("/whoami").json() == {"user": "gina"}
        assert decode_locator(client.cookies["CLUSTERSESSIONLOCATOR"], "cluster-key", frozenset({"h"}))
    with TestClient(starlette_app(SessionMiddleware)) as orphan:
        response = orphan.get("/whoami")
        assert response.status_code == 500 and "ring serve --asgi" in response.text


def test_a_ring_middleware_inside_another_defers_to_the_outer_one() -> None:
    outer_backend, inner_backend = AsyncMemoryBackend(instance_id="o"), AsyncMemoryBackend(instance_id="i")
    app = SessionMiddleware(ring_app(inner_backend), backend=outer_backend)
    with TestClient(app) as client:
        client.post("/login")
        assert len(outer_backend.store) == 1 and len(inner_backend.store) == 0
    assert wraps_sessions(app) and wraps_sessions(ring_app()) and not wraps_sessions(Starlette(routes=ROUTES))


class Lifetimes(AsyncMemoryBackend):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asked: list[Any] = []

    async def save(self, *args: Any, **kwargs: Any) -> Any:
        self.asked.append(kwargs.get("lifetime"))
        return await super().save(*args, **kwargs)


def test_a_lifetime_reaches_every_save() -> None:
    backend = Lifetimes(instance_id="a")
    with TestClient(ring_app(backend, lifetime=3600.0)) as client:
        client.post("/login")
        client.post("/incr")
    assert backend.asked == [3600.0, 3600.0]


@pytest.mark.parametrize("options", [{"session_cookie": "bad name"}, {"path": "no-slash"}, {"same_site": "loose"},
                                     {"max_age": 0}, {"domain": "a;b"}, {"secret_key": ""},
                                     {"locator_cookie": "session"}, {"lifetime": 0}, {"max_age": True}])
def test_bad_options_are_refused_with_a_clear_error(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SessionMiddleware(Starlette(), backend=AsyncMemoryBackend(), **options)


def test_ring_asgi_does_not_import_the_engine() -> None:
    code = "import ring.asgi, sys; print(sorted(m for m in sys.modules if m.startswith(('ring.io', 'grpc'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_two_concurrent_requests_that_change_different_keys_both_survive() -> None:
    """Per-key merge (issue 12) through the ASGI middleware: the second save finds the session
    saved meanwhile (SessionStale), reloads it and re-applies its own change."""
    backend = AsyncMemoryBackend(instance_id="a")
    first_loaded, second_saved = asyncio.Event(), asyncio.Event()

    async def slow(request: Request) -> JSONResponse:
        request.session["a"] = 1
        first_loaded.set()
        await second_saved.wait()
        return JSONResponse({"ok": True})

    async def quick(request: Request) -> JSONResponse:
        request.session["b"] = 2
        return JSONResponse({"ok": True})

    async def show(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    async def start(request: Request) -> JSONResponse:
        request.session["started"] = True
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/slow", slow), Route("/quick", quick), Route("/show", show),
                            Route("/start", start)])
    app.add_middleware(SessionMiddleware, secret_key="k", backend=backend)

    async def scenario() -> dict[str, Any]:
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/start")
            cookies = dict(client.cookies)

            async def second() -> None:
                await first_loaded.wait()
                r = await client.get("/quick", cookies=cookies)
                assert r.status_code == 200
                second_saved.set()

            slow_request = asyncio.create_task(client.get("/slow", cookies=cookies))
            await second()
            assert (await slow_request).status_code == 200
            return (await client.get("/show", cookies=cookies)).json()

    assert asyncio.run(scenario()) == {"started": True, "a": 1, "b": 2}
