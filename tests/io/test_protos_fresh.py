"""The committed generated code matches protos/ring/v1/ring.proto, loads, and keeps its field numbers."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_gen_protos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protos", REPO / "scripts" / "gen_protos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_protos = _load_gen_protos()


def test_generated_code_is_fresh() -> None:
    problem = gen_protos.check()
    if problem is not None:
        pytest.fail(problem)


def test_check_names_the_stale_file_and_the_fix(tmp_path: Path) -> None:
    for path in gen_protos.OUT_DIR.iterdir():
        if path.is_file():
            shutil.copy(path, tmp_path / path.name)
    with (tmp_path / "ring_pb2_grpc.py").open("a", encoding="utf-8") as stale:
        stale.write("# edited by hand\n")
    (tmp_path / "ring_pb2.pyi").unlink()
    problem = gen_protos.check(tmp_path)
    assert problem is not None
    assert "ring_pb2_grpc.py" in problem and "ring_pb2.pyi" in problem
    assert "ring_pb2.py," not in problem  # the untouched one is not blamed
    assert "make protos" in problem


def test_generated_modules_load_as_a_package() -> None:
    from ring.io._proto import ring_pb2, ring_pb2_grpc

    assert ring_pb2_grpc.RingStub is not None
    assert ring_pb2_grpc.RingServicer is not None
    assert type(ring_pb2.Header()).__module__ == "ring.io._proto.ring_pb2"
    methods = [m.name for m in ring_pb2.DESCRIPTOR.services_by_name["Ring"].methods]
    assert methods == [
        "Replicate",
        "Ping",
        "IndirectPing",
        "Join",
        "Claim",
        "ClaimMany",
        "Release",
        "DropBackups",
        "Leave",
        "Status",
    ]


# Append-only guard: these numbers are on the wire. Add fields, never renumber or reuse.
PINNED_FIELDS = {
    "Header": {"sender": 1, "incarnation": 2, "epoch": 3},
    "ClaimMany": {"claims": 1},
    "ClaimManyReply": {"replies": 1},
    "SessionRecord": {
        "session_id": 1,
        "owner": 2,
        "version": 3,
        "last_access": 4,
        "max_inactive": 5,
        "deleted": 6,
        "data": 7,
    },
}


@pytest.mark.parametrize("message", sorted(PINNED_FIELDS))
def test_field_numbers_are_append_only(message: str) -> None:
    from ring.io._proto import ring_pb2

    fields = ring_pb2.DESCRIPTOR.message_types_by_name[message].fields_by_name
    for name, number in PINNED_FIELDS[message].items():
        assert name in fields, f"{message}.{name} was removed; field numbers are append-only"
        assert fields[name].number == number, (
            f"{message}.{name} was renumbered {number} -> {fields[name].number}; field numbers are append-only"
        )
