"""What a drill must never leave behind: processes, signal handlers, swallowed errors.

    signals_unwind   SIGINT, SIGTERM and SIGHUP become `Interrupted` in the main thread, so that
                     the drill's ExitStack unwinds and removes everything it created
    new_workdir      a temporary work directory named after the drill's pid, ring-drill-<pid>-...
    reap_leftovers   SIGKILL the processes of an earlier drill that was itself SIGKILLed (found in
                     /proc by that work directory's name)
    Repeating        a background loop (status polls, the progress line) that logs the errors it
                     expects and hands any other one to the thread that stops it: a bug in a
                     background thread neither ends the drill halfway nor vanishes
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ring.drill.netns import pid_alive

log = logging.getLogger("ring.drill")

WORKDIR_PREFIX = "ring-drill-"  # + "<pid of the drill>-": how reap_leftovers recognizes an orphaned drill
UNWINDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A signal asked the drill to stop; unwinding cleans up.

    A BaseException, like KeyboardInterrupt: no `except Exception` on the way may stop it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


@contextlib.contextmanager
def signals_unwind() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise Interrupted in the main thread; later ones are ignored so
    that they cannot cut the cleanup short (it is bounded: a few seconds)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread; a caller there unwinds itself
        return

    def handler(signum: int, frame: object) -> None:
        for s in UNWINDING_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in UNWINDING_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def new_workdir() -> Path:
    """A fresh temporary work directory whose name carries this process's pid (for reap_leftovers)."""
    return Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))


def reap_leftovers() -> list[int]:
    """SIGKILL processes a drill that died without cleaning up left behind (it was SIGKILLed).

    A drill's default work directory is named ring-drill-<its pid>-..., and every process it starts
    (`ring serve`, haproxy) names a file in it on its command line; such processes naming the
    directory of a drill whose pid is gone are leftovers. Nothing else is touched.
    """
    pattern = re.compile(rb"/" + re.escape(WORKDIR_PREFIX.encode()) + rb"(\d+)-")
    killed: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path("/proc", entry, "cmdline").read_bytes()
        except OSError:  # the process ended while we looked, or it is not ours to read
            continue
        found = pattern.search(cmdline)
        if found is None or pid_alive(int(found.group(1))):
            continue
        argv = cmdline.split(b"\0")
        ours = (b"ring" in argv and b"serve" in argv) or argv[0].endswith(b"haproxy")
        if not ours:
            continue
        try:
            os.kill(int(entry), signal.SIGKILL)
        except OSError:  # gone meanwhile, or another user's: nothing to reap
            continue
        killed.append(int(entry))
    return killed


class Repeating:
    """Calls `step()` on a daemon thread every `interval` seconds until `stop()`.

    An exception of the `expected` kinds (a status poll that found no answer) is logged at debug
    and the loop goes on. Any other one is a bug: the loop ends, and `stop()` raises it in the
    thread that stops the loop, with its traceback.
    """

    def __init__(self, name: str, step: Callable[[], object], interval: float, *,
                 expected: tuple[type[Exception], ...] = (), immediately: bool = False) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        self.expected = expected
        self.immediately = immediately  # the first step at once, not after one interval
        self.failure: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """End the loop (waiting up to `timeout` seconds for the current step); raise what broke it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure

    def _loop(self) -> None:
        if not self.immediately and self._stop.wait(self.interval):
            return
        while True:
            try:
                self.step()
            except self.expected as exc:
                log.debug("%s: %s failed, trying again in %g s: %s", self.name, _named(self.step),
                          self.interval, exc)
            except Exception as exc:  # handed over to stop(): it surfaces in the drill's own thread
                self.failure = exc
                return
            if self._stop.wait(self.interval):
                return


def _named(step: Callable[[], object]) -> str:
    return getattr(step, "__qualname__", repr(step))
