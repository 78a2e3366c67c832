"""The HTTP side of ring: sessions for WSGI applications.

SessionMiddleware(app, backend, members=...)   wraps any WSGI app (ring.web.wsgi)
Session                                        what the app finds in environ["ring.session"]
SessionBackend, Locator, LoadedSession,        the contract with the engine (ring.backend)
SaveResult
MemoryBackend                                  an in-memory backend for tests and examples
LOCAL_ONLY_ATTRIBUTES                          counter: attributes kept off the ring (not JSON)
"""

from ring.backend import LoadedSession, Locator, SaveResult, SessionBackend, is_session_id
from ring.web.memory import MemoryBackend, MemoryStore
from ring.web.session import LOCAL_ONLY_ATTRIBUTES, Session
from ring.web.wsgi import ENVIRON_INSTANCE, ENVIRON_SESSION, SessionMiddleware

__all__ = [
    "ENVIRON_INSTANCE",
    "ENVIRON_SESSION",
    "LOCAL_ONLY_ATTRIBUTES",
    "LoadedSession",
    "Locator",
    "MemoryBackend",
    "MemoryStore",
    "SaveResult",
    "Session",
    "SessionBackend",
    "SessionMiddleware",
    "is_session_id",
]
