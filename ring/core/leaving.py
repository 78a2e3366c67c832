"""A clean stop, the leaver's side: refuse new requests, hand everything over, tell every peer.

`Leaving` is owned by the Node. After `LeaveRequested` the node refuses loads and writes
(LEAVING) and asks `ready_to_tell` whether its successor acknowledged everything (no write or
resync in flight, no adoption under way, no orphan of ours unadopted: it would be a single
copy). Then `Leave` goes to every live peer; from that moment only the answers to it count (a
peer that took the leave in declared us dead, and its other messages would fence us). A peer
that does not answer is told again; `Left` comes when every peer answered, or left itself (its
own Leave, answered Done: the whole ring stopping at once ends in a few pings, not at the stop
timeout). The shell's stop
timeout bounds the wait. The peers' side is Node._on_leave: a death declared at once.
"""

from __future__ import annotations

from ring.core.events import Effect, Input, Left, Received, Respond, Send, Tick, Unreachable
from ring.core.messages import Done, Header, Leave


class Leaving:
    def __init__(self, retry_interval: float, answer_timeout: float) -> None:
        self.requested = False  # LeaveRequested: refuse new requests, hand over, then Left
        self.left = False  # Left was returned: the process is exiting and ignores everything
        self.waiting: dict[str, float] | None = None  # Leave sent: peer -> when to send it again
        self._told: tuple[str, ...] = ()
        self._retry = retry_interval
        self._timeout = answer_timeout

    @property
    def telling(self) -> bool:
        """Leave is on its way: the node takes only its answers."""
        return self.waiting is not None

    def tell(self, peers: tuple[str, ...], header: Header, now: float, out: list[Effect]) -> None:
        """Everything is handed over: tell `peers` (the live ones)."""
        self._told = peers
        self.waiting = dict.fromkeys(peers, now)
        self.step(Tick(), header, now, out)

    def step(self, event: Input, header: Header, now: float, out: list[Effect]) -> None:
        waiting = self.waiting
        assert waiting is not None
        if isinstance(event, Received) and isinstance(event.message, Done) and isinstance(event.in_reply_to, Leave):
            waiting.pop(event.message.header.sender, None)
        elif isinstance(event, Received) and isinstance(event.message, Leave) and event.in_reply_to is None:
            # the peer leaves too (the whole ring stopping at once): it needs nothing of us and we
            # need no answer from it; without this answer every leaver waits for its stop timeout
            waiting.pop(event.message.header.sender, None)
            out.append(Respond(message=Done(header)))
        elif isinstance(event, Unreachable) and isinstance(event.request, Leave) and event.peer in waiting:
            waiting[event.peer] = now + self._retry
        elif isinstance(event, Tick):
            for peer, due in waiting.items():
                if now >= due:
                    waiting[peer] = now + self._timeout  # no answer by then: again
                    out.append(Send(to=peer, message=Leave(header)))
        if not waiting:
            out.append(Left(peers_told=self._told))
            self.left = True
            self.waiting = None
