"""The port (ring.backend) over an in-process engine: for WSGI threads and for asyncio code.

`EngineBackend` serves threads: each call is handed to the engine's loop and the thread waits
for the core's answer. Requests from many threads are coalesced: the loop is woken once per burst
and takes everything queued meanwhile, which is what lets the core group-commit them into one
batch. `AsyncEngineBackend` serves coroutines on the engine's own loop (no hop at all). Both
serve a load of a primary this instance can serve right now from the core's published read view,
without a step, and map core outcomes to the port's results and errors the same way (`_Port`).

A save with a base version is conditional (the port's SessionStale): on the loop, right before
the write is fed to the core, the newest version the core knows (uncommitted writes included) is
compared with the base. Check and feed happen in one loop callback, so no other write of this
instance can come between them; a write elsewhere first adopts the session, which moves its
version too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import threading
from collections.abc import Callable

from ring.backend import LoadedSession, Locator, SaveResult, check_lifetime
from ring.core import (
    FailureReason,
    Input,
    Loaded,
    LoadFailed,
    LoadRequested,
    RequestOutcome,
    Role,
    WriteCommitted,
    WriteFailed,
    WriteRequested,
)
from ring.errors import (
    ReplicationError,
    SessionExists,
    SessionInvalidated,
    SessionStale,
    SessionTooLarge,
    SessionUnavailable,
)
from ring.io.runtime import Engine

MakeInput = Callable[[int], Input]
Guard = Callable[[], Exception | None]  # run on the loop right before the input is fed

_WRITE_ERRORS: dict[FailureReason, type[Exception]] = {
    FailureReason.TOO_LARGE: SessionTooLarge,
    FailureReason.INVALIDATED: SessionInvalidated,
    FailureReason.ID_TAKEN: SessionExists,
    # adopted by another instance since the request loaded it: a stale base (ring.web.merge
    # reloads, which adopts it back, and re-applies the request's keys)
    FailureReason.MOVED: SessionStale,
    # nothing written: this instance owns max-sessions sessions already (503, retry later)
    FailureReason.TOO_MANY_SESSIONS: SessionUnavailable,
}


class _Port:
    """What both facades share: inputs from port calls, port results (or errors) from outcomes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.instance_id = engine.me
        self.max_session_size = engine.settings.max_session_size
        self.wait_timeout = engine.settings.request_timeout + 2.0  # the core answers loads by then

    def new_session_id(self) -> str:
        return secrets.token_urlsafe(32)

    def replicate_on_read(self) -> bool:
        return self.engine.settings.replicate_on_read

    def _stale(self, session_id: str, base_version: int) -> SessionStale | SessionExists | None:
        """SessionStale when this instance's primary of session_id moved past base_version,
        SessionExists when a create (base 0) names it (loop only).

        Anything else (not held here, a tombstone) is left to the core, which refuses it itself.
        """
        node = self.engine.node
        current = node.requests.writes.latest(session_id)
        if current is None:
            held = node.store.get(session_id)
            if held is None or held.role is not Role.PRIMARY:
                return None
            current = held.record
        if current.deleted or current.version == base_version:
            return None
        if base_version == 0:
            return SessionExists("a new session's id is already held")
        return SessionStale(f"base version {base_version}, newest {current.version}")

    def _served_here(self, session_id: str) -> LoadedSession | None:
        hit = self.engine.read_view.servable(session_id, self.engine.clock())
        if hit is None:
            return None
        record, successor = hit
        return LoadedSession(session_id, record.version, record.data, Locator(self.instance_id, successor))

    @staticmethod
    def _load(session_id: str, hint: Locator | None) -> MakeInput:
        p, b = (hint.primary, hint.backup) if hint is not None else ("", "")
        return lambda rid: LoadRequested(request_id=rid, session_id=session_id, hint_primary=p, hint_backup=b)

    @staticmethod
    def _write(session_id: str, base_version: int, data: bytes, *, deleted: bool = False,
               touch_only: bool = False, lifetime: float | None = None) -> MakeInput:
        check_lifetime(lifetime)
        return lambda rid: WriteRequested(request_id=rid, session_id=session_id, base_version=base_version,
                                          data=data, deleted=deleted, touch_only=touch_only, lifetime=lifetime)

    @staticmethod
    def _loaded(session_id: str, outcome: RequestOutcome | None) -> LoadedSession | None:
        if outcome is None:
            raise SessionUnavailable("the instance is stopping")
        if isinstance(outcome, LoadFailed):
            raise SessionUnavailable(outcome.reason.value)
        assert isinstance(outcome, Loaded)
        if outcome.record is None:
            return None
        return LoadedSession(session_id, outcome.record.version, outcome.record.data,
                             Locator(outcome.primary, outcome.backup))

    @staticmethod
    def _saved(outcome: RequestOutcome | None) -> SaveResult:
        if outcome is None:
            raise SessionUnavailable("the instance is stopping")
        if isinstance(outcome, WriteFailed):
            raise _WRITE_ERRORS.get(outcome.reason, ReplicationError)(outcome.reason.value)
        assert isinstance(outcome, WriteCommitted)
        return SaveResult(outcome.version, Locator(outcome.primary, outcome.backup), outcome.replicated)


