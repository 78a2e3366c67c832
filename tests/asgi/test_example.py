"""examples/fastapi_app: login, cart, logout in process, and its users surviving a kill -9."""

from __future__ import annotations

import http.client
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from starlette.testclient import TestClient  # noqa: E402

EXAMPLE = Path(__file__).parents[2] / "examples" / "fastapi_app"
sys.path.insert(0, str(Path(__file__).parent))
from asgi_helpers import AsgiCluster  # noqa: E402
from integration_helpers import DEADLINE, Browser, assert_no_tracebacks, wait_for, write_config  # noqa: E402

from ring.asgi import HostContext  # noqa: E402
from ring.web.memory import AsyncMemoryBackend  # noqa: E402

# loaded by path under its own name: other examples may have an app.py too
_spec = importlib.util.spec_from_file_location("ring_example_fastapi_app", EXAMPLE / "app.py")
assert _spec is not None and _spec.loader is not None
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

ALICE = b'{"username": "alice", "password": "wonderland"}'


def hosted_in_memory(backend: AsyncMemoryBackend) -> Any:
    async def lend(scope: Any, receive: Any, send: Any) -> None:
        scope["ring.host"] = HostContext(backend=backend, members=frozenset({backend.instance_id}))
        await example.app(scope, receive, send)

    return lend


def test_login_cart_logout() -> None:
    backend = AsyncMemoryBackend(instance_id="a")
    with TestClient(hosted_in_memory(backend)) as client:
        assert client.get("/me").status_code == 401
        assert client.post("/login", json={"username": "alice", "password": "nope"}).status_code == 401
        client.post("/cart", json={"item": "x"})  # refused, but starts no session
        before = client.cookies.get("session")
        assert client.post("/login", json={"username": "alice", "password": "wonderland"}).status_code == 200
        assert client.cookies["session"] != before  # a new id after login
        client.post("/cart", json={"item": "tea"})
        assert client.get("/me").json()["cart"] == ["tea"]
        client.post("/logout")
        assert client.get("/me").status_code == 401 and len(backend.store) == 0


def post_json(user: Browser, base_url: str, path: str, body: bytes) -> int:
    conn = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=15)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        for header in response.msg.get_all("Set-Cookie") or []:
            user._remember(header)
        return response.status
    finally:
        conn.close()


@pytest.mark.integration
def test_a_logged_in_user_survives_a_kill(tmp_path: Path) -> None:
    config = write_config(tmp_path, ("a", "b"), key="example-cluster-key-0123")
    with AsgiCluster(config, tmp_path / "run", app="app:app", app_dir=EXAMPLE) as c:
        c.start_all(timeout=DEADLINE)
        wait_for(c.ring_healed, "the ring a -> b to form")
        a, b = c.instances["a"].url, c.instances["b"].url
        user = Browser()
        assert post_json(user, a, "/login", ALICE) == 200
        assert user.json(a, "GET", "/me")["instance"] == "a"
        c.kill("a")
        assert user.json(b, "GET", "/me") == {"user": "alice", "cart": [], "instance": "b"}
    assert_no_tracebacks(c)
