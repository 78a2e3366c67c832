"""The iPlanet stories as scenario scripts, played on a simulated cluster (ring.testing.sim).

Each scenario is a function `(sim: SimCluster) -> None` that plays one story of DESIGN.md section 4
on a ring of pure nodes (manual clock, simulated network) and asserts its own outcome: when the
story does not come true it raises AssertionError saying what went wrong. `run_scenario` returns the
transcript it leaves, meant to be read by a reviewer; the golden copies are in
tests/scenarios/expected/ and `ring simulate` prints them. A transcript line is one of

    [t=  0.05] client: POST /incr for s1 at a -> count=1 (v1), locator a|b   a step of the script
    [t=  2.15] d: view 1: alive b,c,d; backs up to b                        an effect of the core,
                                                                             tagged with its instance
    [t=  2.15] ring: a: down                                                 sim.ring_summary(), one
                     b->c primaries=1 backups=d:1 orphans=a:1                instance a line

Effects are told in the words of ring.core.narrate, the engine's log uses the same ones. Pings and
replication batches are never shown; of the messages only the ones that carry the story are
(DropBackups after a rejoin, Release after an adoption), and a refusal only when it fences, once
per instance, sender and kind.

Roles are taken by position (ring.testing.actors), so every scenario plays on any ring order (from
server.xml); a scenario that needs more instances says so (`min_instances`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ring.core import CoreSettings, Effect, Rejected, Role
from ring.core.narrate import describe, refuses_a_fenced_sender
from ring.core.topology import successor_of
from ring.errors import ScenarioFailed, ScenarioTooSmall
from ring.testing.actors import Browser, Cast, balancer, decode_count, populate
from ring.testing.checks import (
    assert_backed_up,
    holders,
    reformed,
    role,
    settled,
    status,
    tell_copies,
    tell_ring,
    wait,
)
from ring.testing.sim import SimCluster

__all__ = ["DEFAULT_ORDER", "SCENARIOS", "Narrator", "Scenario", "run_scenario", "start_ring"]

DEFAULT_ORDER = ("a", "b", "c", "d")

Play = Callable[[SimCluster], None]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A story: its name (for `ring simulate --scenario`), a one-line title, the script."""

    name: str
    title: str  # one line
    play: Play
    min_instances: int = 2


SCENARIOS: dict[str, Scenario] = {}


def _scenario(name: str, title: str, min_instances: int = 2) -> Callable[[Play], Play]:
    def register(play: Play) -> Play:
        SCENARIOS[name] = Scenario(name, title, play, min_instances)
        return play

    return register


def run_scenario(
    name: str, order: tuple[str, ...] | None = None, settings: CoreSettings | None = None
) -> list[str]:
    """Play scenario `name` on a fresh simulated ring (default a,b,c,d); its transcript lines.

    Raises KeyError for an unknown name, ScenarioTooSmall when `order` is too short for the story,
    ScenarioFailed (an AssertionError, with the transcript so far) when the story does not come true.
    """
    scenario = SCENARIOS[name]
    order = tuple(order or DEFAULT_ORDER)
    if len(order) < scenario.min_instances:
        raise ScenarioTooSmall(
            f"scenario {name!r} needs at least {scenario.min_instances} instances; "
            f"this ring has {len(order)} ({', '.join(order)})"
        )
    if len(set(order)) != len(order):
        raise ValueError(f"instance names repeat in the ring order {order!r}")
    sim = SimCluster(order, settings)
    sim.on_effect = Narrator(sim)
    try:
        scenario.play(sim)
    except AssertionError as failure:
        raise ScenarioFailed(str(failure), list(sim.transcript)) from failure
    return list(sim.transcript)


class Narrator:
    """Writes the effects that carry the story to the transcript, as `instance: sentence`.

    Set it as `sim.on_effect`. A refusal is told only when it fences, and only the first time per
    instance, sender and kind of message: once is enough to show the fence.
    """

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim
        self._refusals_told: set[tuple[str, str, str]] = set()

    def __call__(self, instance: str, effect: Effect) -> None:
        if isinstance(effect, Rejected):
            key = (instance, effect.peer, effect.what)
            if not refuses_a_fenced_sender(effect) or key in self._refusals_told:
                return
            self._refusals_told.add(key)
        line = describe(instance, effect)
        if line:
            self.sim.note(f"{instance}: {line}")


def start_ring(sim: SimCluster) -> None:
    """The opening of every story: the ring forms and every instance holds a valid lease."""
    sim.note(f"-- the ring starts: {'->'.join(sim.names + sim.names[:1])}")
    wait(sim, "the ring forms", lambda: settled(sim) and all(
        status(sim, n).lease_valid for n in sim.names))


# ================================================================== the stories


