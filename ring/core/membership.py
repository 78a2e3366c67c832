"""Failure detection: who this instance believes alive, and since when.

Theory of operation. Every instance pings every peer each `ping_interval`. Any message from a
peer (a ping, a reply, a batch) is evidence that it is alive. Per peer:

    ALIVE   --(silent for failure_timeout)-->  SUSPECT  (ask up to two third instances)
    SUSPECT --(any message, or a third instance still hears it)--> ALIVE
    SUSPECT --(enough third instances confirm the silence: a majority of the view)--> DEAD
    DEAD    --(a message with a higher incarnation)--> ALIVE (rejoin)
    ALIVE   --(a message with a higher incarnation)--> DEAD then ALIVE (restart we missed)

Quorum. A suspect is declared dead only when this instance and the third instances that confirm
the silence are a majority of the current view (the instances not yet declared dead, the suspect
included); an even split counts when the confirming side holds the first instance of the view in
ring order. So an isolated instance, or the minority side of a partition, never re-forms a ring of
its own: its lease lapses, it stops serving, and on reconnection it is fenced. Suspects this process
never heard from (it restarted after they died) are left out of the view, so a rejoining instance
can still reach a quorum with the survivors that answer it. A two-instance ring
has no third instance to ask: there the survivor declares alone (availability first, DESIGN 4.6;
such a ring cannot tell a partition from a crash). A message from a peer declared
dead at the same incarnation comes from a zombie (a paused process that resumed): it is answered
with "you are dead" and is not evidence.

Pauses: when the gap between two ticks exceeds `pause_threshold`, this process was stopped; the
silence it measured is its own, so every peer gets a fresh deadline and the serving lease is
void until a peer answers a ping sent after the pause.

Lease: an instance serves its primaries, and acknowledges writes, only while (1) a ping (or batch)
it sent to its successor at time t has been answered and t + failure_timeout - margin is still
ahead, and (2) the same holds for a majority of its view (itself and the peers that answered,
ties broken as for deaths). A peer that answered a ping sent at t heard from it at t or later,
and neither suspects it nor confirms its silence to others (`still_hears`) before a whole failure
timeout after that; a declaration needs a majority of the view, and two majorities share a member.
So no copy of its sessions can be adopted elsewhere while it serves, and a side of a partition
without a majority stops acknowledging writes that the heal would discard (DESIGN 8). A
two-instance ring has no majority to ask: alone, an instance serves (availability first).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ring.core.settings import CoreSettings


class PeerState(enum.Enum):
    ALIVE = "alive"
    SUSPECT = "suspect"
    DEAD = "dead"


class Heard(enum.Enum):
    FRESH = "fresh"  # evidence accepted
    STALE = "stale"  # an older incarnation than known: ignore the message
    ZOMBIE = "zombie"  # declared dead at this incarnation: answer "you are dead"
    RESTARTED = "restarted"  # a higher incarnation: the old one is gone, the new one joined


@dataclass(slots=True)
class Peer:
    name: str
    state: PeerState = PeerState.ALIVE
    incarnation: int = 0  # 0: never heard from
    last_heard: float = 0.0
    last_ping_sent: float = -1e18
    suspect_since: float = 0.0
    indirect_sent_at: float = -1e18
    confirmations: set[str] = field(default_factory=set)
    acked_send_time: float = -1e18  # send time of the newest answered probe (lease)
    pending: dict[int, float] = field(default_factory=dict)  # ping nonce -> send time


@dataclass(frozen=True, slots=True)
class ProbeIntent:
    to: str
    nonce: int
    target: str = ""  # set: an indirect probe about `target`


class Membership:
    """The failure detector of one instance. Pure: callers pass `now` (monotonic seconds)."""

    def __init__(self, me: str, order: tuple[str, ...], settings: CoreSettings, now: float) -> None:
        self.me = me
        self.order = order
        self.settings = settings
        self.peers: dict[str, Peer] = {
            name: Peer(name, last_heard=now) for name in order if name != me
        }
        self._last_tick = now
        self._nonce = 0
        self.changes = 0  # grows whenever the set of instances believed alive may have changed
        self.reconciling = False  # set by the node: no lease until its resync is acknowledged

    # ------------------------------------------------------------ queries

    def alive(self) -> tuple[str, ...]:
        """Instances believed alive, in ring order, including this one (suspects count as alive)."""
        return tuple(
            n for n in self.order if n == self.me or self.peers[n].state is not PeerState.DEAD
        )

    def is_dead(self, name: str) -> bool:
        return name in self.peers and self.peers[name].state is PeerState.DEAD

    def incarnation_of(self, name: str) -> int:
        return self.peers[name].incarnation

    def lease_valid(self, successor: str | None, now: float) -> bool:
        """May this instance serve its primaries now? (see the module docstring)."""
        return now < self.lease_until(successor)

    def lease_until(self, successor: str | None) -> float:
        """Until when (monotonic) this instance may serve its primaries, as far as it knows now."""
        if successor is None:
            return float("inf")  # alone: availability first (DESIGN.md 4.6)
        if self.reconciling:
            return -1e18  # back from alone, until the node's resync is acknowledged (Node)
        answered = min(self.peers[successor].acked_send_time, self._majority_answered())
        return answered + self.settings.failure_timeout - self.settings.lease_margin

    def _majority_answered(self) -> float:
        """The send time of the oldest answered ping in the freshest majority of the view (a
        majority with us in it: strictly more than half, or half with the view's first instance)."""
        view = self._view()
        n = len(view)
        acked = {p: self.peers[p].acked_send_time for p in view if p != self.me}
        freshest = sorted(acked, key=acked.__getitem__, reverse=True)

        def oldest_of(first: int, among: list[str]) -> float:
            return acked[among[first - 1]] if first else float("inf")

        best = oldest_of(n // 2, freshest)  # strictly more than half: us and n // 2 peers
        if n % 2 == 0 and n >= 2:  # half, with the first instance of the view on our side
            need = n // 2 - 1
            if view[0] == self.me:
                best = max(best, oldest_of(need, freshest))
            elif need >= 1:
                rest = [p for p in freshest if p != view[0]]
                best = max(best, min(acked[view[0]], oldest_of(need - 1, rest)))
        return best

    def _view(self) -> tuple[str, ...]:
        """The instances a quorum is counted over: alive, without suspects never heard from (a
        restarted instance starts out believing every peer alive: peers that died before it
        started must not outvote the ones that answer it)."""
        return tuple(
            n for n in self.alive()
            if n == self.me or self.peers[n].incarnation or self.peers[n].state is PeerState.ALIVE
        )

    def still_hears(self, target: str, now: float) -> bool:
        """Answer to an indirect probe: did `target` talk to us recently?"""
        peer = self.peers.get(target)
        if peer is None or peer.state is PeerState.DEAD:
            return False
        # a whole failure timeout, not less: a peer that answered the target's ping sent at t must
        # not confirm its silence before t + failure_timeout, when the target's lease ends
        return now - peer.last_heard < self.settings.failure_timeout

    # ------------------------------------------------------------ inputs

    def heard(self, name: str, incarnation: int, now: float) -> Heard:
        """Any message from `name` carrying `incarnation` arrived."""
        peer = self.peers[name]
        if incarnation < peer.incarnation:
            return Heard.STALE
        if incarnation == peer.incarnation and peer.state is PeerState.DEAD:
            return Heard.ZOMBIE
        restarted = incarnation > peer.incarnation and peer.incarnation != 0
        if peer.incarnation == 0 and peer.state is PeerState.DEAD:
            restarted = True
        peer.incarnation = incarnation
        peer.last_heard = max(peer.last_heard, now)
        if peer.state is PeerState.DEAD:
            self.changes += 1
        peer.state = PeerState.ALIVE
        peer.confirmations.clear()
        return Heard.RESTARTED if restarted else Heard.FRESH

    def probe_answered(self, name: str, nonce: int) -> None:
        """A ping we sent was answered: it extends the serving lease from its send time."""
        peer = self.peers[name]
        sent = peer.pending.pop(nonce, None)
        if sent is not None:
            peer.acked_send_time = max(peer.acked_send_time, sent)

    def batch_answered(self, name: str, sent_at: float) -> None:
        peer = self.peers[name]
        peer.acked_send_time = max(peer.acked_send_time, sent_at)

    def indirect_answered(self, via: str, target: str, reachable: bool, now: float) -> None:
        peer = self.peers.get(target)
        if peer is None or peer.state is not PeerState.SUSPECT:
            return
        if reachable:
            # a third instance hears it: our link is the problem, not the peer. Second-hand news
            # does not move `last_heard`: `still_hears` reports first-hand contact only, or two
            # instances could keep vouching for a dead one to each other forever
            peer.state = PeerState.ALIVE
            peer.confirmations.clear()
        else:
            peer.confirmations.add(via)

    def declare_dead(self, name: str) -> int:
        """Mark dead (also used when a restart is noticed); returns the incarnation declared."""
        peer = self.peers[name]
        peer.state = PeerState.DEAD
        peer.confirmations.clear()
        self.changes += 1
        return peer.incarnation

    def tick(self, now: float, lease_peer: str | None = None) -> tuple[list[ProbeIntent], list[str]]:
        """Pings due, indirect probes due, and the peers to declare dead now.

        Every peer is pinged every interval: the answers of a majority carry the serving lease,
        and a peer that wrongly holds us dead can only tell us so in answer to one of our requests.
        """
        probes: list[ProbeIntent] = []
        deaths: list[str] = []
        s = self.settings
        if now - self._last_tick > s.pause_threshold:
            self._forget_own_pause(now)
        self._last_tick = now
        for peer in self.peers.values():
            if now - peer.last_ping_sent >= s.ping_interval:
                self._nonce += 1
                peer.last_ping_sent = now
                peer.pending[self._nonce] = now
                if len(peer.pending) > 16:  # unanswered pings of a dead peer: keep the newest
                    del peer.pending[min(peer.pending)]
                probes.append(ProbeIntent(peer.name, self._nonce))
            if peer.state is PeerState.ALIVE and now - peer.last_heard >= s.failure_timeout:
                peer.state = PeerState.SUSPECT
                peer.suspect_since = now
                peer.confirmations.clear()
            if peer.state is PeerState.SUSPECT:
                helpers = [
                    n for n, p in self.peers.items()
                    if n != peer.name and p.state is not PeerState.DEAD
                ]
                if self._quorum_agrees(peer, helpers):
                    deaths.append(peer.name)
                elif helpers and now - peer.indirect_sent_at >= s.ping_interval:
                    peer.indirect_sent_at = now
                    for via in helpers:
                        self._nonce += 1
                        probes.append(ProbeIntent(via, self._nonce, target=peer.name))
        return probes, deaths

    # ------------------------------------------------------------ internals

    def _quorum_agrees(self, peer: Peer, helpers: list[str]) -> bool:
        """May `peer` be declared dead? (see Quorum in the module docstring)"""
        if not helpers:
            # nobody to ask. A two-instance ring declares alone (availability first, README). The
            # last two of a larger ring do not: a silent peer may be alive behind a cut, holding
            # sessions the other would then serve as new (or both would serve them alone); the
            # pair waits until the peer answers or another member returns to confirm
            return len(self.order) <= 2
        confirmed = peer.confirmations & set(helpers)
        if not confirmed:
            return False  # nobody else notices the silence: this instance may be the isolated one
        # the view includes the suspect itself (even one never heard from)
        view = tuple(n for n in self.alive() if n == peer.name or n in self._view())
        side = {self.me} | confirmed
        if 2 * len(side) > len(view):
            return True
        return 2 * len(side) == len(view) and view[0] in side

    def start_over(self, now: float, fencer: str) -> None:
        """After being fenced: this instance was the odd one out, so its suspicions are void, and
        the peer that fenced it is alive (even if it was declared dead here: a mutual split)."""
        peer = self.peers.get(fencer)
        if peer is not None and peer.state is PeerState.DEAD:
            peer.state = PeerState.ALIVE
            self.changes += 1
        self._forget_own_pause(now)

    def _forget_own_pause(self, now: float) -> None:
        for peer in self.peers.values():
            if peer.state is not PeerState.DEAD:
                peer.state = PeerState.ALIVE
                peer.last_heard = now
                peer.confirmations.clear()
            peer.pending.clear()
            peer.acked_send_time = -1e18
