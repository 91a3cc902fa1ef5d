"""Codes and time: the code for an instant, how long it lasts, a fresh one.

A code is valid from the start of its time step to the start of the next.
Angel One's login needs the code to still be valid when the request lands,
so :func:`fresh_code` refuses to hand out one that is about to expire and
waits for the next step instead.
"""

from __future__ import annotations

import time
from typing import Callable

from .secret import TotpSecret, parse_secret

DEFAULT_MIN_VALIDITY = 5


class Code:
    """One TOTP code and the window in which it is valid."""

    __slots__ = ("totp", "at", "valid_from", "valid_until", "period", "digits", "algorithm")

    def __init__(self, totp: str, at: float, valid_from: int, valid_until: int,
                 period: int, digits: int, algorithm: str):
        self.totp = totp                # the code, e.g. "123456"
        self.at = at                    # the instant it was made for (Unix seconds)
        self.valid_from = valid_from    # start of its time step (Unix seconds)
        self.valid_until = valid_until  # start of the next step (Unix seconds)
        self.period = period
        self.digits = digits
        self.algorithm = algorithm

    def __repr__(self) -> str:
        return (f"Code(totp={self.totp!r}, valid_from={self.valid_from}, "
                f"valid_until={self.valid_until}, period={self.period})")

    @property
    def seconds_left(self) -> float:
        """Seconds from ``at`` until the code expires."""
        return self.valid_until - self.at

    @property
    def valid_for(self) -> int:
        """Whole seconds left, rounded down so it never overstates."""
        return int(self.seconds_left)

    def valid_until_iso(self) -> str:
        from datetime import datetime, timezone
        moment = datetime.fromtimestamp(self.valid_until, tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def as_json_dict(self) -> dict:
        return {
            "totp": self.totp,
            "valid_for": self.valid_for,
            "valid_until": self.valid_until_iso(),
            "period": self.period,
            "digits": self.digits,
            "algorithm": self.algorithm,
        }


def _digest(algorithm: str):
    import hashlib
    return {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256,
            "SHA512": hashlib.sha512}[algorithm]


def code_at(secret: TotpSecret, when: float) -> Code:
    """The code valid at Unix time ``when``."""
    import pyotp

    if when < 0:
        raise ValueError("the time is before 1970")
    generator = pyotp.TOTP(secret.base32, digits=secret.digits,
                           digest=_digest(secret.algorithm), interval=secret.period)
    step = int(when // secret.period)
    return Code(
        totp=generator.at(int(when)),
        at=when,
        valid_from=step * secret.period,
        valid_until=(step + 1) * secret.period,
        period=secret.period,
        digits=secret.digits,
        algorithm=secret.algorithm,
    )


def fresh_code(
    secret: TotpSecret | str,
    min_validity: float = DEFAULT_MIN_VALIDITY,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[Code, float], None] | None = None,
) -> Code:
    """The current code, valid for at least ``min_validity`` more seconds.

    ``secret`` may be a :class:`TotpSecret` or any text :func:`parse_secret`
    accepts (base32 with spaces, an otpauth URI...). When the current code
    expires sooner than ``min_validity``, this sleeps until the next time
    step, calling ``on_wait(current_code, seconds_to_wait)`` first so a
    caller can tell the user. ``min_validity=0`` never waits.

    Raises :class:`~angel_totp.secret.InvalidSecret` for a bad secret and
    ``ValueError`` for a ``min_validity`` outside 0 to period - 1.
    """
    if isinstance(secret, str):
        secret = parse_secret(secret)
    check_min_validity(min_validity, secret.period)
    code = code_at(secret, clock())
    while code.seconds_left < min_validity:
        # A small margin past the boundary so the clock is surely in the new step.
        wait = code.seconds_left + 0.05
        if on_wait is not None:
            on_wait(code, wait)
        sleep(wait)
        code = code_at(secret, clock())
    return code


def check_min_validity(min_validity: float, period: int) -> None:
    if not 0 <= min_validity < period:
        raise ValueError(
            f"--min-validity must be from 0 to {period - 1} seconds "
            f"(a code lasts {period} s)")


def parse_when(text: str) -> float:
    """Unix seconds from ``1111111109``, ``1111111109.5`` or ISO 8601 with a zone."""
    raw = text.strip()
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is not None:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("the time must be a finite number of seconds")
        if value < 0:
            raise ValueError("the time is before 1970-01-01")
        return value
    from datetime import datetime
    iso = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(
            "not a Unix timestamp or an ISO 8601 time "
            "(examples: 1111111109, 2005-03-18T01:58:29Z)") from None
    if moment.tzinfo is None:
        raise ValueError("the ISO 8601 time needs a zone, for example Z or +05:30")
    seconds = moment.timestamp()
    if seconds < 0:
        raise ValueError("the time is before 1970-01-01")
    return seconds
