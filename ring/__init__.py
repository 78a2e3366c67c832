"""ring: session replication for Python web clusters, an iPlanet-style backup ring over gRPC.

The public API is small and pinned by tests/test_public_api.py:

- `load_server_xml(path)` -> `ClusterConfig` (the shared server.xml)
- `SessionMiddleware` (WSGI) and the `SessionBackend` protocol it talks to
- the exception tree of `ring.errors`

Everything else (the pure core in `ring.core`, the simulator in `ring.testing`, the runtime in
`ring.io`) is importable for tests and tools but not promised to stay put.
"""

from ring.backend import SessionBackend
from ring.config import ClusterConfig, InstanceSpec, ReplicationSettings
from ring.errors import (
    ClockSkewError,
    ConfigError,
    ProtocolError,
    ReplicationError,
    RingError,
    SessionError,
    SessionTooLarge,
    SessionUnavailable,
    TransportError,
)
from ring.serverxml import load_server_xml
from ring.web.wsgi import SessionMiddleware

__version__ = "0.1.0"

__all__ = [
    "ClockSkewError", "ClusterConfig", "ConfigError", "InstanceSpec", "ProtocolError",
    "ReplicationError", "ReplicationSettings", "RingError", "SessionBackend", "SessionError",
    "SessionMiddleware", "SessionTooLarge", "SessionUnavailable", "TransportError",
    "load_server_xml", "__version__",
]
