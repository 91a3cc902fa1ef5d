"""Codes and time: the code for an instant, how long it lasts, a fresh one.

A code is valid from the start of its time step to the start of the next.
Angel One's login needs the code to still be valid when the request lands,
so :func:`fresh_code` refuses to hand out one that is about to expire and
waits for the next step instead; given how uncertain the clock is (for
example Angel One's clock measured over the network), it hands out a code
only if that holds at both ends of the uncertainty.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from .errors import InvalidInputError
from .secret import ANGEL_ONE_PERIOD, TotpSecret, parse_secret

__all__ = ["Code", "code_at", "fresh_code", "parse_when", "check_min_validity",
           "DEFAULT_MIN_VALIDITY", "MAX_TIME"]

DEFAULT_MIN_VALIDITY = 5
"""Seconds a fresh code must still be valid for, unless told otherwise."""

MAX_TIME = 253402300799
"""9999-12-31T23:59:59Z: the last second a time may name."""

_WAIT_MARGIN = 0.05  # past a step boundary, so that the clock is surely in the new step


class Code:
    """One TOTP code and the window in which it is valid.

    Immutable and comparable. ``totp`` is the code (``"123456"``); ``at`` the
    instant it was made for; ``valid_from`` and ``valid_until`` the start of
    its time step and of the next one (Unix seconds); ``period``, ``digits``
    and ``algorithm`` those of the secret.
    """

    __slots__ = ("_totp", "_at", "_valid_from", "_valid_until", "_period", "_digits",
                 "_algorithm")

    _totp: str
    _at: float
    _valid_from: int
    _valid_until: int
    _period: int
    _digits: int
    _algorithm: str

    def __init__(self, totp: str, at: float, valid_from: int, valid_until: int,
                 period: int, digits: int, algorithm: str) -> None:
        for name, value in (("_totp", totp), ("_at", at), ("_valid_from", valid_from),
                            ("_valid_until", valid_until), ("_period", period),
                            ("_digits", digits), ("_algorithm", algorithm)):
            object.__setattr__(self, name, value)

    @property
    def totp(self) -> str:
        """The code, e.g. ``"123456"``."""
        return self._totp

    @property
    def at(self) -> float:
        """The instant (Unix seconds) the code was made for."""
        return self._at

    @property
    def valid_from(self) -> int:
        """The start of the code's time step (Unix seconds)."""
        return self._valid_from

    @property
    def valid_until(self) -> int:
        """The start of the next time step, when the code expires (Unix seconds)."""
        return self._valid_until

    @property
    def period(self) -> int:
        """Seconds a code lasts."""
        return self._period

    @property
    def digits(self) -> int:
        """Digits in a code."""
        return self._digits

    @property
    def algorithm(self) -> str:
        """The HMAC hash the code was made with."""
        return self._algorithm

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Code is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Code is immutable")

    def _key(self) -> tuple[str, float, int, int, int, int, str]:
        return (self._totp, self._at, self._valid_from, self._valid_until, self._period,
                self._digits, self._algorithm)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Code):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        return (Code, self._key())

    def __repr__(self) -> str:
        return (f"Code(totp={self._totp!r}, valid_from={self._valid_from}, "
                f"valid_until={self._valid_until}, period={self._period})")

    @property
    def seconds_left(self) -> float:
        """Seconds from ``at`` until the code expires."""
        return self._valid_until - self._at

    @property
    def valid_for(self) -> int:
        """Whole seconds left, rounded down so it never overstates."""
        return math.floor(self.seconds_left)

    def valid_until_iso(self) -> str:
        """``valid_until`` in ISO 8601, UTC, e.g. ``"2005-03-18T01:58:30Z"``.

        The code of the very last step (made for 9999-12-31T23:59:59Z or
        just before) expires at the start of year 10000, which four-digit
        ISO 8601 years cannot write: that one says ``9999-12-31T23:59:59Z``,
        one second early, so it never overstates how long the code lasts.
        """
        from datetime import datetime, timezone
        moment = datetime.fromtimestamp(min(self._valid_until, MAX_TIME), tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def as_json_dict(self) -> dict[str, str | int]:
        """The fields a JSON output shows: never the secret."""
        return {
            "totp": self._totp,
            "valid_for": self.valid_for,
            "valid_until": self.valid_until_iso(),
            "period": self._period,
            "digits": self._digits,
            "algorithm": self._algorithm,
        }


def _secret(secret: TotpSecret | str) -> TotpSecret:
    if isinstance(secret, TotpSecret):
        return secret
    return parse_secret(secret)


def _check_time(when: float) -> float:
    if isinstance(when, bool) or not isinstance(when, (int, float)):
        raise InvalidInputError("the time must be a number of Unix seconds", what="time")
    if not math.isfinite(when):
        raise InvalidInputError("the time must be a finite number of seconds", what="time")
    if when < 0:
        raise InvalidInputError("the time is before 1970-01-01", what="time")
    if when >= MAX_TIME + 1:
        raise InvalidInputError("the time is after 9999-12-31T23:59:59Z", what="time")
    return float(when)


def code_at(secret: TotpSecret | str, when: float) -> Code:
    """The code valid at Unix time ``when``.

    ``secret`` is a :class:`~angel_totp.secret.TotpSecret` or any text
    :func:`~angel_totp.secret.parse_secret` accepts. ``when`` is from 1970
    to 9999-12-31T23:59:59Z. Raises
    :class:`~angel_totp.errors.InvalidSecretError` or
    :class:`~angel_totp.errors.InvalidInputError` (``what="time"``).
    """
    import hashlib

    import pyotp

    secret = _secret(secret)
    when = _check_time(when)
    digest = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256,
              "SHA512": hashlib.sha512}[secret.algorithm]
    step = int(when // secret.period)
    generator = pyotp.TOTP(secret.base32, digits=secret.digits, digest=digest,
                           interval=secret.period)
    return Code(
        # The step's counter directly: pyotp's at() goes through local time,
        # which overflows near the year 9999.
        totp=generator.generate_otp(step),
        at=when,
        valid_from=step * secret.period,
        valid_until=(step + 1) * secret.period,
        period=secret.period,
        digits=secret.digits,
        algorithm=secret.algorithm,
    )


def check_min_validity(min_validity: float, period: int) -> None:
    """Raise :class:`~angel_totp.errors.InvalidInputError` (``what="min_validity"``)
    unless a code of ``period`` seconds can have ``min_validity`` seconds left."""
    if isinstance(min_validity, bool) or not isinstance(min_validity, (int, float)) \
            or not math.isfinite(min_validity) or min_validity < 0:
        raise InvalidInputError(
            f"min_validity must be a number of seconds from 0 to {period - 1}",
            what="min_validity")
    if min_validity >= period:
        if min_validity < ANGEL_ONE_PERIOD:  # fine for Angel One's codes: the secret is odd
            raise InvalidInputError(
                f"this secret's codes last only {period} s: too short for the "
                f"{_seconds(min_validity)} of validity asked for (min_validity)",
                hint=f"ask for at most {period - 1} s of validity, or 0 to never wait",
                what="min_validity")
        raise InvalidInputError(
            f"min_validity must be from 0 to {period - 1} seconds (a code lasts {period} s)",
            what="min_validity")


def _seconds(value: float) -> str:
    return f"{value:g} s"


def fresh_code(
    secret: TotpSecret | str,
    min_validity: float = DEFAULT_MIN_VALIDITY,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[Code, float], None] | None = None,
    uncertainty: float = 0.0,
) -> Code:
    """The current code, valid for at least ``min_validity`` more seconds.

    ``secret`` may be a :class:`~angel_totp.secret.TotpSecret` or any text
    :func:`~angel_totp.secret.parse_secret` accepts (base32 with spaces, an
    otpauth URI...). ``min_validity=0`` never waits.

    ``clock()`` gives the time the code is for (default: this machine's).
    When it is an estimate of another clock (Angel One's, measured over the
    network), ``uncertainty`` says how far off it may be, in seconds either
    way: a code is handed out only if it is the same code at ``clock() -
    uncertainty`` and at ``clock() + uncertainty``, and still has
    ``min_validity`` seconds left at the latter.

    When no code qualifies yet, this calls ``on_wait(current_code,
    seconds_to_wait)``, then ``sleep(seconds_to_wait)``, and looks again.

    Raises :class:`~angel_totp.errors.InvalidSecretError` for a bad secret,
    and :class:`~angel_totp.errors.InvalidInputError` at once, before any
    wait, for a ``min_validity`` outside 0 to period - 1 (``what=
    "min_validity"``) or an ``uncertainty`` that is negative or so large
    that no code could ever qualify (``what="uncertainty"``).
    """
    secret = _secret(secret)
    period = secret.period
    check_min_validity(min_validity, period)
    if isinstance(uncertainty, bool) or not isinstance(uncertainty, (int, float)) \
            or not math.isfinite(uncertainty) or uncertainty < 0:
        raise InvalidInputError("uncertainty must be a number of seconds, 0 or more",
                                what="uncertainty")
    if 2 * uncertainty + min_validity >= period:
        raise InvalidInputError(
            f"with the clock known only to within {_seconds(uncertainty)} either way, no "
            f"{period}-second code is sure to have {_seconds(min_validity)} left",
            hint="measure the clock again, or ask for less validity (min_validity)",
            what="uncertainty")
    while True:
        now = clock()
        code = code_at(secret, now)
        early, late = now - uncertainty, now + uncertainty
        step = math.floor(early / period)
        if math.floor(late / period) == step and (step + 1) * period - late >= min_validity:
            return code
        # The first instant whose whole uncertainty lies in the next step.
        wait = (step + 1) * period + uncertainty - now + _WAIT_MARGIN
        if on_wait is not None:
            on_wait(code, wait)
        sleep(wait)


