"""ring.django.sessions: Django's own SessionTestsMixin against the engine, plus what it adds.

The mixin comes from Django's sdist (tests/django/conftest.py fetches it); it runs here against
an in-memory cluster (MemoryBackend: the port's semantics, adoption included). Skipped from the
mixin: nothing.
"""

from __future__ import annotations

import pytest

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
