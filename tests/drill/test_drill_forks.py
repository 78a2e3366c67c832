"""Forked histories and resurrected logouts on hand-written histories (ring.drill.forks)."""

from __future__ import annotations

from ring.drill.app import GENESIS, next_chain
from ring.drill.checker import INCR, LOGOUT, OK, READ, Op, check


class Chained:
    """One user's history against the drill app: every incr applies a token to a hash chain."""

    def __init__(self, user: int = 0) -> None:
        self.user = user
        self.t = 0.0
        self.ops: list[Op] = []
        self.chains = {0: GENESIS}  # count -> chain of the history this builder writes
        self.versions = 0

    def _op(self, kind: str, **fields: object) -> Op:
        op = Op(self.user, kind, self.t, self.t + 0.1, OK, instance="a", **fields)  # type: ignore[arg-type]
        self.t += 0.11
        self.ops.append(op)
        return op

    def incr(self, token: str, *, on: int | None = None, version: int | None = None) -> Chained:
        """Apply `token` on the history at count `on` (default: the newest)."""
        base = max(self.chains) if on is None else on
        prev = self.chains[base]
        chain = next_chain(prev, token)
        self.chains = {c: h for c, h in self.chains.items() if c <= base}
        self.chains[base + 1] = chain
        v = base if version is None else version
        self._op(INCR, count=base + 1, chain=chain, prev=prev, version=v)
        return self

    def read(self, count: int | None = None, *, chain: str | None = None, version: int | None = None) -> Chained:
        c = max(self.chains) if count is None else count
        self._op(READ, count=c, chain=chain if chain is not None else self.chains[c],
                 version=c if version is None else version)
        return self

    def logout(self) -> Chained:
        self._op(LOGOUT)
        self.chains = {0: GENESIS}
        return self

    def ghost(self, count: int, generation: int = 1) -> Chained:
        self._op(READ, count=count, ghost=generation, chain=GENESIS if count == 0 else "x", version=0)
        return self


def test_one_history_is_clean() -> None:
    h = Chained().incr("a").incr("b").read().incr("c").logout().incr("d").read()
    v = check(h.ops)
    assert v.ok and v.forked == 0 and v.resurrected == 0


def test_the_same_count_with_another_history_is_a_fork() -> None:
    # count 2 acknowledged on history a,b; a second writable copy answers count 2 as a,x
    h = Chained().incr("a").incr("b")
    other = next_chain(h.chains[1], "x")
    h.read(2, chain=other)
    v = check(h.ops)
    assert v.forked == 1 and v.lost == 0 and v.stale == 0
    assert [a.kind for a in v.anomalies] == ["forked"]


def test_an_increment_not_applied_on_the_acknowledged_history_is_a_fork() -> None:
    # acknowledged 1 (a) and 2 (b); the next incr was applied on a copy where count 2 is another token
    h = Chained().incr("a").incr("b")
    fork_at_2 = next_chain(h.chains[1], "z")
    chain3 = next_chain(fork_at_2, "c")
    h._op(INCR, count=3, chain=chain3, prev=fork_at_2, version=2)
    v = check(h.ops)
    assert v.forked == 1 and v.lost == 0


def test_the_same_version_with_another_count_is_a_fork() -> None:
    h = Chained().incr("a", version=0).incr("b", version=1)
    h.read(2, version=2).read(2, version=2).incr("c", version=2)  # version 2 is count 2 every time
    assert check(h.ops).ok
    # an indeterminate increment, then a read that names version 2 again, now as count 3
    h2 = Chained().incr("a", version=0).incr("b", version=1).read(2, version=2)
    h2.ops.append(Op(0, INCR, h2.t, h2.t + 0.1, "indeterminate"))
    h2.t += 0.11
    h2.chains[3] = next_chain(h2.chains[2], "lost-answer")
    h2.read(3, version=2)
    v = check(h2.ops)
    assert v.forked == 1 and v.lost == 0 and v.stale == 0 and v.duplicated == 0


def test_a_fork_is_counted_once_and_the_walk_goes_on() -> None:
    h = Chained().incr("a").incr("b")
    other = next_chain(h.chains[1], "x")
    h.read(2, chain=other).read(2, chain=other)
    assert check(h.ops).forked == 1


def test_a_loss_is_not_also_a_fork() -> None:
    # acknowledged 1, 2, 3; the next incr returns 3 again on another history: one loss, no fork
    h = Chained().incr("a").incr("b").incr("c").incr("d", on=2)
    v = check(h.ops)
    assert v.lost == 1 and v.forked == 0


def test_a_ghost_read_with_data_is_a_resurrected_logout_counted_once() -> None:
    h = Chained().incr("a").incr("b").logout().ghost(0).incr("c").ghost(2).ghost(2).ghost(0, generation=2)
    v = check(h.ops)
    assert v.resurrected == 1 and v.lost == 0 and v.stale == 0
    assert [a.kind for a in v.anomalies] == ["resurrected"]


def test_empty_ghost_reads_are_clean() -> None:
    h = Chained().incr("a").logout().ghost(0).incr("b").ghost(0).logout().ghost(0, generation=2)
    assert check(h.ops).ok


def test_answers_without_a_chain_are_not_judged_for_forks() -> None:
    ops = [Op(0, INCR, 0.0, 0.1, OK, 1, "a"), Op(0, INCR, 0.2, 0.3, OK, 2, "a"), Op(0, READ, 0.4, 0.5, OK, 2, "b")]
    assert check(ops).ok and check(ops).forked == 0
