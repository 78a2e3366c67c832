"""The iPlanet stories (ring.testing.stories) against their golden transcripts, and `ring simulate`.

A transcript is the review of a story: when the core changes what the ring does, the diff shows
how, and a reviewer reads the new transcript before accepting it. To accept new transcripts, run

    RING_REWRITE_TRANSCRIPTS=1 .venv/bin/python -m pytest -q tests/scenarios

and read the diff of tests/scenarios/expected/ before committing it.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

import pytest

from ring.cli import main
from ring.commands import simulate
from ring.errors import ScenarioFailed, ScenarioTooSmall
from ring.testing import SCENARIOS, Scenario, run_scenario
from ring.testing.stories import start_ring

EXPECTED = Path(__file__).resolve().parent / "expected"
REWRITE = os.environ.get("RING_REWRITE_TRANSCRIPTS") == "1"

@pytest.mark.parametrize("name", list(SCENARIOS))
def test_transcript_matches_the_golden_copy(name: str) -> None:
    lines = run_scenario(name)
    path = EXPECTED / f"{name}.txt"
    text = "\n".join(lines) + "\n"
    if REWRITE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"no golden transcript {path}: run with RING_REWRITE_TRANSCRIPTS=1, then read it")
    expected = path.read_text()
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), lines, f"expected/{name}.txt", "this run", lineterm="")
        pytest.fail(
            f"the {name} transcript changed (accept with RING_REWRITE_TRANSCRIPTS=1 after reading it):\n"
            + "\n".join(diff), pytrace=False)


def test_every_golden_transcript_belongs_to_a_scenario() -> None:
    stale = sorted(p.stem for p in EXPECTED.glob("*.txt") if p.stem not in SCENARIOS)
    assert not stale, f"golden transcripts without a scenario: {stale}"


def test_a_transcript_is_the_same_on_every_run() -> None:
    assert run_scenario("orphan-adoption") == run_scenario("orphan-adoption")


RINGS = [("x", "y"), ("web1:1099", "web2:1099", "web3:1099"), ("a", "b", "c", "d", "e"), ("d", "c", "b", "a")]
PLAYABLE = [
    pytest.param(name, order, id=f"{name}-{','.join(order)}")
    for name in SCENARIOS for order in RINGS if len(order) >= SCENARIOS[name].min_instances
]


@pytest.mark.parametrize(("name", "order"), PLAYABLE)
def test_every_story_comes_true_on_any_ring(name: str, order: tuple[str, ...]) -> None:
    lines = run_scenario(name, order)
    assert lines[0].endswith(f"-- the ring starts: {'->'.join(order + order[:1])}")


def test_a_ring_too_small_for_the_story_is_refused() -> None:
    with pytest.raises(ScenarioTooSmall, match="at least 3 instances"):
        run_scenario("failover", ("a", "b"))


def test_a_story_that_does_not_come_true_raises_with_its_transcript(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(sim: object) -> None:
        start_ring(sim)  # type: ignore[arg-type]
        raise AssertionError("the count went backwards")

    monkeypatch.setitem(SCENARIOS, "broken", Scenario("broken", "a story that fails", broken))
    with pytest.raises(ScenarioFailed, match="went backwards") as failure:
        run_scenario("broken")
    assert failure.value.transcript[0].endswith("-- the ring starts: a->b->c->d->a")


# ------------------------------------------------------------------ ring simulate


def test_simulate_lists_the_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(SCENARIOS)


def test_simulate_prints_the_title_and_the_transcript(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "failover"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"== failover: {SCENARIOS['failover'].title}\n")
    assert "\n".join(run_scenario("failover")) in out
    assert out.rstrip().endswith("ok: the story came true")


def _server_xml(tmp_path: Path, *ids: str) -> Path:
    instances = "".join(
        f"<instance><host>127.0.0.1</host><session-replication><port>{17000 + i}</port>"
        f"<instance-id>{name}</instance-id></session-replication></instance>"
        for i, name in enumerate(ids)
    )
    path = tmp_path / "server.xml"
    path.write_text(f"<server><cluster>{instances}</cluster></server>")
    return path


def test_simulate_plays_on_the_ring_of_a_server_xml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _server_xml(tmp_path, "east", "west", "north")
    assert main(["simulate", "--config", str(path), "--scenario", "orphan-adoption"]) == 0
    out = capsys.readouterr().out
    assert "roles A=east B=west C=north D=north" in out
    assert "north: adopts s1 from west" in out


def test_simulate_refuses_a_ring_too_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _server_xml(tmp_path, "east", "west")
    assert main(["simulate", "--config", str(path), "--scenario", "failover"]) == 2
    assert "at least 3 instances" in capsys.readouterr().err


def test_simulate_reports_a_bad_config_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "server.xml"
    path.write_text("<server><cluster><bogus/></cluster></server>")
    assert main(["simulate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_simulate_without_a_server_xml_reader_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ring.serverxml", None)  # the import fails
    args = argparse.Namespace(config=str(tmp_path / "server.xml"), scenario=None, list=False)
    assert simulate.run(args) == 2
    assert "server.xml support is unavailable" in capsys.readouterr().err


def test_simulate_rejects_an_unknown_scenario() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--scenario", "nope"])
    assert exit_.value.code == 2


def test_simulate_exits_1_when_a_story_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(sim: object) -> None:
        raise AssertionError("the count went backwards")

    monkeypatch.setitem(SCENARIOS, "broken", Scenario("broken", "fails", broken))
    assert main(["simulate", "--scenario", "broken"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("== broken: fails\n")
    assert "FAILED: the count went backwards" in out