def parse_when(text: str) -> float:
    """Unix seconds from ``1111111109``, ``1111111109.5`` or ISO 8601 with a zone.

    From 1970-01-01 to 9999-12-31T23:59:59Z. Raises
    :class:`~angel_totp.errors.InvalidInputError` (``what="time"``), whose
    hint says so when the number looks like milliseconds (or micro- or
    nanoseconds) rather than seconds.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return _checked_seconds(float(text))
    if not isinstance(text, str):
        raise InvalidInputError("the time must be text", what="time")
    raw = text.strip()
    if not raw or len(raw) > 64:
        raise _not_a_time()
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is not None:
        return _checked_seconds(value)
    from datetime import datetime
    iso = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise _not_a_time() from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError("the ISO 8601 time needs a zone, for example Z or +05:30",
                                what="time")
    try:
        seconds = moment.timestamp()
    except (OverflowError, ValueError):
        seconds = -1.0  # only year 1 with a zone east of UTC gets here
    return _checked_seconds(seconds)


def _not_a_time() -> InvalidInputError:
    return InvalidInputError(
        "not a Unix timestamp or an ISO 8601 time "
        "(examples: 1111111109, 2005-03-18T01:58:29Z)", what="time")


def _checked_seconds(value: float) -> float:
    if not math.isfinite(value):
        raise InvalidInputError("the time must be a finite number of seconds", what="time")
    if value < 0:
        raise InvalidInputError("the time is before 1970-01-01", what="time")
    if value >= MAX_TIME + 1:
        for factor, unit, divide in ((1e3, "milliseconds", "1000"),
                                     (1e6, "microseconds", "1000000"),
                                     (1e9, "nanoseconds", "1000000000")):
            # From 2001 (1e9 s) on, in that unit.
            if 1e9 * factor <= value < (MAX_TIME + 1) * factor:
                raise InvalidInputError(
                    f"the time is after 9999-12-31T23:59:59Z; this looks like {unit}, "
                    "not seconds", hint=f"divide by {divide} for seconds", what="time")
        raise InvalidInputError("the time is after 9999-12-31T23:59:59Z", what="time")
    return value + 0.0  # -0.0 becomes 0.0
