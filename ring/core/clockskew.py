"""The clock check, as arithmetic: how far this host's wall clock is from another, and whether
that is too far to start or to join.

Theory of operation. Wall time matters to the ring in one place only, session expiry
(last_access + max_inactive), but there it matters across instances: a backup whose clock runs
ahead expires orphans early, one that runs behind resurrects sessions the owner already expired.
So an instance refuses to start when NTP says its clock is off, and refuses to join when a peer's
clock disagrees with its own, by more than the configured maximum skew.

Sign convention (the same as NTP and ntplib): an offset is `reference - local`, the correction
this host would have to apply. Positive means the local clock is *behind* the reference.

Measurement error: a peer's timestamp was taken at an unknown moment within the round trip, so an
estimate is only good to +-rtt/2. A verdict refuses only when the skew exceeds the limit even
after granting that error: a false refusal stops an instance that would have been fine, and the
error is small next to any sensible limit (NTP answers time out after a couple of seconds).

Pure: the shell (ring.io.ntp, the join path) reads the clocks and the network and passes numbers in.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

_FIX = (
    "synchronize this host's clock (chronyc makestep / systemctl restart systemd-timesyncd) "
    "or raise <max-clock-skew> in server.xml"
)


@dataclass(frozen=True, slots=True)
class ClockVerdict:
    """Whether the clock check passed; `message` says what was measured, and on refusal what to do."""

    ok: bool
    offset: float  # reference - local, seconds (NaN when nothing was measured)
    limit: float  # the maximum skew it was judged against, seconds
    message: str


@dataclass(frozen=True, slots=True)
class NtpResult:
    """One NTP server's answer: `offset` (reference - local) and its error bound, or why none."""

    server: str
    offset: float | None = None
    error: float = 0.0
    failure: str = ""  # set when offset is None: "timed out", "name not resolved", ...

    @property
    def answered(self) -> bool:
        return self.offset is not None


def peer_offset(t_send: float, t_peer: float, t_recv: float) -> tuple[float, float]:
    """Estimate a peer's clock offset from one round trip; return (offset, error).

    t_send and t_recv are this host's wall clock when the request left and the reply arrived;
    t_peer is the peer's wall clock when it answered. Assuming the peer answered half-way through
    the round trip, offset = t_peer - midpoint, and it is wrong by at most rtt/2.
    """
    if t_recv < t_send:
        raise ValueError(f"reply received ({t_recv}) before the request was sent ({t_send})")
    rtt = t_recv - t_send
    return t_peer - (t_send + rtt / 2), rtt / 2


def verdict(
    offset: float, error: float, limit: float, *, source: str = "the reference clock"
) -> ClockVerdict:
    """Judge a measured offset (+-error) against the maximum skew `limit` (all in seconds).

    `source` names what the clock was compared with ("pool.ntp.org", "peer b") for the message.
    """
    if limit < 0:
        raise ValueError(f"the clock skew limit must not be negative, got {limit}")
    if error < 0:
        raise ValueError(f"a measurement error must not be negative, got {error}")
    direction = "behind" if offset > 0 else "ahead of"
    measured = f"clock is {abs(offset):.2f} s {direction} {source}"
    uncertainty = f"+/- {error:.2f} s, " if error >= 0.005 else ""
    if abs(offset) - error > limit:
        return ClockVerdict(False, offset, limit, f"{measured} ({uncertainty}limit {limit:.2f} s): {_FIX}")
    return ClockVerdict(True, offset, limit, f"{measured} ({uncertainty}limit {limit:.2f} s): ok")


def summarize_ntp(results: Sequence[NtpResult], limit: float) -> ClockVerdict:
    """Decide from several NTP servers' answers: refuse if none answered, else judge the median.

    The median, not the mean, so that one bad server (a falseticker) cannot move the estimate.
    """
    answers = [r for r in results if r.offset is not None]
    if not answers:
        tried = ", ".join(f"{r.server} ({r.failure or 'no answer'})" for r in results) or "none was asked"
        message = (
            f"no NTP server answered: {tried}; check <ntp-server> in server.xml or the network "
            "(UDP port 123), or remove <ntp-server> to skip the NTP check"
        )
        return ClockVerdict(False, float("nan"), limit, message)
    answers.sort(key=lambda r: r.offset if r.offset is not None else 0.0)
    middle = answers[(len(answers) - 1) // 2 : len(answers) // 2 + 1]  # one, or the two middle ones
    offset = statistics.fmean(r.offset for r in middle if r.offset is not None)
    error = max(r.error for r in middle)
    if len(answers) == 1:
        source = answers[0].server
    else:
        source = f"the median of {len(answers)} NTP servers ({', '.join(r.server for r in answers)})"
    return verdict(offset, error, limit, source=source)
