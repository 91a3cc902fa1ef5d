"""Angel One's clock, read from the Date header of a request that carries no credential.

A machine whose clock is off (a Raspberry Pi without a real-time clock, a
WSL2 machine after sleep, a server without time sync) makes codes that
Angel One refuses. Measuring Angel One's clock and making the code for its
time fixes that without touching the system clock. The bound is honest:
the ``Date`` header has one-second resolution and was stamped somewhere
between our send and our receive (see :mod:`angel_totp.clock`).
"""

from __future__ import annotations

from typing import Mapping

from . import protocol
from .clock import ClockOffset, offset_from_reply
from .connection import Connection, TransportError
from .diagnosis import PROGRAM_TERMS, diagnose_transport
from .errors import NoAnswerError


def measure_server_clock(base_url: str = protocol.DEFAULT_BASE_URL, timeout: float = 10.0,
                         *, environ: Mapping[str, str] | None = None) -> ClockOffset:
    """Local clock minus Angel One's, from one request that sends no secret.

    Raises :class:`~angel_totp.errors.InvalidSettingError` for a bad
    ``base_url`` and :class:`~angel_totp.errors.NoAnswerError` when no reply
    with a usable Date header came within ``timeout`` seconds.
    """
    url = protocol.check_base_url(base_url, "base_url")
    with Connection(url, timeout=timeout, environ=environ) as connection:
        return measure(connection)


def measure(connection: Connection, terms: dict[str, str] = PROGRAM_TERMS) -> ClockOffset:
    """The clock bound from one credential-free request on ``connection``."""
    request = protocol.clock_request()
    try:
        reply = connection.request(request.method, request.path, request.headers)
    except TransportError as error:
        found = diagnose_transport(error.errorcode, error.detail, error.proxy_variable, terms)
        raise NoAnswerError(found.errorcode, found.message,
                            f"Angel One's clock could not be read: {found.cause}",
                            found.hint, stage="clock",
                            proxy_variable=error.proxy_variable) from None
    bound = offset_from_reply(reply.sent, reply.received, reply.date)
    if bound is None:
        raise NoAnswerError("NO_DATE", "", "Angel One's reply had no usable Date header, "
                            "so its clock could not be measured",
                            "try again later, or go without server time and set the clock "
                            "right (turn on automatic time sync)", stage="clock")
    return bound
