"""The invariants RingMachine checks after every step (a mixin: see ring.testing.machine).

1 a committed write survives, 2 at most one writable copy, 5 invalidated sessions stay dead,
6 epochs and incarnations never go back, and (issue 9) no adoptable copy older than a committed
tombstone that could bring a logout back. Invariants 3 (read-only copies refuse writes) and 4
(no read older than the last commit) are checked where they happen: in the
`write_to_a_read_only_copy` rule and in the model's load check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis.stateful import invariant

from ring.core import Role

if TYPE_CHECKING:
    from ring.testing.model import FailureBudget, ProcessHistory, SessionModel
    from ring.testing.sim import SimCluster

__all__ = ["RingInvariants"]


class RingInvariants:
    """Mixed into RingMachine, which provides the attributes declared here."""

    sim: SimCluster
    budget: FailureBudget
    model: SessionModel
    processes: ProcessHistory

    def assert_redundant(self) -> None:
        """After quiescence, before any user returns (issue 10): every committed session has
        exactly one primary-or-orphan copy and one backup, on two distinct live instances."""
        live = self.running()
        if self.budget.over_budget or len(live) < 2:
            return
        for sid, c in self.model.committed.items():
            if not c.covered or c.deleted:
                continue
            held = {n: self.sim.node(n).copies()[sid].role for n in live if sid in self.sim.node(n).copies()}
            owners = [n for n, r in held.items() if r in (Role.PRIMARY, Role.ORPHAN)]
            backups = [n for n, r in held.items() if r is Role.BACKUP]
            assert len(owners) == 1 and len(backups) == 1 and owners != backups, (
                f"{sid} (committed v{c.version}) is not redundant after the ring settled: "
                f"{ {n: r.value for n, r in held.items()} }\n{self.context()}")

    if TYPE_CHECKING:  # RingMachine's
        def running(self) -> list[str]: ...
        def up(self) -> list[str]: ...
        def context(self) -> str: ...

    @invariant()
    def committed_writes_survive(self) -> None:
        """1: a committed write is held, at its version or newer, by some non-crashed instance."""
        if self.budget.over_budget:
            return
        held: dict[str, int] = {}
        for name in self.up():
            for sid, copy in self.sim.node(name).copies().items():
                held[sid] = max(held.get(sid, 0), copy.version)
        for sid, c in self.model.committed.items():
            if c.covered and not c.deleted:
                assert held.get(sid, 0) >= c.version, (
                    f"committed {sid} v{c.version} is held nowhere (newest copy: v{held.get(sid)})\n"
                    f"{self.context()}")

    @invariant()
    def at_most_one_writable_copy(self) -> None:
        """2: at most one primary with a valid lease per session.

        Exception (DESIGN.md 4.6, availability first): when a running instance believes it is alone
        (no successor) while another instance still exists, the ring is partitioned in its view and
        both sides may serve; those writes are the documented unreplicated ones.
        """
        sim = self.sim
        live = self.running()
        if len(self.up()) > 1 and any(sim.node(n).inspect(sim.now).successor is None for n in live):
            return
        writable: dict[str, list[str]] = {}
        for name in live:
            node = sim.node(name)
            if not node.lease_valid(sim.now):
                continue
            for sid, copy in node.copies().items():
                if copy.role is Role.PRIMARY:
                    writable.setdefault(sid, []).append(name)
        for sid, names in writable.items():
            assert len(names) == 1, f"{sid} is writable on {names}\n{self.context()}"

    @invariant()
    def invalidated_sessions_stay_dead(self) -> None:
        """5: no live copy at or above a committed tombstone's version."""
        if self.budget.over_budget:
            return
        for name in self.up():
            for sid, copy in self.sim.node(name).copies().items():
                c = self.model.committed.get(sid)
                if c is not None and c.deleted and c.covered and copy.version >= c.version:
                    assert copy.record.deleted, (
                        f"{sid} was invalidated at v{c.version}, {name} holds live v{copy.version}\n"
                        f"{self.context()}")

    @invariant()
    def epochs_and_incarnations_never_go_back(self) -> None:
        """6: per process, epoch and incarnation only grow; a restart starts above every earlier one."""
        self.processes.check(self.sim)

