"""A minimal Django project whose sessions live in the ring (no database needed).

    RING_SOCKET=./a.sock DJANGO_SETTINGS_MODULE=examples.django_app.settings \
        gunicorn -w 3 --preload examples.django_app.wsgi:application

The ring-specific settings are SESSION_ENGINE, RING_SESSIONS and the middleware (Django's,
plus the locator cookie).
"""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "change-me-in-production")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.sessions"]
MIDDLEWARE = ["ring.django.middleware.RingSessionMiddleware"]  # Django's, plus the locator cookie
ROOT_URLCONF = "examples.django_app.urls"
DATABASES: dict = {}
USE_TZ = True

SESSION_ENGINE = "ring.django.sessions"
RING_SESSIONS = {"SOCKET": os.environ.get("RING_SOCKET", ""),  # "" -> $RING_SOCKET
                 "MEMBERS": ["a", "b"],  # examples/server.xml's instances: the locator cookie names them
                 "LOCATOR_KEY": os.environ.get("RING_LOCATOR_KEY") or None}
