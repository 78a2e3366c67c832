"""Is every session on two live instances? Judged from `ring status` rows (ring.io.statusclient).

Pure: no processes, no clock. `running` names the instances that should answer (started, not
paused, not cut off); the ring is fully redundant when

    every running instance answered                  (a silent one holds copies nobody can count)
    no running instance holds an orphan              (an orphan is a single copy: its owner is gone)
    every running instance's primaries are matched   (sum over the other running instances of the
      by as many backups on the other running ones    backups they hold for it >= its primaries)

so a kill is not "redundant again" until the dead instance's sessions have a second copy, whoever
owns them now. `unredundant` gives the count of sessions short of a second copy, for the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def unredundant(rows: Sequence[dict[str, Any]], running: Iterable[str]) -> int | None:
    """Sessions without a second copy on another running instance; None when a running one is silent."""
    by_id = {r["id"]: r for r in rows}
    names = [n for n in running if n in by_id]
    if any(by_id[n]["state"] != "alive" for n in names) or len(names) != len(set(running)):
        return None
    short = 0
    for owner in names:
        row = by_id[owner]
        short += sum(int(v) for v in (row.get("orphans") or {}).values())
        held = sum(int((by_id[other].get("backups") or {}).get(owner, 0)) for other in names if other != owner)
        short += max(0, int(row.get("primaries") or 0) - held)
    return short


def fully_redundant(rows: Sequence[dict[str, Any]], running: Iterable[str]) -> bool:
    return unredundant(rows, list(running)) == 0
