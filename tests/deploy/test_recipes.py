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
import yaml

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


def image_argv(cmd: bool = True) -> list[str]:
    """The image's command: its ENTRYPOINT, then its CMD (which `docker run IMAGE ARGS` replaces)."""
    instructions = containerfile(CONTAINERFILE.read_text())
    return exec_form(instructions, "ENTRYPOINT") + (exec_form(instructions, "CMD") if cmd else [])


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


# -- the Kubernetes example (deploy/kubernetes/ring.yaml) ----------------------------------------------

MANIFEST = DEPLOY / "kubernetes" / "ring.yaml"


def manifest() -> dict[str, list[dict[str, Any]]]:
    """The manifest's objects by kind (PyYAML's safe loader, a dev dependency)."""
    objects: dict[str, list[dict[str, Any]]] = {}
    for obj in yaml.safe_load_all(MANIFEST.read_text()):
        if obj is None:
            continue  # a document holding only comments
        assert {"apiVersion", "kind", "metadata"} <= set(obj), obj
        objects.setdefault(obj["kind"], []).append(obj)
    return objects


def the(objects: dict[str, list[dict[str, Any]]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects.get(kind, []) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"one {kind} named {name}"
    return found[0]


def test_the_kubernetes_statefulset_pod_names_are_the_instance_ids_of_its_server_xml(tmp_path: Path) -> None:
    from ring.commands.serve import load_config

    objects = manifest()
    assert set(objects) == {"Service", "ConfigMap", "StatefulSet", "PodDisruptionBudget"}
    sts = objects["StatefulSet"][0]
    namespace = sts["metadata"]["namespace"]
    assert all(o["metadata"].get("namespace") == namespace for group in objects.values() for o in group)
    spec = sts["spec"]
    headless = the(objects, "Service", spec["serviceName"])["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert spec["podManagementPolicy"] == "Parallel"  # ring-0 is not ready alone: OrderedReady would wait for ever
    pod = spec["template"]["spec"]
    volume = next(v for v in pod["volumes"] if "configMap" in v)
    config_map = the(objects, "ConfigMap", volume["configMap"]["name"])
    server_xml = tmp_path / "server.xml"
    server_xml.write_text(config_map["data"]["server.xml"])
    check = subprocess.run([sys.executable, "-m", "ring", "check-config", "--config", str(server_xml)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    pods = [f"{sts['metadata']['name']}-{i}" for i in range(spec["replicas"])]
    config, _ = load_config(str(server_xml), pods[0])
    assert list(config.ring) == pods  # the ring order is the pods' ordinal order
    service = spec["serviceName"]
    for name in pods:  # the stable DNS name of each pod under the headless Service
        assert config.instance(name).host == f"{name}.{service}.{namespace}.svc.cluster.local"
    replication = {p["port"] for p in headless["ports"]}
    assert {config.instance(name).port for name in pods} == replication
    assert config.replication.key, "a ring on a shared network needs a <key>"
    # the container's options after the image's entrypoint, with the pod's name put in
    container = pod["containers"][0]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in container["env"]
    args = [a.replace("$(POD_NAME)", pods[1]) for a in container["args"]]
    parsed = serve_args(image_argv(cmd=False) + args)  # Kubernetes' args replace the image's CMD
    assert load_config(str(server_xml), parsed.local_host)[1] == pods[1]
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert Path(mount["mountPath"]) / "server.xml" == Path(parsed.config)
    assert pod["terminationGracePeriodSeconds"] > parsed.stop_timeout


def test_the_kubernetes_probes_and_budget_fit_the_admin_server_and_the_ring() -> None:
    from ring.config import parse_admin_http

    objects = manifest()
    sts = objects["StatefulSet"][0]
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    parsed = serve_args(image_argv(cmd=False) + container["args"])
    admin_port = parse_admin_http(parsed.admin_http, "--admin-http")[1]
    probes = {"readinessProbe": "/readyz", "livenessProbe": "/livez"}
    for probe, path in probes.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path and ports[get["port"]] == admin_port
        assert admin_answer(get["path"]) == 200
    assert ports["http"] == int(parsed.http.rpartition(":")[2])
    run_as = pod["securityContext"]
    uid = [rest for kw, rest in containerfile(CONTAINERFILE.read_text()) if kw == "USER"][-1].split(":")[0]
    assert run_as["runAsNonRoot"] is True and run_as["runAsUser"] == int(uid)
    budget = objects["PodDisruptionBudget"][0]["spec"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert budget["maxUnavailable"] == 1 and budget["selector"]["matchLabels"].items() <= labels.items()
    for service in objects["Service"]:
        assert service["spec"]["selector"].items() <= labels.items()
