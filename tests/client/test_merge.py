"""Per-key merge (ring.web.merge) against a dict model, and through the WSGI middleware.

The property: requests on one session load it at any moment, change keys, and commit at any later
moment, interleaved as Hypothesis chooses; one may log the session out. After every commit the
stored session equals the model, which applies each committed request's changes (keys set, keys
deleted) to what was there at its commit: the later commit wins a key, keys only one request
changed keep that change, and after a logout no save succeeds (SessionInvalidated) and nothing
comes back. Fast: MemoryBackend, no sockets.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ring.errors import SessionInvalidated, SessionStale
from ring.web import merge
from ring.web.memory import MemoryBackend
from ring.web.wsgi import SessionMiddleware


def encode(contents: Any) -> bytes:
    return json.dumps(contents, sort_keys=True, separators=(",", ":")).encode()


def decode(data: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(data)
    return result


KEYS = st.sampled_from("abcd")
CHANGE = st.one_of(st.tuples(st.just("set"), KEYS, st.integers(0, 9)), st.tuples(st.just("del"), KEYS))
STEP = st.one_of(
    st.tuples(st.just("load"), st.integers(0, 3)),
    st.tuples(st.just("change"), st.integers(0, 3), CHANGE),
    st.tuples(st.just("commit"), st.integers(0, 3)),
    st.tuples(st.just("logout"), st.integers(0, 3)),
)


@given(initial=st.dictionaries(KEYS, st.integers(0, 9)), steps=st.lists(STEP, max_size=40))
def test_merged_saves_match_the_dict_model(initial: dict[str, int], steps: list[Any]) -> None:
    backend = MemoryBackend("a", ["a", "b"])
    sid = backend.new_session_id()
    backend.save(sid, 0, encode(initial))
    model: dict[str, int] | None = dict(initial)
    open_requests: dict[int, tuple[int, bytes, dict[str, int]]] = {}  # r -> (version, data, contents)

    for step in steps:
        kind, r = step[0], step[1]
        if kind == "load" and r not in open_requests:
            loaded = backend.load(sid, None)
            if loaded is not None:
                open_requests[r] = (loaded.version, loaded.data, decode(loaded.data))
        elif kind == "change" and r in open_requests:
            contents = open_requests[r][2]
            if step[2][0] == "set":
                contents[step[2][1]] = step[2][2]
            else:
                contents.pop(step[2][1], None)
        elif kind == "commit" and r in open_requests:
            version, data, contents = open_requests.pop(r)
            change = merge.delta(decode(data), contents)
            try:
                merge.save_merging(backend, sid, version, data, change, contents, encode=encode, decode=decode)
            except SessionInvalidated:
                assert model is None, "a save was refused although nobody logged out"
                continue
            assert model is not None, "a save succeeded after the logout"
            model = change.apply(model)
        elif kind == "logout" and r in open_requests:
            version = open_requests.pop(r)[0]
            backend.invalidate(sid, version)
            model = None
        stored = backend.load(sid, None)
        assert (decode(stored.data) if stored is not None else None) == model


def test_an_assignment_of_an_equal_value_still_wins_the_key() -> None:
    change = merge.delta({"a": 1}, {"a": 1}, assigned={"a"})
    assert change.apply({"a": 2}) == {"a": 1}
    assert not merge.delta({"a": 1}, {"a": 1})


def test_a_nested_change_is_part_of_the_delta() -> None:
    assert merge.delta({"cart": [1]}, {"cart": [1, 2]}).set == {"cart": [1, 2]}


class Interloper(MemoryBackend):
    """Another request commits between this request's reload and its retry, a few times."""

    def __init__(self, times: int) -> None:
        super().__init__("a", ["a"])
        self.times = times

    def save(self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False, lifetime: float | None = None) -> Any:
        if self.times and base_version > 0:
            self.times -= 1
            newest = self.load(session_id, None)
            assert newest is not None
            super().save(session_id, newest.version, encode({**decode(newest.data), f"other{self.times}": 1}))
        return super().save(session_id, base_version, data, touch_only=touch_only)


def test_the_retry_re_applies_the_delta_to_every_newer_version() -> None:
    backend = Interloper(times=3)
    sid = backend.new_session_id()
    backend.save(sid, 0, b"{}")
    backend.times = 3
    change = merge.Delta({"mine": 1}, frozenset())
    merged = merge.save_merging(backend, sid, 1, b"{}", change, {"mine": 1}, encode=encode, decode=decode)
    assert merged.contents == {"mine": 1, "other0": 1, "other1": 1, "other2": 1}


def test_contention_past_the_bound_is_unavailable_not_a_lost_write() -> None:
    backend = Interloper(times=100)
    sid = backend.new_session_id()
    backend.save(sid, 0, b"{}")
    try:
        merge.save_merging(backend, sid, 1, b"{}", merge.Delta({"x": 1}, frozenset()), {"x": 1},
                           encode=encode, decode=decode, attempts=3)
    except Exception as exc:  # noqa: BLE001
        assert type(exc).__name__ == "SessionUnavailable"
    else:
        raise AssertionError("expected SessionUnavailable")


def test_memory_backend_refuses_a_stale_base() -> None:
    backend = MemoryBackend("a", ["a"])
    sid = backend.new_session_id()
    backend.save(sid, 0, b"{}")
    backend.save(sid, 1, b'{"a":1}')
    try:
        backend.save(sid, 1, b'{"b":1}')
    except SessionStale:
        pass
    else:
        raise AssertionError("expected SessionStale")
    assert backend.save(sid, 1, b'{"a":1}', touch_only=True).version == 2  # a touch is not conditional


def test_two_concurrent_requests_through_the_middleware_keep_both_keys() -> None:
    """The review's experiment: two parallel requests, each setting its own key after both loaded."""
    backend = MemoryBackend("a", ["a", "b"])
    both_loaded = threading.Barrier(2, timeout=10)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = environ["ring.session"]
        key = environ["PATH_INFO"].strip("/")
        if key != "start":
            session.get("count")
            both_loaded.wait()
        session[key] = 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wsgi = SessionMiddleware(app, backend, members=["a", "b"])

    def call(path: str, cookie: str = "") -> list[str]:
        headers: list[str] = []
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "HTTP_COOKIE": cookie, "wsgi.input": None}
        wsgi(environ, lambda status, h, exc=None: headers.extend(v for k, v in h if k == "Set-Cookie"))
        return headers

    cookies = call("/start")
    cookie = "; ".join(c.split(";", 1)[0] for c in cookies)
    threads = [threading.Thread(target=call, args=(f"/{k}", cookie)) for k in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    sid = next(c.split("=", 1)[1].split(";")[0] for c in cookies if c.startswith("RINGSESSION="))
    stored = backend.load(sid, None)
    assert stored is not None and decode(stored.data) == {"start": 1, "x": 1, "y": 1}
