"""Angel One's clock, from the Date header of a request that carries no credential: codes
made for it work on a machine whose clock is off, without touching the system clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from . import protocol
from .checks import check_environ, check_text, check_timeout
from .clock import ClockOffset, offset_from_reply
from .codes import Code, fresh_code
from .connection import Connection, TransportError
from .diagnosis import PROGRAM_TERMS, diagnose_transport, staged
from .errors import InvalidInputError, NoAnswerError
from .secret import TotpSecret

# A Date header has one-second resolution: a code must leave at least 1 s for that.
MIN_UNCERTAINTY_ROOM = 1


def measure_server_clock(base_url: str = protocol.DEFAULT_BASE_URL, timeout: float = 10.0,
                         *, environ: Mapping[str, str] | None = None) -> ClockOffset:
    """Local clock minus Angel One's, from one request that sends no secret."""
    url = protocol.check_base_url(check_text(base_url, "base_url"), "base_url")
    seconds = check_timeout(timeout)
    check_environ(environ)
    with Connection(url, timeout=seconds, environ=environ) as connection:
        return measure(connection)


def measure(connection: Connection, terms: dict[str, str] = PROGRAM_TERMS) -> ClockOffset:
    """The clock bound from one credential-free request; any reply with a Date will do."""
    request = protocol.clock_request()
    try:
        reply = connection.request(request.method, request.path, request.headers)
    except TransportError as error:
        raise _unmeasured(error.errorcode, error.detail, error.proxy_variable, terms) from None
    bound = offset_from_reply(reply.sent, reply.received, reply.date)
    if bound is None:
        raise _unmeasured("NO_DATE", "", None, terms)
    return bound


def _unmeasured(errorcode: str, detail: str, proxy_variable: str | None,
                terms: dict[str, str]) -> NoAnswerError:
    found = diagnose_transport(errorcode, detail, proxy_variable, terms)
    return NoAnswerError(found.errorcode, found.message, staged(found, "clock"), found.hint,
                         stage="clock", proxy_variable=proxy_variable)


def check_room(min_validity: float, period: int) -> None:
    """Refuse, before anything is sent, a validity that no measured clock can satisfy."""
    if min_validity > period - 1 - MIN_UNCERTAINTY_ROOM:
        raise InvalidInputError(
            f"min_validity {min_validity:g} s leaves no room for the uncertainty of Angel "
            f"One's clock (at most {period - 1 - MIN_UNCERTAINTY_ROOM} s with server time)",
            what="min_validity")


def code_for_server(secret: TotpSecret, min_validity: float, clock: ClockOffset, *,
                    on_wait: Callable[[Code, float], None] | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    now: Callable[[], float] | None = None,
                    terms: dict[str, str] = PROGRAM_TERMS) -> Code:
    """A fresh code for Angel One's clock as measured, valid at the far edge of its bound;
    a bound too loose for ``min_validity`` is the reply's fault: a NoAnswerError."""
    server_now = clock.server_now if now is None else (lambda: now() - clock.estimate)
    try:
        return fresh_code(secret, min_validity, clock=server_now,
                          uncertainty=clock.uncertainty, on_wait=on_wait, sleep=sleep)
    except InvalidInputError as error:
        if error.what not in ("uncertainty", "time"):
            raise
        errorcode = "CLOCK_UNCERTAIN" if error.what == "uncertainty" else "NO_DATE"
        detail = (f"known only to +/- {clock.uncertainty:.1f} s" if error.what == "uncertainty"
                  else "its Date is out of range")
        raise _unmeasured(errorcode, detail, None, terms) from None
