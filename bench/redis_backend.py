"""A Redis-backed SessionBackend (ring.backend), the usual way to share sessions between hosts.

A session is one key, `ring:<id>`, holding an 8-byte big-endian version followed by the data, with
an expiry of `ttl` seconds refreshed by every save. Saves are last-writer-wins (no compare-and-set,
as typical Redis session stores): the new version is base_version + 1. With `wait_replicas` > 0 a
save is `SET` then `WAIT wait_replicas timeout` (Redis's synchronous replication), and fails with
ReplicationError when fewer replicas acknowledged. Redis has no locator: the locator names this
instance with no backup.
"""

from __future__ import annotations

import secrets
from typing import Any

from ring.backend import LoadedSession, Locator, SaveResult
from ring.errors import ReplicationError, SessionTooLarge, SessionUnavailable

PREFIX = b"ring:"


class RedisSessionBackend:
    def __init__(self, client: Any, *, instance_id: str = "redis", max_session_size: int = 1 << 20,
                 ttl: int = 1800, wait_replicas: int = 0, wait_timeout_ms: int = 1000) -> None:
        import redis

        self._errors = (redis.RedisError, OSError)
        self.client = client
        self.instance_id = instance_id
        self.max_session_size = max_session_size
        self.ttl = ttl
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._locator = Locator(instance_id, "")

    def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        try:
            raw = self.client.get(PREFIX + session_id.encode())
        except self._errors as exc:
            raise SessionUnavailable(f"redis: {type(exc).__name__}") from exc
        if raw is None:
            return None
        return LoadedSession(session_id, int.from_bytes(raw[:8], "big"), bytes(raw[8:]), self._locator)

    def save(self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False, lifetime: float | None = None) -> SaveResult:
        if len(data) > self.max_session_size:
            raise SessionTooLarge(f"session of {len(data)} bytes exceeds max-session-size")
        version = base_version + 1
        try:
            self.client.set(PREFIX + session_id.encode(), version.to_bytes(8, "big") + data,
                                   ex=int(lifetime) if lifetime else self.ttl)
            if self.wait_replicas:
                acked = self.client.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
                if acked < self.wait_replicas:
                    raise ReplicationError(f"redis WAIT: {acked} of {self.wait_replicas} replicas acknowledged")
        except self._errors as exc:
            raise SessionUnavailable(f"redis: {type(exc).__name__}") from exc
        return SaveResult(version, self._locator, replicated=self.wait_replicas > 0)

    def invalidate(self, session_id: str, base_version: int) -> None:
        try:
            self.client.delete(PREFIX + session_id.encode())
        except self._errors as exc:
            raise SessionUnavailable(f"redis: {type(exc).__name__}") from exc

    def new_session_id(self) -> str:
        return secrets.token_urlsafe(32)

    def replicate_on_read(self) -> bool:
        return True  # as the ring's default (getAttribute-triggers-replication): the middleware behaves alike
