"""The failure detector alone (ring.core.membership.Membership), without a node around it."""

from __future__ import annotations

import pytest

from ring.core import (
    CoreSettings,
)
from ring.core.membership import Heard, Membership, PeerState


def test_second_hand_news_of_a_peer_is_not_passed_on_as_first_hand() -> None:
    """d suspects c; b answers "I still hear c". d keeps c in its view, but when b (or anyone)
    asks d about c, d must not vouch for c on b's word: two instances would keep a dead one
    alive forever by vouching for each other (found by the stateful test after two restarts)."""
    m = Membership("d", ("a", "b", "c", "d"), CoreSettings(), now=0.0)
    for peer in "abc":
        m.heard(peer, 1, 0.0)
    for step in range(1, 43):  # ticks every 50 ms; a, b answer (c is silent)
        m.tick(step * 0.05)
        m.heard("a", 1, step * 0.05)
        m.heard("b", 1, step * 0.05)
    assert m.peers["c"].state is PeerState.SUSPECT
    m.indirect_answered("b", "c", True, 2.15)
    assert m.peers["c"].state is PeerState.ALIVE and "c" in m.alive()
    assert not m.still_hears("c", 2.15)


SETTINGS = CoreSettings()
FT = SETTINGS.failure_timeout


def ticking(m: Membership, until: float, answering: str = "") -> None:
    t = m._last_tick  # the last tick it saw (read only, to continue the schedule)
    while t + 0.05 <= until + 1e-9:
        t += 0.05
        m.tick(t)
        for peer in answering:
            m.heard(peer, 1, t)


def test_a_silent_peer_is_suspected_after_the_failure_timeout_and_cleared_by_any_message() -> None:
    m = Membership("a", ("a", "b", "c"), SETTINGS, now=0.0)
    m.heard("b", 1, 0.0)
    m.heard("c", 1, 0.0)
    ticking(m, FT - 0.1, answering="c")
    assert m.peers["b"].state is PeerState.ALIVE
    ticking(m, FT + 0.1, answering="c")
    assert m.peers["b"].state is PeerState.SUSPECT and "b" in m.alive()  # suspects count as alive
    m.heard("b", 1, FT + 0.1)
    assert m.peers["b"].state is PeerState.ALIVE


def test_a_suspect_is_declared_dead_only_with_a_confirming_majority() -> None:
    m = Membership("a", ("a", "b", "c"), SETTINGS, now=0.0)
    m.heard("b", 1, 0.0)
    m.heard("c", 1, 0.0)
    asked, t = [], 0.0
    while m.peers["b"].state is not PeerState.SUSPECT:
        t += 0.05
        probes, deaths = m.tick(t)
        m.heard("c", 1, t)
        asked += [p for p in probes if p.target == "b"]
        assert deaths == []  # alone, a's own silence is no evidence
    assert [p.to for p in asked] == ["c"]  # it asks the third instance first
    m.indirect_answered("c", "b", False, FT + 0.2)
    _, deaths = m.tick(FT + 0.25)
    assert deaths == ["b"]


def test_a_two_instance_ring_declares_alone() -> None:
    m = Membership("a", ("a", "b"), SETTINGS, now=0.0)
    m.heard("b", 1, 0.0)
    ticking(m, FT + 0.1)
    _, deaths = m.tick(FT + 0.15)
    assert deaths == ["b"]


@pytest.mark.parametrize("me", ["b", "c"])
def test_the_last_two_of_a_larger_ring_never_declare_each_other_dead(me: str) -> None:
    """a died; b and c lose each other. Each alone, both would serve the same sessions (and a
    restarted a would then vouch for both); one alone would serve as new the sessions the other
    holds. Neither declares: they wait for the peer or for another member to confirm."""
    other = "c" if me == "b" else "b"
    m = Membership(me, ("a", "b", "c"), SETTINGS, now=0.0)
    m.heard("a", 1, 0.0)
    m.heard(other, 1, 0.0)
    m.declare_dead("a")
    deaths: list[str] = []
    t = 0.0
    while t < 3 * FT:
        t += 0.05
        for dead in m.tick(t)[1]:
            deaths.append(dead)
            m.declare_dead(dead)  # as the node does
    assert deaths == []


def test_incarnations_tell_fresh_stale_zombie_and_restarted_messages_apart() -> None:
    m = Membership("a", ("a", "b", "c"), SETTINGS, now=0.0)
    assert m.heard("b", 5, 0.1) is Heard.FRESH
    assert m.heard("b", 4, 0.2) is Heard.STALE
    assert m.heard("b", 6, 0.3) is Heard.RESTARTED
    m.declare_dead("b")
    assert m.heard("b", 6, 0.4) is Heard.ZOMBIE and m.is_dead("b")
    assert m.heard("b", 7, 0.5) is Heard.RESTARTED and not m.is_dead("b")


def test_the_lease_runs_from_the_send_time_of_the_newest_answered_probe() -> None:
    m = Membership("a", ("a", "b"), SETTINGS, now=0.0)
    assert m.lease_until(None) == float("inf")  # alone: availability first
    probes, _ = m.tick(0.05, "b")
    (ping,) = [p for p in probes if p.to == "b"]
    assert not m.lease_valid("b", 0.1)
    m.probe_answered("b", ping.nonce)
    assert m.lease_until("b") == 0.05 + FT - SETTINGS.lease_margin
    assert m.lease_valid("b", 1.0) and not m.lease_valid("b", 0.05 + FT)


def test_after_a_pause_the_silence_was_ours_so_nobody_is_suspected_and_the_lease_is_void() -> None:
    m = Membership("a", ("a", "b", "c"), SETTINGS, now=0.0)
    m.heard("b", 1, 0.0)
    m.heard("c", 1, 0.0)
    probes, _ = m.tick(0.05, "b")
    m.probe_answered("b", [p for p in probes if p.to == "b"][0].nonce)
    _, deaths = m.tick(0.05 + 3 * FT, "b")  # a gap of three failure timeouts between two ticks
    assert deaths == [] and all(p.state is PeerState.ALIVE for p in m.peers.values())
    assert not m.lease_valid("b", 0.1 + 3 * FT)
