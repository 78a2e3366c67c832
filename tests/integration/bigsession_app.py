"""A tiny WSGI app for the integration tests, hosted by `ring serve --app bigsession_app:app`.

    POST /put   stores the request body (text) in session["blob"]  -> {"stored": n}
    GET  /get   the stored blob                                     -> {"blob": "..."}

Unlike the demo app it lets a client make its session as large as it likes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    session = environ["ring.session"]
    if environ["PATH_INFO"] == "/put" and environ["REQUEST_METHOD"] == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        session["blob"] = environ["wsgi.input"].read(size).decode("utf-8")
        payload: dict[str, Any] = {"stored": size}
    elif environ["PATH_INFO"] == "/get":
        payload = {"blob": session.get("blob")}
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    body = json.dumps(payload).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
