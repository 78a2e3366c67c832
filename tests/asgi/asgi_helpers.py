"""Helpers of the ASGI tests: ring serve --asgi clusters, on tests/integration's helpers."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))

from ring.drill.cluster import LocalCluster  # noqa: E402

REPO = Path(__file__).parents[2]


class AsgiCluster(LocalCluster):
    """LocalCluster whose instances host an ASGI app (`--asgi`) instead of a WSGI one; `app_dir`
    goes on the instances' PYTHONPATH."""

    def __init__(self, config: Path, workdir: Path, *, app: str, app_dir: Path, **env: str) -> None:
        super().__init__(config, workdir, app=app, python=sys.executable,
                         env={"PYTHONPATH": f"{app_dir}:{REPO}", **env})

    def command(self, name: str) -> list[str]:
        argv = super().command(name)
        argv[argv.index("--app")] = "--asgi"
        return argv
