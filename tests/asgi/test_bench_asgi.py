"""bench.asgi_http reads wrk's report right (the run itself is `python -m bench.asgi_http`)."""

from __future__ import annotations

from bench.asgi_http import parse_wrk

WRK = """Running 2s test @ http://127.0.0.1:8000/incr
  8 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.61ms    1.01ms  20.00ms   90.00%
  Latency Distribution
     50%  812.00us
     75%    3.00ms
     90%    3.50ms
     99%    1.20s
  6000 requests in 2.00s, 1.00MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   2910.50
Transfer/sec:    500.00KB
"""


def test_parse_wrk() -> None:
    assert parse_wrk(WRK) == {"rps": 2910.5, "p50_us": 812.0, "p99_us": 1.2e6, "requests": 6000,
                              "non_2xx": 3, "socket_errors": 3}
