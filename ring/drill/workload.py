"""Simulated users: each one a thread with its own cookie jar, working on its own session.

A user loops until told to stop or its deadline passes: mostly read-modify-write increments
(`POST /incr`), sometimes reads (`GET /session`), rarely a logout. Every request goes through the
load balancer on a fresh connection, so "nothing was sent" is unambiguous: a refused or timed-out
connect is a definite failure; anything that goes wrong after the request left is indeterminate.
Pacing is seeded per user, and the total rate is bounded (users / mean think time).

Outcome of one request (ring.drill.checker explains why):

    2xx with a parsable body                                  ok
    refused/timed-out connect, a 4xx, or the balancer's own   failed
      "no backend" 503 (marked with X-Ring-Drill-LB)
    timeout or reset after sending, any other 5xx             indeterminate
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ring.drill.checker import FAILED, INCR, INDETERMINATE, LOGOUT, OK, READ, Op

LB_MARK = "X-Ring-Drill-LB"  # set on answers the balancer made up itself without asking a backend


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    users: int = 16
    rate: float = 100.0  # total target ops/s across users (2 cores: leave room for the ring)
    read_share: float = 0.15
    logout_share: float = 0.005  # rare: a logout starts the user's count over, weakening the checks
    timeout: float = 20.0  # per request; above the balancer's server timeout, so it answers first


class CookieJar:
    """name -> value, updated from Set-Cookie headers (Max-Age=0 or an empty value deletes)."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def update(self, set_cookies: list[str]) -> None:
        for raw in set_cookies:
            first, *attrs = raw.split(";")
            name, sep, value = first.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not name:
                continue
            expired = not value or any(a.strip().lower() in ("max-age=0",) for a in attrs)
            if expired:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value


class User:
    def __init__(self, index: int, host: str, port: int, spec: WorkloadSpec, seed: int,
                 record: Callable[[Op], None]) -> None:
        self.index = index
        self.host = host
        self.port = port
        self.spec = spec
        self.rng = random.Random(seed * 1_000_003 + index)
        self.record = record
        self.jar = CookieJar()

    def run(self, stop: threading.Event, deadline: float) -> None:
        think = self.spec.users / self.spec.rate
        while not stop.is_set() and time.monotonic() < deadline:
            x = self.rng.random()
            kind = LOGOUT if x < self.spec.logout_share else READ if x < self.spec.logout_share + self.spec.read_share else INCR
            self.record(self.operate(kind))
            stop.wait(self.rng.uniform(0.5, 1.5) * think)

    def final_read(self, deadline: float) -> bool:
        """Read the session until an ok answer (after the last fault, every session must be readable)."""
        while True:
            op = self.operate(READ, final=True)
            self.record(op)
            if op.outcome == OK:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def operate(self, kind: str, *, final: bool = False) -> Op:
        method, path = {INCR: ("POST", "/incr"), READ: ("GET", "/session"), LOGOUT: ("POST", "/logout")}[kind]
        invoke = time.monotonic()

        def done(outcome: str, **fields: object) -> Op:
            return Op(self.index, kind, invoke, time.monotonic(), outcome, final=final, **fields)  # type: ignore[arg-type]

        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.spec.timeout)
        try:
            try:
                conn.connect()
            except OSError as exc:
                return done(FAILED, error=f"connect: {type(exc).__name__}")
            headers = {"Connection": "close", "Content-Length": "0"}
            cookie = self.jar.header()
            if cookie:
                headers["Cookie"] = cookie
            try:
                conn.request(method, path, body=b"" if method == "POST" else None, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                return done(INDETERMINATE, error=f"after sending: {type(exc).__name__}")
            self.jar.update(resp.msg.get_all("Set-Cookie") or [])
            status = resp.status
            if 200 <= status < 300:
                try:
                    payload = json.loads(body)
                    instance = str(payload["instance"])
                    if kind == INCR:
                        count = int(payload["count"])
                    elif kind == READ:
                        count = int(payload["data"].get("count", 0))
                    else:
                        count = None
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    return done(INDETERMINATE, status=status, error=f"unparsable 2xx body: {type(exc).__name__}")
                return done(OK, count=count, instance=instance, status=status)
            if resp.getheader(LB_MARK) or 400 <= status < 500:
                return done(FAILED, status=status, error=resp.getheader(LB_MARK) or f"HTTP {status}")
            return done(INDETERMINATE, status=status, error=f"HTTP {status}")
        finally:
            conn.close()


class Workload:
    """U users on threads; `history` is the list of every recorded operation."""

    def __init__(self, host: str, port: int, spec: WorkloadSpec, seed: int) -> None:
        self.spec = spec
        self.history: list[Op] = []
        self._last_ok: dict[int, float] = {}  # user -> completion of its latest ok op
        self._lock = threading.Lock()
        self.users = [User(i, host, port, spec, seed, self._record) for i in range(spec.users)]
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def _record(self, op: Op) -> None:
        with self._lock:
            self.history.append(op)
            if op.outcome == OK:
                self._last_ok[op.user] = max(self._last_ok.get(op.user, 0.0), op.complete)

    def served_since(self, t: float) -> bool:
        """Every user got an ok answer that completed after `t`."""
        with self._lock:
            return all(self._last_ok.get(u.index, -1.0) >= t for u in self.users)

    def snapshot(self) -> list[Op]:
        with self._lock:
            return list(self.history)

    def start(self, deadline: float) -> None:
        for user in self.users:
            t = threading.Thread(target=user.run, args=(self.stop_event, deadline),
                                 name=f"drill-user-{user.index}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float) -> None:
        self.stop_event.set()
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))

    def final_reads(self, timeout: float) -> list[int]:
        """Every user reads its session once more; returns the users that never got an ok read."""
        deadline = time.monotonic() + timeout
        failed: list[int] = []
        results: dict[int, bool] = {}

        def one(user: User) -> None:
            results[user.index] = user.final_read(deadline)

        threads = [threading.Thread(target=one, args=(u,), daemon=True) for u in self.users]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()) + self.spec.timeout + 1)
        for user in self.users:
            if not results.get(user.index, False):
                failed.append(user.index)
        return failed
