"""ring.django.sessions: Django's own SessionTestsMixin against the engine, plus what it adds.

The mixin comes from Django's sdist (tests/django/conftest.py fetches it); it runs here against
an in-memory cluster (MemoryBackend: the port's semantics, adoption included). Skipped from the
mixin: nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from django_backends import BACKENDS

from ring.django.sessions import SessionStore

try:
    from sessions_tests.tests import SessionTestsMixin
except ImportError:  # the sdist could not be fetched (no network, no pip)
    SessionTestsMixin = None

from django.contrib.sessions.backends.base import UpdateError  # noqa: E402
from django.test import SimpleTestCase  # noqa: E402

if SessionTestsMixin is not None:

    class RingSessionTests(SessionTestsMixin, SimpleTestCase):  # type: ignore[misc,valid-type]
        backend = SessionStore

    @pytest.mark.integration
    class RingOf3SessionTests(SessionTestsMixin, SimpleTestCase):  # type: ignore[misc,valid-type]
        """The same suite against 3 real `ring serve` daemons; each SessionStore uses the next
        instance's socket, so a test's stores adopt its session back and forth across the ring."""

        backend = SessionStore

        @classmethod
        def setUpClass(cls) -> None:
            sys.path.insert(0, str(Path(__file__).parent.parent / "client"))
            from daemons import Ring

            from ring.client import RingClient

            cls.ring = Ring(("a", "b", "c")).__enter__()
            BACKENDS.clients = [RingClient(cls.ring.socket(i)) for i in ("a", "b", "c")]
            super().setUpClass()

        @classmethod
        def tearDownClass(cls) -> None:
            super().tearDownClass()
            BACKENDS.clients = []
            cls.ring.close()
else:

    def test_django_suite_unavailable() -> None:
        pytest.skip("Django's sessions_tests could not be fetched with pip download (offline?)")


def test_concurrent_saves_of_different_keys_both_survive() -> None:
    s = SessionStore()
    s["start"] = 1
    s.save()
    one, two = SessionStore(s.session_key), SessionStore(s.session_key)
    one["x"], two["y"] = 1, 2  # both loaded the same version
    one.save()
    two.save()
    assert dict(SessionStore(s.session_key).items()) == {"start": 1, "x": 1, "y": 2}
    s.delete()


def test_a_logout_beats_a_racing_save() -> None:
    s = SessionStore()
    s["user"] = "alice"
    s.save()
    racing = SessionStore(s.session_key)
    racing["cart"] = [1]
    racing.load()
    SessionStore(s.session_key).flush()
    with pytest.raises(UpdateError):
        racing.save()
    assert not SessionStore().exists(s.session_key)


def test_keys_are_256_random_bits() -> None:
    s = SessionStore()
    s.save()
    assert s.session_key is not None and len(s.session_key) == 43
    s.delete()


def test_set_expiry_gives_the_session_its_own_lifetime_in_the_ring() -> None:
    from django_backends import SHARED_BACKEND

    asked: list[float | None] = []
    real = SHARED_BACKEND.save

    def recording(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("lifetime"))
        return real(*args, **kwargs)

    SHARED_BACKEND.save = recording  # type: ignore[method-assign]
    try:
        s = SessionStore()
        s["a"] = 1
        s.save()
        s.set_expiry(7200)
        s.save()
        s.set_expiry(0)  # at browser close: the instance's default
        s.save()
    finally:
        del SHARED_BACKEND.save
    assert asked == [None, 7200.0, None]
    s.delete()
