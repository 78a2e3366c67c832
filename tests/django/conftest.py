"""Django for these tests: settings, and Django's own session tests fetched from its sdist.

`SessionTestsMixin` lives in tests/sessions_tests/tests.py of Django's source distribution on
PyPI (not in the wheel). It is fetched once with `pip download` for the installed Django version
and extracted beside the virtualenv (never into this repository); without network or pip the
Django suite is skipped with the reason.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

django = pytest.importorskip("django")

CACHE = Path(sys.prefix) / "ring-test-data"


def fetch_django_tests() -> Path | None:
    """The directory holding Django's `sessions_tests` package (fetched on first use)."""
    version = django.get_version()
    root = CACHE / f"django-{version}-tests"
    if (root / "sessions_tests" / "tests.py").exists():
        return root
    with tempfile.TemporaryDirectory() as download:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"django=={version}", "--no-binary", ":all:",
             "--no-deps", "--no-build-isolation", "--quiet", "-d", download],
            capture_output=True, timeout=300)
        archives = list(Path(download).glob("*.tar.gz"))
        if done.returncode != 0 or not archives:
            return None
        prefix = f"django-{version}/tests/sessions_tests/"
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archives[0]) as tar:
            for member in tar.getmembers():
                if member.name.startswith(prefix) and member.isfile():
                    member.name = "sessions_tests/" + member.name[len(prefix):]
                    tar.extract(member, root, filter="data")
    return root


DJANGO_TESTS = fetch_django_tests()
if DJANGO_TESTS is not None:
    sys.path.insert(0, str(DJANGO_TESTS))

from django.conf import settings  # noqa: E402
from django_backends import BACKENDS, async_twin  # noqa: E402

if not settings.configured:
    settings.configure(
        SECRET_KEY="ring-tests-secret-key-not-for-production",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions",
                        *(["sessions_tests"] if DJANGO_TESTS is not None else [])],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        SESSION_ENGINE="ring.django.sessions",
        RING_SESSIONS={"BACKEND": BACKENDS, "ASYNC_BACKEND": async_twin},
        USE_TZ=True,
    )
    django.setup()
