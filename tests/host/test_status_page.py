"""The status page's drawing and the admin routes, from status rows: no process, no network."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ring.host.admin import AdminServer, Snapshots
from ring.host.statuspage import COLUMNS, holdings, page_html, panel_html, ring_svg, table_cells
from ring.io.statusclient import problems, unreachable_row
from ring.serverxml import parse_server_xml


def alive(name: str, successor: str | None, *, primaries: int = 0, backups: dict[str, int] | None = None,
          orphans: dict[str, int] | None = None, resyncing: bool = False) -> dict[str, Any]:
    return {**unreachable_row(name, f"127.0.0.1:{1000 + len(name)}"), "state": "alive", "incarnation": 1,
            "successor": successor, "primaries": primaries, "backups": backups or {}, "orphans": orphans or {},
            "resyncing": resyncing, "version": "0.1.0", "uptime_seconds": 75.0, "http_address": None,
            "admin_address": None, "ready": True, "lease_valid": True, "pending_writes": 0}


HEALTHY = [alive("a", "b", primaries=3, backups={"c": 1}), alive("b", "c", primaries=2, backups={"a": 3}),
           alive("c", "a", primaries=1, backups={"b": 2})]
AFTER_C_DIED = [alive("a", "b", primaries=3, orphans={"c": 1}, resyncing=True),
                alive("b", "a", primaries=2, backups={"a": 3}), unreachable_row("c", "127.0.0.1:1099")]


def _svg(rows: list[dict[str, Any]]) -> ElementTree.Element:
    return ElementTree.fromstring(ring_svg(rows))  # well-formed XML, or this raises


NS = "{http://www.w3.org/2000/svg}"


def test_instances_sit_on_a_circle_in_ring_order_with_successor_arrows() -> None:
    svg = _svg(HEALTHY)
    groups = svg.findall(f"{NS}g")
    assert [g.get("data-id") for g in groups] == ["a", "b", "c"]
    tops = [float(g.find(f"{NS}circle").get("cy")) for g in groups]  # type: ignore[union-attr]
    assert tops[0] == min(tops), "the first instance is drawn at the top"
    assert len(svg.findall(f"{NS}line")) == 3, "one arrow per live instance"
    assert all(g.get("class") == "instance alive" for g in groups)


def test_a_dead_instance_is_red_and_has_no_arrow_and_problems_are_labelled() -> None:
    svg = _svg(AFTER_C_DIED)
    dead = [g for g in svg.findall(f"{NS}g") if g.get("data-id") == "c"][0]
    assert dead.get("class") == "instance dead"
    assert dead.find(f"{NS}circle").get("fill") == "#c62828"  # type: ignore[union-attr]
    lines = svg.findall(f"{NS}line")
    assert len(lines) == 2 and sum("resync" in (ln.get("class") or "") for ln in lines) == 1
    texts = " ".join(t.text or "" for t in svg.iter(f"{NS}text"))
    assert "down" in texts and "O 1" in texts and "resync" in texts


def test_problems_name_what_degrades_the_ring() -> None:
    assert problems(HEALTHY) == []
    found = problems(AFTER_C_DIED)
    assert found[0] == "instance down: c"
    assert any("orphans" in p for p in found) and any("resync in progress on a" in p for p in found)
    alone = [alive("a", None, primaries=4), unreachable_row("b", "x:1")]
    assert any("no backup for the sessions of a" in p for p in problems(alone))


def test_the_page_and_panel_escape_ids_and_carry_the_table_and_the_script() -> None:
    rows = [alive("<x>", None)]
    page = page_html("ring <x>", rows, problems(rows))
    assert "<td><x></td>" not in page and "&lt;x&gt;" in page
    assert "fetch('status.json'" in page and "setInterval(poll, 2000)" in page
    panel = panel_html(HEALTHY, [])
    assert "healthy" in panel and panel.count("<tr") == 4
    assert len(table_cells(HEALTHY[0])) == len(COLUMNS)
    assert table_cells(HEALTHY[0])[COLUMNS.index("uptime")] == "1m 15s"


def test_snapshots_ask_once_per_second() -> None:
    now = [0.0]
    asked = []
    snaps = Snapshots(lambda: asked.append(1) or [], clock=lambda: now[0])
    snaps.rows()
    snaps.rows()
    now[0] = 1.5
    snaps.rows()
    assert len(asked) == 2


def test_admin_routes_over_http(tmp_path: Path) -> None:
    config = parse_server_xml("""<server><cluster>
      <instance><host>127.0.0.1</host><session-replication><port>1</port><instance-id>a</instance-id>
      </session-replication></instance></cluster></server>""", str(tmp_path / "server.xml"))
    ready = [False]
    admin = AdminServer("127.0.0.1", 0, config=config, me="a", ready=lambda: ready[0],
                        metrics=lambda: b"ring_session_saves_total 0.0\n")
    admin.start()
    base = f"http://{admin.address}"
    try:
        def get(path: str) -> tuple[int, str, str]:
            try:
                with urllib.request.urlopen(base + path, timeout=5) as r:
                    return r.status, r.headers["Content-Type"], r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.headers["Content-Type"], e.read().decode()

        assert get("/livez")[0] == 200
        assert get("/readyz")[0] == 503
        ready[0] = True
        assert get("/readyz")[0] == 200
        assert get("/metrics")[2].startswith("ring_session_saves_total")
        status, kind, body = get("/status.json")
        assert status == 200 and kind == "application/json"
        assert [r["state"] for r in json.loads(body)["instances"]] == ["unreachable"]
        status, kind, body = get("/")
        assert status == 200 and kind.startswith("text/html") and re.search(r'class="instance dead"', body)
        assert get("/panel")[0] == 200 and get("/nope")[0] == 404
    finally:
        admin.stop()


def test_sessions_without_a_second_copy_are_named_per_instance_and_drawn() -> None:
    rows = [{**alive("a", "b", primaries=3), "unredundant": 2}, alive("b", "a", primaries=1)]
    assert "sessions without a second copy: a 2" in problems(rows)
    assert table_cells(rows[0])[COLUMNS.index("single")] == "2"
    assert holdings(rows[0], 2)["U"] == 2
