"""The admin status page: the ring drawn as SVG, and the table of `ring status`, as HTML.

Pure functions of the status rows (ring.io.statusclient, the rows `ring status --json` prints):
`ring_svg` draws the instances in ring order on a circle, clockwise from the top, an arrow from
each live instance to its successor (dashed orange while a resync to it runs), unreachable
instances in red, and under each instance what it holds: P primaries, B backups, O orphans
(sessions of a dead owner held once), U unredundant (primaries with no live successor).
`panel_html` adds the problems and the table; `page_html` is the whole page, whose small script
polls /status.json every two seconds and, when the answer changed, swaps the panel for a fresh one
from /panel. No session id is ever shown: the rows hold counts only.
"""

from __future__ import annotations

import html
import math
from typing import Any

SIZE = 520  # the SVG's square viewBox
RADIUS = 170  # of the ring
NODE = 36  # radius of one instance
PAD = 110  # room left and right of the square for the labels of the side instances
ALIVE, DEAD, RESYNC = "#2e7d32", "#c62828", "#ef6c00"

Row = dict[str, Any]


def _positions(n: int) -> list[tuple[float, float]]:
    c = SIZE / 2
    return [(c + RADIUS * math.cos(-math.pi / 2 + 2 * math.pi * i / n),
             c + RADIUS * math.sin(-math.pi / 2 + 2 * math.pi * i / n)) for i in range(n)]


def _arrow(a: tuple[float, float], b: tuple[float, float], resync: bool) -> str:
    (x1, y1), (x2, y2) = a, b
    d = math.hypot(x2 - x1, y2 - y1) or 1.0
    ux, uy = (x2 - x1) / d, (y2 - y1) / d
    # shifted to the right of its direction, so a -> b and b -> a of a two-instance ring are two arrows
    x1, y1, x2, y2 = x1 - uy * 7, y1 + ux * 7, x2 - uy * 7, y2 + ux * 7
    gap = NODE + 4
    color, marker = (RESYNC, "resync") if resync else ("#555", "succ")
    dash = ' stroke-dasharray="8 5"' if resync else ""
    return (f'<line class="successor{" resync" if resync else ""}" x1="{x1 + ux * gap:.1f}" '
            f'y1="{y1 + uy * gap:.1f}" x2="{x2 - ux * gap:.1f}" y2="{y2 - uy * gap:.1f}" stroke="{color}" '
            f'stroke-width="3"{dash} marker-end="url(#{marker})"/>')


def holdings(row: Row, ring_size: int) -> dict[str, int]:
    """What an alive instance holds, as the drawing labels it (P, B, O, U)."""
    primaries = row["primaries"] or 0
    unredundant = row.get("unredundant") or (primaries if row["successor"] is None and ring_size > 1 else 0)
    return {"P": primaries, "B": sum(row["backups"].values()), "O": sum(row["orphans"].values()),
            "U": unredundant}


def ring_svg(rows: list[Row]) -> str:
    """The ring as an inline SVG element."""
    at = dict(zip((r["id"] for r in rows), _positions(max(1, len(rows))), strict=True))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{-PAD} 0 {SIZE + 2 * PAD} {SIZE}" '
             f'width="{SIZE + 2 * PAD}" '
             f'height="{SIZE}" role="img" aria-label="the ring">',
             "<defs>" + "".join(
                 f'<marker id="{m}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                 f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{c}"/></marker>'
                 for m, c in (("succ", "#555"), ("resync", RESYNC))) + "</defs>",
             f'<circle cx="{SIZE / 2}" cy="{SIZE / 2}" r="{RADIUS}" fill="none" stroke="#ddd" '
             'stroke-width="1"/>']
    for r in rows:
        succ = r["successor"]
        if r["state"] == "alive" and succ in at and succ != r["id"]:
            parts.append(_arrow(at[r["id"]], at[succ], bool(r["resyncing"])))
    for r in rows:
        x, y = at[r["id"]]
        alive = r["state"] == "alive"
        name = html.escape(r["id"])
        parts.append(f'<g class="instance {"alive" if alive else "dead"}" data-id="{name}">'
                     f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{NODE}" fill="{ALIVE if alive else DEAD}"/>'
                     f'<text x="{x:.1f}" y="{y + 6:.1f}" text-anchor="middle" font-size="18" '
                     f'font-family="sans-serif" fill="#fff">{name}</text>')
        lines = ["down"] if not alive else _labels(r, len(rows))
        # labels sit outside the ring, away from the arrows inside it, stacked outwards
        c = SIZE / 2
        d = math.hypot(x - c, y - c) or 1.0
        ux, uy = (x - c) / d, (y - c) / d
        anchor = "start" if ux > 0.3 else ("end" if ux < -0.3 else "middle")
        lx, ly = x + ux * (NODE + 8), y + uy * (NODE + 14) + 5
        step = 16 if uy >= -0.3 else -16
        for i, line in enumerate(lines):
            color = DEAD if not alive else ("#333" if i == 0 else RESYNC)
            parts.append(_label(lx, ly + i * step, line, color, anchor))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _labels(row: Row, ring_size: int) -> list[str]:
    """What an alive instance's labels say: its holdings, then its warnings (if any)."""
    held = holdings(row, ring_size)
    warnings = [f"{k} {v}" for k, v in held.items() if k in "OU" and v] + (["resync"] if row["resyncing"] else [])
    return [f"P {held['P']} · B {held['B']}"] + ([" · ".join(warnings)] if warnings else [])


