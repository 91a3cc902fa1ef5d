"""Codes and time: the code for an instant, how long it lasts, and a fresh one, still
valid when Angel One's login gets it at either end of the clock's uncertainty."""

import hashlib
import math
import time
from collections.abc import Callable
from typing import NamedTuple

from .checks import check_function, check_min_validity, check_seconds
from .errors import AngelTotpError, InvalidInputError
from .hidden import Hidden
from .secret import TotpSecret, hide_secret, parse_secret

DEFAULT_MIN_VALIDITY = 5  # seconds a fresh code must still be valid for
MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z: the last second a time may name
_AFTER_9999 = "the time is after 9999-12-31T23:59:59Z"
_NOT_A_TIME = ("not a Unix timestamp or an ISO 8601 time "
               "(examples: 1111111109, 2005-03-18T01:58:29Z)")
_WAIT_MARGIN = 0.05  # past a step boundary, so that the clock is surely in the new step


class Code(NamedTuple):
    """One TOTP code and the window in which it is valid (``valid_from`` to ``valid_until``,
    Unix seconds), made for the instant ``at``; ``otp`` is hidden, :attr:`totp` its text."""

    otp: Hidden
    at: float
    valid_from: int
    valid_until: int
    period: int
    digits: int
    algorithm: str

    @property
    def totp(self) -> str:
        return self.otp.reveal()

    @property
    def seconds_left(self) -> float:
        return self.valid_until - self.at

    @property
    def valid_for(self) -> int:
        """Whole seconds left, rounded down so it never overstates."""
        return math.floor(self.seconds_left)

    def valid_until_iso(self) -> str:
        # The last step's a second early: year 10000 has no ISO 8601 form.
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(min(self.valid_until, MAX_TIME)))

    def as_json_dict(self) -> dict[str, str | int]:
        return {
            "totp": self.totp,
            "valid_for": self.valid_for,
            "valid_until": self.valid_until_iso(),
            "period": self.period,
            "digits": self.digits,
            "algorithm": self.algorithm,
        }


def code_at(secret: TotpSecret | str | Hidden, when: float) -> Code:
    """The code valid at Unix time ``when`` (1970 to 9999-12-31T23:59:59Z)."""
    secret = hide_secret(secret)  # from here no frame of ours holds the plain text
    secret = parse_secret(secret)
    when = _check_time(when)
    import pyotp

    # The step's counter directly: pyotp's at() goes through local time, which
    # overflows near the year 9999.
    step = int(when // secret.period)
    otp = Hidden(pyotp.TOTP(secret.base32, digits=secret.digits, interval=secret.period,
                            digest=getattr(hashlib, secret.algorithm.lower())).generate_otp(step))
    return Code(otp, when, step * secret.period, (step + 1) * secret.period, secret.period,
                secret.digits, secret.algorithm)


def fresh_code(
    secret: TotpSecret | str | Hidden,
    min_validity: float = DEFAULT_MIN_VALIDITY,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[Code, float], None] | None = None,
    uncertainty: float = 0.0,
) -> Code:
    """The current code, the same and valid for ``min_validity`` more seconds at both ends
    of ``clock()`` give or take ``uncertainty``; if it is not, ``on_wait(current_code,
    seconds)`` is called, then ``sleep(seconds)`` once, to just past the next code's start."""
    secret = hide_secret(secret)  # from here no frame of ours holds the plain text
    secret = parse_secret(secret)
    period = secret.period
    min_validity = check_min_validity(min_validity, period)
    uncertainty = check_seconds(uncertainty, "uncertainty")
    check_function(clock, "clock")
    check_function(sleep, "sleep")
    if on_wait is not None:
        check_function(on_wait, "on_wait")
    # After one wait the clock stands a margin past the next step's start,
    # with uncertainty either way: what is left must still cover the margin
    # again, for a sleep that overshoots, or the wait would have to repeat.
    if 2 * uncertainty + min_validity > period - 2 * _WAIT_MARGIN:
        raise InvalidInputError(
            f"with the clock known only to within {uncertainty:g} s either way, no "
            f"{period}-second code is sure to have {min_validity:g} s left",
            hint="measure the clock again, or ask for less validity (min_validity)",
            what="uncertainty")
    now = _check_time(clock())
    wait = _wait_needed(now, period, min_validity, uncertainty)
    if wait:
        if on_wait is not None:
            on_wait(code_at(secret, now), wait)
        sleep(wait)
        now = _check_time(clock())
        if _wait_needed(now, period, min_validity, uncertainty):
            raise AngelTotpError(
                "the clock was not past the next code's start after the wait for it "
                "(was it set back, or does it not follow sleep?)", hint="try again")
    return code_at(secret, now)


def _wait_needed(now: float, period: int, min_validity: float, uncertainty: float) -> float:
    # Else until just past the first instant whose whole uncertainty is in the next step.
    early, late = now - uncertainty, now + uncertainty
    step = math.floor(early / period)
    if math.floor(late / period) == step and (step + 1) * period - late >= min_validity:
        return 0.0
    return (step + 1) * period + uncertainty - now + _WAIT_MARGIN


def parse_when(text: str) -> float:
    """Unix seconds from ``1111111109``, ``1111111109.5`` or ISO 8601 with a zone."""
    raw = text.strip()
    if not raw or len(raw) > 64:
        raise InvalidInputError(_NOT_A_TIME, what="time")
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is not None:
        return _check_time(value)
    from datetime import datetime
    iso = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise InvalidInputError(_NOT_A_TIME, what="time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError("the ISO 8601 time needs a zone, for example Z or +05:30",
                                what="time")
    try:
        seconds = moment.timestamp()
    except (OverflowError, ValueError):
        seconds = -1.0  # only year 1 with a zone east of UTC gets here
    return _check_time(seconds)


def _check_time(when: object) -> float:
    if isinstance(when, bool) or not isinstance(when, (int, float)):
        raise InvalidInputError("the time must be a number of Unix seconds", what="time")
    try:
        value = float(when)
    except OverflowError:  # an int beyond any float
        raise InvalidInputError(_AFTER_9999, what="time") from None
    if not math.isfinite(value):
        raise InvalidInputError("the time must be a finite number of seconds", what="time")
    if value < 0:
        raise InvalidInputError("the time is before 1970-01-01", what="time")
    if value >= MAX_TIME + 1:
        for factor, unit in ((1e3, "milliseconds"), (1e6, "microseconds"), (1e9, "nanoseconds")):
            if 1e9 * factor <= value < (MAX_TIME + 1) * factor:  # from 2001 on, in that unit
                raise InvalidInputError(f"{_AFTER_9999}; this looks like {unit}, not seconds",
                                        hint=f"divide by {factor:.0f} for seconds", what="time")
        raise InvalidInputError(_AFTER_9999, what="time")
    return value + 0.0  # -0.0 becomes 0.0
