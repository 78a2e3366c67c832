"""The one exception tree of ring.

    RingError                       base: anything ring raises on purpose
    +-- ConfigError                 server.xml or command line is wrong (exit 2); names file and line
    +-- ClockSkewError              the clock check refused the start (exit 3)
    +-- SessionError                a session cannot be served
    |   +-- SessionTooLarge         the encoded session exceeds max-session-size (HTTP 500)
    |   +-- SessionUnavailable      its copies cannot be reached before the deadline (HTTP 503)
    |   +-- SessionInvalidated      a concurrent request logged it out; nothing saved (HTTP 409)
    |   +-- SessionExists           a new session's id is already held by the ring (HTTP 409)
    |   +-- SessionStale            the save's base version is no longer the newest: merge, retry
    +-- ReplicationError            the successor did not acknowledge before the deadline (HTTP 503)
    +-- TransportError              a ring process could not be reached (a client's view)
    +-- ProtocolError               a peer sent something malformed or not allowed
    +-- DrillError                  a drill could not be set up or run (a missing tool, ...)
    +-- ScenarioError               a simulated story could not be played
        +-- ScenarioTooSmall        the ring is too small for the story (also a ValueError)
        +-- ScenarioFailed          the story did not come true (also an AssertionError)

Foreign exceptions become ring's own at one boundary per kind of caller, h11-style: inside the
engine a failed gRPC call (grpc.RpcError, OSError) becomes the core input `Unreachable` in
ring.io.transport, never an exception; a client of a ring process (ring.io.statusclient, the
local client) raises TransportError. The pure core raises none of these for a peer's mistake: it
returns a rejection effect instead.
"""

from __future__ import annotations


class RingError(Exception):
    """Base of every error ring raises on purpose."""

    exit_code = 1


class ConfigError(RingError):
    """server.xml or the command line is wrong. The message names the element and its line."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class ClockSkewError(RingError):
    """The clock check refused to start or join."""

    exit_code = 3


class SessionError(RingError):
    """A session cannot be served."""


class SessionTooLarge(SessionError):
    """The encoded session exceeds the configured maximum size."""


class SessionUnavailable(SessionError):
    """The session's copies could not be reached before the request deadline."""


class SessionInvalidated(SessionError):
    """A concurrent request invalidated the session (a logout): this save was refused.

    Django's adapter raises its UpdateError for it; the WSGI middleware answers 409.
    """


class SessionExists(SessionError):
    """A save of a new session (base version 0) named an id the ring already holds."""


class SessionStale(SessionError):
    """A save named a base version that is no longer the session's newest: nothing was written.

    A concurrent request saved the session meanwhile. The middleware reloads the newest version,
    applies this request's keys set and deleted to it, and saves again (per-key merge).
    """


class ReplicationError(RingError):
    """The successor did not acknowledge a write before the deadline."""


class TransportError(RingError):
    """A ring process (an instance's replication port, the local socket) could not be reached."""


class ProtocolError(RingError):
    """A peer sent something malformed or not allowed."""


class DrillError(RingError):
    """The drill could not be set up or run: a missing tool, an instance that never started."""


class ScenarioError(RingError):
    """A simulated story (ring.testing.stories) could not be played."""


class ScenarioTooSmall(ScenarioError, ValueError):
    """The ring has fewer instances than the scenario's story needs."""


class ScenarioFailed(ScenarioError, AssertionError):
    """The story did not come true; `transcript` holds the lines up to the failure."""

    def __init__(self, message: str, transcript: list[str]) -> None:
        super().__init__(message)
        self.transcript = transcript
