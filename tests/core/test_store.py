"""The session store against a plain dict model, under operation sequences Hypothesis picks.

The model keeps, per session id, (role, version, stream, expires_at) and applies each operation
the obvious way; the store must agree after every step. The invariants of store.py follow: a copy
is only replaced by a strictly newer version, a primary is never overwritten by replication, and
only the operations that say so (remove, drops, expiry) make a copy go away.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from ring.core.messages import SessionRecord
from ring.core.store import Copy, Role, SessionStore

IDS = ["s1", "s2", "s3"]
OWNERS = ["a", "b"]

Model = dict[str, tuple[Role, int, int, float, str]]  # role, version, stream, expires_at, owner


def record(sid: str, owner: str, version: int, last_access: float) -> SessionRecord:
    return SessionRecord(sid, owner, version, last_access, 10.0, False, b"d")


ops = st.one_of(
    st.tuples(st.just("primary"), st.sampled_from(IDS), st.integers(1, 6), st.floats(0, 20)),
    st.tuples(st.just("tombstone"), st.sampled_from(IDS), st.integers(1, 6), st.floats(0, 20)),
    st.tuples(st.just("backup"), st.sampled_from(IDS), st.sampled_from(OWNERS), st.integers(1, 6),
              st.integers(1, 3), st.floats(0, 20)),
    st.tuples(st.just("orphan"), st.sampled_from(OWNERS)),
    st.tuples(st.just("drop_backups"), st.sampled_from(OWNERS), st.integers(1, 4)),
    st.tuples(st.just("drop_roles"), st.sampled_from([Role.PRIMARY, Role.BACKUP, Role.ORPHAN])),
    st.tuples(st.just("remove"), st.sampled_from(IDS)),
    st.tuples(st.just("expire"), st.floats(0, 40)),
)


def apply(store: SessionStore, model: Model, op: tuple) -> None:  # type: ignore[type-arg]
    kind = op[0]
    if kind in ("primary", "tombstone"):
        _, sid, version, at = op
        store.put(Copy(replace(record(sid, "me", version, at), deleted=kind == "tombstone"), Role.PRIMARY))
        model[sid] = (Role.PRIMARY, version, 0, at + 10.0, "me")
    elif kind == "backup":
        _, sid, owner, version, stream, at = op
        held = model.get(sid)
        stored = store.apply_backup(record(sid, owner, version, at), stream)
        newer = held is None or (held[0] is not Role.PRIMARY and version > held[1])
        # an orphan the owner's stream sends again at its version is a backup once more
        rejoined = held is not None and held[0] is Role.ORPHAN and held[1] == version
        assert stored == (newer or rejoined)
        if rejoined:
            model[sid] = (Role.BACKUP, version, stream, at + 10.0, owner)
        if newer:
            model[sid] = (Role.BACKUP, version, stream, at + 10.0, owner)
        elif held is not None and held[0] is Role.BACKUP and held[1] == version and held[2] < stream:
            model[sid] = (Role.BACKUP, held[1], stream, held[3], held[4])
    elif kind == "orphan":
        _, owner = op
        orphaned = store.orphan_backups_of(owner)
        doomed = [s for s, v in model.items() if v[0] is Role.BACKUP and v[4] == owner]
        assert sorted(orphaned) == sorted(doomed)
        for s in doomed:
            model[s] = (Role.ORPHAN, model[s][1], 0, model[s][3], owner)
    elif kind == "drop_backups":
        _, owner, stream = op
        doomed = [s for s, v in model.items() if v[0] is Role.BACKUP and v[4] == owner and v[2] < stream]
        assert store.drop_backups_of(owner, older_than_stream=stream) == len(doomed)
        for s in doomed:
            del model[s]
    elif kind == "drop_roles":
        _, role = op
        doomed = [s for s, v in model.items() if v[0] is role]
        assert store.drop_roles((role,)) == len(doomed)
        for s in doomed:
            del model[s]
    elif kind == "remove":
        _, sid = op
        assert (store.remove(sid) is None) == (sid not in model)
        model.pop(sid, None)
    else:
        _, now = op
        doomed = [s for s, v in model.items() if v[3] <= now]
        assert store.expire(now) == len(doomed)
        for s in doomed:
            del model[s]


@given(st.lists(ops, max_size=40))
def test_the_store_agrees_with_a_dict_model(sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    store, model = SessionStore(), {}  # type: ignore[var-annotated]
    for op in sequence:
        apply(store, model, op)
        held = {c.record.session_id: (c.role, c.version, c.stream, c.record.expires_at, c.record.owner)
                for c in store}
        assert held == model, op
        assert {r.session_id for r in store.primaries()} == {s for s, v in model.items() if v[0] is Role.PRIMARY}
        for role in Role:  # the counts kept as copies come and go agree with a scan
            live = Counter(c.record.owner for c in store if c.role is role and not c.record.deleted)
            assert store.count(role) == dict(live), (op, role)
        assert store.primary_count == sum(store.count(Role.PRIMARY).values())


def test_touched_collects_the_sessions_whose_primary_may_have_changed() -> None:
    store = SessionStore()
    store.put(Copy(record("s1", "me", 1, 0.0), Role.PRIMARY))
    store.apply_backup(record("s2", "a", 1, 0.0), 1)  # a backup never changes what is servable
    assert store.touched == {"s1"}
    store.touched.clear()
    store.drop_roles((Role.PRIMARY,))
    store.remove("s3")
    assert store.touched == {"s1", "s3"}


def test_an_orphan_sent_again_by_its_live_owner_becomes_a_backup_again() -> None:
    """A fenced instance keeps its backups as orphans; the owner's resync then sends the same
    versions. They must become backups again, or the orphan is dropped as stale later (a live
    owner holds it) and the session is left with no second copy."""
    store = SessionStore()
    assert store.apply_backup(record("s1", "b", 2, 0.0), 1)
    store.quarantine()
    assert store.get("s1").role is Role.ORPHAN
    assert store.apply_backup(record("s1", "b", 2, 0.0), 2)
    assert store.get("s1").role is Role.BACKUP and store.get("s1").stream == 2
    # another live owner's record at that version too (both sides of a split adopted it): the
    # streaming owner's primary stands, an eager round would yield to it
    store.quarantine()
    assert store.apply_backup(record("s1", "c", 2, 0.0), 3)
    assert store.get("s1").role is Role.BACKUP and store.get("s1").record.owner == "c"