def _label(x: float, y: float, text: str, color: str, anchor: str = "middle") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="13" font-family="sans-serif" '
            f'fill="{color}">{html.escape(text)}</text>')


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 86400}d {s % 86400 // 3600}h" if s >= 86400 else (
        f"{s // 3600}h {s % 3600 // 60}m" if s >= 3600 else f"{s // 60}m {s % 60}s")


COLUMNS = ("instance", "state", "address", "http", "admin", "version", "uptime", "ready", "successor",
           "primaries", "backups", "orphans", "single", "resync", "pending")


def table_cells(r: Row) -> list[str]:
    """One row of the status table as text cells, in COLUMNS order (shared with `ring status`)."""
    alive = r["state"] == "alive"

    def counts(d: dict[str, int]) -> str:
        return " ".join(f"{k}:{v}" for k, v in d.items()) or "-"

    def flag(v: Any) -> str:
        return "-" if v is None else ("yes" if v else "no")

    ready = "-" if not alive or r.get("ready") is None else (
        "ready" if r["ready"] else ("no lease" if not r.get("lease_valid") else "not ready"))
    return [r["id"], "alive" if alive else "unreachable", r["address"], r.get("http_address") or "-",
            r.get("admin_address") or "-", r.get("version") or "-", _uptime(r.get("uptime_seconds")), ready,
            r["successor"] or "-", str(r["primaries"]) if alive else "-", counts(r["backups"]),
            counts(r["orphans"]), "-" if r.get("unredundant") is None else str(r["unredundant"]),
            flag(r["resyncing"]) if alive else "-",
            "-" if r.get("pending_writes") is None else str(r["pending_writes"])]


def panel_html(rows: list[Row], problems: list[str]) -> str:
    """The drawing, the verdict and the table: what the page swaps on every change."""
    verdict = ('<p class="ok">healthy: every instance up, every session held twice</p>' if not problems
               else '<ul class="problems">' + "".join(f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>")
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = "".join(
        f'<tr class="{html.escape(r["state"])}">' + "".join(f"<td>{html.escape(c)}</td>" for c in table_cells(r))
        + "</tr>" for r in rows)
    return (f'<div class="drawing">{ring_svg(rows)}</div>{verdict}'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


_STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:1.3em}
table{border-collapse:collapse;margin-top:1em}th,td{border:1px solid #ccc;padding:.25em .5em;font-size:.9em}
tr.unreachable td{color:#c62828}.ok{color:#2e7d32}.problems{color:#c62828}#updated{color:#777;font-size:.8em}"""

_SCRIPT = """let last = null;
async function poll() {
  const note = document.getElementById('updated');
  try {
    const answer = await fetch('status.json', {cache: 'no-store'});
    const text = await answer.text();
    if (text !== last) {
      last = text;
      const panel = await fetch('panel', {cache: 'no-store'});
      document.getElementById('panel').innerHTML = await panel.text();
    }
    note.textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (err) {
    note.textContent = 'the admin endpoint does not answer (' + err + '); retrying';
  }
}
setInterval(poll, %(interval)d);"""


def page_html(title: str, rows: list[Row], problems: list[str], interval_ms: int = 2000) -> str:
    """The whole status page, with the current panel in it (it works without the script too)."""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<div id="panel">{panel_html(rows, problems)}</div><p id="updated"></p>'
            f"<script>{_SCRIPT % {'interval': interval_ms}}</script></body></html>")
