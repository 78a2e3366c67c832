"""Schedules the rotating seed found, replayed step by step on the ring machine (issue 9).

Each is the failing case Hypothesis printed (`state.<rule>(...)` lines, the invariant checks left
out: `replay` runs every invariant after every step, as Hypothesis does, and skips a step whose
rule's precondition no longer holds, as Hypothesis would never take it). A schedule stays here
after its fix: the blob of a seed stops replaying once a rule's preconditions change, these don't.
"""

from __future__ import annotations

import hypothesis.control
import pytest
from hypothesis.stateful import RULE_MARKER

from ring.core import Role
from ring.testing.machine import RingMachine

INVARIANTS = ("at_most_one_writable_copy", "committed_writes_survive",
              "epochs_and_incarnations_never_go_back", "invalidated_sessions_stay_dead")


def replay(schedule: str) -> None:
    state = RingMachine()
    try:
        for line in filter(None, (s.strip() for s in schedule.split(";"))):
            rule = getattr(getattr(RingMachine, line[len("state."):line.index("(")]), RULE_MARKER, None)
            if rule is not None and not all(pre(state) for pre in rule.preconditions):
                continue
            eval(line, {"state": state, "Role": Role})  # noqa: S307 - our own literal schedules
            for name in INVARIANTS:
                getattr(state, name)()
    finally:
        state.teardown()


