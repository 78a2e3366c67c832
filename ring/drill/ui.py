"""The drill's progress on stderr: timestamped messages and one status line, refreshed.

    [   start] ring a -> b -> c up (config .../server.xml)
    [   3.2 s] kill -9 b; revive in 4.1 s
      12.5/30 s | kill -9 b; revive in 4.1 | faults 1 | ok 412 fail 3 indet 1 | a [b] c

On a terminal the status line is a rich Live line, refreshed four times a second and gone when
the drill ends; elsewhere (a log file, CI) it is printed every ten seconds. The report itself is
ring.drill.report's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ring.drill.checker import FAILED, INDETERMINATE, OK, Op
from ring.drill.hygiene import Repeating

PHASE_WIDTH = 24  # characters of the latest message that name the phase in the status line
LIVE_REFRESH = 0.25  # seconds between updates of the line on a terminal
PRINT_EVERY = 10.0  # seconds between printed lines elsewhere: a log stays readable


def status_line(*, elapsed: float, duration: float, phase: str, faults: int, history: Sequence[Op],
                rows: Sequence[dict[str, Any]]) -> str:
    """The one line: time, phase, faults so far, outcomes so far, the instances ([down] ones)."""
    n = {OK: 0, FAILED: 0, INDETERMINATE: 0}
    for op in history:
        n[op.outcome] += 1
    instances = " ".join(r["id"] if r["state"] == "alive" else f"[{r['id']}]" for r in rows)
    return (f"{elapsed:5.1f}/{duration:g} s | {phase:<{PHASE_WIDTH}} | faults {faults} | "
            f"ok {n[OK]} fail {n[FAILED]} indet {n[INDETERMINATE]} | {instances}")


class Progress:
    """Messages stamped with the time since the users started, and the refreshed status line.

    `line(progress)` builds the status line from `phase` and `elapsed()` and whatever the caller
    watches; `say` sets the phase to the start of its message.
    """

    def __init__(self, console: Console, line: Callable[[Progress], str], enabled: bool = True) -> None:
        self.console = console
        self.line = line
        self.enabled = enabled
        self.phase = "starting"
        self.started: float | None = None  # monotonic time the users started: messages count from it
        self._live: Live | None = None
        self._refresher: Repeating | None = None

    def start_clock(self, at: float) -> None:
        self.started = at

    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def say(self, text: str) -> None:
        """Print `text` with the time since the users started; it names the phase from now on."""
        at = f"{self.elapsed():6.1f} s" if self.started is not None else "   start"
        self.console.print(f"[{at}] {text}", highlight=False)
        self.phase = text[:PHASE_WIDTH]

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        if self.console.is_terminal:
            self._live = Live(Text(""), console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
            self._refresher = Repeating("drill-progress", self._refresh_live, LIVE_REFRESH)
        else:
            # a closed or broken stderr must not end the drill: the report goes to stdout
            self._refresher = Repeating("drill-progress", self._print_line, PRINT_EVERY, expected=(OSError,))
        self._refresher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._refresher is not None:
                self._refresher.stop(2.0)
        finally:
            if self._live is not None:
                self._live.stop()

    def _refresh_live(self) -> None:
        assert self._live is not None
        self._live.update(Text(self.line(self)))

    def _print_line(self) -> None:
        # markup off: "[b]" is a down instance, not a rich tag (the Live line is plain Text too)
        self.console.print(self.line(self), highlight=False, markup=False)