@_scenario("normal-ring", "Normal operation: each instance backs up its sessions to its successor")
def normal_ring(sim: SimCluster) -> None:
    start_ring(sim)
    users = populate(sim)
    tell_ring(sim)
    for user, home in zip(users, sim.names, strict=True):
        assert user.locator == (home, successor_of(home, sim.names, sim.names)), (
            f"{user.session_id}: locator {user.locator}"
        )
        assert_backed_up(sim, user)
    for name in sim.names:
        st = status(sim, name)
        predecessor = sim.names[sim.names.index(name) - 1]
        assert st.primaries == 1, f"{name} holds {st.primaries} primaries, expected 1"
        assert st.backups == {predecessor: 1} and not st.orphans, (
            f"{name}: backups {st.backups}, orphans {st.orphans}; expected one backup of {predecessor}"
        )


@_scenario("failover", "A fails: D backs up to B; B adopts A's sessions and backs them up on C", 3)
def failover(sim: SimCluster) -> None:
    _failover(sim)


def _failover(sim: SimCluster) -> list[Browser]:
    """The failover story; its users (s1 belongs to A, the last one to D)."""
    cast = Cast.of(sim.names)
    start_ring(sim)
    users = populate(sim)
    tell_ring(sim)
    sim.crash(cast.A)
    wait(sim, f"the ring re-forms without {cast.A} and every session has two copies again",
         lambda: reformed(sim, cast.A)() and not status(sim, cast.B).orphans)
    tell_ring(sim)
    d, b = status(sim, cast.D), status(sim, cast.B)
    assert d.successor == cast.B, f"{cast.D} backs up to {d.successor}, expected {cast.B}"
    assert b.backups == {cast.D: 1}, f"{cast.B} holds backups {b.backups}, expected {{{cast.D!r}: 1}}"
    of_a = users[0]
    held = role(sim, cast.B, of_a.session_id)
    assert held is not None and held[0] is Role.PRIMARY and held[1] > of_a.version, (
        f"{cast.B} holds {of_a.session_id} as {held}, expected its adopted primary above v{of_a.version}")
    backup = successor_of(cast.B, sim.names, sim.live())
    assert backup is not None and role(sim, backup, of_a.session_id) == (Role.BACKUP, held[1]), (
        f"{of_a.session_id} has no backup on {backup}: {holders(sim, of_a.session_id)}")
    tell_copies(sim, of_a.session_id)
    sim.note(f"-- {cast.D}'s writes now go to {cast.B}")
    users[-1].incr(cast.D)
    assert users[-1].locator == (cast.D, cast.B), f"{users[-1].session_id}: locator {users[-1].locator}"
    assert_backed_up(sim, users[-1])
    return users


@_scenario("rejoin", "A restarts empty and rejoins; its user comes back and A adopts the session from B", 3)
def rejoin(sim: SimCluster) -> None:
    cast = Cast.of(sim.names)
    users = _failover(sim)
    user = users[0]
    sim.restart(cast.A)
    wait(sim, f"{cast.D} backs up to {cast.A} again and {cast.B} drops {cast.D}'s backups",
         lambda: settled(sim) and cast.A in status(sim, cast.D).alive)
    tell_ring(sim)
    assert status(sim, cast.A).primaries == 0, f"{cast.A} restarted with primaries"
    held = role(sim, cast.B, user.session_id)
    assert held is not None and held[0] is Role.PRIMARY, (
        f"{cast.B} should hold {user.session_id} (adopted when {cast.A} died), holds {held}")
    sim.note(f"-- the balancer routes {user.session_id}'s user back to {cast.A}")
    user.incr(cast.A)
    tell_copies(sim, user.session_id)
    assert_backed_up(sim, user)
    tell_ring(sim)
    assert not status(sim, cast.B).orphans, f"{cast.B} still keeps orphans {status(sim, cast.B).orphans}"


@_scenario("orphan-adoption", "A crashes; its user's next request lands on C, which adopts from B's orphan", 3)
def orphan_adoption(sim: SimCluster) -> None:
    cast = Cast.of(sim.names)
    start_ring(sim)
    user = populate(sim)[0]
    tell_ring(sim)
    tell_copies(sim, user.session_id)
    sim.crash(cast.A)
    sim.note(f"-- the balancer sends {user.session_id}'s user (locator {'|'.join(user.locator)}) to {cast.C}")
    user.incr(cast.C)
    tell_copies(sim, user.session_id)
    tell_ring(sim)
    assert user.locator[0] == cast.C, f"{user.session_id}: locator {user.locator}"
    assert_backed_up(sim, user)  # B's orphan was released (unless B is C's backup now)


@_scenario("paused-instance",
           "A is paused past the failure timeout; on resume it is fenced and serves nothing stale")
