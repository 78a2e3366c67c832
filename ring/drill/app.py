"""The drill's WSGI app: the demo's counter, plus what lets the checker see a forked history.

    POST /incr?t=TOKEN  count += 1; chain = H(chain, TOKEN)  -> {"count", "chain", "prev", "version", "instance"}
    GET  /session       the session's contents               -> {"data": {...}, "version", "instance"}
    POST /logout        invalidates the session              -> {"ok": true, "instance"}

A counter alone cannot tell two histories apart that reach the same count: a user acknowledged
count 3 on one copy, and a second writable copy answers count 3 after another increment. So every
increment carries a token its user made up, and the session keeps a hash chain of the tokens
applied to it (`chain`), and the answer names the chain it was applied on (`prev`) and the version
the request loaded (`version`). Two ok answers that name the same count (or the same version) with
different chains are two histories after one version: a fork (ring.drill.forks).

Run by the drill as `ring serve --app ring.drill.app:app`; like ring.demo it needs the session
middleware. The token is the user's own (a random hex string): no session id or data is logged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from ring.web.session import Session

GENESIS = ""  # the chain of a session no increment was applied to


def next_chain(prev: str, token: str) -> str:
    """The chain after applying `token` to a session whose chain was `prev`."""
    return hashlib.sha256(f"{prev}:{token}".encode()).hexdigest()[:16]


def _incr(session: Session, query: dict[str, list[str]]) -> dict[str, Any]:
    count = session.get("count", 0)
    if not isinstance(count, int) or isinstance(count, bool):
        count = 0
    prev = session.get("chain", GENESIS)
    if not isinstance(prev, str):
        prev = GENESIS
    token = (query.get("t") or [""])[0][:64]
    chain = next_chain(prev, token)
    session["count"] = count + 1
    session["chain"] = chain
    return {"count": count + 1, "chain": chain, "prev": prev, "version": session.version}


def _show(session: Session, query: dict[str, list[str]]) -> dict[str, Any]:
    return {"data": session.copy(), "version": session.version}


def _logout(session: Session, query: dict[str, list[str]]) -> dict[str, Any]:
    session.invalidate()
    return {"ok": True}


_ROUTES: dict[str, tuple[str, Callable[[Session, dict[str, list[str]]], dict[str, Any]]]] = {
    "/incr": ("POST", _incr),
    "/session": ("GET", _show),
    "/logout": ("POST", _logout),
}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    session = environ.get("ring.session")
    if not isinstance(session, Session):
        return _reply(start_response, "500 Internal Server Error",
                      {"error": "no ring session in the WSGI environ: run this app under "
                                "`ring serve --app ring.drill.app:app`"})
    instance = environ.get("ring.instance", "")
    route = _ROUTES.get(environ.get("PATH_INFO", ""))
    if route is None:
        return _reply(start_response, "404 Not Found", {"error": "not found", "instance": instance})
    method, handler = route
    if environ.get("REQUEST_METHOD", "GET") != method:
        return _reply(start_response, "405 Method Not Allowed", {"error": f"use {method}", "instance": instance})
    query = parse_qs(environ.get("QUERY_STRING", ""))
    return _reply(start_response, "200 OK", {**handler(session, query), "instance": instance})


def _reply(start_response: Callable[..., Any], status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=repr).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [body]
