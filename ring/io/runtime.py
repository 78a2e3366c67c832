"""The asyncio driver of one instance: it owns the node, every task and timer, and the futures of
HTTP requests waiting on the core.

`Engine.handle(msg)` and the ticker feed the core; `_carry_out` performs its effects in order:
messages go to peers (unary calls, or the replication stream for batches), request outcomes
resolve futures, ring events are logged (never with session ids) and appended to the optional
event log (JSON lines with monotonic timestamps, read by `ring drill`).

`EngineBackend` is the synchronous facade for WSGI worker threads (ring.backend protocol):
it hands each call to the loop and waits for the core's answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import secrets
import socket
import threading
import time
from typing import Any

import grpc

from ring.backend import LoadedSession, Locator, SaveResult
from ring.config import ClusterConfig
from ring.core import (
    Adopted,
    Effect,
    Fenced,
    Input,
    Loaded,
    LoadFailed,
    LoadRequested,
    Node,
    PeerDeclaredDead,
    PeerJoined,
    Received,
    Rejected,
    Respond,
    ResyncFinished,
    ResyncStarted,
    Send,
    Tick,
    ViewChanged,
    WriteCommitted,
    WriteFailed,
    WriteRequested,
)
from ring.core import messages as m
from ring.errors import ReplicationError, SessionTooLarge, SessionUnavailable
from ring.io._proto import ring_pb2 as pb
from ring.io.service import RingService, add_to_server
from ring.io.transport import AUTH_METADATA, Peer, auth_token, channel_credentials, channel_options

log = logging.getLogger("ring.engine")

TICK_SECONDS = 0.05


def resolve_ips(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return {host}


class Engine:
    """One ring instance in this process."""

    def __init__(self, config: ClusterConfig, me: str, *, event_log: str | None = None) -> None:
        self.config = config
        self.me = me
        self.spec = config.instance(me)
        self.settings = config.replication.core_settings()
        self.order = config.ring
        self.node: Node | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.peers: dict[str, Peer] = {}
        self._futures: dict[int, Any] = {}  # asyncio or concurrent futures
        self._next_request = 0
        self._server: grpc.aio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._event_log = open(event_log, "a", buffering=1) if event_log else None  # noqa: SIM115
        self.stats = {"writes": 0, "loads": 0, "adoptions": 0, "unreplicated": 0, "failed": 0}
        self.fenced_at = -1e18
        self._intake: list[tuple[Any, concurrent.futures.Future[Effect]]] = []
        self._intake_lock = threading.Lock()
        self._intake_scheduled = False
        self._unreplicated_logged = -1e18
        self.max_message = 2 * self.settings.batch_max_bytes + 2 * self.settings.max_session_size + (1 << 16)

    # ------------------------------------------------------------ lifecycle

    def create_node(self) -> Node:
        self.node = Node(self.me, self.order, self.settings, incarnation=time.time_ns(),
                         now=time.monotonic(), wall_now=time.time())
        return self.node

    async def start_server(self) -> None:
        """Listen on the replication port (before the node runs: joins and pings are answered)."""
        self.loop = asyncio.get_running_loop()
        if self.node is None:
            self.create_node()
        key = self.config.replication.key
        member_ips: set[str] = set()
        for name in self.order:
            member_ips |= resolve_ips(self.config.instance(name).host)
        service = RingService(self, frozenset(member_ips), key, self.settings.max_session_size)
        self.service = service
        self._server = grpc.aio.server(
            options=channel_options(self.max_message) + [("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=256)
        add_to_server(service, self._server)
        bind = self.spec.address  # [v6]:port for an IPv6 host
        creds = self._server_credentials()
        try:
            port = (self._server.add_secure_port(bind, creds) if creds is not None
                    else self._server.add_insecure_port(bind))
        except RuntimeError:  # grpc >= 1.5x raises where older versions returned 0
            port = 0
        if port == 0:
            raise OSError(f"cannot listen on {bind} (in use, or not an address of this host)")
        await self._server.start()
        metadata = ((AUTH_METADATA, auth_token(key, self.me)),) if key else ()
        for name in self.order:
            if name != self.me:
                spec = self.config.instance(name)
                self.peers[name] = Peer(name, spec.address, self.deliver, credentials=self._channel_credentials(),
                                        metadata=metadata, max_message=self.max_message,
                                        max_record=self.settings.max_session_size)

    def start_ticking(self) -> None:
        assert self.loop is not None
        self._ticker = self.loop.create_task(self._tick_forever())
        self._event("started", incarnation=self.node.incarnation if self.node else 0)

    async def _tick_forever(self) -> None:
        while True:
            self.deliver(Tick())
            await asyncio.sleep(TICK_SECONDS)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for peer in self.peers.values():
            await peer.close()
        if self._server is not None:
            self.service.end_streams()
            await self._server.stop(grace=0.5)
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(SessionUnavailable("instance is stopping"))
        self._event("stopped")
        if self._event_log is not None:
            self._event_log.close()

    def _server_credentials(self) -> grpc.ServerCredentials | None:
        r = self.config.replication
        if not r.encrypted:
            return None
        assert r.tls_cert_file and r.tls_key_file and r.tls_ca_file
        return grpc.ssl_server_credentials(
            [(_read(r.tls_key_file), _read(r.tls_cert_file))], root_certificates=_read(r.tls_ca_file),
            require_client_auth=True)

    def _channel_credentials(self) -> grpc.ChannelCredentials | None:
        return channel_credentials(self.config.replication)

    # ------------------------------------------------------------ the core

    def deliver(self, event: Input) -> None:
        """Feed one input (from the loop thread) and carry out the effects."""
        self.handle_input(event)

    def handle(self, msg: m.Message) -> m.Reply | None:
        """A peer's request or stream batch: returns the core's reply."""
        return self.handle_input(Received(msg))

    def handle_input(self, event: Input) -> m.Reply | None:
        assert self.node is not None
        effects = self.node.step(event, time.monotonic())
        return self._carry_out(effects)

    def _carry_out(self, effects: list[Effect]) -> m.Reply | None:
        reply: m.Reply | None = None
        for e in effects:
            if isinstance(e, Send):
                peer = self.peers[e.to]
                if isinstance(e.message, m.Batch):
                    peer.stream(e.message)
                else:
                    timeout = (self.settings.ping_interval * 2 if isinstance(e.message, m.Ping | m.IndirectPing)
                               else self.settings.failure_timeout)
                    peer.call(e.message, timeout)
            elif isinstance(e, Respond):
                reply = e.message
            elif isinstance(e, Loaded | LoadFailed | WriteCommitted | WriteFailed):
                fut = self._futures.pop(e.request_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(e)  # an asyncio future, or a thread's concurrent future
                    self._count(e)
            else:
                self._ring_event(e)
        return reply

    def _ring_event(self, e: Effect) -> None:
        if isinstance(e, ViewChanged):
            log.info("view %d: alive %s, successor %s", e.epoch, ",".join(e.alive), e.successor or "none")
            self._event("view", epoch=e.epoch, alive=list(e.alive), successor=e.successor)
        elif isinstance(e, PeerDeclaredDead):
            log.warning("declared %s dead; keeping %d of its sessions as read-only orphans", e.peer, e.orphans)
            self._event("declared_dead", peer=e.peer, orphans=e.orphans)
        elif isinstance(e, PeerJoined):
            log.info("%s (re)joined with incarnation %d", e.peer, e.incarnation)
            self._event("joined", peer=e.peer)
        elif isinstance(e, Fenced):
            log.error("this instance was declared dead by a peer: dropped %d copies, rejoining as "
                      "incarnation %d", e.dropped, e.new_incarnation)
            self.fenced_at = time.monotonic()
            self._event("fenced", dropped=e.dropped)
        elif isinstance(e, ResyncStarted):
            log.info("resync of %d sessions to %s started", e.sessions, e.successor)
            self._event("resync_started", successor=e.successor, sessions=e.sessions)
        elif isinstance(e, ResyncFinished):
            log.info("resync to %s finished: every session has a backup", e.successor)
            self._event("resync_finished", successor=e.successor)
        elif isinstance(e, Adopted):
            self.stats["adoptions"] += 1
            self._event("adopted", source=e.from_peer)
        elif isinstance(e, Rejected):
            log.info("rejected %s from %s: %s", e.what, e.peer, e.reason)

    def _event(self, kind: str, **fields: Any) -> None:
        if self._event_log is not None:
            fields.update(mono=time.monotonic(), wall=time.time(), instance=self.me, event=kind)
            self._event_log.write(json.dumps(fields) + "\n")

    # ------------------------------------------------------------ requests (thread side)

    def submit(self, make: Any) -> concurrent.futures.Future[Effect]:
        """From any thread: hand a request to the core, get a future of its outcome.

        Requests from many threads are coalesced: the loop is woken once per burst (one
        self-pipe write), and drains everything queued meanwhile in one go, which is what lets
        the core group-commit them into one batch.
        """
        assert self.loop is not None
        fut: concurrent.futures.Future[Effect] = concurrent.futures.Future()
        with self._intake_lock:
            self._intake.append((make, fut))
            wake = not self._intake_scheduled
            self._intake_scheduled = True
        if wake:
            self.loop.call_soon_threadsafe(self._drain_intake)
        return fut

    def _drain_intake(self) -> None:
        with self._intake_lock:
            self._intake_scheduled = False
            batch, self._intake = self._intake, []
        for make, fut in batch:
            self._next_request += 1
            self._futures[self._next_request] = fut
            self.deliver(make(self._next_request))

    def _count(self, e: Effect) -> None:
        if isinstance(e, LoadFailed | WriteFailed):
            self.stats["failed"] += 1
        elif isinstance(e, WriteCommitted):
            self.stats["writes"] += 1
            if not e.replicated:
                self.stats["unreplicated"] += 1
                if self._unreplicated_logged + 10.0 < time.monotonic():
                    self._unreplicated_logged = time.monotonic()
                    log.warning("writes acknowledged without a backup (no successor reachable); "
                                "%d so far", self.stats["unreplicated"])
        else:
            self.stats["loads"] += 1

    # ------------------------------------------------------------ requests (loop side)

    def _request(self, make: Any) -> asyncio.Future[Effect]:
        assert self.loop is not None
        self._next_request += 1
        fut: asyncio.Future[Effect] = self.loop.create_future()
        self._futures[self._next_request] = fut
        self.deliver(make(self._next_request))
        return fut

    async def load(self, session_id: str, hint: Locator | None) -> Loaded | LoadFailed:
        p, b = (hint.primary, hint.backup) if hint is not None else ("", "")
        result = await self._request(lambda rid: LoadRequested(rid, session_id, p, b))
        assert isinstance(result, Loaded | LoadFailed)
        return result

    async def write(self, session_id: str, base_version: int, data: bytes, *, deleted: bool = False,
                    touch_only: bool = False) -> WriteCommitted | WriteFailed:
        result = await self._request(
            lambda rid: WriteRequested(rid, session_id, base_version, data, deleted, touch_only))
        assert isinstance(result, WriteCommitted | WriteFailed)
        return result

    # ------------------------------------------------------------ status

    def status_reply(self) -> pb.StatusReply:
        assert self.node is not None
        st = self.node.inspect(time.monotonic())
        return pb.StatusReply(
            id=st.id, address=self.spec.address, incarnation=st.incarnation, epoch=st.epoch,
            successor=st.successor or "", primaries=st.primaries, backups=st.backups, orphans=st.orphans,
            resyncing=st.resyncing, unreplicated_writes=st.unreplicated_writes,
            peers=[pb.PeerState(id=n, state=s, incarnation=i) for n, (s, i) in st.peers.items()])

    def ready(self) -> bool:
        """Ready for traffic: running, and able to serve its primaries (lease or alone)."""
        if self.node is None or self._ticker is None:
            return False
        return self.node.lease_valid(time.monotonic())


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class EngineBackend:
    """ring.backend.SessionBackend for WSGI threads, backed by an Engine on its loop."""

    def __init__(self, engine: Engine) -> None:
        assert engine.loop is not None
        self.engine = engine
        self.loop = engine.loop
        self.instance_id = engine.me
        self.max_session_size = engine.settings.max_session_size
        self._timeout = engine.settings.request_timeout + 2.0

    def _wait(self, fut: concurrent.futures.Future[Effect]) -> Effect:
        try:
            return fut.result(self._timeout)
        except concurrent.futures.TimeoutError as exc:
            raise SessionUnavailable("the instance did not answer in time") from exc

    def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        node = self.engine.node
        assert node is not None
        record = node.peek_primary(session_id, time.monotonic())
        if record is not None:  # ours and servable: no hop to the loop
            return LoadedSession(session_id, record.version, record.data,
                                 Locator(self.engine.me, node.successor or ""))
        p, b = (hint.primary, hint.backup) if hint is not None else ("", "")
        result = self._wait(self.engine.submit(lambda rid: LoadRequested(rid, session_id, p, b)))
        if isinstance(result, LoadFailed):
            raise SessionUnavailable(result.reason)
        assert isinstance(result, Loaded)
        if result.record is None:
            return None
        return LoadedSession(session_id, result.record.version, result.record.data,
                             Locator(result.primary, result.backup))

    def save(self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False) -> SaveResult:
        if len(data) > self.max_session_size:
            raise SessionTooLarge(f"session of {len(data)} bytes exceeds max-session-size")
        result = self._wait(self.engine.submit(
            lambda rid: WriteRequested(rid, session_id, base_version, data, False, touch_only)))
        if isinstance(result, WriteFailed):
            raise ReplicationError(result.reason)
        assert isinstance(result, WriteCommitted)
        return SaveResult(result.version, Locator(result.primary, result.backup), result.replicated)

    def invalidate(self, session_id: str, base_version: int) -> None:
        result = self._wait(self.engine.submit(
            lambda rid: WriteRequested(rid, session_id, base_version, b"", True)))
        if isinstance(result, WriteFailed):
            raise ReplicationError(result.reason)

    def new_session_id(self) -> str:
        return secrets.token_urlsafe(32)

    def replicate_on_read(self) -> bool:
        return self.engine.settings.replicate_on_read
