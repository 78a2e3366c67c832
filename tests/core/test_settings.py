"""The core's settings: one set of rules, rendered with field names or server.xml's elements."""

from __future__ import annotations

import pytest

from ring.config import CORE_ELEMENTS
from ring.core.settings import CoreSettings, InvalidSettings


@pytest.mark.parametrize("given, field_message, element_message", [
    ({"ping_interval": 1.0}, "failure_timeout (2 s) must be more than twice ping_interval (1 s)",
     "<failure-timeout> (2 s) must be more than twice <ping-interval> (1 s)"),
    ({"request_timeout": 2.0}, "request_timeout (2 s) must be more than failure_timeout (2 s)",
     "<request-timeout> (2 s) must be more than <failure-timeout> (2 s)"),
    ({"session_timeout": 0.0}, "session_timeout must be a positive number of seconds, got 0",
     "<session-timeout> must be a positive number of seconds, got 0"),
    ({"max_discovery_hops": 0}, "max_discovery_hops must be -1 (no limit) or at least 1, got 0",
     "<replica-discovery-max-hops> must be -1 (no limit) or at least 1, got 0"),
])
def test_a_broken_rule_reads_right_in_both_vocabularies(given: dict[str, float], field_message: str,
                                                         element_message: str) -> None:
    with pytest.raises(InvalidSettings) as caught:
        CoreSettings(**given)  # type: ignore[arg-type]
    assert field_message in str(caught.value)
    assert element_message in caught.value.problems[0].render(CORE_ELEMENTS)


def test_the_defaults_keep_every_rule() -> None:
    assert CoreSettings().problems() == []
    assert CoreSettings(ping_interval=0.25, failure_timeout=0.75, request_timeout=1.0).problems() == []
