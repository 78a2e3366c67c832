"""The ASGI bench app: a small Starlette app with POST /incr, sessions through ring.asgi.

    app                          hosted by `ring serve --asgi bench.asgi_app:app` (the engine lends
                                 its AsyncEngineBackend: no backend here)
    python -m bench.asgi_app --backend redis --redis-port N --http HOST:PORT
                                 the same app on the same uvicorn settings, sessions in redis-server
                                 through redis.asyncio (hiredis when installed): GET + SET per request
    ... --backend memory         a dict in the process (AsyncMemoryBackend): the floor of the stack
    uvicorn --workers N --factory bench.asgi_app:workers_app
                                 the same app in each uvicorn worker; RING_BENCH_SESSIONS=local: the
                                 `ring serve` daemon of the host over $RING_SOCKET (the async local
                                 client), =redis: redis.asyncio on port $RING_BENCH_REDIS_PORT

Only the backend differs: the same middleware, encoding, cookies and server (uvicorn, uvloop,
httptools, no access log).
"""

from __future__ import annotations

import argparse
import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from ring.asgi import SessionMiddleware


async def incr(request: Request) -> JSONResponse:
    count = request.session.get("count", 0) + 1
    request.session["count"] = count
    return JSONResponse({"count": count})


def build(backend: object = None) -> Starlette:
    starlette = Starlette(routes=[Route("/incr", incr, methods=["POST"])])
    starlette.add_middleware(SessionMiddleware, backend=backend, max_age=None)  # type: ignore[arg-type]
    return starlette


app = build()


async def livez(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok\n")


def workers_app() -> Starlette:
    """The app of one uvicorn worker (called in each worker: its clients are made there)."""
    import os

    sessions = os.environ["RING_BENCH_SESSIONS"]
    if sessions == "local":
        starlette = Starlette(routes=[Route("/incr", incr, methods=["POST"]), Route("/livez", livez)])
        starlette.add_middleware(SessionMiddleware, local_socket="", max_age=None)  # $RING_SOCKET
        return starlette
    import redis.asyncio

    from bench.asgi_redis import AsyncRedisBackend

    backend = AsyncRedisBackend(redis.asyncio.Redis(host="127.0.0.1", port=int(os.environ["RING_BENCH_REDIS_PORT"])))
    starlette = build(backend)
    starlette.router.routes.append(Route("/livez", livez))
    return starlette


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.asgi_app")
    p.add_argument("--backend", choices=("redis", "memory"), required=True)
    p.add_argument("--redis-port", type=int)
    p.add_argument("--http", required=True)
    args = p.parse_args()
    from ring.commands.serve import parse_http
    from ring.host.asgi import AsgiServer, event_loop_factory

    host, port = parse_http(args.http)

    async def serve() -> None:
        if args.backend == "memory":
            from ring.web.memory import AsyncMemoryBackend

            backend: object = AsyncMemoryBackend(instance_id="memory")
        else:
            import redis.asyncio

            from bench.asgi_redis import AsyncRedisBackend

            backend = AsyncRedisBackend(redis.asyncio.Redis(host="127.0.0.1", port=args.redis_port))
        server = AsgiServer(build(backend), host, port, lambda: True)  # the same uvicorn as ring serve --asgi
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    factory, _ = event_loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
