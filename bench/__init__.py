"""`python -m bench` (`make bench`): the engine against the alternatives, side by side in one run.

Everything the run needs is set up by it and stopped by it (whatever happens): three local
redis-servers without persistence (a standalone one for SET, a primary with one replica for
SET+WAIT), `ring serve` processes for backups and hosted apps, and the waitress processes of the
Redis-backed and in-memory demo apps. The primaries of the save rows are Engines in this process,
on one background event loop, called from worker threads through EngineBackend exactly as the WSGI
middleware calls them.

Rows run in interleaved rounds (every row once per round, default 3 rounds); each metric is the
median over the rounds. Output: a markdown table on stdout, JSON in bench/results/latest.json, the
logs of every process in bench/results/logs/. Compare numbers inside one run only.

Modules: cli (options, rounds, output), procs (processes, server.xml, /proc), loophost (the
event-loop thread that hosts Engines), measure (threaded/async drivers, percentiles), saves (rows 1,
2 and 6), floor (a bare grpc.aio stream of the engine's shape, shown next to row 1 as the transport
floor), web (row 3), resync (rows 4 and 5), report (medians, targets, markdown, JSON), redis_backend
and webapp (the Redis-backed SessionBackend and its HTTP process).
"""
