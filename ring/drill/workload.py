"""Simulated users: each one a thread with its own cookie jar, working on its own session.

A user loops until told to stop or its deadline passes: mostly read-modify-write increments
(`POST /incr`, each with a token of its own: ring.drill.app), sometimes reads (`GET /session`),
rarely a logout. Three kinds of user, seeded:

    active    works all the time
    logout    logs out every few increments, keeps the old cookie and reads with it again later
              (a "ghost" read: the logged-out session must stay empty), then starts a new session
    idle      a short burst, then nothing for `idle_pause` seconds: its session sits without
              traffic across faults (eager redundancy must cover it, not the user's next request)

The nemesis can ask users to log out now (`logout_now`) or to try their old cookies now
(`ghost_reads_now`). Every request goes through the
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
from collections.abc import Callable, Iterable
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
    logout_users: int = 0  # users that log out every few increments and try their old cookie again
    idle_users: int = 0  # users that stop for `idle_pause` seconds after a short burst
    idle_pause: float = 30.0  # seconds an idle user stays away (around it: 0.75x to 1.25x)
    ghost_share: float = 0.1  # a logout user's share of ghost reads (old cookies)
    max_ghosts: int = 3  # old cookies a logout user keeps

    def __post_init__(self) -> None:
        if self.logout_users < 0 or self.idle_users < 0 or self.logout_users + self.idle_users > self.users:
            raise ValueError(f"logout users ({self.logout_users}) and idle users ({self.idle_users}) must be "
                             f"part of the {self.users} users")
        if self.idle_pause <= 0:
            raise ValueError(f"the idle pause must be positive, got {self.idle_pause:g}")

    def role(self, index: int) -> str:
        """active, logout or idle: the last users are the idle ones, the ones before the logout ones."""
        if index >= self.users - self.idle_users:
            return "idle"
        if index >= self.users - self.idle_users - self.logout_users:
            return "logout"
        return "active"


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
        self.role = spec.role(index)
        self.ghosts: list[tuple[int, dict[str, str]]] = []  # (logged-out session #, its cookies)
        self.logged_out = 0  # acknowledged logouts so far
        self.logout_due = threading.Event()  # the nemesis asks for a logout now
        self.ghosts_due = threading.Event()  # the nemesis asks for ghost reads now
        self.wake = threading.Event()  # an idle user comes back early (a request from the nemesis)
        self.last_instance: str | None = None
        self.incrs_left = self.rng.randint(3, 12)  # a logout user: increments before its next logout

    def run(self, stop: threading.Event, deadline: float) -> None:
        think = self.spec.users / self.spec.rate
        burst = self.rng.randint(2, 5)
        while not stop.is_set() and time.monotonic() < deadline:
            self.step()
            if self.role == "idle":
                burst -= 1
                if burst <= 0:
                    burst = self.rng.randint(2, 5)
                    self.wake.clear()
                    if stop.is_set():
                        break
                    self.wake.wait(min(self.rng.uniform(0.75, 1.25) * self.spec.idle_pause,
                                       max(0.0, deadline - time.monotonic())))
                    continue
            stop.wait(self.rng.uniform(0.5, 1.5) * think)

    def step(self) -> None:
        if self.ghosts_due.is_set():
            self.ghosts_due.clear()
            for generation, cookies in list(self.ghosts):
                self.record(self.operate(READ, ghost=(generation, cookies)))
            return
        if self.logout_due.is_set():
            self.logout_due.clear()
            self.logout()
            return
        x = self.rng.random()
        if self.role == "logout":
            if self.ghosts and x < self.spec.ghost_share:
                self.record(self.operate(READ, ghost=self.rng.choice(self.ghosts)))
                return
            if self.incrs_left <= 0:
                self.incrs_left = self.rng.randint(3, 12)
                self.logout()
                return
        share = self.spec.logout_share if self.role == "active" else 0.0
        kind = LOGOUT if x < share else READ if x < share + self.spec.read_share else INCR
        if kind == LOGOUT:
            self.logout()
            return
        op = self.operate(kind)
        if kind == INCR and op.outcome == OK:
            self.incrs_left -= 1
        self.record(op)

    def logout(self) -> None:
        """Log out; when acknowledged, keep the old cookies to try them again later."""
        cookies = dict(self.jar.cookies)
        op = self.operate(LOGOUT)
        self.record(op)
        if op.outcome == OK and cookies:
            self.logged_out += 1
            self.ghosts = [*self.ghosts, (self.logged_out, cookies)][-self.spec.max_ghosts:]

    def final_read(self, deadline: float) -> bool:
        """Read the session until an ok answer (after the last fault, every session must be readable),
        then each old cookie once more (a logged-out session must still be gone)."""
        while True:
            op = self.operate(READ, final=True)
            self.record(op)
            if op.outcome == OK:
                for ghost in list(self.ghosts):
                    self.record(self.operate(READ, final=True, ghost=ghost))
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def operate(self, kind: str, *, final: bool = False, ghost: tuple[int, dict[str, str]] | None = None) -> Op:
        method, path = {INCR: ("POST", "/incr"), READ: ("GET", "/session"), LOGOUT: ("POST", "/logout")}[kind]
        if kind == INCR:
            path += f"?t={self.rng.getrandbits(48):012x}"
        invoke = time.monotonic()
        generation = ghost[0] if ghost else None

        def done(outcome: str, **fields: object) -> Op:
            return Op(self.index, kind, invoke, time.monotonic(), outcome, final=final, ghost=generation,
                      **fields)  # type: ignore[arg-type]

        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.spec.timeout)
        try:
            try:
                conn.connect()
            except OSError as exc:
                return done(FAILED, error=f"connect: {type(exc).__name__}")
            headers = {"Connection": "close", "Content-Length": "0"}
            cookie = self.jar.header() if ghost is None else "; ".join(f"{k}={v}" for k, v in ghost[1].items())
            if cookie:
                headers["Cookie"] = cookie
            try:
                conn.request(method, path, body=b"" if method == "POST" else None, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                return done(INDETERMINATE, error=f"after sending: {type(exc).__name__}")
            if ghost is None:  # an old cookie stays what it was: the user keeps trying it
                self.jar.update(resp.msg.get_all("Set-Cookie") or [])
            status = resp.status
            if 200 <= status < 300:
                try:
                    payload = json.loads(body)
                    instance = str(payload["instance"])
                    seen = parse_answer(kind, payload)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    return done(INDETERMINATE, status=status, error=f"unparsable 2xx body: {type(exc).__name__}")
                if ghost is None:
                    self.last_instance = instance
                return done(OK, instance=instance, status=status, **seen)
            if resp.getheader(LB_MARK) or 400 <= status < 500:
                return done(FAILED, status=status, error=resp.getheader(LB_MARK) or f"HTTP {status}")
            return done(INDETERMINATE, status=status, error=f"HTTP {status}")
        finally:
            conn.close()


def parse_answer(kind: str, payload: dict[str, object]) -> dict[str, object]:
    """count, chain, prev and version of an ok answer (chain and version: ring.drill.app only)."""
    version = payload.get("version")
    out: dict[str, object] = {"version": int(version) if isinstance(version, int) else None}
    if kind == INCR:
        out["count"] = int(payload["count"])  # type: ignore[call-overload]
        out["chain"] = payload.get("chain")
        out["prev"] = payload.get("prev")
    elif kind == READ:
        data = payload["data"]
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
        out["count"] = int(data.get("count", 0))
        out["chain"] = str(data.get("chain", "")) if "version" in payload else None  # "": nothing applied yet
    return out


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
        """Every user that is not idle by design got an ok answer that completed after `t`."""
        with self._lock:
            return all(self._last_ok.get(u.index, -1.0) >= t for u in self.users if u.role != "idle")

    def users_on(self, instance: str) -> list[int]:
        """Users whose latest ok answer came from `instance`."""
        return [u.index for u in self.users if u.last_instance == instance]

    def logout_now(self, users: Iterable[int]) -> None:
        """Ask these users to log out at their next step (idle ones come back for it)."""
        for i in users:
            self.users[i].logout_due.set()
            self.users[i].wake.set()

    def ghost_reads_now(self) -> None:
        """Ask every user that logged out to try each old cookie at its next step."""
        for u in self.users:
            if u.ghosts:
                u.ghosts_due.set()
                u.wake.set()

    def roles(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for u in self.users:
            out[u.role] = out.get(u.role, 0) + 1
        return out

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
        for u in self.users:
            u.wake.set()  # an idle user stops waiting
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
