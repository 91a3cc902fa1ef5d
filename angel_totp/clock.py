"""How far this machine's clock is from Angel One's, from replies' ``Date`` headers.

A Date (whole seconds) is stamped between the request's sending and the reply's
arrival, so each reply bounds the offset (local minus server) to
[sent - (date + 1), received - date]; the bounds of several replies intersect.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import NamedTuple

WARN_OFFSET_S = 10.0
LAST_DATE = 253402214400  # 9999-12-30: a day before the codes end


class ClockOffset(NamedTuple):
    """Local clock minus Angel One's, in seconds: somewhere in [low, high]."""

    low: float
    high: float

    @property
    def estimate(self) -> float:
        return (self.low + self.high) / 2

    @property
    def uncertainty(self) -> float:
        return (self.high - self.low) / 2

    def server_now(self) -> float:
        """Angel One's time now, as best known (with ``uncertainty``, for ``fresh_code``)."""
        return time.time() - self.estimate

    def is_far_off(self, limit: float = WARN_OFFSET_S) -> bool:
        return abs(self.estimate) > limit

    def describe(self) -> str:
        """``12.3 s ahead of Angel One's (±0.6 s)``"""
        estimate = self.estimate
        if abs(estimate) < 0.05:
            side = "in step with Angel One's"
        else:
            side = f"{abs(estimate):.1f} s {'ahead of' if estimate > 0 else 'behind'} Angel One's"
        return f"{side} (±{self.uncertainty:.1f} s)"


def offset_from_reply(sent: float, received: float, date_header: str | None) -> ClockOffset | None:
    """The bound one reply gives, or None without a usable Date header."""
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header)
        stamp = server.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    # A Date without a zone names no instant; no code exists for one out of range.
    if server.tzinfo is None or not 0 <= stamp <= LAST_DATE:
        return None
    return ClockOffset(low=sent - (stamp + 1), high=received - stamp)


def combine(bounds: list[ClockOffset]) -> ClockOffset | None:
    """Intersect the bounds; if they disagree (a clock step mid-run), keep the latest."""
    if not bounds:
        return None
    low = max(b.low for b in bounds)
    high = min(b.high for b in bounds)
    if low > high:
        return bounds[-1]
    return ClockOffset(low, high)
