"""The startup clock check against NTP servers: the network half of ring.core.clockskew.

Every configured server is asked once, all at the same time (so several silent servers cost one
timeout, not one each), with ntplib. A server that cannot be resolved or reached, times out, or
answers that it is not synchronized counts as "no answer"; nothing here raises for the network.
The decision (median offset against the limit, refusal when nobody answered) is the core's.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import ntplib

from ring.core.clockskew import ClockVerdict, NtpResult, summarize_ntp
from ring.errors import ClockSkewError

NTP_PORT = 123
NTP_VERSION = 3  # what every server answers; v4 servers reply to v3 clients
_LEAP_ALARM = 3  # leap indicator 3: the server's own clock is not synchronized
_MAX_STRATUM = 15  # 16 and above: unsynchronized


def check_ntp(servers: list[str], limit: float, timeout: float = 2.0) -> ClockVerdict:
    """Ask every server in `servers` ("host" or "host:port") and judge the offset against `limit`."""
    if not servers:
        raise ValueError("check_ntp needs at least one server; skip the NTP check when none is configured")
    with ThreadPoolExecutor(max_workers=len(servers), thread_name_prefix="ring-ntp") as pool:
        results = list(pool.map(lambda server: query_server(server, timeout), servers))
    return summarize_ntp(results, limit)


def query_server(server: str, timeout: float) -> NtpResult:
    """One NTP round trip to `server`; network trouble comes back as an NtpResult with a failure."""
    try:
        host, port = split_server(server)
    except ValueError as exc:
        return NtpResult(server, failure=str(exc))
    try:
        stats = ntplib.NTPClient().request(host, version=NTP_VERSION, port=port, timeout=timeout)
    except socket.gaierror:
        return NtpResult(server, failure="name not resolved")
    except ntplib.NTPException as exc:
        failure = "timed out" if "No response" in str(exc) else str(exc)
        return NtpResult(server, failure=failure)
    except OSError as exc:
        return NtpResult(server, failure=exc.strerror or str(exc))
    if stats.stratum == 0:
        return NtpResult(server, failure="refused the query (kiss-o'-death)")
    if stats.leap == _LEAP_ALARM or stats.stratum > _MAX_STRATUM:
        return NtpResult(server, failure="answered but is not synchronized itself")
    return NtpResult(server, offset=stats.offset, error=max(stats.delay, 0.0) / 2)


def split_server(server: str) -> tuple[str, int]:
    """Split "host", "host:port", "[v6]:port" or a bare IPv6 address into (host, port)."""
    text = server.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"malformed NTP server {server!r}")
        return host, _port(rest[1:], server) if rest else NTP_PORT
    if text.count(":") == 1:
        host, _, port_text = text.partition(":")
        return host, _port(port_text, server)
    if not text:
        raise ValueError("empty NTP server name")
    return text, NTP_PORT


def _port(text: str, server: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port in NTP server {server!r}")
    return int(text)


def raise_if_refused(verdict: ClockVerdict) -> None:
    """Turn a refusal into ClockSkewError (the CLI maps it to exit code 3)."""
    if not verdict.ok:
        raise ClockSkewError(verdict.message)
