"""ring.asgi.SessionMiddleware(local_socket=PATH): sessions through the host's `ring serve` daemon.

The client is made at the first request, not when the app is built (so after a worker's fork);
while the daemon is down requests answer 503 and the next one tries again; when the daemon
restarts the same middleware reconnects by itself and the session is still there (its backup
came back from the other instance).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "client"))
from daemons import DEADLINE, Ring  # noqa: E402

from ring.asgi import AsyncMemoryBackend, SessionMiddleware  # noqa: E402


async def incr(request: Request) -> JSONResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return JSONResponse({"count": request.session["count"], "instance": request.scope["ring.instance"]})


def app_on(socket_path: str) -> Starlette:
    app = Starlette(routes=[Route("/incr", incr, methods=["POST"])])
    app.add_middleware(SessionMiddleware, secret_key="test-key", local_socket=socket_path)
    return app


def test_one_argument_and_nothing_opened_when_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app_on(str(tmp_path / "nobody.sock"))  # nothing listens there: building the app opens nothing
    with pytest.raises(ValueError, match="not both"):
        SessionMiddleware(app_on("x"), backend=AsyncMemoryBackend(), local_socket="x")
    monkeypatch.delenv("RING_SOCKET", raising=False)
    with pytest.raises(ValueError, match="RING_SOCKET"):
        SessionMiddleware(app_on("x"), local_socket="")
    monkeypatch.setenv("RING_SOCKET", str(tmp_path / "env.sock"))
    assert SessionMiddleware(app_on("x"), local_socket="")._local_socket == str(tmp_path / "env.sock")


def test_no_daemon_answers_503_with_retry_after(tmp_path: Path) -> None:
    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app_on(str(tmp_path / "nobody.sock")))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/incr")
            assert response.status_code == 503 and response.headers["retry-after"] == "1"

    asyncio.run(scenario())


@pytest.mark.integration
def test_the_daemon_restarts_and_the_same_workers_reconnect() -> None:
    with Ring(("a", "b")) as ring:
        async def scenario() -> None:
            transport = httpx.ASGITransport(app=app_on(ring.socket("a")))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                for n in (1, 2, 3):
                    response = await client.post("/incr")
                    assert response.json() == {"count": n, "instance": "a"}
                await asyncio.to_thread(ring.kill, "a")
                assert (await client.post("/incr")).status_code == 503
                await asyncio.to_thread(ring.start, "a")
                loop = asyncio.get_running_loop()
                deadline = loop.time() + DEADLINE
                while (response := await client.post("/incr")).status_code != 200:
                    assert response.status_code == 503 and loop.time() < deadline, response.text
                    await asyncio.sleep(0.1)  # the next try of a poll with a deadline
                assert response.json() == {"count": 4, "instance": "a"}  # a's copy, back from b

        asyncio.run(scenario())
