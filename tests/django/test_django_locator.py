"""ring.django.middleware.RingSessionMiddleware: the locator cookie is sent, read as the load's
hint, refreshed when it changes, ignored when forged, and deleted at logout."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from django_backends import SHARED_BACKEND

from ring.backend import Locator
from ring.django.middleware import RingSessionMiddleware
from ring.web import locator as locator_codec

MEMBERS = ["a", "b", "c"]
KEY = "locator secret"


class Spy:
    """The shared in-memory backend, recording the hint of every load."""

    def __init__(self) -> None:
        self.hints: list[Locator | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(SHARED_BACKEND, name)

    def load(self, session_id: str, hint: Locator | None) -> Any:
        self.hints.append(hint)
        return SHARED_BACKEND.load(session_id, hint)


def view(request: HttpRequest) -> HttpResponse:
    if request.path == "/login":
        request.session["user"] = "alice"
    elif request.path == "/logout":
        request.session.flush()
    return HttpResponse(str(request.session.get("user")))


@pytest.fixture()
def spy() -> Any:
    s = Spy()
    with override_settings(RING_SESSIONS={"BACKEND": s, "MEMBERS": MEMBERS, "LOCATOR_KEY": KEY}):
        yield s


def call(path: str, cookies: dict[str, str]) -> HttpResponse:
    request = RequestFactory().get(path)
    request.COOKIES.update(cookies)
    return RingSessionMiddleware(view)(request)


def test_the_locator_is_sent_then_read_as_the_hint_and_deleted_at_logout(spy: Spy) -> None:
    first = call("/login", {})
    sid = first.cookies["sessionid"].value
    where = locator_codec.decode(first.cookies["CLUSTERSESSIONLOCATOR"].value, KEY, frozenset(MEMBERS))
    assert where == Locator("a", "b")
    cookies = {"sessionid": sid, "CLUSTERSESSIONLOCATOR": first.cookies["CLUSTERSESSIONLOCATOR"].value}

    second = call("/", cookies)
    assert second.content == b"alice"
    assert spy.hints[-1] == where
    assert "CLUSTERSESSIONLOCATOR" not in second.cookies  # unchanged: nothing to say

    forged = locator_codec.encode(Locator("c", "a"), "another key")
    third = call("/", {"sessionid": sid, "CLUSTERSESSIONLOCATOR": forged})
    assert third.content == b"alice"
    assert spy.hints[-1] is None  # a forged locator is no hint
    assert locator_codec.decode(third.cookies["CLUSTERSESSIONLOCATOR"].value, KEY, frozenset(MEMBERS)) == where

    out = call("/logout", cookies)
    assert out.cookies["sessionid"]["max-age"] == 0
    assert out.cookies["CLUSTERSESSIONLOCATOR"]["max-age"] == 0
    assert call("/", {"sessionid": sid}).content == b"None"  # the logout holds


def test_without_members_no_locator_cookie_is_read_or_sent() -> None:
    s = Spy()
    with override_settings(RING_SESSIONS={"BACKEND": s}):
        first = call("/login", {})
        assert "CLUSTERSESSIONLOCATOR" not in first.cookies
        forged = locator_codec.encode(Locator("c", "a"), None)
        call("/", {"sessionid": first.cookies["sessionid"].value, "CLUSTERSESSIONLOCATOR": forged})
        assert s.hints[-1] is None


def test_a_bad_locator_cookie_name_is_refused_at_start() -> None:
    with override_settings(RING_SESSIONS={"MEMBERS": MEMBERS, "LOCATOR_COOKIE": "bad name"}):
        with pytest.raises(ValueError, match="not a valid token"):
            RingSessionMiddleware(view)
