"""ring.demo:app under the session middleware (in process, MemoryBackend) and on its own."""

from __future__ import annotations

import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

from ring.demo import app
from ring.web import MemoryBackend, MemoryStore, SessionMiddleware

MEMBERS = ("web-1", "web-2")


def call(wsgi_app, method: str, path: str, cookies: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    """One request; updates cookies from Set-Cookie like a browser; (status, headers, JSON body)."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, CONTENT_LENGTH="0")
    environ["wsgi.input"] = io.BytesIO(b"")
    if cookies:
        environ["HTTP_COOKIE"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    started = []
    body = b"".join(
        wsgi_app(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    )
    status, headers = started[-1]
    for name, value in headers:
        if name.lower() == "set-cookie":
            cookie, attributes = value.split(";", 1)
            key, _, cookie_value = cookie.partition("=")
            if "Max-Age=0" in attributes:
                cookies.pop(key, None)
            else:
                cookies[key] = cookie_value
    return int(status[:3]), {name.lower(): value for name, value in headers}, json.loads(body)


def instance(instance_id: str, store: MemoryStore) -> SessionMiddleware:
    backend = MemoryBackend(instance_id, MEMBERS, store=store)
    return SessionMiddleware(app, backend, members=frozenset(MEMBERS), key="demo-key")


def test_incr_session_logout_contract():
    web1 = instance("web-1", MemoryStore())
    cookies: dict[str, str] = {}
    assert call(web1, "POST", "/incr", cookies)[2] == {"count": 1, "instance": "web-1"}
    assert call(web1, "POST", "/incr", cookies)[2] == {"count": 2, "instance": "web-1"}
    status, headers, body = call(web1, "GET", "/session", cookies)
    assert status == 200 and body == {"data": {"count": 2}, "instance": "web-1"}
    assert headers["content-type"] == "application/json"
    assert call(web1, "POST", "/logout", cookies)[2] == {"ok": True, "instance": "web-1"}
    assert cookies == {}
    assert call(web1, "GET", "/session", cookies)[2] == {"data": {}, "instance": "web-1"}
    assert call(web1, "POST", "/incr", cookies)[2]["count"] == 1


def test_count_continues_on_another_instance_after_failover():
    store = MemoryStore()
    web1, web2 = instance("web-1", store), instance("web-2", store)
    cookies: dict[str, str] = {}
    call(web1, "POST", "/incr", cookies)
    call(web1, "POST", "/incr", cookies)
    locator_before = cookies["CLUSTERSESSIONLOCATOR"]
    assert call(web2, "POST", "/incr", cookies)[2] == {"count": 3, "instance": "web-2"}
    assert cookies["CLUSTERSESSIONLOCATOR"] != locator_before


def test_unknown_path_and_wrong_method():
    web1 = instance("web-1", MemoryStore())
    status, _, body = call(web1, "GET", "/nope", {})
    assert status == 404 and body["instance"] == "web-1"
    status, headers, body = call(web1, "GET", "/incr", {})
    assert status == 405 and headers["allow"] == "POST" and "POST" in body["error"]
    assert call(web1, "POST", "/session", {})[0] == 405
    assert call(web1, "GET", "/logout", {})[0] == 405


def test_a_non_integer_count_starts_over():
    store = MemoryStore()
    web1 = instance("web-1", store)
    cookies: dict[str, str] = {}
    call(web1, "POST", "/incr", cookies)
    store.entries[cookies["RINGSESSION"]].data = b'{"count":"many"}'
    assert call(web1, "POST", "/incr", cookies)[2]["count"] == 1


def test_without_the_middleware_it_says_how_to_run_it():
    status, _, body = call(app, "POST", "/incr", {})
    assert status == 500
    assert "ring serve --app ring.demo:app" in body["error"]
