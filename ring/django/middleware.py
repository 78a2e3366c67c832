"""Django's SessionMiddleware plus the ring's locator cookie (where a session lives).

    MIDDLEWARE = [..., "ring.django.middleware.RingSessionMiddleware", ...]  # instead of Django's
    RING_SESSIONS = {"SOCKET": ..., "MEMBERS": ["a", "b", "c"], "LOCATOR_KEY": "a shared secret"}

Everything Django's own middleware does is unchanged (it is the base class). In addition, the
locator cookie a browser sends is decoded (untrusted: garbled, forged or foreign values are
ignored, ring.web.locator) and given to the session store as the hint for its load, so a request
that fails over to another host finds the session's holders at once; and the response carries the
locator again whenever it changed (after a login, an adoption or a failover), or deletes it with
the session cookie at logout. RING_SESSIONS keys: MEMBERS (the instance ids of server.xml; without
them no locator cookie is read or sent), LOCATOR_COOKIE (default "CLUSTERSESSIONLOCATOR"),
LOCATOR_KEY (signs the cookie; the same value on every host). The cookie has the session cookie's
path, domain, Secure, SameSite and lifetime.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse

from ring.web import locator as locator_codec
from ring.web.wsgi import check_cookie_options

DEFAULT_LOCATOR_COOKIE = "CLUSTERSESSIONLOCATOR"


class RingSessionMiddleware(SessionMiddleware):
    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        conf: dict[str, Any] = getattr(settings, "RING_SESSIONS", {}) or {}
        self.members = frozenset(conf.get("MEMBERS") or ())
        self.locator_cookie = str(conf.get("LOCATOR_COOKIE") or DEFAULT_LOCATOR_COOKIE)
        self.locator_key: str | None = conf.get("LOCATOR_KEY") or None
        check_cookie_options(settings.SESSION_COOKIE_NAME, self.locator_cookie, settings.SESSION_COOKIE_PATH,
                             session_argument="SESSION_COOKIE_NAME")

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        if self.members and hasattr(request.session, "hint"):
            request.session.hint = locator_codec.decode(  # type: ignore[attr-defined]
                request.COOKIES.get(self.locator_cookie), self.locator_key, self.members)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response = super().process_response(request, response)
        session = getattr(request, "session", None)
        if not self.members or session is None or not hasattr(session, "locator"):
            return response
        name = settings.SESSION_COOKIE_NAME
        sent = self.locator_cookie in request.COOKIES
        deleted = name in response.cookies and response.cookies[name]["max-age"] == 0
        if deleted or (session.session_key is None and sent):
            if sent:
                response.delete_cookie(self.locator_cookie, path=settings.SESSION_COOKIE_PATH,
                                       domain=settings.SESSION_COOKIE_DOMAIN,
                                       samesite=settings.SESSION_COOKIE_SAMESITE)
            return response
        where = session.locator
        if where is None or session.session_key is None or (where == session.hint and sent):
            return response  # nothing new to say (or nothing in the ring yet)
        max_age = None if session.get_expire_at_browser_close() else session.get_expiry_age()
        response.set_cookie(
            self.locator_cookie, locator_codec.encode(where, self.locator_key), max_age=max_age,
            path=settings.SESSION_COOKIE_PATH, domain=settings.SESSION_COOKIE_DOMAIN,
            secure=settings.SESSION_COOKIE_SECURE or None, httponly=settings.SESSION_COOKIE_HTTPONLY or None,
            samesite=settings.SESSION_COOKIE_SAMESITE)
        return response
