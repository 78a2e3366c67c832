"""The hosted application: a WSGI app inside the instance, on waitress, behind the session middleware.

Adds two endpoints for load balancers, which check the port they send to: `/livez` (the process
answers) and `/readyz` (this instance can serve its sessions now: it holds a serving lease, or it
is alone). Metrics and the status page are on the admin address (ring.host.admin), never here:
end users reach this port through the balancer.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ring.backend import SessionBackend
from ring.config import ClusterConfig, ReplicationSettings
from ring.errors import ConfigError
from ring.web.wsgi import SessionMiddleware

log = logging.getLogger("ring.web")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def import_app(spec: str) -> WSGIApp:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--app must be MODULE:ATTR (for example ring.demo:app), got {spec!r}")
    try:
        module = importlib.import_module(module_name)
        app = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load the application {spec!r}: {exc}") from exc
    if not callable(app):
        raise ConfigError(f"{spec!r} is not a WSGI application (not callable)")
    return app  # type: ignore[no-any-return]


def metrics_readers(settings: ReplicationSettings, member_ips: Iterable[str]) -> Callable[[str], bool]:
    """Who may read /metrics: loopback, the members' addresses, and <metrics-allow> (or anyone)."""
    if "any" in settings.metrics_allow:
        return lambda address: True
    networks = [ipaddress.ip_network(a, strict=False) for a in settings.metrics_allow]
    members = frozenset(member_ips)

    def allowed(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return ip.is_loopback or address in members or any(ip in network for network in networks)

    return allowed


def with_health(app: WSGIApp, ready: Callable[[], bool], metrics: Callable[[], bytes] | None = None,
                metrics_allowed: Callable[[str], bool] = lambda address: True) -> WSGIApp:
    def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics" and metrics is not None:
            if not metrics_allowed(environ.get("REMOTE_ADDR", "")):
                start_response("403 Forbidden", [("Content-Type", "text/plain")])
                return [b"/metrics is for this ring's hosts: add the reader to <metrics-allow>\n"]
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
            return [metrics()]
        if path == "/livez":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"live\n"]
        if path == "/readyz":
            ok = ready()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ready\n" if ok else b"not ready\n"]
        return app(environ, start_response)

    return wrapper


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What HTTP clients may hold (defaults and reasons: ring.config.ReplicationSettings)."""

    connection_limit: int = 500
    channel_timeout: float = 30.0
    max_request_body: int = 16 * 1024 * 1024

    @classmethod
    def of(cls, settings: ReplicationSettings) -> HttpLimits:
        return cls(settings.http_connection_limit, settings.http_channel_timeout, settings.http_max_request_body)


class HttpServer:
    """waitress in a background thread, with poll() (select() fails past 1024 descriptors) and limits."""

    def __init__(self, app: WSGIApp, host: str, port: int, threads: int = 8,
                 limits: HttpLimits = HttpLimits()) -> None:
        from waitress.server import create_server

        try:
            self.server = create_server(
                app, host=host, port=port, threads=threads, ident="ring", clear_untrusted_proxy_headers=True,
                channel_timeout=max(1, round(limits.channel_timeout)), connection_limit=limits.connection_limit,
                max_request_body_size=limits.max_request_body, asyncore_use_poll=True,
                cleanup_interval=max(1, min(30, round(limits.channel_timeout / 2))))  # waitress takes ints
        except OSError as exc:
            raise ConfigError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror or exc}") from exc
        self.thread = threading.Thread(target=self._run, name="ring-http", daemon=True)
        self._closing = False

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError) as exc:
            # closing the sockets from stop() can end waitress's select loop with EBADF or a
            # "file descriptor cannot be a negative integer": expected then, news otherwise
            if not self._closing:
                log.error("the HTTP server stopped: %s", exc)

    def start(self) -> None:
        self.thread.start()

    def drain(self, timeout: float) -> bool:
        """Accept no new connection and wait (at most `timeout`) until the requests accepted so
        far are answered. True when none is left."""
        import time

        self.server.accepting = False  # the listening socket stays open: no reset, no new work
        dispatcher = self.server.task_dispatcher
        deadline = time.monotonic() + timeout
        while dispatcher.active_count or dispatcher.queue:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)  # polling waitress's counters with a deadline: it offers no event
        return True

    def stop(self) -> None:
        # Workers first: one finishing a response wakes the loop through the server's trigger,
        # which must still be open (closed first, that is an EBADF traceback on a clean stop).
        self._closing = True
        self.server.task_dispatcher.shutdown(timeout=2)
        self.server.close()


def session_app(app: WSGIApp, backend: SessionBackend, config: ClusterConfig) -> WSGIApp:
    r = config.replication
    return SessionMiddleware(app, backend, cookie_name=r.session_cookie_name, locator_cookie=r.cookie_name,
                             key=r.key, members=frozenset(config.ring), secure=r.cookie_secure)
