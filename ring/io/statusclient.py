"""The Status client: ask ring instances what they hold, as plain rows (DESIGN.md 6).

`instance_status` asks one instance over gRPC and is the one place where a client's foreign errors
(grpc.RpcError, OSError) become ring's TransportError. `collect` asks every instance of a config
and gives one row each, in ring order: an instance that cannot be reached is a row in state
"unreachable", never an exception. `ring status`, the drills and the benchmarks read these rows.

    alive row        {"id", "address", "state": "alive", "incarnation", "successor", "primaries",
                      "backups": {owner: n}, "orphans": {owner: n}, "resyncing", "epoch",
                      "unreplicated_writes", "peers": {id: state}, "version", "uptime_seconds",
                      "http_address", "admin_address", "ready", "lease_valid", "pending_writes"}
                     (the last seven None from an instance too old to send them)
    unreachable row  the same first nine keys, "state": "unreachable", the figures empty

Instances are asked in parallel, so one that does not answer costs `timeout` once, not per row.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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
            "primaries": None, "backups": {}, "orphans": {}, "resyncing": False, "unredundant": None}


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
            "unredundant": reply.unredundant,
            "peers": {p.id: p.state for p in reply.peers}, **_host(reply)}


def _host(reply: pb.StatusReply) -> dict[str, Any]:
    keys = ("version", "uptime_seconds", "http_address", "admin_address", "ready", "lease_valid",
            "pending_writes")
    if not reply.HasField("host"):
        return dict.fromkeys(keys)
    h = reply.host
    return {"version": h.version, "uptime_seconds": round(h.uptime_seconds, 3),
            "http_address": h.http_address or None, "admin_address": h.admin_address or None,
            "ready": h.ready, "lease_valid": h.lease_valid, "pending_writes": h.pending_writes}


def collect(config: ClusterConfig, timeout: float = 1.0) -> list[dict[str, Any]]:
    """One row per instance of `config`, in ring order; `timeout` seconds for each instance."""
    credentials = channel_credentials(config.replication)  # an encrypted ring only speaks mutual TLS
    signer = call_signer(config.replication.key, STATUS_SENDER)

    def ask(name: str) -> dict[str, Any]:
        address = config.instance(name).address
        try:
            return instance_status(name, address, credentials, timeout, signer)
        except TransportError:
            return unreachable_row(name, address)

    with ThreadPoolExecutor(max_workers=min(16, len(config.ring)), thread_name_prefix="ring-status") as pool:
        return list(pool.map(ask, config.ring))


def problems(rows: list[dict[str, Any]]) -> list[str]:
    """Why the ring is degraded, one sentence each; empty when every instance is up and redundant."""
    found = []
    down = [r["id"] for r in rows if r["state"] != "alive"]
    if down:
        found.append(f"instance{'s' if len(down) > 1 else ''} down: {', '.join(down)}")
    alive = [r for r in rows if r["state"] == "alive"]
    orphans = sum(n for r in alive for n in r["orphans"].values())
    if orphans:
        found.append(f"{orphans} session{'s' if orphans > 1 else ''} of dead owners held once (orphans)")
    single = {r["id"]: r["unredundant"] for r in alive if r.get("unredundant")}
    if single:
        found.append("sessions without a second copy: " + ", ".join(f"{k} {v}" for k, v in single.items()))
    lonely = [r["id"] for r in alive if r["successor"] is None and r["primaries"] and len(rows) > 1]
    if lonely:
        found.append(f"no backup for the sessions of {', '.join(lonely)} (no live successor)")
    resyncing = [r["id"] for r in alive if r["resyncing"]]
    if resyncing:
        found.append(f"resync in progress on {', '.join(resyncing)}")
    not_ready = [r["id"] for r in alive if r.get("ready") is False]
    if not_ready:
        found.append(f"not ready (no serving lease): {', '.join(not_ready)}")
    return found


def _reason(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        return f"{exc.code().name} {exc.details() or ''}".strip()
    return str(exc) or type(exc).__name__
