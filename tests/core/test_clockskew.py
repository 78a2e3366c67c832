"""The clock-check arithmetic: round-trip compensated offsets, verdicts, and the NTP summary."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

import ring.core.clockskew as clockskew
from ring.core.clockskew import ClockVerdict, NtpResult, peer_offset, summarize_ntp, verdict


def test_symmetric_round_trip_measures_the_offset_exactly() -> None:
    # sent at 100.0, peer (5 s ahead) answered at our 100.1, received at 100.2
    offset, error = peer_offset(t_send=100.0, t_peer=105.1, t_recv=100.2)
    assert offset == pytest.approx(5.0)
    assert error == pytest.approx(0.1)


def test_error_bound_covers_an_asymmetric_round_trip() -> None:
    # the peer (offset 0) answered right after we sent: the estimate is off by at most rtt/2
    true_offset = 0.0
    offset, error = peer_offset(t_send=10.0, t_peer=10.0, t_recv=11.0)
    assert abs(offset - true_offset) <= error
    assert error == pytest.approx(0.5)


def test_reply_before_request_is_a_bug_in_the_caller() -> None:
    with pytest.raises(ValueError, match="before the request"):
        peer_offset(t_send=5.0, t_peer=5.0, t_recv=4.0)


def test_within_limit_is_ok() -> None:
    result = verdict(0.3, 0.0, 1.0, source="peer b")
    assert result == ClockVerdict(True, 0.3, 1.0, result.message)
    assert "0.30 s behind peer b" in result.message


def test_refusal_states_offset_limit_and_fix() -> None:
    result = verdict(-4.2, 0.0, 1.0, source="pool.ntp.org")
    assert not result.ok
    assert result.message.startswith("clock is 4.20 s ahead of pool.ntp.org (limit 1.00 s): ")
    assert "chronyc makestep" in result.message
    assert "<max-clock-skew>" in result.message


def test_positive_offset_means_local_clock_is_behind() -> None:
    assert "behind" in verdict(2.0, 0.0, 1.0).message
    assert "ahead of" in verdict(-2.0, 0.0, 1.0).message


def test_measurement_error_gives_the_benefit_of_the_doubt() -> None:
    assert verdict(1.3, 0.4, 1.0).ok  # could be 0.9 s
    refused = verdict(1.5, 0.4, 1.0)  # at least 1.1 s
    assert not refused.ok
    assert "+/- 0.40 s" in refused.message


def test_offset_exactly_at_the_limit_is_ok() -> None:
    assert verdict(1.0, 0.0, 1.0).ok
    assert verdict(-1.0, 0.0, 1.0).ok


@pytest.mark.parametrize(("offset", "error", "limit"), [(0.0, -0.1, 1.0), (0.0, 0.0, -1.0)])
def test_negative_error_or_limit_is_rejected(offset: float, error: float, limit: float) -> None:
    with pytest.raises(ValueError):
        verdict(offset, error, limit)


def test_no_answer_refuses_and_names_every_server() -> None:
    results = [
        NtpResult("a.example", failure="timed out"),
        NtpResult("b.example", failure="name not resolved"),
    ]
    result = summarize_ntp(results, 1.0)
    assert not result.ok
    assert math.isnan(result.offset)
    assert result.message.startswith(
        "no NTP server answered: a.example (timed out), b.example (name not resolved)"
    )
    assert "<ntp-server>" in result.message


def test_empty_result_list_refuses() -> None:
    assert not summarize_ntp([], 1.0).ok


def test_single_answer_is_judged_and_named() -> None:
    result = summarize_ntp([NtpResult("a", failure="timed out"), NtpResult("b", offset=-2.0)], 1.0)
    assert not result.ok
    assert result.offset == -2.0
    assert "ahead of b " in result.message


def test_median_of_odd_count_ignores_a_falseticker() -> None:
    results = [NtpResult("a", offset=0.1), NtpResult("b", offset=500.0), NtpResult("c", offset=0.2)]
    result = summarize_ntp(results, 1.0)
    assert result.ok
    assert result.offset == pytest.approx(0.2)
    assert "median of 3 NTP servers" in result.message


def test_median_of_even_count_averages_the_middle_two() -> None:
    results = [
        NtpResult(name, offset=value, error=0.01)
        for name, value in zip("abcd", [0.0, 1.0, 3.0, 9.0], strict=True)
    ]
    result = summarize_ntp(results, 5.0)
    assert result.offset == pytest.approx(2.0)


def test_the_module_is_pure() -> None:
    forbidden = {"time", "socket", "asyncio", "threading", "random", "grpc", "ntplib"}
    tree = ast.parse(Path(clockskew.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & forbidden
