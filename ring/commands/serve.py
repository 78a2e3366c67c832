"""`ring serve --config FILE --local-host ID [--app|--asgi MODULE:ATTR] [--http HOST:PORT] [--local-socket PATH]`.

One instance. With a local socket (`<local-socket>` or --local-socket), web workers of other
servers on this host (gunicorn, uvicorn) use it through ring.client, with or without --app.
A WSGI app (--app) runs on waitress's threads; an ASGI app (--asgi) on uvicorn on the engine's
loop (ring.host.asgi). Every instance runs on uvloop's loop when it is installed (ring.host.loops).

Start-up order: load and check the config (exit 2), the NTP check when servers are configured
(exit 3), listen on the replication port, open the admin address when there is one (<admin-http>
or --admin-http: /metrics, /livez, /readyz, the status page; ring.host.admin), compare wall
clocks with every reachable peer (exit 3 beyond max-clock-skew), wait for the designated backup
when startup-discovery-timeout says so, start the ring, then the HTTP side. The application's
port answers /livez and /readyz too (balancers check the port they send to); /metrics is on the
admin address only. SIGHUP re-reads server.xml: a
file that does not load is logged and the running configuration kept; <log-level> and the admin
address change at once; any other change is logged as needing a restart (ring.host.reload).

SIGTERM or SIGINT stops cleanly, within --stop-timeout (exit 0): /readyz fails at once so the
balancers move traffic away while the instance still serves; then it accepts no new connection
and finishes the requests it accepted; then the core hands every session to its successor and
tells every peer it leaves (they re-form the ring at once, without waiting for the failure
timeout); then it exits. A second signal exits at once (the peers then detect a failure).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from ring.config import ClusterConfig, format_address, parse_admin_http
from ring.errors import ConfigError
from ring.host.admin import AdminServer
from ring.host.http import HttpLimits, HttpServer, import_app, session_app, with_health
from ring.host.instance import Instance
from ring.host.local import LocalServer
from ring.host.logs import FORMATS, use_format, use_level
from ring.host.loops import event_loop_factory
from ring.host.reload import Runtime, plan_reload, runtime_of
from ring.host.startup import check_peer_clocks, wait_for_backup
from ring.io.facade import AsyncEngineBackend, EngineBackend
from ring.io.metrics import registry_for, render
from ring.serverxml import load_server_xml
from ring.web.session import LOCAL_ONLY_ATTRIBUTES

if TYPE_CHECKING:
    from ring.host.asgi import AsgiServer
    from ring.io.runtime import Engine

log = logging.getLogger("ring.serve")

DRAIN_NOTICE_SECONDS = 1.0  # how long /readyz fails before new connections are refused


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run one instance of the ring",
                       description="Run one ring instance: replication over gRPC, optionally a hosted WSGI app.")
    p.add_argument("--config", required=True, help="the shared server.xml")
    p.add_argument("--local-host", help="which <instance> this is (id, host:port, or host); "
                   "overrides <local-host> in server.xml")
    p.add_argument("--app", help="WSGI application to host, MODULE:ATTR (default with --http: ring.demo:app)")
    p.add_argument("--asgi", metavar="MODULE:ATTR",
                   help="ASGI application (Starlette, FastAPI) to host on uvicorn, on the engine's loop")
    p.add_argument("--http", help="HOST:PORT for the hosted application's HTTP server")
    p.add_argument("--threads", type=int, default=8, help="HTTP worker threads (default 8)")
    p.add_argument("--stop-timeout", type=float, default=10.0,
                   help="seconds a clean stop (SIGTERM) may take before exiting anyway (default 10)")
    p.add_argument("--admin-http", metavar="HOST:PORT", help="the admin address (/metrics, /livez, /readyz, "
                   "status page); overrides <admin-http>; :PORT means loopback")
    p.add_argument("--log-format", choices=FORMATS, default="text",
                   help="text (default) or json: one JSON object per line")
    p.add_argument("--local-socket", help="Unix socket for web workers on this host (ring.client); "
                   "overrides <local-socket> in server.xml")
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
    use_format(args.log_format)
    config, me = load_config(args.config, args.local_host)
    verbose = bool(getattr(args, "verbose", False))
    if not verbose:
        use_level(config.replication.log_level)
    admin_override = parse_admin_http(args.admin_http, "--admin-http") if args.admin_http else None
    http = parse_http(args.http) if args.http else None
    asgi_spec = getattr(args, "asgi", None)
    if asgi_spec and args.app:
        raise ConfigError("pass either --app (a WSGI app) or --asgi (an ASGI app), not both")
    if asgi_spec and not http:
        raise ConfigError("--asgi needs --http HOST:PORT to serve it")
    app_spec = args.app or ("ring.demo:app" if http and not asgi_spec else None)
    if app_spec and not http:
        raise ConfigError("--app needs --http HOST:PORT to serve it")
    r = config.replication
    if r.ntp_servers:
        from ring.io.ntp import check_ntp, raise_if_refused

        v = check_ntp(list(r.ntp_servers), r.max_clock_skew)
        raise_if_refused(v)
        log.info("NTP check: %s", v.message)
    if not 0 < args.stop_timeout <= 600:
        raise ConfigError(f"--stop-timeout must be between 0 and 600 seconds, got {args.stop_timeout}")
    local = args.local_socket or r.local_socket_for(me)
    host = _Host(args, config, me, admin_override, verbose)
    asgi = None
    if asgi_spec:
        from ring.host.asgi import import_asgi_app

        asgi = (asgi_spec, import_asgi_app(asgi_spec))  # before the ring starts: a bad spec is a config error
    factory, _ = event_loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_serve(config, me, None if asgi else app_spec, http, args.threads, args.event_log, host,
                                 args.stop_timeout, local, asgi))


class _Host:
    """The parts of `ring serve` that SIGHUP may change: the log level and the admin server."""

    def __init__(self, args: argparse.Namespace, config: ClusterConfig, me: str,
                 admin_override: tuple[str, int] | None, verbose: bool) -> None:
        self.path, self.local_host = args.config, args.local_host
        self.started, self.me = config, me
        self.admin_override, self.verbose = admin_override, verbose
        self.runtime = runtime_of(config, me, admin_override)
        self.admin: AdminServer | None = None
        self.instance: Instance | None = None
        self.metrics: Callable[[], bytes] = lambda: b""

    def open_admin(self, instance: Instance, metrics: Callable[[], bytes]) -> None:
        self.instance, self.metrics = instance, metrics
        if self.runtime.admin is not None:
            self.admin = self._admin_at(self.runtime.admin)

    def _admin_at(self, address: tuple[str, int]) -> AdminServer:
        assert self.instance is not None
        admin = AdminServer(address[0], address[1], config=self.started, me=self.me,
                            ready=self.instance.ready, metrics=self.metrics)
        admin.start()
        self.instance.admin_address = admin.address
        return admin

    def close(self) -> None:
        if self.admin is not None:
            self.admin.stop()
            self.admin = None

    def reload(self) -> None:
        """SIGHUP: re-read server.xml; apply what can change now; never raise."""
        try:
            new, _ = load_config(self.path, self.local_host)
        except ConfigError as exc:
            log.error("reload refused, the running configuration is kept: %s", " ".join(str(exc).split()))
            return
        plan = plan_reload(self.started, self.runtime, new, self.me, self.admin_override)
        runtime = plan.runtime
        if runtime.log_level != self.runtime.log_level and not self.verbose:
            use_level(runtime.log_level)
            log.warning("reload: <log-level> is now %s", runtime.log_level)
        if runtime.admin != self.runtime.admin and not self._move_admin(runtime.admin):
            runtime = Runtime(runtime.log_level, self.runtime.admin)
        self.runtime = runtime
        for element in plan.restart:
            log.warning("reload: %s changed in server.xml; restart this instance to apply it", element)
        if not plan.changed and not plan.restart:
            log.info("reload: server.xml re-read, nothing changed")

    def _move_admin(self, address: tuple[str, int] | None) -> bool:
        try:
            admin = self._admin_at(address) if address is not None and self.instance is not None else None
        except ConfigError as exc:
            log.error("reload: the admin address stays %s: %s",
                      self.admin.address if self.admin else "off", exc)
            return False
        self.close()
        self.admin = admin
        if admin is None and self.instance is not None:
            self.instance.admin_address = ""
        log.warning("reload: the admin endpoints are now %s",
                    f"on http://{admin.address}" if admin else "off")
        return True


async def _serve(config: ClusterConfig, me: str, app_spec: str | None, http: tuple[str, int] | None,
                 threads: int, event_log: str | None, host: _Host, stop_timeout: float,
                 local_socket: str | None = None, asgi: tuple[str, object] | None = None) -> int:
    instance = Instance(config, me, event_log=event_log)
    try:
        engine = await instance.listen()
    except OSError as exc:
        raise ConfigError(str(exc)) from exc
    server = None
    registry = registry_for(instance.metrics_sources(ring_session_local_only_attributes=(
        "attributes kept on this instance only (not JSON-serializable)", lambda: LOCAL_ONLY_ATTRIBUTES.value)))
    local: LocalServer | None = None
    asgi_server: AsgiServer | None = None
    try:
        host.open_admin(instance, lambda: render(registry))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, host.reload)
        await check_peer_clocks(engine.transport, config, me)
        await wait_for_backup(engine.transport, config, me)
        instance.start()
        if local_socket:
            local = LocalServer(AsyncEngineBackend(engine), local_socket,
                                config.replication.local_socket_permissions)
            await local.start()
        if app_spec and http:
            app = import_app(app_spec)
            wrapped = with_health(session_app(app, EngineBackend(engine), config), instance.ready)
            server = HttpServer(wrapped, http[0], http[1], threads, HttpLimits.of(config.replication))
            server.start()
            instance.http_address = format_address(http[0], http[1])
            log.info("serving %s on http://%s:%d", app_spec, http[0], http[1])
        if asgi and http:
            asgi_server = await _start_asgi(asgi[1], instance, engine, config, http)
            log.info("serving %s (ASGI, uvicorn) on http://%s:%d", asgi[0], http[0], asgi_server.port)
        log.info("instance %s up: replication on %s, ring %s, event loop %s", me, instance.spec.address,
                 " -> ".join(config.ring), event_loop_factory()[1])
        if instance.server is not None:
            instance.server.warn_if_insecure()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        for sig in (signal.SIGTERM, signal.SIGINT):  # a second signal: exit now
            loop.add_signal_handler(sig, _exit_now)
        await _stop_cleanly(instance, server, asgi_server, stop_timeout)
        asgi_server = None  # drained
        return 0
    finally:
        if asgi_server is not None:
            await asgi_server.stop()  # drain: requests in flight still save through the engine
        if local is not None:
            await local.stop()
        if server is not None:
            server.stop()
        host.close()
        await instance.stop()


async def _stop_cleanly(instance: Instance, server: HttpServer | None, asgi_server: AsgiServer | None,
                        timeout: float) -> None:
    """Drain, hand over, leave: the order of the module docstring, within `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    instance.draining = True
    log.info("stopping cleanly (within %.0f s): /readyz now fails", timeout)
    if server is not None:
        # balancers poll /readyz: keep serving a moment so they move away before we refuse
        await asyncio.sleep(min(DRAIN_NOTICE_SECONDS, timeout / 4))
        drained = await asyncio.to_thread(server.drain, max(0.0, (deadline - loop.time()) / 2))
        if not drained:
            log.warning("stop: requests still running after the drain period; they will fail")
    if asgi_server is not None:
        await asyncio.sleep(min(DRAIN_NOTICE_SECONDS, timeout / 4))
        await asgi_server.stop()  # uvicorn stops accepting; requests in flight finish and save
    left = await instance.leave(max(0.1, deadline - loop.time()))
    if left:
        log.info("stop: every session handed over; peers told")
    else:
        log.warning("stop: the hand-over did not finish in time; peers will detect a failure")


def _exit_now() -> None:
    log.warning("second signal: exiting without a clean stop")
    raise SystemExit(0)


async def _start_asgi(app: object, instance: Instance, engine: Engine, config: ClusterConfig,
                      http: tuple[str, int]) -> AsgiServer:
    from ring.host.asgi import AsgiServer, hosted

    # /metrics is on the admin address (as for WSGI): the app's port keeps only /livez and /readyz
    server = AsgiServer(hosted(app, AsyncEngineBackend(engine), config),  # type: ignore[arg-type]
                        http[0], http[1], instance.ready)
    await server.start()
    return server
