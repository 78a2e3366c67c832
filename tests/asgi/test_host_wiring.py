"""ring.host.asgi in process: which middleware serves the sessions, and the health endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import asgi_helpers  # noqa: E402, F401  (puts tests/integration on the path)
import hosted_app  # noqa: E402
from integration_helpers import write_config  # noqa: E402

from ring.errors import ConfigError  # noqa: E402
from ring.host.asgi import hosted, import_asgi_app, with_health  # noqa: E402
from ring.serverxml import load_server_xml  # noqa: E402
from ring.web.locator import decode as decode_locator  # noqa: E402
from ring.web.memory import AsyncMemoryBackend  # noqa: E402


@pytest.fixture
def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_server_xml(write_config(tmp_path, ("a", "b"), key="cluster-secret-0123456789"))


def test_a_bare_asgi_app_is_wrapped_with_server_xml_cookies(config) -> None:  # type: ignore[no-untyped-def]
    backend = AsyncMemoryBackend(instance_id="a", members=["a", "b"])
    with TestClient(hosted(hosted_app.plain, backend, config)) as client:
        assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]
        r = config.replication
        assert set(client.cookies) == {r.session_cookie_name, r.cookie_name}
        assert decode_locator(client.cookies[r.cookie_name], "cluster-secret-0123456789", frozenset({"a", "b"}))


def test_an_app_with_its_own_middleware_keeps_its_cookie_options(config) -> None:  # type: ignore[no-untyped-def]
    backend = AsyncMemoryBackend(instance_id="a", members=["a", "b"])
    with TestClient(hosted(hosted_app.app, backend, config)) as client:
        response = client.post("/login?user=ann")
        assert "Max-Age=3600" in response.headers["set-cookie"]
        assert "session" in client.cookies and client.get("/whoami").json()["user"] == "ann"
        assert len(backend.store) == 1


def test_health_endpoints_answer_beside_the_app() -> None:
    ready = [True]
    app = with_health(hosted_app.plain, lambda: ready[0], lambda: b"m 1\n")
    with TestClient(app) as client:
        assert client.get("/livez").text == "live\n"
        assert client.get("/readyz").status_code == 200
        ready[0] = False
        assert client.get("/readyz").status_code == 503
        assert client.get("/metrics").text == "m 1\n"


@pytest.mark.parametrize("spec", ["nocolon", "no_such_module_xyz:app", "hosted_app:missing", "hosted_app:__doc__"])
def test_a_bad_app_spec_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError):
        import_asgi_app(spec)


@pytest.mark.parametrize("extra, message", [
    (["--asgi", "hosted_app:app"], "--asgi needs --http"),
    (["--asgi", "hosted_app:app", "--app", "ring.demo:app", "--http", "127.0.0.1:1"], "not both"),
    (["--asgi", "hosted_app:nothing", "--http", "127.0.0.1:1"], "cannot load the ASGI application"),
])
def test_ring_serve_refuses_a_bad_asgi_command_line(tmp_path: Path, extra: list[str], message: str) -> None:
    config = write_config(tmp_path, ("a",))
    env = {**os.environ, "PYTHONPATH": f"{Path(__file__).parent}:{Path(__file__).parents[2]}"}
    out = subprocess.run([sys.executable, "-m", "ring", "serve", "--config", str(config), "--local-host", "a", *extra],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and message in out.stderr, out.stderr
