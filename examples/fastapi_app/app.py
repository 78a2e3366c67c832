"""A FastAPI app whose users stay logged in when the instance that served them dies.

The only ring-specific line is the import of SessionMiddleware: this is what a FastAPI app using
``starlette.middleware.sessions.SessionMiddleware`` looks like after switching. Sessions live in the
ring (replicated to the next instance before each response goes out), the cookie holds a random id.

Run two instances (server.xml names a and b; see README.md), hosted on the engine's loop:

    PYTHONPATH=examples/fastapi_app ring serve --config server.xml --local-host a --asgi app:app --http 127.0.0.1:8001
    PYTHONPATH=examples/fastapi_app ring serve --config server.xml --local-host b --asgi app:app --http 127.0.0.1:8002

or on uvicorn workers next to a `ring serve` daemon per host (server.xml with <local-socket>): the
one setting is RING_SOCKET, the daemon's socket, which the app passes as local_socket=

    ring serve --config server.xml --local-host a &
    RING_SOCKET=a.sock gunicorn -k uvicorn_worker.UvicornWorker -w 3 -b 127.0.0.1:8001 examples.fastapi_app.app:app

    POST /login   {"username": "alice", "password": "wonderland"}  -> 200, or 401
    GET  /me      who is logged in (401 when nobody)
    POST /cart    {"item": "tea"}: adds to the session's cart (logged-in users only)
    POST /incr    counts the user's visits in the session (logged-in users only)
    POST /logout  ends the session everywhere
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from ring.asgi import SessionMiddleware

# Demo users only: a real app checks a password hash from its user store.
USERS = {"alice": "wonderland", "bob": "builder"}

app = FastAPI(title="ring FastAPI example")
# Under `ring serve --asgi` the sessions go to the engine of the same process; the locator cookie's
# key comes from server.xml. With RING_SOCKET set (uvicorn or gunicorn workers), they go to the
# `ring serve` daemon of this host over that socket, and secret_key signs the locator cookie.
app.add_middleware(SessionMiddleware, secret_key=os.environ.get("SESSION_SECRET", "change-me"),
                   max_age=8 * 3600, https_only=os.environ.get("HTTPS_ONLY") == "1",
                   local_socket=os.environ.get("RING_SOCKET") or None)


class Credentials(BaseModel):
    username: str
    password: str


class Item(BaseModel):
    item: str


def current_user(request: Request) -> str:
    user = request.session.get("user")
    if not isinstance(user, str):
        raise HTTPException(status_code=401, detail="log in first")
    return user


@app.post("/login")
async def login(request: Request, credentials: Credentials) -> dict[str, Any]:
    expected = USERS.get(credentials.username)
    if expected is None or not hmac.compare_digest(expected.encode(), credentials.password.encode()):
        raise HTTPException(status_code=401, detail="wrong user name or password")
    session = request.session
    if hasattr(session, "regenerate"):  # ring's Session: a new id after login (no session fixation)
        session.regenerate()
    session["user"] = credentials.username
    session.setdefault("cart", [])
    return {"user": credentials.username, "instance": request.scope.get("ring.instance")}


@app.get("/me")
async def me(request: Request) -> dict[str, Any]:
    return {"user": current_user(request), "cart": request.session.get("cart", []),
            "instance": request.scope.get("ring.instance")}


@app.post("/cart")
async def add_to_cart(request: Request, item: Item) -> dict[str, Any]:
    current_user(request)
    request.session["cart"] = [*request.session.get("cart", []), item.item]  # assign: the change is seen
    return {"cart": request.session["cart"]}


@app.post("/incr")
async def visit(request: Request) -> dict[str, Any]:
    user = current_user(request)
    request.session["visits"] = request.session.get("visits", 0) + 1
    return {"user": user, "visits": request.session["visits"], "instance": request.scope.get("ring.instance"),
            "pid": os.getpid()}


@app.post("/logout")
async def logout(request: Request) -> dict[str, bool]:
    request.session.clear()  # as with Starlette's middleware: the session ends (here, on every instance)
    return {"ok": True}
