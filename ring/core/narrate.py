"""One sentence per ring event, shared by the instance's log and the simulated transcripts.

`describe(instance, effect)` phrases the effects that carry the story of a ring (views, deaths,
joins, resyncs, adoptions, fencing, the DropBackups and Release messages, a refusal that fences)
and returns None for everything else (pings, batches, request outcomes). Pure: no state, so a
caller that wants a refusal told once per sender keeps that memory itself.
"""

from __future__ import annotations

from ring.core.events import (
    Adopted,
    Effect,
    Fenced,
    PeerDeclaredDead,
    PeerJoined,
    Rejected,
    ResyncFinished,
    ResyncStarted,
    Send,
    ViewChanged,
)
from ring.core.messages import DropBackups, Release


def describe(instance: str, effect: Effect) -> str | None:
    if isinstance(effect, ViewChanged):
        backup = effect.successor or "nobody (alone: its writes are unreplicated)"
        return f"view {effect.epoch}: alive {','.join(effect.alive)}; backs up to {backup}"
    if isinstance(effect, PeerDeclaredDead):
        if effect.restarted:  # noticed through a higher incarnation
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
        return (f"fenced (it was declared dead): drops {effect.dropped} copies, "
                f"incarnation {effect.old_incarnation} -> {effect.new_incarnation}")
    if isinstance(effect, Send) and isinstance(effect.message, DropBackups):
        return f"tells {effect.to} to drop its backups of {instance}"
    if isinstance(effect, Send) and isinstance(effect.message, Release):
        return f"tells {effect.to} to release {effect.message.session_id} (up to v{effect.message.version})"
    if isinstance(effect, Rejected) and "dead" in effect.reason:
        return f"refuses {effect.what} from {effect.peer}: {effect.reason}"
    return None
