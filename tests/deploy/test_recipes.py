"""The deployment recipes that need no running service: the systemd unit, the Grafana dashboard, the
container image and the Kubernetes example (read and checked statically: no container engine or
cluster runs here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from test_metrics import PINNED  # noqa: E402  (the pinned metric names)


def _unit_for_here(tmp_path: Path, text: str) -> Path:
    """The unit with ExecStart pointing at this checkout's `ring` (verify checks it is executable)."""
    ring = Path(sys.executable).with_name("ring")
    unit = tmp_path / "ring@a.service"
    unit.write_text(text.replace("/opt/ring/bin/ring", str(ring)))
    return unit


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    text = (DEPLOY / "systemd" / "ring@.service").read_text()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text and "RestartPreventExitStatus=2 3" in text
    broken = tmp_path / "broken"
    broken.mkdir()
    bad = _unit_for_here(broken, text.replace("ExecStart=/opt/ring/bin/ring", "ExecStart=opt/ring/bin/ring")
                         .replace("Type=exec", "Type=nonsense"))
    if subprocess.run([SYSTEMD_ANALYZE, "verify", str(bad)], capture_output=True, text=True).returncode == 0:
        pytest.skip("systemd-analyze verify finds nothing wrong even in a broken unit here")
    good = _unit_for_here(tmp_path, text)
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(good)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "ring@a.service" not in result.stderr, result.stderr  # no warning about the unit itself


def test_the_grafana_dashboard_reads_only_metrics_that_exist() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "ring-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs
    names = {n for e in exprs for n in re.findall(r"\b((?:ring|process)_[a-z_]+)", e)}
    known = set()
    for name, kind in PINNED.items():
        known |= {name, f"{name}_total"} if kind == "counter" else {name}
        if kind == "histogram":
            known |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    unknown = {n for n in names if n.startswith("ring_") and n not in known}
    assert not unknown, f"the dashboard reads metrics ring does not export: {unknown}"
    assert {"ring_session_save_duration_seconds_bucket", "ring_sessions", "ring_peer_up"} <= names


# -- the container image (deploy/container/Containerfile): no container engine runs here -------------

REPO = DEPLOY.parent
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
DOCKER_STOP_GRACE = 10.0  # seconds `docker stop` and `podman stop` wait before SIGKILL, by default


def containerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) in order: comment lines dropped, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # a comment inside a continuation is dropped too, as Docker does
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        assert keyword.upper() in INSTRUCTIONS, f"not a Containerfile instruction: {keyword}"
        out.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the file ends inside a continuation line"
    return out


def exec_form(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    """The JSON (exec) form of the last `keyword`: with a shell form, SIGTERM would reach the shell."""
    found = [rest for kw, rest in instructions if kw == keyword]
    assert found, f"no {keyword}"
    argv = json.loads(found[-1])
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    return argv


def image_argv() -> list[str]:
    instructions = containerfile(CONTAINERFILE.read_text())
    return exec_form(instructions, "ENTRYPOINT") + exec_form(instructions, "CMD")


def serve_args(argv: list[str]) -> Any:
    """`argv` read by ring's own parser; it must be a `ring serve` invocation."""
    from ring.cli import build_parser
    from ring.commands import serve

    assert argv[0] == "ring", argv
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve" and args.func is serve.run
    return args


def admin_answer(path: str) -> int:
    """The status the admin server gives a GET of `path` (a server on a free loopback port, not started)."""
    from ring.host.admin import AdminServer
    from ring.serverxml import load_server_xml

    admin = AdminServer("127.0.0.1", 0, config=load_server_xml(str(REPO / "server.xml.example")), me="a",
                        ready=lambda: True, metrics=lambda: b"")
    try:
        return admin.answer(path)[0]
    finally:
        admin.httpd.server_close()  # never started: stop() would wait for a serve loop


def test_the_container_image_runs_ring_serve_as_a_non_root_user() -> None:
    from ring.config import parse_admin_http

    instructions = containerfile(CONTAINERFILE.read_text())
    assert instructions[0][0] == "FROM"
    user = [rest for kw, rest in instructions if kw == "USER"][-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid (Kubernetes' runAsNonRoot checks it)"
    assert [rest for kw, rest in instructions if kw == "STOPSIGNAL"] == ["SIGTERM"]
    args = serve_args(image_argv() + ["--local-host", "a"])
    assert args.config == "/etc/ring/server.xml"
    assert args.stop_timeout < DOCKER_STOP_GRACE, "the clean stop must end before the engine's SIGKILL"
    assert parse_admin_http(args.admin_http, "--admin-http") == ("0.0.0.0", 9099)  # the probes reach it
    exposed = {int(p) for kw, rest in instructions if kw == "EXPOSE" for p in rest.split()}
    assert {1099, 8000, 9099} <= exposed  # replication (the default <port>), --http, the admin address


def test_the_container_healthcheck_asks_the_admin_livez(tmp_path: Path) -> None:
    from ring.config import parse_admin_http
    from ring.drill.cluster import free_port
    from ring.host.admin import AdminServer
    from ring.serverxml import load_server_xml

    instructions = containerfile(CONTAINERFILE.read_text())
    check = [rest for kw, rest in instructions if kw == "HEALTHCHECK"]
    assert len(check) == 1
    options, _, command = check[0].partition(" CMD ")
    argv = json.loads(command)
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/[a-z]+)", " ".join(argv))
    assert url, argv
    admin_port = parse_admin_http(serve_args(image_argv()).admin_http, "--admin-http")[1]
    assert int(url.group(1)) == admin_port and url.group(2) == "/livez"
    assert admin_answer("/livez") == 200 and admin_answer("/no-such-path") == 404
    # the check's own command, run here against a real admin server: exit 0, and 1 once it is gone
    port = free_port()
    probe = [sys.executable, *argv[1:]]
    probe[-1] = probe[-1].replace(f":{admin_port}/", f":{port}/")
    admin = AdminServer("127.0.0.1", port, config=load_server_xml(str(REPO / "server.xml.example")), me="a",
                        ready=lambda: True, metrics=lambda: b"")
    admin.start()
    try:
        assert subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    finally:
        admin.stop()
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0
    assert "--start-period" in options  # the first probes come while the ring forms


def test_the_container_copies_what_the_build_needs_and_it_exists() -> None:
    instructions = containerfile(CONTAINERFILE.read_text())
    copied: list[str] = []
    for kw, rest in instructions:
        if kw == "COPY" and not rest.startswith("--from"):
            *sources, _dest = rest.split()
            copied += sources
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"
    # what pip needs to build ring: the project file, the readme it names, the package
    assert {"pyproject.toml", "README.md", "ring"} <= set(copied)
    assert 'readme = "README.md"' in (REPO / "pyproject.toml").read_text()
