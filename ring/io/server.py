"""The replication port: a grpc.aio server carrying the ring.v1.Ring service of one instance.

A port with neither a cluster key nor mutual TLS admits any process that reaches it as a full peer
(it can read and overwrite every session): `warn_if_insecure` says so, loudly, at every start.
"""

from __future__ import annotations

import logging
import time

import grpc

from ring.io.security import TlsSettings, server_credentials
from ring.io.service import RingService, add_to_server
from ring.io.transport import channel_options

log = logging.getLogger("ring.server")

# Calls in progress at once. A call without credentials is refused before it holds anything but a
# moment of this; each member (an address and the identity its credentials prove) may hold
# `max-calls-per-address` of it (the core's 256 eager claim rounds, plus requests' claims and pings).
MAX_CONCURRENT_RPCS = 2048
MAX_STREAMS_PER_CONNECTION = 1024  # HTTP/2 streams one connection may open at once

INSECURE_WARNING = (
    "INSECURE: the replication port %s has neither <key> nor <encrypted>: any process that can reach "
    "it can read, change and delete every session of the ring; set a <key> (trusted network) or "
    "<encrypted> mutual TLS (any other network)")


class _HeaderEncodingFilter(logging.Filter):
    """grpc logs a header value that is not UTF-8 with a traceback (and passes it on as latin-1, which
    admission then refuses): one line per interval instead, with the count."""

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.interval = interval
        self.seen = 0
        self._logged_at = -interval

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Invalid encoding on"):
            return True
        self.seen += 1
        now = time.monotonic()
        if now - self._logged_at >= self.interval:
            self._logged_at = now
            log.warning("a peer sent a header value that is not UTF-8 (%d so far): its call is refused", self.seen)
        return False


HEADER_ENCODING_FILTER = _HeaderEncodingFilter()


class ReplicationServer:
    def __init__(self, service: RingService, bind: str, tls: TlsSettings, max_message: int) -> None:
        self.service = service
        self.bind = bind  # host:port, or [v6]:port
        self._server = grpc.aio.server(options=channel_options(max_message) + [
            ("grpc.so_reuseport", 0), ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION)],
                                       maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS)
        add_to_server(service, self._server)
        grpc_log = logging.getLogger("grpc._cython.cygrpc")
        if HEADER_ENCODING_FILTER not in grpc_log.filters:
            grpc_log.addFilter(HEADER_ENCODING_FILTER)
        self._tls = tls
        self.insecure = False  # neither a key nor TLS, known once started

    async def start(self) -> None:
        """Listen; OSError when the address is taken or not this host's."""
        creds = server_credentials(self._tls)
        try:
            port = (self._server.add_secure_port(self.bind, creds) if creds is not None
                    else self._server.add_insecure_port(self.bind))
        except RuntimeError:  # grpc >= 1.5x raises where older versions returned 0
            port = 0
        if port == 0:
            raise OSError(f"cannot listen on {self.bind} (in use, or not an address of this host)")
        self.insecure = creds is None and self.service.tokens is None
        await self._server.start()

    def warn_if_insecure(self) -> None:
        """Once the instance is up (so that a failed start still says one line only)."""
        if self.insecure:
            log.warning(INSECURE_WARNING, self.bind)

    async def stop(self, grace: float = 0.5) -> None:
        self.service.end_streams()
        await self._server.stop(grace=grace)
