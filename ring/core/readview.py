"""What request threads may read without a step: the sessions this instance can serve right now.

The node is the only writer: it publishes the view at the end of every `step`, on the driver's
thread. Other threads read it without a lock for the fast path of a load (a primary this instance
owns, no write of it in flight, its lease valid), which then costs no hop to the driver. Each
entry is an immutable record, set or removed whole, and `serving` is one immutable object swapped
whole, so a reader sees the state at one instant of the driver: the answer `step(LoadRequested)`
would have given then. Anything else (a miss, an expired lease) goes through `step`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ring.core.messages import SessionRecord


@dataclass(frozen=True, slots=True)
class Serving:
    lease_until: float  # monotonic time until which this instance may serve its primaries
    successor: str  # "" when alone


class ReadView:
    def __init__(self) -> None:
        self.serving = Serving(lease_until=float("-inf"), successor="")
        self._records: dict[str, SessionRecord] = {}

    def servable(self, session_id: str, now: float) -> tuple[SessionRecord, str] | None:
        """(the record, the successor holding its backup) when it can be served now, else None."""
        serving = self.serving
        if now >= serving.lease_until:
            return None
        record = self._records.get(session_id)
        return None if record is None else (record, serving.successor)

    # ---- the node's side (driver thread only)

    def refresh(self, serving: Serving, touched: set[str],
                servable: Callable[[str], SessionRecord | None]) -> None:
        """Publish `serving` and, for each touched session, what `servable` says of it now."""
        if serving != self.serving:
            self.serving = serving
        records = self._records
        for sid in touched:
            record = servable(sid)
            if record is None:
                records.pop(sid, None)
            else:
                records[sid] = record

    def __len__(self) -> int:
        return len(self._records)
