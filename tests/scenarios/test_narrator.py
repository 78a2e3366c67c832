"""One narrator: ring.core.narrate.describe words the effects; the transcripts choose which to tell.

The phrases themselves are pinned by the golden transcripts (test_scenarios.py); here, what is
told and what is not.
"""

from __future__ import annotations

from ring.core import Fenced, Rejected, Send, ViewChanged, WriteCommitted
from ring.core.messages import Batch, Ping
from ring.core.narrate import describe, refuses_a_fenced_sender
from ring.testing import SimCluster
from ring.testing.stories import Narrator


def test_routine_plumbing_is_not_told() -> None:
    sim = SimCluster(["a", "b", "c"])
    sim.run(1.0)
    op = sim.request("create", "a", "s1", payload=b"{}")
    assert sim.run_until(lambda: op.phase == "done", 5.0) and op.outcome == "ok"
    plumbing = [(n, e) for n, e in sim.effect_log
                if isinstance(e, WriteCommitted) or (isinstance(e, Send) and isinstance(e.message, Ping | Batch))]
    assert plumbing and all(describe(n, e) is None for n, e in plumbing)
    sim.crash("c")
    sim.run(4 * sim.settings.failure_timeout)  # a view change: that is the story
    views = [(n, e) for n, e in sim.effect_log if isinstance(e, ViewChanged)]
    assert views and all(describe(n, e) for n, e in views)


def test_every_refusal_is_worded_but_only_a_fence_is_worth_telling() -> None:
    fence = Rejected(peer="a", what="Ping", reason="sender was declared dead (fenced)")
    stranger = Rejected(peer="x", what="Ping", reason="not a member of this ring")
    assert describe("b", fence) == "refuses Ping from a: sender was declared dead (fenced)"
    assert describe("b", stranger) == "refuses Ping from x: not a member of this ring"
    assert refuses_a_fenced_sender(fence) and not refuses_a_fenced_sender(stranger)
    assert not refuses_a_fenced_sender(Fenced(dropped=1, old_incarnation=1, new_incarnation=2))


def test_the_transcript_tells_a_fence_once_per_instance_sender_and_kind() -> None:
    sim = SimCluster(["a", "b", "c"])
    narrate = Narrator(sim)
    fence = Rejected(peer="a", what="Ping", reason="sender was declared dead (fenced)")
    for _ in range(3):
        narrate("b", fence)
    narrate("c", fence)
    narrate("b", Rejected(peer="a", what="PingReply", reason="sender was declared dead (fenced)"))
    narrate("b", Rejected(peer="x", what="Ping", reason="not a member of this ring"))
    told = [line.split("] ", 1)[1] for line in sim.transcript]
    assert told == [
        "b: refuses Ping from a: sender was declared dead (fenced)",
        "c: refuses Ping from a: sender was declared dead (fenced)",
        "b: refuses PingReply from a: sender was declared dead (fenced)",
    ]
