"""What one instance reports about itself: the snapshot behind `ring status`, metrics and tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStatus:
    id: str
    incarnation: int
    epoch: int  # view changes seen by this instance
    alive: tuple[str, ...]
    successor: str | None
    primaries: int
    backups: dict[str, int]  # owner -> live backups held for it
    orphans: dict[str, int]  # dead owner -> orphans held for it
    handed_over: int
    resyncing: bool
    lease_valid: bool
    unreplicated_writes: int
    pending_writes: int
    peers: dict[str, tuple[str, int]]  # peer -> (state, incarnation)
    adoptions: int = 0  # claim rounds under way, orphans queued for an eager one, copies handed over
    parked_loads: int = 0  # loads waiting for a write, an adoption or the lease
    drops_due: int = 0  # old successors not yet told to drop their backups of us
    releases_due: int = 0  # old holders of adopted sessions not yet told to drop their copies
    # sessions held here with no second copy yet: orphans, primaries the resync has not sent (or
    # all primaries when alone); 0 everywhere = every live session has two copies
    unredundant: int = 0
