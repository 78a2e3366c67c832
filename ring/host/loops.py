"""The event loop every `ring serve` runs on: uvloop's when installed (a core dependency on
POSIX), else asyncio's own. Measured in the review behind issue 14: uvloop took 11-19 % off every
save path (the gRPC stream, the local socket, the HTTP side)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """uvloop's loop when installed (and its name, for the log), else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, "uvloop"
