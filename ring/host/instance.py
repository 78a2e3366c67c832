"""One ring instance of this process, assembled: the composition root of `ring serve`.

`Instance` wires the pieces the other packages keep apart: the core's Node from the config, the
engine that drives it, the gRPC transport to the peers, the replication server, the event log
and the metrics sources. Its life has the order `ring serve` needs: `listen()` (peers' joins
and pings are answered from then on), the start-up checks of ring.host.startup, `start()` (the
ring comes alive), and `stop()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ring import __version__ as VERSION
from ring.config import ClusterConfig
from ring.core import Node
from ring.io import codec
from ring.io._proto import ring_pb2 as pb
from ring.io.eventlog import EventLog
from ring.io.members import MemberAddresses
from ring.io.metrics import Sources
from ring.io.runtime import Engine
from ring.io.security import CertificateNames, LocalTls, call_signer, channel_credentials, server_names
from ring.io.server import ReplicationServer
from ring.io.service import AdmissionLimits, RingService
from ring.io.transport import CallTimeouts, GrpcTransport


class Instance:
    def __init__(self, config: ClusterConfig, me: str, *, event_log: str | None = None) -> None:
        self.config = config
        self.me = me
        self.spec = config.instance(me)
        self.settings = config.replication.core_settings()
        self.events = EventLog(me, event_log)
        self.node = Node(me, config.ring, self.settings, incarnation=time.time_ns(),
                         now=time.monotonic(), wall_now=time.time())
        self.max_message = 2 * self.settings.batch_max_bytes + 2 * self.settings.max_session_size + (1 << 16)
        self.engine: Engine | None = None
        self.server: ReplicationServer | None = None
        self.service: RingService | None = None
        self.draining = False  # a clean stop began: /readyz fails so balancers move away
        self.started = time.monotonic()
        self.http_address = ""  # HOST:PORT of the hosted app, once it listens (for `ring status`)
        self.admin_address = ""  # HOST:PORT of the admin endpoints, once they listen

    async def listen(self) -> Engine:
        """Bind the engine to this loop and open the replication port (OSError if it is taken)."""
        r = self.config.replication
        tls = LocalTls.of(r, self.spec.tls_cert_file, self.spec.tls_key_file)
        addresses = {name: self.config.instance(name).address for name in self.config.ring}
        engine = Engine(self.node, self.events, transport=lambda deliver: GrpcTransport(
            self.me, addresses, deliver, credentials=channel_credentials(tls),
            signer=call_signer(r.key, self.me), max_message=self.max_message,
            max_record=self.settings.max_session_size, timeouts=CallTimeouts.of(self.settings),
            server_names=server_names(self.config.certificate_names())))
        engine.bind()
        self.engine = engine
        # re-resolved when an unknown address calls: a member may come back elsewhere (ring.io.members)
        member_ips = MemberAddresses(self.config.instance(name).host for name in self.config.ring)
        self.service = RingService(
            _Core(engine, self.spec.address, self.host_info), member_ips, r.key, self.settings.max_session_size,
            me=self.me,
            members=frozenset(self.config.ring),
            certificates=CertificateNames(self.config.ring, self.config.certificate_names()) if r.encrypted else None,
            limits=AdmissionLimits(r.max_calls_per_address, r.first_message_timeout), max_message=self.max_message)
        self.server = ReplicationServer(self.service, self.spec.address, tls, self.max_message)
        await self.server.start()
        return engine

    def start(self) -> None:
        assert self.engine is not None, "listen() first"
        self.engine.start()

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        if self.server is not None:
            await self.server.stop()
        self.events.close()

    def ready(self) -> bool:
        return not self.draining and self.engine is not None and self.engine.ready()

    async def leave(self, timeout: float) -> bool:
        """Hand every session over and tell the peers (see Engine.leave)."""
        self.draining = True
        return self.engine is not None and await self.engine.leave(timeout)

    def host_info(self) -> pb.HostInfo:
        """What the Status reply says about this process besides the core's figures."""
        st = self.engine.status() if self.engine is not None else None
        return pb.HostInfo(version=VERSION, uptime_seconds=time.monotonic() - self.started,
                           http_address=self.http_address, admin_address=self.admin_address,
                           ready=self.ready(), lease_valid=bool(st and st.lease_valid),
                           pending_writes=st.pending_writes if st else 0)

    def metrics_sources(self, **extra_counters: tuple[str, object]) -> Sources:
        return Sources(
            stats=self.events.stats,
            status=lambda: self.engine.status() if self.engine is not None else None,
            refused=lambda: self.service.refused if self.service is not None else 0,
            extra_counters=extra_counters,  # type: ignore[arg-type]
            ready=self.ready,
            version=VERSION,
        )


class _Core:
    """The servicer's view of the engine: handle a message, report status (with our address)."""

    def __init__(self, engine: Engine, address: str, host_info: Callable[[], pb.HostInfo]) -> None:
        self.handle = engine.handle
        self.together = engine.together
        self._engine = engine
        self._address = address
        self._host_info = host_info

    def status_reply(self) -> pb.StatusReply:
        reply = codec.status_to_pb(self._engine.status(), self._address)
        reply.host.CopyFrom(self._host_info())
        return reply
