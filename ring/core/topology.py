"""Ring order: who backs up whom, given who is believed alive.

The ring is the static list of enabled instances in document order, closed into a cycle.
`successor_of(x)` is the first instance after x that is alive; the view of "alive" is each
instance's own (there is no global agreement, only convergence through pings).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def successor_of(me: str, order: Sequence[str], alive: Collection[str]) -> str | None:
    """First instance after `me` in ring order that is in `alive`; None when `me` is alone."""
    n = len(order)
    start = order.index(me)
    for step in range(1, n):
        candidate = order[(start + step) % n]
        if candidate in alive:
            return candidate
    return None


def predecessor_of(me: str, order: Sequence[str], alive: Collection[str]) -> str | None:
    """First instance before `me` in ring order that is in `alive`; None when `me` is alone."""
    n = len(order)
    start = order.index(me)
    for step in range(1, n):
        candidate = order[(start - step) % n]
        if candidate in alive:
            return candidate
    return None


def walk_from(first: str, order: Sequence[str]) -> list[str]:
    """All instances in ring order starting at `first` (inclusive)."""
    start = order.index(first)
    return [order[(start + i) % len(order)] for i in range(len(order))]


def discovery_candidates(
    me: str, order: Sequence[str], hint_primary: str, hint_backup: str, max_hops: int
) -> list[str]:
    """Where to look for a session's copies, in order (DESIGN.md 4.3).

    The primary named by the locator, its backup, then the ring from the primary's successor
    onward; at most `max_hops` instances (-1: all). Hints that name no member are ignored, so a
    forged locator can never make an instance contact a stranger. `me` is never a candidate: the
    local copy is checked without a message.
    """
    members = set(order)
    ordered: list[str] = []
    for name in (hint_primary, hint_backup):
        if name in members and name not in ordered:
            ordered.append(name)
    anchor = hint_primary if hint_primary in members else me
    for name in walk_from(anchor, order)[1:] + [anchor]:
        if name not in ordered:
            ordered.append(name)
    ordered = [name for name in ordered if name != me]
    if max_hops > 0:
        ordered = ordered[:max_hops]
    return ordered


def is_single_cycle(successors: dict[str, str | None]) -> bool:
    """True when following successor links from any instance visits every instance once."""
    if not successors:
        return True
    if len(successors) == 1:
        (only, nxt), = successors.items()
        return nxt is None
    start = next(iter(successors))
    seen = [start]
    current = successors[start]
    while current is not None and current != start and current not in seen:
        if current not in successors:
            return False
        seen.append(current)
        current = successors[current]
    return current == start and len(seen) == len(successors)
