"""The demo WSGI app (DESIGN.md section 6), plain WSGI with no framework.

    POST /incr     adds one to session["count"]   -> {"count": n, "instance": id}
    GET  /session  the session's contents         -> {"data": {...}, "instance": id}
    POST /logout   invalidates the session        -> {"ok": true, "instance": id}

Anything else is a JSON 404 (unknown path) or 405 (wrong method). It needs the session middleware:
run it with ``ring serve --config FILE --local-host ID --app ring.demo:app``. The drill relies on
these answers to check that no acknowledged increment is lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from ring.web.session import Session

_JSON = "application/json"


def _incr(session: Session) -> dict[str, Any]:
    count = session.get("count", 0)
    if not isinstance(count, int) or isinstance(count, bool):
        count = 0  # someone stored something else under the key: start over rather than fail
    session["count"] = count + 1
    return {"count": count + 1}


def _show(session: Session) -> dict[str, Any]:
    return {"data": session.copy()}


def _logout(session: Session) -> dict[str, Any]:
    session.invalidate()
    return {"ok": True}


_ROUTES: dict[str, tuple[str, Callable[[Session], dict[str, Any]]]] = {
    "/incr": ("POST", _incr),
    "/session": ("GET", _show),
    "/logout": ("POST", _logout),
}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    session = environ.get("ring.session")
    if not isinstance(session, Session):
        return _reply(
            start_response,
            "500 Internal Server Error",
            {
                "error": "no ring session in the WSGI environ: run this app under "
                "`ring serve --app ring.demo:app`"
            },
        )
    instance = environ.get("ring.instance", "")
    route = _ROUTES.get(environ.get("PATH_INFO", ""))
    if route is None:
        return _reply(start_response, "404 Not Found", {"error": "not found", "instance": instance})
    method, handler = route
    if environ.get("REQUEST_METHOD", "GET") != method:
        return _reply(
            start_response,
            "405 Method Not Allowed",
            {"error": f"use {method}", "instance": instance},
            extra=[("Allow", method)],
        )
    return _reply(start_response, "200 OK", {**handler(session), "instance": instance})


def _reply(
    start_response: Callable[..., Any],
    status: str,
    payload: dict[str, Any],
    *,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    # default=repr: attributes kept on this instance only need not be JSON (see ring.web.session).
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=repr).encode("utf-8")
    headers = [
        ("Content-Type", _JSON),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *(extra or []),
    ]
    start_response(status, headers)
    return [body]
