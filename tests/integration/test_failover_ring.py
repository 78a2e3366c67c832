"""Issue 3, stories 1 and 4 with real processes: kill -9, orphan adoption, re-formed ring, rejoin."""

from __future__ import annotations

import json
from typing import Any

import pytest
from integration_helpers import Browser, by_id, ring_status_json, wait_for

from ring.drill.cluster import LocalCluster

pytestmark = pytest.mark.integration

CONTRACT_KEYS = {"id", "address", "state", "incarnation", "successor", "primaries", "backups",
                 "orphans", "resyncing"}


def events_of(cluster: LocalCluster, instance: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in cluster.events() if e["instance"] == instance and e["event"] == kind]


def sessions(cluster: LocalCluster, per_instance: dict[str, int]) -> list[tuple[Browser, str, int]]:
    """Browsers whose session is created at (and owned by) `home`, incremented a few times there."""
    made = []
    for home, n in per_instance.items():
        for k in range(n):
            b = Browser()
            url = cluster.instances[home].url
            for _ in range(k + 2):
                count = b.incr(url)
            made.append((b, home, count))
    return made


def test_kill_adopt_status_and_rejoin(cluster4: LocalCluster) -> None:
    c = cluster4
    url = {n: i.url for n, i in c.instances.items()}
    users = sessions(c, {"a": 2, "b": 3, "c": 1, "d": 2})
    expected = {id(b): count for b, _, count in users}
    incarnation_before = by_id(c.status())["b"]["incarnation"]

    c.kill("b")

    def reformed() -> bool:
        rows = by_id(c.status(0.5))
        return (rows["b"]["state"] == "unreachable"
                and [rows[n]["successor"] for n in "acd"] == ["c", "d", "a"]
                and not any(rows[n]["orphans"] or rows[n]["resyncing"] for n in "acd")
                and rows["c"]["primaries"] == 4)

    # c holds b's sessions as orphans, and promotes them at once (eager adoption): two copies
    # again before any of b's users returns
    wait_for(reformed, "a, c, d to drop b from the ring and c to adopt b's 3 sessions")

    rows = ring_status_json(c.config_path)
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    for r in rows:
        assert CONTRACT_KEYS <= r.keys(), r
        json.dumps(r)  # plain JSON types only
    status = by_id(rows)
    assert status["b"]["state"] == "unreachable" and status["b"]["incarnation"] is None
    assert {n: status[n]["successor"] for n in "acd"} == {"a": "c", "c": "d", "d": "a"}
    assert status["c"]["orphans"] == {} and status["c"]["primaries"] == 4
    assert sum(status[n]["backups"].get("c", 0) for n in "ad") == 4  # c's successor d backs them up
    assert all(status[n]["state"] == "alive" and status[n]["resyncing"] is False for n in "acd")

    # b's users come back through other instances and find their latest count.
    elsewhere = iter(["d", "a", "c"])
    for b, home, _ in users:
        if home == "b":
            at = url[next(elsewhere)]
            assert b.count(at) == expected[id(b)]
            assert b.incr(at) == expected[id(b)] + 1
            expected[id(b)] += 1
    for b, home, _ in users:
        if home != "b":
            assert b.count(url[home]) == expected[id(b)]

    assert sum(len(events_of(c, n, "adopted")) for n in "acd") >= 3

    # b restarts empty, with a new incarnation, and its predecessor a resyncs to it.
    c.start("b")
    assert c.wait_ready("b", 20), f"b did not become ready; see {c.instances['b'].log_path}"

    def full_ring() -> bool:
        rows = by_id(c.status(0.5))
        return (all(r["state"] == "alive" for r in rows.values())
                and [rows[n]["successor"] for n in "abcd"] == ["b", "c", "d", "a"]
                and not any(r["resyncing"] for r in rows.values())
                and any(e["successor"] == "b" for e in events_of(c, "a", "resync_finished")[-1:]))

    wait_for(full_ring, "the full ring a -> b -> c -> d -> a with a's resync to b finished")
    final = by_id(c.status())
    assert final["b"]["incarnation"] != incarnation_before
    assert final["a"]["successor"] == "b" and final["a"]["resyncing"] is False

    # Nothing was lost: every user still sees the latest count, at b too.
    for b, _, _ in users:
        assert b.count(url["b"]) == expected[id(b)]


def test_killed_successor_predecessor_resyncs(cluster4: LocalCluster) -> None:
    c = cluster4
    url = {n: i.url for n, i in c.instances.items()}
    users = sessions(c, {"a": 5, "b": 1, "c": 2, "d": 1})
    killed_at = c.kill("b")

    # A write at a right after the kill completes (held until a re-points, then replicated to c).
    a_user = next(b for b, home, _ in users if home == "a")
    before = a_user.count(url["a"])
    assert before is not None and a_user.incr(url["a"]) == before + 1

    def resynced_to_c() -> bool:
        return any(e["successor"] == "c" and e["mono"] >= killed_at
                   for e in events_of(c, "a", "resync_finished"))

    wait_for(resynced_to_c, "a to re-point to c and finish its resync")

    def every_primary_backed_up() -> bool:
        rows = by_id(c.status(0.5))
        alive = [n for n in "acd" if rows[n]["state"] == "alive"]
        if len(alive) != 3 or any(rows[n]["resyncing"] for n in alive):
            return False
        held: dict[str, int] = {}
        for n in alive:
            for owner, k in rows[n]["backups"].items():
                held[owner] = held.get(owner, 0) + k
        return all(held.get(n, 0) == rows[n]["primaries"] for n in alive)

    wait_for(every_primary_backed_up, "backups by owner to add up to the primaries")
    rows = by_id(c.status())
    assert rows["c"]["backups"].get("a") == rows["a"]["primaries"] == 5
    assert rows["a"]["successor"] == "c"