SCHEDULES = {
    # a 2-ring split twice: both fenced at the first heal, their claims lost in the second split,
    # each adopted its orphan alone; the second heal fenced neither, and both kept a primary of s1
    # with a valid lease (seed 2169947231; fixed by store.stands and the lease of an instance
    # back from alone, unit tests in tests/core/test_integrity.py)
    "two-primaries-after-a-second-split": (
        "state.start(size=2); state.stall(steps=15); state.stall(steps=1); state.stall(steps=16); "
        "state.advance(steps=1); state.advance(steps=1); state.create(i=0); state.stall(steps=7); "
        "state.stall(steps=20); state.advance(steps=1); state.advance(steps=1); "
        "state.advance(steps=1); state.advance(steps=1); state.advance(steps=14); "
        "state.advance(steps=14); state.advance(steps=1); state.advance(steps=1); "
        "state.advance(steps=1); state.advance(steps=1); state.advance(steps=14); "
        "state.advance(steps=1); state.pause(i=0); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=0); state.advance(steps=1); "
        "state.advance(steps=1); state.advance(steps=1); state.advance(steps=1); "
        "state.advance(steps=1); state.advance(steps=1); state.advance(steps=1); "
        "state.advance(steps=1); state.advance(steps=1); state.advance(steps=1); "
        "state.advance(steps=1); state.resume(i=0); state.advance(steps=1); state.stall(steps=10); "
        "state.stall(steps=3); state.write_to_a_read_only_copy(role=Role.ORPHAN, s=0); "
        "state.duplicate(i=0); state.write_to_a_read_only_copy(role=Role.ORPHAN, s=0); "
        "state.request(how='cookie', i=0, kind='read', s=0); "
        "state.request(how='cookie', i=0, kind='read', s=0); state.stall(steps=19); "
        "state.duplicate(i=0); state.write_to_a_read_only_copy(role=Role.ORPHAN, s=0); "
        "state.stall(steps=8); state.advance(steps=1); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=0); state.advance(steps=1); "
        "state.advance(steps=1); state.advance(steps=2); state.advance(steps=1); "
        "state.advance(steps=1); state.advance(steps=1); state.advance(steps=1); "
        "state.advance(steps=1); state.stall(steps=3); state.stall(steps=13); state.duplicate(i=0); "
        "state.stall(steps=19); state.write_to_a_read_only_copy(role=Role.ORPHAN, s=0); "
        "state.request(how='cookie', i=0, kind='read', s=11192); state.stall(steps=4); "
        "state.advance(steps=16);"),
    # a logout of a session the cluster did not hold left the machine's cookie jar naming the
    # instance that answered; it died, and the settle read got 503 (the split rule) for a session
    # that never existed: the shells drop the cookies of a session not held (seed 2169947231)
    "logout-of-a-session-not-held-keeps-no-cookie": (
        "state.start(size=2); state.stall(steps=15); state.stall(steps=16); state.stall(steps=3); "
        "state.deliver_all(); state.stabilize(reader=2); state.stabilize(reader=5); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=43089); state.create(i=3); "
        "state.stall(steps=20); state.crash_right_after_a_write(i=4); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=25); state.stabilize(reader=4); "
        "state.stall(steps=17); state.stabilize(reader=3); state.stabilize(reader=2); "
        "state.stabilize(reader=5); state.write_to_a_read_only_copy(role=Role.ORPHAN, s=140); "
        "state.stall(steps=16); state.stall(steps=9); state.create(i=3); state.create(i=2); "
        "state.create(i=4); state.request(how='cookie', i=2, kind='read', s=425); "
        "state.stall(steps=19); state.create(i=1); "
        "state.request(how='cookie', i=5, kind='write', s=512); "
        "state.write_to_a_read_only_copy(role=Role.HANDED_OVER, s=585); state.restart(i=4); "
        "state.create(i=0); state.request(how='cookie', i=1, kind='read', s=1829); "
        "state.stall(steps=13); state.create(i=3); state.stall(steps=6); "
        "state.request(how='cookie', i=0, kind='invalidate', s=697); state.duplicate(i=53); "
        "state.create(i=1); state.deliver_all(); "
        "state.request(how='forged', i=3, kind='write', s=65535); "
        "state.request(how='forged', i=3, kind='invalidate', s=35001); state.leave(i=5); "
        "state.deliver(i=25881); state.deliver_all(); state.stabilize(reader=5); state.restart(i=2); "
        "state.stall(steps=18); state.stabilize(reader=4); state.create(i=1); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=254); state.crash(i=5); "
        "state.stall(steps=20); state.stall(steps=15); state.stabilize(reader=1); state.create(i=0); "
        "state.request(how='cookie', i=5, kind='read', s=216); "
        "state.request(how='cookie', i=5, kind='invalidate', s=7038); "
        "state.request(how='forged', i=0, kind='read', s=102); state.restart(i=3); "
        "state.stall(steps=11); state.deliver_all(); state.crash_right_after_a_write(i=0); "
        "state.create(i=3); state.create(i=2); state.stabilize(reader=4);"),
    # a 2-ring: b stops cleanly and its Leave is lost (told again after a timeout); the ring was
    # called settled while b still refused every request, so the settle read went to b (seed
    # 1954064954). The settle now waits for a clean stop to finish.
    "leave-lost-then-settle": (
        "state.start(size=2); state.advance(steps=1); state.create(i=0); state.deliver_all();"
        "state.leave(i=1); state.drop(i=0); state.stabilize(reader=1)"),
    # the same start; settled too early, b's stop was still under way when a stopped too: both
    # gone, s1 with them, though the budget allowed one failure (seed 1954064954)
    "leave-lost-then-the-other-leaves": (
        "state.start(size=2); state.advance(steps=1); state.create(i=0); state.deliver_all();"
        "state.leave(i=1); state.drop(i=0); state.stabilize(reader=0); state.leave(i=0);"
        "state.duplicate(i=65); state.advance(steps=2); state.create(i=5); state.create(i=2);"
        "state.write_to_a_read_only_copy(role=Role.HANDED_OVER, s=15145); state.deliver_all()"),
    # a 4-ring under flapping cuts: d's promise of s3 to a lapsed and d claimed its own
    # handed-over copy back; a's backup of it answered NOT_AUTHORITY, the eager round took that
    # for a live owner and yielded: d dropped the only primary (seed 1954064954; fixed in
    # ring.core.adoption.decide, unit test in tests/core/test_adoption.py)
    "eager-round-yields-to-a-backup-of-its-own": (
        "state.start(size=4); state.advance(steps=1); state.create(i=0); state.deliver_all(); "
        "state.leave(i=1); state.drop(i=0); state.stabilize(reader=1); state.pause(i=1); "
        "state.stall(steps=12); state.stabilize(reader=2); state.restart(i=3); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=7068); state.stabilize(reader=1); "
        "state.request(how='cookie', i=0, kind='invalidate', s=608); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=10177); state.stall(steps=9); "
        "state.write_to_a_read_only_copy(role=Role.HANDED_OVER, s=28568); state.deliver_all(); "
        "state.request(how='cookie', i=2, kind='read', s=369); state.create(i=3); "
        "state.pause(i=0); state.stabilize(reader=1); "
        "state.write_to_a_read_only_copy(role=Role.BACKUP, s=57497); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=2671); state.crash(i=3); "
        "state.advance(steps=18); state.create(i=4); "
        "state.request(how='forged', i=1, kind='invalidate', s=475); state.deliver(i=28051); "
        "state.create(i=5); state.request(how='swapped', i=1, kind='write', s=131); "
        "state.stall(steps=12); state.write_to_a_read_only_copy(role=Role.BACKUP, s=57764); "
        "state.restart(i=2); state.drop(i=4814); "
        "state.write_to_a_read_only_copy(role=Role.BACKUP, s=12004); state.deliver_all(); "
        "state.create(i=5); state.write_to_a_read_only_copy(role=Role.BACKUP, s=50115); "
        "state.stall(steps=17); state.stall(steps=3); state.deliver_all(); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=10980); state.stabilize(reader=2); "
        "state.request(how='cookie', i=2, kind='read', s=0); state.leave(i=4); "
        "state.duplicate(i=14299); state.stall(steps=4); state.duplicate(i=5222); "
        "state.drop(i=2439); state.deliver(i=15641); state.drop(i=42780); state.duplicate(i=18); "
        "state.create(i=4); state.drop(i=53182); state.duplicate(i=904); "
        "state.advance(steps=17); state.advance(steps=6); state.drop(i=11646); "
        "state.advance(steps=16); state.stabilize(reader=3); state.restart(i=1); "
        "state.stall(steps=1); state.drop(i=28655); state.duplicate(i=1292); "
        "state.stall(steps=14); state.stall(steps=9); "
        "state.write_to_a_read_only_copy(role=Role.BACKUP, s=154); "
        "state.request(how='none', i=0, kind='write', s=908); state.stall(steps=20); "
        "state.advance(steps=6); state.deliver_all(); state.partition(both_ways=True, mask=62); "
        "state.partition(both_ways=True, mask=11); state.advance(steps=3); state.create(i=1); "
        "state.deliver(i=2135); state.partition(both_ways=True, mask=15); state.deliver(i=2448); "
        "state.write_to_a_read_only_copy(role=Role.HANDED_OVER, s=40856); state.heal_network(); "
        "state.partition(both_ways=False, mask=52); state.advance(steps=19); "
        "state.duplicate(i=126); state.deliver_all(); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=8537); "
        "state.write_to_a_read_only_copy(role=Role.HANDED_OVER, s=26660); "
        "state.advance(steps=20); state.advance(steps=9); "
        "state.partition(both_ways=True, mask=55); state.duplicate(i=65536); "
        "state.stall(steps=2); state.drop(i=231); state.advance(steps=15); "
        "state.stabilize(reader=2); "),
    # a 2-ring: b crashed right after creating s1 (never replicated); the settle read of s1 at a
    # found nothing, yet the test's client kept a locator naming a, where the shells drop the
    # cookies of a session the cluster does not hold. a died after b's rejoin; alone, b refused a
    # session its hint placed on the dead a (the CI profile's schedule at 9e32696)
    # a 3-ring: a read at a of c's session (a held its backup) was still claiming when c crashed;
    # a's backup became an orphan, and the eager adoption of orphans skipped it (a request's round
    # had it). The request's round then expired without adopting and nobody adopted the orphan: a
    # single copy after the ring settled (rotating seed 653609398 at 10,000 examples)
    "a-request-round-expires-on-an-orphan": (
        "state.start(size=3); state.create(i=0); state.deliver_all(); state.create(i=0); "
        "state.deliver_all(); state.advance(steps=1); state.create(i=0); state.deliver_all(); "
        "state.advance(steps=14); state.deliver_all(); state.advance(steps=2); "
        "state.create(i=0); state.stabilize(reader=0); state.leave(i=5); state.drop(i=0); "
        "state.request(how='cookie', i=0, kind='read', s=2718); state.deliver_all(); "
        "state.advance(steps=5); state.stall(steps=12); state.advance(steps=12); "
        "state.advance(steps=15); state.create(i=5); state.deliver(i=299); state.restart(i=0); "
        "state.advance(steps=18); state.duplicate(i=47560); state.create(i=0); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=18181); state.stall(steps=12); "
        "state.stall(steps=17); state.advance(steps=8); state.stabilize(reader=0); "),
    "read-of-nothing-keeps-a-locator": (
        "state.start(size=2); state.advance(steps=1); state.advance(steps=1); state.deliver_all(); "
        "state.crash_right_after_a_write(i=1); state.stabilize(reader=0); state.restart(i=0); "
        "state.advance(steps=1); state.deliver_all(); state.crash(i=0); state.advance(steps=1); "
        "state.stabilize(reader=0)"),
    # a 6-ring: a restarts while b,c,d cannot reach e,f (one way). b declares f dead with c and d:
    # a majority of b's view {b..f}, b not having heard a's rejoin yet; f keeps its lease with a
    # and e: half of f's view {a..f} with its first instance a. Two quorums of different views
    # need not share a member: b adopted s5 while f still served it (seed 1954064954). Since a
    # claim round asks a candidate that came back before it decides, this schedule no longer gets
    # there; the argument about quorums over views that differ still stands (issue 9's note)
    "rejoin-splits-the-quorum": (
        "state.start(size=6); state.advance(steps=1); state.create(i=0); state.deliver_all(); "
        "state.leave(i=1); state.drop(i=0); state.stabilize(reader=1); "
        "state.request(how='cookie', i=4, kind='write', s=5396); "
        "state.crash_right_after_a_write(i=0); state.create(i=2); state.create(i=5); "
        "state.duplicate(i=4904); state.write_to_a_read_only_copy(role=Role.ORPHAN, s=89); "
        "state.create(i=0); state.advance(steps=10); state.stall(steps=1); state.drop(i=237); "
        "state.duplicate(i=2220); state.stabilize(reader=0); state.stall(steps=20); "
        "state.restart(i=1); state.deliver(i=8051); state.stabilize(reader=5); "
        "state.write_to_a_read_only_copy(role=Role.BACKUP, s=87); state.pause(i=4); "
        "state.create(i=1); state.deliver(i=179); state.drop(i=2220); state.create(i=4); "
        "state.write_to_a_read_only_copy(role=Role.ORPHAN, s=2376); state.deliver(i=356); "
        "state.deliver(i=693); state.create(i=5); state.create(i=5); state.advance(steps=15); "
        "state.duplicate(i=38893); state.request(how='cookie', i=1, kind='invalidate', s=1056); "
        "state.drop(i=2213); state.request(how='cookie', i=4, kind='read', s=0); "
        "state.stabilize(reader=5); state.create(i=3); state.deliver(i=1313); "
        "state.partition(both_ways=False, mask=7); state.deliver_all(); state.create(i=1); "
        "state.write_to_a_read_only_copy(role=Role.BACKUP, s=4907); state.advance(steps=20); "
        "state.advance(steps=6); state.advance(steps=14); state.restart(i=3); state.drop(i=461); "
        "state.deliver(i=742); state.deliver(i=4478); state.drop(i=2776); state.deliver_all(); "
        "state.stall(steps=18); state.request(how='cookie', i=3, kind='write', s=23); "
        "state.deliver_all(); "),
}


@pytest.fixture(autouse=True)
def _notes_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hypothesis.control, "should_note", lambda: False)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule(name: str) -> None:
    replay(SCHEDULES[name])

