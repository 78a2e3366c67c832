"""The apps the real-process tests host with `ring serve --asgi` (importable from this folder).

    app    Starlette, switched from Starlette's SessionMiddleware by the import (no backend: the
           host lends the engine); POST /login?user=, GET /whoami, POST /incr, GET /stream, POST /slow,
           websocket /ws (sends the session's user)
    plain  a bare ASGI app without any session middleware: the host wraps it (server.xml cookies)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ring.asgi import SessionMiddleware


async def login(request: Request) -> JSONResponse:
    request.session["user"] = request.query_params["user"]
    return JSONResponse({"ok": True, "instance": request.scope.get("ring.instance")})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.session.get("user"), "instance": request.scope.get("ring.instance")})


async def incr(request: Request) -> JSONResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return JSONResponse({"count": request.session["count"], "instance": request.scope.get("ring.instance")})


async def stream(request: Request) -> StreamingResponse:
    request.session["streamed"] = request.session.get("streamed", 0) + 1

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"{i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def slow(request: Request) -> JSONResponse:
    """Marks its start in the file $RING_TEST_MARK, then takes a second: in flight during a drain."""
    Path(os.environ["RING_TEST_MARK"]).write_text("started")
    await asyncio.sleep(1.0)
    request.session["slow"] = "done"
    return JSONResponse({"ok": True})


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user": websocket.session.get("user")})
    await websocket.close()


app = Starlette(routes=[WebSocketRoute("/ws", ws), Route("/login", login, methods=["POST"]), Route("/whoami", whoami),
                        Route("/incr", incr, methods=["POST"]), Route("/stream", stream),
                        Route("/slow", slow, methods=["POST"])])
app.add_middleware(SessionMiddleware, secret_key="not-used-when-hosted", max_age=3600)


async def plain(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    session = scope["session"]
    session["hits"] = session.get("hits", 0) + 1
    body = str(session["hits"]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
