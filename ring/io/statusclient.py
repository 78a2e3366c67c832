"""The Status client: ask ring instances what they hold, as plain rows (DESIGN.md 6).

`instance_status` asks one instance over gRPC and is the one place where a client's foreign errors
(grpc.RpcError, OSError) become ring's TransportError. `collect` asks every instance of a config
and gives one row each, in ring order: an instance that cannot be reached is a row in state
"unreachable", never an exception. `ring status`, the drills and the benchmarks read these rows.

    alive row        {"id", "address", "state": "alive", "incarnation", "successor", "primaries",
                      "backups": {owner: n}, "orphans": {owner: n}, "resyncing", "epoch",
                      "unreplicated_writes", "peers": {id: state}}
    unreachable row  the same first nine keys, "state": "unreachable", the figures empty
"""

from __future__ import annotations

from typing import Any

import grpc

from ring.config import ClusterConfig
from ring.errors import TransportError
from ring.io._proto import ring_pb2 as pb
from ring.io._proto import ring_pb2_grpc
from ring.io.security import CallSigner, call_signer, channel_credentials

STATUS_SENDER = "ring-status"  # the name a status client signs with (a keyed ring answers key holders only)


def unreachable_row(name: str, address: str) -> dict[str, Any]:
    """The row of an instance that did not answer."""
    return {"id": name, "address": address, "state": "unreachable", "incarnation": None, "successor": None,
            "primaries": None, "backups": {}, "orphans": {}, "resyncing": False}


def instance_status(name: str, address: str, credentials: grpc.ChannelCredentials | None,
                    timeout: float, signer: CallSigner | None = None) -> dict[str, Any]:
    """The alive row of one instance; TransportError when it cannot be reached within `timeout`."""
    metadata = signer.metadata(name, "Status") if signer is not None else ()
    try:
        with (grpc.secure_channel(address, credentials) if credentials is not None
              else grpc.insecure_channel(address)) as channel:
            reply = ring_pb2_grpc.RingStub(channel).Status(pb.StatusRequest(), timeout=timeout,
                                                           metadata=metadata)
    except (grpc.RpcError, OSError) as exc:
        raise TransportError(f"instance {name} at {address} did not answer its status: {_reason(exc)}") from exc
    return {**unreachable_row(name, address),
            "state": "alive", "incarnation": reply.incarnation, "successor": reply.successor or None,
            "primaries": reply.primaries, "backups": dict(sorted(reply.backups.items())),
            "orphans": dict(sorted(reply.orphans.items())), "resyncing": reply.resyncing,
            "epoch": reply.epoch, "unreplicated_writes": reply.unreplicated_writes,
            "peers": {p.id: p.state for p in reply.peers}}


def collect(config: ClusterConfig, timeout: float = 1.0) -> list[dict[str, Any]]:
    """One row per instance of `config`, in ring order; `timeout` seconds for each instance."""
    credentials = channel_credentials(config.replication)  # an encrypted ring only speaks mutual TLS
    signer = call_signer(config.replication.key, STATUS_SENDER)
    rows = []
    for name in config.ring:
        address = config.instance(name).address
        try:
            rows.append(instance_status(name, address, credentials, timeout, signer))
        except TransportError:
            rows.append(unreachable_row(name, address))
    return rows


def _reason(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return f"{exc.code().name} {exc.details() or ''}".strip()
    return str(exc) or type(exc).__name__
