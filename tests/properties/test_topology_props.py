"""ring/core/topology.py against a naive oracle: walk the sorted ring list by hand."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from ring.core.topology import (
    discovery_candidates,
    is_single_cycle,
    predecessor_of,
    successor_of,
    walk_from,
)

NAMES = "abcdefgh"


@st.composite
def rings(draw: st.DrawFn) -> tuple[str, ...]:
    """A ring order: distinct names, in a drawn (not necessarily alphabetical) order."""
    members = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True))
    return tuple(members)


@st.composite
def ring_and_member(draw: st.DrawFn) -> tuple[tuple[str, ...], str, frozenset[str]]:
    order = draw(rings())
    me = draw(st.sampled_from(order))
    alive = draw(st.sets(st.sampled_from(order)))
    return order, me, frozenset(alive)


# ---------------------------------------------------------------- oracle


def oracle_successor(me: str, order: tuple[str, ...], alive: frozenset[str]) -> str | None:
    i = order.index(me)
    doubled = list(order) * 2
    for name in doubled[i + 1:i + len(order)]:
        if name in alive and name != me:
            return name
    return None


def oracle_predecessor(me: str, order: tuple[str, ...], alive: frozenset[str]) -> str | None:
    return oracle_successor(me, tuple(reversed(order)), alive)


def oracle_cycle(successors: dict[str, str | None]) -> bool:
    """Naive: every node is reached exactly once when following links len(successors) times."""
    if len(successors) <= 1:
        return all(v is None for v in successors.values())
    for start in successors:
        seen = []
        current: str | None = start
        for _ in range(len(successors)):
            if current is None or current not in successors:
                return False
            seen.append(current)
            current = successors[current]
        if current != start or sorted(seen) != sorted(successors):
            return False
    return True


# ---------------------------------------------------------------- successor / predecessor


@given(ring_and_member())
def test_successor_matches_the_oracle(case: tuple[tuple[str, ...], str, frozenset[str]]) -> None:
    order, me, alive = case
    assert successor_of(me, order, alive) == oracle_successor(me, order, alive)


@given(ring_and_member())
def test_predecessor_matches_the_oracle(case: tuple[tuple[str, ...], str, frozenset[str]]) -> None:
    order, me, alive = case
    assert predecessor_of(me, order, alive) == oracle_predecessor(me, order, alive)


@given(ring_and_member())
def test_successor_and_predecessor_are_inverse_among_the_alive(
    case: tuple[tuple[str, ...], str, frozenset[str]],
) -> None:
    order, me, alive = case
    alive = alive | {me}
    nxt = successor_of(me, order, alive)
    if nxt is None:
        assert alive == {me}
    else:
        assert predecessor_of(nxt, order, alive) == me


@given(ring_and_member())
def test_walk_from_is_a_rotation(case: tuple[tuple[str, ...], str, frozenset[str]]) -> None:
    order, me, _ = case
    walk = walk_from(me, order)
    assert walk[0] == me and sorted(walk) == sorted(order)
    i = order.index(me)
    assert walk == list(order[i:] + order[:i])


# ---------------------------------------------------------------- discovery


hint_names = st.sampled_from(list(NAMES) + ["", "zz", "evil:1099", "a "])


@given(ring_and_member(), hint_names, hint_names, st.sampled_from([-1, 1, 2, 3, 5, 10]))
def test_discovery_candidates(case, hint_primary: str, hint_backup: str, max_hops: int) -> None:
    order, me, _ = case
    got = discovery_candidates(me, order, hint_primary, hint_backup, max_hops)
    members = set(order)
    # never me, never a stranger, no duplicates
    assert me not in got
    assert set(got) <= members
    assert len(got) == len(set(got))
    # bounded
    everyone = len(order) - 1
    assert len(got) == (everyone if max_hops == -1 else min(max_hops, everyone))
    # oracle: the member hints first (in order), then the ring walk from the primary (or me)
    expected: list[str] = []
    for h in (hint_primary, hint_backup):
        if h in members and h != me and h not in expected:
            expected.append(h)
    anchor = hint_primary if hint_primary in members else me
    i = order.index(anchor)
    for name in list(order[i + 1:]) + list(order[:i + 1]):
        if name != me and name not in expected:
            expected.append(name)
    if max_hops > 0:
        expected = expected[:max_hops]
    assert got == expected


@given(ring_and_member(), st.text(max_size=6), st.text(max_size=6))
def test_hints_naming_non_members_change_nothing(case, forged_primary: str, forged_backup: str) -> None:
    order, me, _ = case
    assume(forged_primary not in order and forged_backup not in order)
    assert (discovery_candidates(me, order, forged_primary, forged_backup, -1)
            == discovery_candidates(me, order, "", "", -1))


# ---------------------------------------------------------------- cycles


@given(rings(), st.data())
def test_successor_links_of_a_consistent_view_form_one_cycle(order: tuple[str, ...], data) -> None:
    alive = frozenset(data.draw(st.sets(st.sampled_from(order), min_size=1)))
    links = {n: successor_of(n, order, alive) for n in order if n in alive}
    assert is_single_cycle(links)


@given(rings(), st.data())
def test_is_single_cycle_matches_the_oracle(order: tuple[str, ...], data) -> None:
    members = data.draw(st.lists(st.sampled_from(order), min_size=0, unique=True))
    targets = st.one_of(st.none(), st.sampled_from(list(NAMES)))
    links = {n: data.draw(targets) for n in members}
    assert is_single_cycle(links) == oracle_cycle(links)


@given(rings(), st.data())
def test_is_single_cycle_on_permutations(order: tuple[str, ...], data) -> None:
    """Links that are a permutation: one cycle exactly when the permutation is a single cycle."""
    assume(len(order) >= 2)
    members = data.draw(st.lists(st.sampled_from(order), min_size=2, unique=True))
    image = data.draw(st.permutations(members))
    links: dict[str, str | None] = dict(zip(members, image, strict=True))
    assert is_single_cycle(links) == oracle_cycle(links)
