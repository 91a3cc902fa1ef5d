"""The checks of the Python API's arguments, one home for each: a bad argument of
any type is an :class:`~angel_totp.errors.InvalidInputError` naming it, never its value."""

import math
import os
from collections.abc import Mapping

from .errors import InvalidInputError
from .secret import ANGEL_ONE_PERIOD


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float
        return None
    return number if math.isfinite(number) else None


def check_timeout(value: object, what: str = "timeout") -> float:
    number = _number(value)
    if number is None or number <= 0:
        raise InvalidInputError(f"{what} must be a number of seconds above 0",
                                hint="10 is a good value", what=what)
    return number


def check_seconds(value: object, what: str) -> float:
    number = _number(value)
    if number is None or number < 0:
        raise InvalidInputError(f"{what} must be a number of seconds, 0 or more", what=what)
    return number


def check_min_validity(value: object, period: int = ANGEL_ONE_PERIOD,
                       what: str = "min_validity") -> float:
    number = _number(value)
    if number is not None and period - 1 < number < ANGEL_ONE_PERIOD:  # the secret is odd
        raise InvalidInputError(
            f"this secret's codes last only {period} s: too short for the "
            f"{number:g} s of validity asked for ({what})",
            hint=f"ask for at most {period - 1} s of validity, or 0 to never wait",
            what=what)
    if number is None or not 0 <= number <= period - 1:
        raise InvalidInputError(
            f"{what} must be from 0 to {period - 1} seconds (a code lasts {period} s)",
            what=what)
    return number


def check_path(value: object, what: str) -> str:
    try:
        path = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    except TypeError:  # a path object whose __fspath__ gives no text
        path = None
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidInputError(f"{what} must be a file's path (text or a path object)",
                                what=what)
    return path


def check_environ(value: object, what: str = "environ") -> Mapping[str, str]:
    if value is None:
        return os.environ
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a mapping of names to text", what=what)
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            name = key if isinstance(key, str) and key.isidentifier() else "an entry"
            raise InvalidInputError(f"{what}: {name} must be text", what=what)
    return value


def check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text", what=what)
    return value


def check_function(value: object, what: str) -> None:
    if not callable(value):
        raise InvalidInputError(f"{what} must be a function", what=what)
