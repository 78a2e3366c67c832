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

from ring.config import ClusterConfig
from ring.errors import ConfigError
from ring.host.http import HttpLimits, HttpServer, import_app, metrics_readers, session_app, with_health
from ring.host.instance import Instance
from ring.host.startup import check_peer_clocks, wait_for_backup
from ring.io.facade import EngineBackend
from ring.io.metrics import registry_for, render
from ring.serverxml import load_server_xml
from ring.web.session import LOCAL_ONLY_ATTRIBUTES

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
    instance = Instance(config, me, event_log=event_log)
    try:
        engine = await instance.listen()
    except OSError as exc:
        raise ConfigError(str(exc)) from exc
    server = None
    try:
        await check_peer_clocks(engine.transport, config, me)
        await wait_for_backup(engine.transport, config, me)
        instance.start()
        if app_spec and http:
            app = import_app(app_spec)
            registry = registry_for(instance.metrics_sources(ring_session_local_only_attributes=(
                "attributes kept on this instance only (not JSON-serializable)",
                lambda: LOCAL_ONLY_ATTRIBUTES.value)))
            wrapped = with_health(session_app(app, EngineBackend(engine), config), instance.ready,
                                  lambda: render(registry), metrics_readers(
                                      config.replication, instance.service.member_ips if instance.service else ()))
            server = HttpServer(wrapped, http[0], http[1], threads, HttpLimits.of(config.replication))
            server.start()
            log.info("serving %s on http://%s:%d", app_spec, http[0], http[1])
        log.info("instance %s up: replication on %s, ring %s", me, instance.spec.address, " -> ".join(config.ring))
        if instance.server is not None:
            instance.server.warn_if_insecure()
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
        await instance.stop()
