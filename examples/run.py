"""Run the example deployment in one command: two "hosts" on loopback, each a `ring serve` daemon
and `gunicorn -w 3` of the Flask (or Django) example app on that daemon's socket.

    python -m examples.run            # Flask on :8001 (host a) and :8002 (host b)
    python -m examples.run --django   # the Django app instead

Then, e.g.:  curl -c jar -b jar -X POST 'localhost:8001/login?user=alice'
             curl -c jar -b jar -X POST localhost:8001/incr
             kill -9 the daemon of host a (its pid is printed), then
             curl -c jar -b jar localhost:8002/whoami      # still alice, same count
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = {"flask": "examples.flask_app.app:app", "django": "examples.django_app.wsgi:application"}


def main() -> int:
    parser = argparse.ArgumentParser(description="the two-host example deployment")
    parser.add_argument("--django", action="store_true", help="run the Django app instead of the Flask app")
    args = parser.parse_args()
    app = APPS["django" if args.django else "flask"]
    started: list[subprocess.Popen[bytes]] = []
    try:
        for host, port in (("a", 8001), ("b", 8002)):
            daemon = subprocess.Popen([sys.executable, "-m", "ring", "serve", "--config", str(HERE / "server.xml"),
                                       "--local-host", host])
            started.append(daemon)
            socket_path = HERE / f"{host}.sock"
            deadline = time.monotonic() + 20
            while not socket_path.exists():  # polled, bounded: the daemon opens it once the ring is up
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"ring serve for host {host} did not start")
                time.sleep(0.05)
            web = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(HERE / "flask_app" / "gunicorn.conf.py"),
                 "-b", f"127.0.0.1:{port}", app],
                cwd=HERE.parent, start_new_session=True,
                env={**os.environ, "RING_SOCKET": str(socket_path),
                     "DJANGO_SETTINGS_MODULE": "examples.django_app.settings"})
            started.append(web)
            print(f"host {host}: ring serve pid {daemon.pid}, gunicorn on http://127.0.0.1:{port} (pid {web.pid})")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds to the finally below
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in reversed(started):
            if proc.poll() is None:
                proc.terminate()
        for proc in started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
