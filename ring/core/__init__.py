"""The pure core of ring: topology, membership, stores, replication, adoption, fencing.

Nothing in this package performs I/O, reads a clock, sleeps, starts threads or draws random
numbers, and it imports nothing outside ring.core and the standard library (tests/core/test_purity.py
and tests/test_layering.py enforce both). Inputs carry facts and the current time; outputs are
effects the shell carries out in order.
"""

from ring.core.events import (
    Adopted,
    Effect,
    FailureReason,
    Fenced,
    Input,
    LeaveRequested,
    Left,
    Loaded,
    LoadFailed,
    LoadRequested,
    PeerDeclaredDead,
    PeerJoined,
    Received,
    Rejected,
    RequestOutcome,
    Respond,
    ResyncFinished,
    ResyncStarted,
    Send,
    Tick,
    Unreachable,
    ViewChanged,
    WriteCommitted,
    WriteFailed,
    WriteRequested,
)
from ring.core.node import Node
from ring.core.settings import CoreSettings
from ring.core.status import NodeStatus
from ring.core.store import Copy, Role

__all__ = [
    "Adopted", "Copy", "CoreSettings", "Effect", "FailureReason", "Fenced", "Input", "LeaveRequested", "Left", "LoadFailed",
    "LoadRequested", "Loaded", "Node", "NodeStatus", "PeerDeclaredDead", "PeerJoined", "Received",
    "Rejected", "RequestOutcome", "Respond", "ResyncFinished", "ResyncStarted", "Role", "Send",
    "Tick", "Unreachable", "ViewChanged", "WriteCommitted", "WriteFailed", "WriteRequested",
]
