"""`ring serve --config FILE --local-host ID [--app MODULE:ATTR] [--http HOST:PORT]`: one instance.

Start-up order: load and check the config (exit 2), the NTP check when servers are configured
(exit 3), listen on the replication port, compare wall clocks with every reachable peer (exit 3
beyond max-clock-skew), wait for the designated backup when startup-discovery-timeout says so,
start the ring, then the HTTP side. SIGTERM or SIGINT stops cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time

from ring.config import ClusterConfig
from ring.core import messages as m
from ring.core.clockskew import peer_offset, verdict
from ring.errors import ClockSkewError, ConfigError
from ring.serverxml import load_server_xml

log = logging.getLogger("ring.serve")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run one instance of the ring",
                       description="Run one ring instance: replication over gRPC, optionally a hosted WSGI app.")
    p.add_argument("--config", required=True, help="the shared server.xml")
    p.add_argument("--local-host", help="which <instance> this is (id, host:port, or host); "
                   "overrides <local-host> in server.xml")
    p.add_argument("--app", help="WSGI application to host, MODULE:ATTR (default with --http: ring.demo:app)")
    p.add_argument("--http", help="HOST:PORT for the hosted application's HTTP server")
    p.add_argument("--threads", type=int, default=8, help="HTTP worker threads (default 8)")
    p.add_argument("--event-log", help=argparse.SUPPRESS)  # JSON lines of ring events, for drills
    p.set_defaults(func=run)


def load_config(path: str, local_host: str | None) -> tuple[ClusterConfig, str]:
    config = load_server_xml(path)
    if local_host:
        config = config.with_local_host(local_host)
    if config.local_host is None:
        raise ConfigError("which instance is this? pass --local-host ID or set <local-host> in server.xml",
                          path=path)
    me = config.resolve(config.local_host).id
    if me not in config.ring:
        raise ConfigError(f"instance {me!r} is disabled in server.xml; enable it to serve", path=path)
    return config, me


def parse_http(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--http must be HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


def run(args: argparse.Namespace) -> int:
    config, me = load_config(args.config, args.local_host)
    http = parse_http(args.http) if args.http else None
    app_spec = args.app or ("ring.demo:app" if http else None)
    if app_spec and not http:
        raise ConfigError("--app needs --http HOST:PORT to serve it")
    r = config.replication
    if r.ntp_servers:
        from ring.io.ntp import check_ntp, raise_if_refused

        v = check_ntp(list(r.ntp_servers), r.max_clock_skew)
        raise_if_refused(v)
        log.info("NTP check: %s", v.message)
    return asyncio.run(_serve(config, me, app_spec, http, args.threads, args.event_log))


async def _serve(config: ClusterConfig, me: str, app_spec: str | None, http: tuple[str, int] | None,
                 threads: int, event_log: str | None) -> int:
    from ring.io.runtime import Engine, EngineBackend

    engine = Engine(config, me, event_log=event_log)
    try:
        await engine.start_server()
    except OSError as exc:
        raise ConfigError(str(exc)) from exc
    server = None
    try:
        await _peer_clock_check(engine)
        await _startup_discovery(engine)
        engine.start_ticking()
        if app_spec and http:
            from ring.web.hosting import HttpServer, import_app, session_app, with_health

            app = import_app(app_spec)
            from ring.io.metrics import registry_for, render

            registry = registry_for(engine)
            wrapped = with_health(session_app(app, EngineBackend(engine), config), engine.ready,
                                  lambda: render(registry))
            server = HttpServer(wrapped, http[0], http[1], threads)
            server.start()
            log.info("serving %s on http://%s:%d", app_spec, http[0], http[1])
        log.info("instance %s up: replication on %s, ring %s", me, engine.spec.address, " -> ".join(config.ring))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping")
        return 0
    finally:
        if server is not None:
            server.stop()
        await engine.stop()


async def _peer_clock_check(engine: object) -> None:
    """Compare wall clocks with every reachable peer at join, round-trip compensated."""
    from ring.io.runtime import Engine
    from ring.io.transport import join_probe

    assert isinstance(engine, Engine) and engine.node is not None
    limit = engine.config.replication.max_clock_skew
    # Incarnation 0 marks a clock probe, which peers answer without telling their core. With the
    # real one, peers would record this process (its incarnation read from the very clock under
    # test) even when the check then refuses it, and fence every later start whose clock reads lower.
    header = m.Header(engine.me, 0, 0)
    probes = await asyncio.gather(*(join_probe(p, m.Join(header, time.time()), 1.0)
                                    for p in engine.peers.values()))
    for name, probe in zip(engine.peers, probes, strict=True):
        if probe is None:
            continue
        t_send, reply, t_recv = probe
        offset, error = peer_offset(t_send, reply.wall_time, t_recv)
        v = verdict(offset, error, limit, source=f"peer {name}")
        if not v.ok:
            raise ClockSkewError(f"refusing to join the ring: {v.message}")
        log.info("clock vs %s: %s", name, v.message)


async def _startup_discovery(engine: object) -> None:
    """Wait up to startup-discovery-timeout for the designated backup to answer."""
    from ring.io.runtime import Engine
    from ring.io.transport import join_probe

    assert isinstance(engine, Engine) and engine.node is not None
    timeout = engine.config.replication.startup_discovery_timeout
    backup = engine.config.successor_in_full_ring(engine.me)
    if timeout <= 0 or backup is None or backup == engine.me:
        return
    deadline = time.monotonic() + timeout
    header = m.Header(engine.me, engine.node.incarnation, 0)
    while time.monotonic() < deadline:
        if await join_probe(engine.peers[backup], m.Join(header, time.time()), 1.0) is not None:
            log.info("designated backup %s answered", backup)
            return
        await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    log.warning("designated backup %s did not answer within %.1f s; starting anyway", backup, timeout)
