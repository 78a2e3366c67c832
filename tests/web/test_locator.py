"""The locator cookie: round trips, and every kind of bad value decodes to None without raising."""

from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from ring.backend import Locator
from ring.web.locator import MAC_CHARS, MAX_VALUE_CHARS, decode, encode

MEMBERS = frozenset({"web-1", "web-2", "web-3", "ünïcode"})
KEY = "s3cret"


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_round_trip_unsigned_and_signed():
    for loc in (Locator("web-1", "web-2"), Locator("web-3", ""), Locator("ünïcode", "web-1")):
        assert decode(encode(loc, None), None, MEMBERS) == loc
        assert decode(encode(loc, KEY), KEY, MEMBERS) == loc


def test_format_is_documented_one():
    value = encode(Locator("web-1", "web-2"), KEY)
    primary, backup, mac = value.split(".")
    assert (primary, backup) == (b64("web-1"), b64("web-2"))
    digest = hmac.new(KEY.encode(), b"web-1|web-2", hashlib.sha256).digest()
    assert mac == base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]
    assert encode(Locator("web-1", "web-2"), None) == f"{b64('web-1')}.{b64('web-2')}"


def test_forged_or_missing_mac_is_rejected_when_a_key_is_set():
    good = encode(Locator("web-1", "web-2"), KEY)
    primary, backup, mac = good.split(".")
    other = encode(Locator("web-3", "web-2"), KEY).split(".")[2]
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    for value in (
        f"{primary}.{backup}",  # unsigned
        f"{primary}.{backup}.{flipped}",
        f"{primary}.{backup}.{mac[:-1]}",  # short
        f"{primary}.{backup}.{mac}A",  # long
        f"{b64('web-3')}.{backup}.{mac}",  # mac of another locator
        f"{primary}.{backup}.{other}",
        f"{primary}.{backup}.{'é' * MAC_CHARS}",  # non-ASCII: compare_digest would raise
        encode(Locator("web-1", "web-2"), "another key"),
    ):
        assert decode(value, KEY, MEMBERS) is None, value


def test_mac_is_ignored_without_a_key():
    assert decode(encode(Locator("web-1", "web-2"), KEY), None, MEMBERS) == Locator("web-1", "web-2")


def test_ids_outside_the_member_set_are_rejected():
    assert decode(encode(Locator("evil.example:443", ""), None), None, MEMBERS) is None
    assert decode(encode(Locator("web-1", "10.0.0.9"), None), None, MEMBERS) is None
    assert decode(encode(Locator("", "web-1"), None), None, MEMBERS) is None
    # signed by us but naming a member that has since left
    assert decode(encode(Locator("web-9", ""), KEY), KEY, MEMBERS) is None


def test_garbled_values_are_rejected():
    for value in (
        None,
        "",
        ".",
        "..",
        "...",
        "web-1.web-2",  # plain ids, not base64url
        f"{b64('web-1')}",
        f"{b64('web-1')}.{b64('web-2')}.x.y",
        f"{b64('web-1')}=.{b64('web-2')}",  # padding
        f"{b64('web-1')}+.{b64('web-2')}",  # standard alphabet
        f"{b64('web-1')} .{b64('web-2')}",
        "A.AA",  # length 1 mod 4
        "_w.",  # invalid UTF-8
        "\x00\xff.\u2603",
    ):
        assert decode(value, None, MEMBERS) is None, value


def test_non_canonical_base64_is_rejected():
    canonical = b64("web-1")  # "d2ViLTE": the last character carries stray bits when changed
    assert canonical[-1] == "E"
    sloppy = canonical[:-1] + "F"
    assert base64.urlsafe_b64decode(sloppy + "=") == b"web-1"
    assert decode(f"{sloppy}.", None, MEMBERS) is None
    assert decode(f"{canonical}.", None, MEMBERS) == Locator("web-1", "")


def test_oversized_values_are_rejected_before_parsing():
    long_id = "x" * 400
    members = MEMBERS | {long_id}
    value = encode(Locator(long_id, ""), None)
    assert len(value) > MAX_VALUE_CHARS
    assert decode(value, None, members) is None


@given(st.text(max_size=600), st.one_of(st.none(), st.just(KEY)))
def test_decode_never_raises(value, key):
    result = decode(value, key, MEMBERS)
    assert result is None or (result.primary in MEMBERS and result.backup in MEMBERS | {""})


@given(st.sampled_from(sorted(MEMBERS)), st.sampled_from(sorted(MEMBERS | {""})), st.integers(0, 200))
def test_any_single_character_change_of_a_signed_value_is_rejected_or_equal(primary, backup, position):
    value = encode(Locator(primary, backup), KEY)
    position %= len(value)
    for replacement in "A_-.x":
        changed = value[:position] + replacement + value[position + 1 :]
        if changed != value:
            assert decode(changed, KEY, MEMBERS) is None
