"""Looking at a simulated ring: who holds what, whether it settled, and waiting until it does.

Helpers for tests and stories over a `SimCluster`. They read only what a node publishes
(`Node.inspect`, `Node.copies`); `wait` is the one that moves time, and `tell_copies` and
`tell_ring` the ones that write to the transcript.
"""

from __future__ import annotations

from collections.abc import Callable

from ring.core import NodeStatus, Role
from ring.core.topology import is_single_cycle, successor_of
from ring.testing.actors import Browser
from ring.testing.sim import SimCluster

__all__ = [
    "assert_backed_up", "assert_quiescent_ring", "detection_time", "holders", "recovered", "reformed",
    "role", "settled", "status", "tell_copies", "tell_ring", "wait", "without",
]


def status(sim: SimCluster, name: str) -> NodeStatus:
    """What instance `name` publishes about itself now."""
    return sim.node(name).inspect(sim.now)


def role(sim: SimCluster, name: str, session_id: str) -> tuple[Role, int] | None:
    """How `name` holds the session: (role, version), or None when it holds no copy."""
    copy = sim.node(name).copies().get(session_id)
    return None if copy is None else (copy.role, copy.version)


def holders(sim: SimCluster, session_id: str) -> dict[str, tuple[Role, int]]:
    """Every copy of the session on a running instance: name -> (role, version)."""
    held = {}
    for name in sim.live():
        found = role(sim, name, session_id)
        if found is not None:
            held[name] = found
    return held


def tell_copies(sim: SimCluster, session_id: str) -> None:
    """Write the copies of the session to the transcript."""
    held = holders(sim, session_id)
    listed = ", ".join(f"{n} {r.value} v{version}" for n, (r, version) in held.items())
    sim.note(f"copies of {session_id}: {listed or 'none'}")


def tell_ring(sim: SimCluster) -> None:
    """Write the ring summary to the transcript, one instance a line."""
    first, *rest = sim.ring_summary().split(" | ")
    sim.note("ring: " + first)
    sim.transcript.extend(" " * 17 + part for part in rest)


def settled(sim: SimCluster, members: list[str] | None = None) -> bool:
    """Among `members` (default: the running instances) each backs up to the next one, no resync
    is under way, and nobody still holds backups for an owner that now backs up elsewhere."""
    members = sim.live() if members is None else members
    successors = {n: successor_of(n, sim.names, members) for n in members}
    for name in members:
        st = status(sim, name)
        if st.resyncing or st.successor != successors[name]:
            return False
        if any(successors.get(owner, name) != name for owner in st.backups):
            return False
    return True


def detection_time(sim: SimCluster) -> float:
    """Ample time to detect a failure and re-form the ring (a few failure timeouts)."""
    return 4 * sim.settings.failure_timeout + 2.0


def wait(sim: SimCluster, what: str, done: Callable[[], bool], seconds: float | None = None) -> None:
    """Run the ring until `done()`; an AssertionError naming `what` if it takes longer than
    `seconds` (default: `detection_time`)."""
    seconds = seconds if seconds is not None else detection_time(sim)
    if not sim.run_until(done, seconds):
        raise AssertionError(f"{what}: not within {seconds:g} s; ring: {sim.ring_summary()}")


def without(sim: SimCluster, *gone: str) -> list[str]:
    """The ring's instances but `gone`, in ring order."""
    return [n for n in sim.names if n not in gone]


def reformed(sim: SimCluster, *gone: str) -> Callable[[], bool]:
    """The others dropped `gone` from their view and back up to each other."""
    members = without(sim, *gone)
    return lambda: settled(sim, members) and all(
        not set(gone) & set(status(sim, n).alive) for n in members)


def assert_backed_up(sim: SimCluster, user: Browser) -> None:
    """Exactly two copies: the primary the locator names, and a backup at its successor, both
    at the latest acknowledged version."""
    held = holders(sim, user.session_id)
    primary, backup = user.locator
    assert status(sim, primary).successor == backup, (
        f"{user.session_id}: its primary {primary} backs up to {status(sim, primary).successor}, "
        f"the locator says {backup}"
    )
    expected = {primary: (Role.PRIMARY, user.version), backup: (Role.BACKUP, user.version)}
    assert held == expected, f"{user.session_id}: copies {held}, expected {expected}"


def recovered(sim: SimCluster) -> bool:
    """Every committed session has two copies: the last failure is fully recovered.

    Nobody paused, every running instance agrees that exactly the running ones are alive, no
    resync is under way (a new successor has every primary) and no orphan is left (an orphan
    is a single copy until it is adopted). Writes in flight are fine: they are not committed.
    """
    live = sim.live()
    if sim.paused or len(live) < 2:
        return False
    want = tuple(n for n in sim.names if n in live)
    for name in live:
        st = status(sim, name)
        if st.alive != want or st.resyncing or st.orphans:
            return False
    return True


def assert_quiescent_ring(sim: SimCluster, read: list[str], context: Callable[[], str]) -> None:
    """After the ring settled: one view, one cycle of successors, every live session one primary
    with its backup at the primary's successor, and no orphan or handed-over copy left of the
    sessions in `read` (a read adopts them). `context()` adds the ring's state to a failure."""
    live = sim.live()
    want = tuple(n for n in sim.names if n in live)
    statuses = {n: status(sim, n) for n in live}
    for n, s in statuses.items():
        assert s.alive == want, f"{n} believes {s.alive} alive, running: {want}\n{context()}"
    successors = {n: s.successor for n, s in statuses.items()}
    assert is_single_cycle(successors), f"successor links {successors} are not one cycle"
    copies_of: dict[str, list[tuple[str, Role, int]]] = {}
    for n in live:
        for sid, copy in sim.node(n).copies().items():
            copies_of.setdefault(sid, []).append((n, copy.role, copy.version))
    for sid, copies in copies_of.items():
        primaries = [(n, v) for n, r, v in copies if r is Role.PRIMARY]
        assert len(primaries) <= 1, f"{sid} has several primaries: {copies}\n{context()}"
        if primaries and not sim.node(primaries[0][0]).copies()[sid].record.deleted:
            owner, version = primaries[0]
            backups = [(n, v) for n, r, v in copies if r is Role.BACKUP]
            expected = [(successors[owner], version)] if successors[owner] else []
            assert backups == expected, (
                f"{sid}: primary on {owner} v{version}, backups {backups}, expected {expected}\n"
                f"{context()}")
    for sid in read:
        stray = [(n, r.value, v) for n, r, v in copies_of.get(sid, []) if r in (Role.ORPHAN, Role.HANDED_OVER)]
        assert not stray, f"{sid} was read but copies remain: {stray}\n{context()}"
