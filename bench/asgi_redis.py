"""A Redis-backed AsyncSessionBackend (redis.asyncio): bench/redis_backend.py's layout, awaited.

A session is the key `ring:<id>`: an 8-byte big-endian version, then the data, expiring after
`ttl` seconds (refreshed by each save). Last writer wins (base_version + 1), as usual Redis session
stores; no replica wait. hiredis parses replies when installed (redis-py picks it up itself).
"""

from __future__ import annotations

import secrets
from typing import Any

from ring.backend import LoadedSession, Locator, SaveResult
from ring.errors import SessionTooLarge, SessionUnavailable

PREFIX = b"ring:"


class AsyncRedisBackend:
    def __init__(self, client: Any, *, instance_id: str = "redis", max_session_size: int = 1 << 20,
                 ttl: int = 1800) -> None:
        import redis

        self._errors = (redis.RedisError, OSError)
        self.client = client
        self.instance_id = instance_id
        self.max_session_size = max_session_size
        self.ttl = ttl
        self._locator = Locator(instance_id, "")

    async def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        try:
            raw = await self.client.get(PREFIX + session_id.encode())
        except self._errors as exc:
            raise SessionUnavailable(f"redis: {type(exc).__name__}") from exc
        if raw is None:
            return None
        return LoadedSession(session_id, int.from_bytes(raw[:8], "big"), bytes(raw[8:]), self._locator)

    async def save(self, session_id: str, base_version: int, data: bytes, *,
                   touch_only: bool = False, lifetime: float | None = None) -> SaveResult:
        if len(data) > self.max_session_size:
            raise SessionTooLarge(f"session of {len(data)} bytes exceeds max-session-size")
        version = base_version + 1
        try:
            await self.client.set(PREFIX + session_id.encode(), version.to_bytes(8, "big") + data,
                                   ex=int(lifetime) if lifetime else self.ttl)
        except self._errors as exc:
            raise SessionUnavailable(f"redis: {type(exc).__name__}") from exc
        return SaveResult(version, self._locator, replicated=False)

    async def invalidate(self, session_id: str, base_version: int) -> None:
        try:
            await self.client.delete(PREFIX + session_id.encode())
        except self._errors as exc:
            raise SessionUnavailable(f"redis: {type(exc).__name__}") from exc

    def new_session_id(self) -> str:
        return secrets.token_urlsafe(32)

    def replicate_on_read(self) -> bool:
        return True
