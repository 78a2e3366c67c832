"""The locator cookie: which instances hold a session, so a failed-over request finds it fast.

Value: ``<b64url(primary)>.<b64url(backup)>[.<mac>]``, base64url without padding, where
``mac = b64url(HMAC-SHA256(key, "primary|backup"))[:22]`` when a key is configured. Load balancers
may read it for stickiness; instances read it as a hint for adoption.

It comes from the client, so decode() trusts nothing: anything garbled, oversized, forged (a bad or
missing mac while a key is set) or naming an instance outside the member set gives None, and the
request proceeds as if no locator was sent. A valid locator is still only a hint: the backend checks
who really holds the session. Without a key, a mac segment is ignored (it cannot be checked), which
lets a cluster turn signing off without rejecting cookies already out there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from ring.backend import Locator

MAX_VALUE_CHARS = 512  # well above two instance ids; bounds the work done on hostile input
MAC_CHARS = 22  # 132 bits of HMAC-SHA256 in base64url

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def encode(locator: Locator, key: str | None) -> str:
    """The cookie value for locator, signed when key is set."""
    parts = [_b64(locator.primary), _b64(locator.backup)]
    if key is not None:
        parts.append(_mac(key, locator.primary, locator.backup))
    return ".".join(parts)


def decode(value: str | None, key: str | None, members: frozenset[str]) -> Locator | None:
    """The locator in value, or None when it is absent, garbled, forged, oversized or foreign."""
    if not value or len(value) > MAX_VALUE_CHARS:
        return None
    parts = value.split(".")
    if len(parts) not in (2, 3):
        return None
    primary = _unb64(parts[0])
    backup = _unb64(parts[1])
    if primary is None or backup is None:
        return None
    if key is not None:
        if len(parts) != 3:
            return None
        sent = parts[2]
        # compare_digest refuses non-ASCII str; the charset check keeps it ASCII and the length
        # check keeps a short mac from matching a prefix.
        if len(sent) != MAC_CHARS or _B64URL.fullmatch(sent) is None:
            return None
        if not hmac.compare_digest(sent, _mac(key, primary, backup)):
            return None
    if not primary or primary not in members:
        return None
    if backup and backup not in members:
        return None
    return Locator(primary=primary, backup=backup)


def _mac(key: str, primary: str, backup: str) -> str:
    digest = hmac.new(key.encode("utf-8"), f"{primary}|{backup}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:MAC_CHARS]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _unb64(part: str) -> str | None:
    """The text in one unpadded base64url segment; None unless it is the canonical encoding."""
    if _B64URL.fullmatch(part) is None or len(part) % 4 == 1:
        return None
    try:
        text = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    # Non-canonical spellings (stray low bits in the last character) would make two cookie values
    # mean one locator; only the one encode() produces is accepted.
    if _b64(text) != part:
        return None
    return text
