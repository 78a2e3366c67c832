"""examples/flask_app with Flask-Session on Redis instead of ring (the bench's comparison).

The same routes; SESSION_TYPE="redis" with a redis-py client on $BENCH_REDIS_PORT (hiredis
parser when installed), as Flask-Session's documentation sets it up.
"""

from __future__ import annotations

import os

import redis
from flask import Flask, jsonify, request, session
from flask_session import Session

app = Flask(__name__)
app.config.update(SECRET_KEY="bench", SESSION_TYPE="redis",
                  SESSION_REDIS=redis.Redis(host="127.0.0.1", port=int(os.environ["BENCH_REDIS_PORT"])))
Session(app)


@app.post("/login")
def login():  # type: ignore[no-untyped-def]
    app.session_interface.regenerate(session)
    session["user"] = request.args.get("user", "anonymous")
    return jsonify(user=session["user"])


@app.post("/incr")
def incr():  # type: ignore[no-untyped-def]
    session["count"] = session.get("count", 0) + 1
    return jsonify(count=session["count"], user=session.get("user"), pid=os.getpid())
