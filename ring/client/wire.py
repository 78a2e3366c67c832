"""The local protocol between web workers and the instance on their host (a Unix socket).

A frame is a 4-byte big-endian length and that many bytes of MessagePack (msgspec). A request is
`[request id, operation, [arguments]]`; its answer `[request id, True, value]` or
`[request id, False, [error name, message]]`. Requests on one connection may be pipelined: the
instance answers each as it completes, so answers carry the request id. Chosen over gRPC on the
same socket by measurement (bench/local_hop.py): one frame each way, no HTTP/2.

    operation   arguments                                  value
    hello       []                                         [instance id, max session size,
                                                            replicate on read, protocol version]
    load        [id, hint primary, hint backup]            None | [version, data, primary, backup]
    save        [id, base version, data, touch only        [version, primary, backup, replicated]
                 (, lifetime: seconds idle, or None)]
    invalidate  [id, base version]                         None
    exists      [id]                                       bool
    touch       [id]                                       bool (False: no such session)

Error names are those of ring.errors that the port raises; anything else arrives as ProtocolError.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from ring.backend import LoadedSession, Locator, SaveResult, check_lifetime
from ring.errors import (
    ProtocolError,
    ReplicationError,
    RingError,
    SessionExists,
    SessionInvalidated,
    SessionStale,
    SessionTooLarge,
    SessionUnavailable,
)

PROTOCOL_VERSION = 1
HEADER = struct.Struct(">I")
MAX_FRAME_OVERHEAD = 1 << 16  # ids, versions and names around the session data

OPERATIONS = frozenset({"hello", "load", "save", "invalidate", "exists", "touch"})

ERRORS: dict[str, type[RingError]] = {cls.__name__: cls for cls in (
    SessionTooLarge, SessionUnavailable, SessionInvalidated, SessionExists, SessionStale,
    ReplicationError, ProtocolError,
)}

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def frame(message: Any) -> bytes:
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> Any:
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"malformed frame on the local socket: {exc}") from None


def error_value(exc: BaseException) -> list[str]:
    name = type(exc).__name__
    return [name if name in ERRORS else "ProtocolError", str(exc)]


def raise_error(value: Any) -> None:
    """Raise the ring error an error answer names."""
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise ProtocolError("malformed error answer on the local socket")
    raise ERRORS.get(value[0], ProtocolError)(value[1])


def answer(message: Any, expected_id: int | None = None) -> tuple[int, Any]:
    """(request id, value) of an answer; raises the error it carries."""
    if not (isinstance(message, list) and len(message) == 3 and isinstance(message[0], int)):
        raise ProtocolError("malformed answer on the local socket")
    rid, ok, value = message
    if expected_id is not None and rid != expected_id:
        raise ProtocolError(f"answer to request {rid}, expected {expected_id}")
    if not ok:
        raise_error(value)
    return rid, value


# --- values <-> the port's types -----------------------------------------------------------------


def load_args(session_id: str, hint: Locator | None) -> list[Any]:
    return [session_id, hint.primary if hint else "", hint.backup if hint else ""]


def loaded(session_id: str, value: Any) -> LoadedSession | None:
    if value is None:
        return None
    version, data, primary, backup = value
    return LoadedSession(session_id, version, data, Locator(primary, backup))


def loaded_value(session: LoadedSession | None) -> Any:
    if session is None:
        return None
    return [session.version, session.data, session.locator.primary, session.locator.backup]


def save_args(session_id: str, base_version: int, data: bytes, touch_only: bool,
              lifetime: float | None) -> list[Any]:
    """A save's arguments: the lifetime only when one is asked (a version-1 instance takes four)."""
    check_lifetime(lifetime)
    args: list[Any] = [session_id, base_version, data, touch_only]
    return args if lifetime is None else [*args, float(lifetime)]


def saved(value: Any) -> SaveResult:
    version, primary, backup, replicated = value
    return SaveResult(version, Locator(primary, backup), replicated)


def saved_value(result: SaveResult) -> list[Any]:
    return [result.version, result.locator.primary, result.locator.backup, result.replicated]
