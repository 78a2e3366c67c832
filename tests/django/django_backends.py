"""The backend each SessionStore of these tests uses (a module of its own: see conftest.py)."""

from __future__ import annotations

from ring.web.memory import MemoryBackend

SHARED_BACKEND = MemoryBackend("a", ["a", "b", "c"])  # one in-memory cluster for the whole suite


class Backends:
    """What each new SessionStore uses: the shared MemoryBackend, or the next of a ring's clients."""

    def __init__(self) -> None:
        self.clients: list[object] = []
        self.turn = 0

    def __call__(self) -> object:
        if not self.clients:
            return SHARED_BACKEND
        self.turn += 1
        return self.clients[self.turn % len(self.clients)]


BACKENDS = Backends()


def async_twin(sync: object) -> object:
    """The AsyncRingClient of the same socket for a RingClient (None: the default, a thread)."""
    from ring.client import AsyncRingClient, RingClient

    return AsyncRingClient(sync.socket_path) if isinstance(sync, RingClient) else None
