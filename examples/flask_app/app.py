"""A Flask app whose sessions live in the ring: run it under gunicorn next to `ring serve`.

    RING_SOCKET=./a.sock gunicorn -w 3 -c examples/flask_app/gunicorn.conf.py examples.flask_app.app:app

Routes: POST /login?user=NAME (regenerates the id), POST /incr, GET /whoami, POST /logout.
The only ring-specific lines are the import and `RingSession(app)`; the socket comes from
$RING_SOCKET (or app.config["RING_SOCKET"]).
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request, session

from ring.flask import RingSession

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get("FLASK_SECRET_KEY", "change-me-in-production")
RingSession(app)


@app.post("/login")
def login():  # type: ignore[no-untyped-def]
    app.session_interface.regenerate(session)  # a new id at login (session fixation)
    session["user"] = request.args.get("user", "anonymous")
    return jsonify(user=session["user"])


@app.post("/incr")
def incr():  # type: ignore[no-untyped-def]
    session["count"] = session.get("count", 0) + 1
    return jsonify(count=session["count"], user=session.get("user"), pid=os.getpid())


@app.get("/whoami")
def whoami():  # type: ignore[no-untyped-def]
    return jsonify(user=session.get("user"), count=session.get("count"), pid=os.getpid())


@app.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    session.clear()  # deleted everywhere; a racing request cannot bring it back
    return jsonify(user=None)
