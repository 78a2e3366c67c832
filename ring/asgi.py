"""ring for ASGI apps (Starlette, FastAPI): ``from ring.asgi import SessionMiddleware``.

A drop-in for ``starlette.middleware.sessions.SessionMiddleware`` whose sessions live in the ring
(see ring.web.asgi). This module never imports the engine (ring.io): the backend is any
ring.backend.AsyncSessionBackend, or the one ``ring serve --asgi`` lends the app.
"""

from ring.web.asgi import HostContext, SessionMiddleware, wraps_sessions
from ring.web.memory import AsyncMemoryBackend

__all__ = ["AsyncMemoryBackend", "HostContext", "SessionMiddleware", "wraps_sessions"]
