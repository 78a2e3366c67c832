"""The one exception tree of ring.

    RingError                       base: anything ring raises on purpose
    +-- ConfigError                 server.xml or command line is wrong (exit 2); names file and line
    +-- ClockSkewError              the clock check refused the start (exit 3)
    +-- SessionError                a session cannot be served
    |   +-- SessionTooLarge         the encoded session exceeds max-session-size
    |   +-- SessionUnavailable      its copies cannot be reached before the deadline (HTTP 503)
    +-- ReplicationError            the successor did not acknowledge before the deadline
    +-- TransportError              a peer could not be reached (wraps grpc.RpcError, OSError)
    +-- ProtocolError               a peer sent something malformed or not allowed

Foreign exceptions (grpc.RpcError, OSError) become TransportError in exactly one place,
ring.io.transport. The pure core raises none of these for a peer's mistake: it returns a
rejection effect instead.
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


class ReplicationError(RingError):
    """The successor did not acknowledge a write before the deadline."""


class TransportError(RingError):
    """A peer could not be reached."""


class ProtocolError(RingError):
    """A peer sent something malformed or not allowed."""
