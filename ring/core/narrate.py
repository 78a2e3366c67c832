"""The effects that tell the ring's story, in words: one phrasing for logs and scenario transcripts.

`describe(instance, effect)` is the sentence for an effect seen at `instance` (the node that
returned it), or None for an effect that is routine plumbing: pings and their answers, replication
batches and acks, answers to client requests. Told are the view changes, declared deaths, joins,
resyncs, adoptions, fences, refusals, and of the messages only the two that carry the story:
DropBackups after a rejoin and Release after an adoption. The sentence names the peers but not
`instance` itself, so a caller tags it as it likes ("d: view 2: ..." in a transcript, the
instance's own logger in the engine).

What to tell is the caller's choice: the transcripts show a refusal only when it fences
(`refuses_a_fenced_sender`) and only once per sender and kind, which takes state this module does
not keep. The golden transcripts (tests/scenarios/expected/) pin every phrase: a change here shows
as a diff there.
"""

from __future__ import annotations

from ring.core.events import (
    Adopted,
    Effect,
    Fenced,
    Left,
    PeerDeclaredDead,
    PeerJoined,
    Rejected,
    ResyncFinished,
    ResyncStarted,
    Send,
    ViewChanged,
)
from ring.core.messages import DropBackups, Release

__all__ = ["describe", "refuses_a_fenced_sender"]


def describe(instance: str, effect: Effect) -> str | None:
    """The sentence for `effect` returned by the node `instance`; None when it tells no story."""
    if isinstance(effect, ViewChanged):
        backup = effect.successor or "nobody (alone: its writes are unreplicated)"
        return f"view {effect.epoch}: alive {','.join(effect.alive)}; backs up to {backup}"
    if isinstance(effect, PeerDeclaredDead):
        if effect.left:
            what = f"{effect.peer} leaves the ring (a clean stop)"
        elif effect.restarted:  # noticed through a higher incarnation
            what = f"{effect.peer} restarted"
        elif effect.incarnation == 0:
            what = f"declares {effect.peer} dead (never heard from it since starting)"
        else:
            what = f"declares {effect.peer} dead (incarnation {effect.incarnation})"
        return what + (f"; keeps {effect.orphans} of its backups as orphans" if effect.orphans else "")
    if isinstance(effect, PeerJoined):
        return f"{effect.peer} joined (incarnation {effect.incarnation})"
    if isinstance(effect, ResyncStarted):
        return f"resync to {effect.successor}: {effect.sessions} primaries"
    if isinstance(effect, ResyncFinished):
        return f"resync to {effect.successor} done"
    if isinstance(effect, Adopted):
        source = "its own copy" if effect.from_peer == instance else effect.from_peer
        return f"adopts {effect.session_id} from {source} as v{effect.version}"
    if isinstance(effect, Fenced):
        return (f"fenced (it was declared dead): drops {effect.dropped} copies it handed over, keeps "
                f"{effect.kept} to reconcile, incarnation {effect.old_incarnation} -> {effect.new_incarnation}")
    if isinstance(effect, Send) and isinstance(effect.message, DropBackups):
        return f"tells {effect.to} to drop its backups of {instance}"
    if isinstance(effect, Send) and isinstance(effect.message, Release):
        return f"tells {effect.to} to release {effect.message.session_id} (up to v{effect.message.version})"
    if isinstance(effect, Left):
        told = ",".join(effect.peers_told) or "nobody (alone)"
        return f"leaves the ring: its successor holds every session; told {told}"
    if isinstance(effect, Rejected):
        return f"refuses {effect.what} from {effect.peer}: {effect.reason}"
    return None


def refuses_a_fenced_sender(effect: Effect) -> bool:
    """A refusal because its sender was declared dead: the fence at work, worth telling."""
    return isinstance(effect, Rejected) and "dead" in effect.reason