class EngineBackend(_Port):
    """ring.backend.SessionBackend for threads, backed by an Engine running on its own loop."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        assert engine.loop is not None, "the engine is not bound to a loop"
        self._loop = engine.loop
        self._intake: list[tuple[MakeInput, Guard | None, concurrent.futures.Future[RequestOutcome | None]]] = []
        self._intake_lock = threading.Lock()
        self._intake_scheduled = False

    def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        here = self._served_here(session_id)
        if here is not None:  # ours and servable now: no hop to the loop
            return here
        return self._loaded(session_id, self._call(self._load(session_id, hint)))

    def save(self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False, lifetime: float | None = None) -> SaveResult:
        guard = None if touch_only else (lambda: self._stale(session_id, base_version))
        return self._saved(self._call(
            self._write(session_id, base_version, data, touch_only=touch_only, lifetime=lifetime), guard))

    def invalidate(self, session_id: str, base_version: int) -> None:
        self._saved(self._call(self._write(session_id, base_version, b"", deleted=True)))

    def _call(self, make: MakeInput, guard: Guard | None = None) -> RequestOutcome | None:
        future: concurrent.futures.Future[RequestOutcome | None] = concurrent.futures.Future()
        with self._intake_lock:
            self._intake.append((make, guard, future))
            wake = not self._intake_scheduled
            self._intake_scheduled = True
        if wake:
            self._loop.call_soon_threadsafe(self._drain_intake)
        try:
            return future.result(self.wait_timeout)
        except concurrent.futures.TimeoutError as exc:
            raise SessionUnavailable("the instance did not answer in time") from exc

    def _drain_intake(self) -> None:
        with self._intake_lock:
            self._intake_scheduled = False
            batch, self._intake = self._intake, []
        for make, guard, future in batch:
            refused = guard() if guard is not None else None
            if refused is not None:
                future.set_exception(refused)
            else:
                self.engine.request(make, future.set_result)


class AsyncEngineBackend(_Port):
    """ring.backend.AsyncSessionBackend for coroutines on the engine's own loop."""

    async def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        here = self._served_here(session_id)
        if here is not None:
            return here
        return self._loaded(session_id, await self._call(self._load(session_id, hint)))

    async def save(self, session_id: str, base_version: int, data: bytes, *,
                   touch_only: bool = False, lifetime: float | None = None) -> SaveResult:
        if not touch_only:
            refused = self._stale(session_id, base_version)
            if refused is not None:  # checked and fed below in one step of the loop
                raise refused
        return self._saved(await self._call(
            self._write(session_id, base_version, data, touch_only=touch_only, lifetime=lifetime)))

    async def invalidate(self, session_id: str, base_version: int) -> None:
        self._saved(await self._call(self._write(session_id, base_version, b"", deleted=True)))

    async def _call(self, make: MakeInput) -> RequestOutcome | None:
        future: asyncio.Future[RequestOutcome | None] = asyncio.get_running_loop().create_future()

        def done(outcome: RequestOutcome | None) -> None:
            if not future.done():  # the caller may have been cancelled meanwhile
                future.set_result(outcome)

        self.engine.request(make, done)
        try:
            return await asyncio.wait_for(future, self.wait_timeout)
        except TimeoutError as exc:
            raise SessionUnavailable("the instance did not answer in time") from exc
