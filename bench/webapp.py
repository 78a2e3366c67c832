"""`python -m bench.webapp --backend redis|redis-wait|memory --http HOST:PORT`: the demo app for row 3.

The same stack as `ring serve --http` (ring.demo:app under ring.web.wsgi.SessionMiddleware, with
/livez and /readyz, on waitress via ring.host.http.HttpServer with the same number of threads),
only the SessionBackend differs:

    redis       RedisSessionBackend: sessions in a redis-server (SET, no replication wait)
    redis-wait  the same, each save followed by WAIT 1 (the primary must have one replica)
    memory      ring.web.memory.MemoryBackend: a dict in this process; nothing leaves the process
                (the "no server-side session store" floor: middleware + app + HTTP only)
"""

from __future__ import annotations

import argparse
import signal
import threading

from ring.commands.serve import parse_http
from ring.demo import app as demo_app
from ring.host.http import HttpServer, with_health
from ring.web.wsgi import SessionMiddleware


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.webapp")
    p.add_argument("--backend", choices=("redis", "redis-wait", "memory"), required=True)
    p.add_argument("--redis-port", type=int)
    p.add_argument("--http", required=True)
    p.add_argument("--threads", type=int, default=8)
    args = p.parse_args()

    if args.backend == "memory":
        from ring.web.memory import MemoryBackend

        backend: object = MemoryBackend("memory")
    else:
        import redis

        from bench.redis_backend import RedisSessionBackend

        client = redis.Redis(host="127.0.0.1", port=args.redis_port)
        backend = RedisSessionBackend(client, wait_replicas=1 if args.backend == "redis-wait" else 0)
    instance = backend.instance_id  # type: ignore[attr-defined]
    app = SessionMiddleware(demo_app, backend, members=[instance])  # type: ignore[arg-type]
    host, port = parse_http(args.http)
    server = HttpServer(with_health(app, lambda: True), host, port, args.threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
