"""Generate ring/io/_proto/ from protos/ring/v1/ring.proto: the one way the generated code is made.

    python scripts/gen_protos.py           regenerate (what `make protos` runs)
    python scripts/gen_protos.py --check   exit 1 if the committed files differ from a fresh run

protoc runs in-process (grpc_tools.protoc) into a temporary directory; the three outputs are then
copied flat into ring/io/_proto/, and the absolute `from ring.v1 import ring_pb2` that
grpc_python_out writes is turned into a package-relative import, so the package loads from
anywhere without touching sys.path (the message classes' module name is fixed the same way). The proto is compiled under its full path (ring/v1/ring.proto)
so the descriptor pool registers a name that cannot collide with another project's ring.proto.

The output depends only on the proto and the grpcio-tools version, so --check is exact byte
comparison; tests/io/test_protos_fresh.py runs it on every test run.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "protos"
PROTO_FILE = "ring/v1/ring.proto"
OUT_DIR = REPO / "ring" / "io" / "_proto"
FIX_COMMAND = "make protos"

INIT_TEXT = '''"""Generated protobuf and gRPC code for protos/ring/v1/ring.proto.

Do not edit: regenerate with `make protos` (scripts/gen_protos.py).
"""
'''

# grpc_python_out imports the message module by its proto path; make it package-relative.
_ABSOLUTE_IMPORT = re.compile(r"^(?:from ring\.v1 )?import ring_pb2 as (\w+)$", re.MULTILINE)
_PROTO_MODULE_NAME = re.compile(r"'ring\.v1\.ring_pb2'")
_PACKAGE = "ring.io._proto"


def generate() -> dict[str, str]:
    """Run protoc on the proto and return {file name in ring/io/_proto: text}. Writes nothing."""
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory(prefix="ring-protos-") as tmp:
        argv = [
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            str(PROTO_ROOT / PROTO_FILE),
        ]
        status = protoc.main(argv)
        if status != 0:
            raise RuntimeError(f"protoc failed with status {status} on {PROTO_ROOT / PROTO_FILE}")
        produced = Path(tmp) / Path(PROTO_FILE).parent
        messages = (produced / "ring_pb2.py").read_text(encoding="utf-8")
        stubs = (produced / "ring_pb2.pyi").read_text(encoding="utf-8")
        services = (produced / "ring_pb2_grpc.py").read_text(encoding="utf-8")

    services = _rewrite_once(_ABSOLUTE_IMPORT, r"from . import ring_pb2 as \1", services, "ring_pb2_grpc.py")
    # Message classes take __module__ from this name; make it the module they really live in.
    messages = _rewrite_once(_PROTO_MODULE_NAME, repr(_PACKAGE + ".ring_pb2"), messages, "ring_pb2.py")
    return {
        "__init__.py": INIT_TEXT,
        "ring_pb2.py": messages,
        "ring_pb2.pyi": stubs,
        "ring_pb2_grpc.py": services,
    }


def _rewrite_once(pattern: re.Pattern[str], replacement: str, text: str, name: str) -> str:
    rewritten, count = pattern.subn(replacement, text)
    if count != 1:
        raise RuntimeError(
            f"expected exactly one match of {pattern.pattern!r} in generated {name}, found {count}: "
            "grpcio-tools changed its output; update scripts/gen_protos.py"
        )
    return rewritten


def write(out_dir: Path = OUT_DIR) -> list[Path]:
    """Regenerate into out_dir; return the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(generate().items()):
        path = out_dir / name
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def stale_files(out_dir: Path = OUT_DIR) -> list[str]:
    """Names of the files in out_dir that are missing or differ from a fresh generation."""
    stale = []
    for name, text in sorted(generate().items()):
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def check(out_dir: Path = OUT_DIR) -> str | None:
    """None when out_dir is fresh, else a message naming the stale files and the fix."""
    stale = stale_files(out_dir)
    if not stale:
        return None
    shown = ", ".join(_display(out_dir / name) for name in stale)
    return (
        f"generated protobuf code is stale: {shown} does not match "
        f"{_display(PROTO_ROOT / PROTO_FILE)}; run `{FIX_COMMAND}` "
        f"(python scripts/gen_protos.py) and commit the result"
    )


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files instead of writing"
    )
    args = parser.parse_args(argv)
    if args.check:
        problem = check()
        if problem is not None:
            print(problem, file=sys.stderr)
            return 1
        print(f"{_display(OUT_DIR)} is up to date")
        return 0
    for path in write():
        print(f"wrote {_display(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