def paused_instance(sim: SimCluster) -> None:
    cast = Cast.of(sim.names)
    start_ring(sim)
    user = populate(sim)[0]
    incarnation = status(sim, cast.A).incarnation
    tell_ring(sim)
    sim.pause(cast.A)
    wait(sim, f"the ring re-forms without {cast.A}", reformed(sim, cast.A))
    elsewhere = balancer(sim, cast.C if cast.C != cast.A else cast.B)
    sim.note(f"-- the balancer sends {user.session_id}'s user to {elsewhere}")
    user.incr(elsewhere)
    user.incr(elsewhere)
    tell_ring(sim)
    sim.resume(cast.A)
    sim.note(f"-- {user.session_id}'s user is routed back to {cast.A} at once")
    op = user.show(cast.A)
    assert op.outcome != "ok" or decode_count(op.loaded_data) == user.count, (
        f"{cast.A} served {user.session_id} with count {decode_count(op.loaded_data)}, "
        f"the latest acknowledged count is {user.count}"
    )
    wait(sim, f"{cast.A} is fenced and rejoins", lambda: settled(sim) and all(
        len(status(sim, n).alive) == len(sim.names) for n in sim.names))
    tell_ring(sim)
    a = status(sim, cast.A)
    assert a.incarnation > incarnation, f"{cast.A} kept incarnation {a.incarnation} after it was declared dead"
    user.incr(cast.A)
    tell_copies(sim, user.session_id)
    assert_backed_up(sim, user)
    tell_ring(sim)


# four at least: of a ring of three, the one left after two failures is not the first instance,
# and cannot tell its last peer's death from a cut link, so it does not go on alone (README)
@_scenario("double-failure",
           "A crashes; once every session has two copies again, B crashes too: nothing is lost", 4)
def double_failure(sim: SimCluster) -> None:
    cast = Cast.of(sim.names)
    start_ring(sim)
    users = populate(sim)
    homes = {user.session_id: home for user, home in zip(users, sim.names, strict=True)}
    second = Browser(sim, f"s{len(users) + 1}")
    second.incr(cast.A)
    users.append(second)
    homes[second.session_id] = cast.A
    tell_ring(sim)
    sim.crash(cast.A)
    wait(sim, f"the ring re-forms without {cast.A} and {cast.B} adopts its sessions",
         lambda: reformed(sim, cast.A)() and not status(sim, cast.B).orphans)
    tell_ring(sim)
    for user in (users[0], second):
        tell_copies(sim, user.session_id)
    sim.note(f"-- iPlanet would keep {cast.A}'s sessions as single orphan copies on {cast.B}: "
             f"they would die with it")
    sim.crash(cast.B)
    wait(sim, f"the ring re-forms without {cast.A} and {cast.B}",
         lambda: reformed(sim, cast.A, cast.B)() and not any(status(sim, n).orphans for n in sim.live()))
    tell_ring(sim)
    sim.note("-- every user comes back (the balancer picks the next running instance)")
    lost = []
    for user in users:
        op = user.show(balancer(sim, homes[user.session_id]))
        assert op.outcome == "ok", f"GET /session for {user.session_id} failed: {op.reason}"
        if not op.loaded_version:
            lost.append(user.session_id)
        else:
            assert decode_count(op.loaded_data) == user.count, (
                f"{user.session_id}: count {decode_count(op.loaded_data)}, acknowledged {user.count}")
    sim.note(f"-- lost: {', '.join(lost) or 'nothing'}")
    assert not lost, f"lost {sorted(lost)}: redundancy was restored before the second failure"
    tell_ring(sim)


@_scenario("non-sticky", "A non-sticky balancer: ownership follows every request")
def non_sticky(sim: SimCluster) -> None:
    start_ring(sim)
    n = len(sim.names)
    pattern = (0, 2, 1, 3) if n >= 4 else (0, 2, 1, 0) if n == 3 else (0, 1, 0, 1)
    user = Browser(sim, "s1")
    for at in (sim.names[i] for i in pattern):
        user.incr(at)
        tell_copies(sim, user.session_id)
        held = holders(sim, user.session_id)
        writable = [name for name, (kind, _) in held.items() if kind is Role.PRIMARY]
        assert writable == [at], f"{user.session_id}: writable copies at {writable} after a request at {at}"
        assert_backed_up(sim, user)
    tell_ring(sim)


@_scenario("partition", "A is cut off from the others; the network heals; A must be fenced and rejoin", 3)
def partition(sim: SimCluster) -> None:
    cast = Cast.of(sim.names)
    start_ring(sim)
    user = populate(sim)[0]
    incarnation = status(sim, cast.A).incarnation
    tell_ring(sim)
    sim.isolate(cast.A)
    sim.note(f"-- {cast.A} is cut off from every other instance (its replication port is firewalled)")
    wait(sim, f"the others re-form without {cast.A}", reformed(sim, cast.A))
    sim.run(sim.settings.failure_timeout)
    tell_ring(sim)
    sim.note(f"-- the balancer sends {user.session_id}'s user to {cast.C}")
    user.incr(cast.C)
    sim.note(f"-- another request for {user.session_id} still reaches {cast.A} (the balancer can reach it)")
    user.show(cast.A)  # it sees no majority, so it refuses to serve (DESIGN.md 8)
    sim.heal()
    sim.note("-- the network heals")
    wait(sim, f"after the heal, {cast.A} is fenced and the ring re-forms with it", lambda: settled(sim) and all(
        len(status(sim, n).alive) == len(sim.names) for n in sim.names))
    tell_ring(sim)
    assert status(sim, cast.A).incarnation > incarnation, f"{cast.A} was not fenced"
    user.incr(cast.A)
    tell_copies(sim, user.session_id)
    assert_backed_up(sim, user)
