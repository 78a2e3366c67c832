"""The NTP clock check against a real (loopback) NTP responder: the network half of the clock check.

Every query uses a 0.3 s timeout so the whole file runs in about a second. Offsets are injected by
the responder and compared with what was measured; nothing asserts on absolute time.
"""

from __future__ import annotations

import pytest
from ntp_responder import NtpResponder

from ring.errors import ClockSkewError
from ring.io.ntp import check_ntp, query_server, raise_if_refused, split_server

TIMEOUT = 0.3
TOLERANCE = 0.2


def test_offset_below_the_limit_passes() -> None:
    with NtpResponder(offset=0.4) as server:
        verdict = check_ntp([server], limit=1.0, timeout=TIMEOUT)
    assert verdict.ok, verdict.message
    assert verdict.offset == pytest.approx(0.4, abs=TOLERANCE)
    raise_if_refused(verdict)  # does not raise


def test_offset_above_the_limit_refuses_and_says_by_how_much() -> None:
    with NtpResponder(offset=-4.2) as server:  # server 4.2 s behind: our clock is ahead
        verdict = check_ntp([server], limit=1.0, timeout=TIMEOUT)
    assert not verdict.ok
    assert verdict.offset == pytest.approx(-4.2, abs=TOLERANCE)
    assert f"{abs(verdict.offset):.2f} s ahead of {server}" in verdict.message
    assert "limit 1.00 s" in verdict.message
    assert "max-clock-skew" in verdict.message
    with pytest.raises(ClockSkewError, match="ahead of") as raised:
        raise_if_refused(verdict)
    assert raised.value.exit_code == 3


def test_clock_behind_is_reported_as_behind() -> None:
    with NtpResponder(offset=3.0) as server:
        verdict = check_ntp([server], limit=1.0, timeout=TIMEOUT)
    assert not verdict.ok
    assert "s behind" in verdict.message


def test_silent_server_refuses_with_no_answer() -> None:
    with NtpResponder(silent=True) as server:
        verdict = check_ntp([server], limit=1.0, timeout=TIMEOUT)
    assert not verdict.ok
    assert verdict.message.startswith("no NTP server answered")
    assert f"{server} (timed out)" in verdict.message
    with pytest.raises(ClockSkewError, match="no NTP server answered"):
        raise_if_refused(verdict)


def test_one_silent_server_of_two_is_enough_to_pass() -> None:
    with NtpResponder(silent=True) as silent, NtpResponder(offset=0.1) as good:
        verdict = check_ntp([silent, good], limit=1.0, timeout=TIMEOUT)
    assert verdict.ok, verdict.message
    assert verdict.offset == pytest.approx(0.1, abs=TOLERANCE)


def test_median_of_three_ignores_one_falseticker() -> None:
    with (
        NtpResponder(offset=0.1) as a,
        NtpResponder(offset=0.2) as b,
        NtpResponder(offset=60.0) as falseticker,
    ):
        verdict = check_ntp([a, b, falseticker], limit=1.0, timeout=TIMEOUT)
    assert verdict.ok, verdict.message
    assert verdict.offset == pytest.approx(0.2, abs=TOLERANCE)


@pytest.mark.parametrize(
    ("options", "failure"),
    [
        ({"stratum": 0}, "kiss-o'-death"),
        ({"leap": 3}, "not synchronized"),
        ({"stratum": 16}, "not synchronized"),
    ],
)
def test_unusable_answers_count_as_no_answer(options: dict[str, int], failure: str) -> None:
    with NtpResponder(**options) as server:
        result = query_server(server, timeout=TIMEOUT)
    assert not result.answered
    assert failure in result.failure


def test_unresolvable_and_malformed_servers_raise_nothing() -> None:
    verdict = check_ntp(["no-such-host.invalid", "127.0.0.1:notaport"], limit=1.0, timeout=TIMEOUT)
    assert not verdict.ok
    assert "no-such-host.invalid (name not resolved)" in verdict.message
    assert "bad port" in verdict.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pool.ntp.org", ("pool.ntp.org", 123)),
        ("127.0.0.1:1123", ("127.0.0.1", 1123)),
        ("[::1]:1123", ("::1", 1123)),
        ("[::1]", ("::1", 123)),
        ("fe80::1", ("fe80::1", 123)),
    ],
)
def test_split_server(text: str, expected: tuple[str, int]) -> None:
    assert split_server(text) == expected
