"""Angel One's clock, read from the Date header of a request that carries no credential.

A machine whose clock is off (a Raspberry Pi without a real-time clock, a
WSL2 machine after sleep, a server without time sync) makes codes that
Angel One refuses. Measuring Angel One's clock and making the code for its
time fixes that without touching the system clock. The bound is honest:
the ``Date`` header has one-second resolution and was stamped somewhere
between our send and our receive (see :mod:`angel_totp.clock`).
"""

from __future__ import annotations

from collections.abc import Mapping

from . import protocol
from .clock import ClockOffset, offset_from_reply
from .connection import Connection, TransportError
from .diagnosis import PROGRAM_TERMS, diagnose_transport, staged
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
    """The clock bound from one credential-free request on ``connection``.

    Raises :class:`~angel_totp.errors.NoAnswerError` (``stage="clock"``)
    when no reply came, or one without a usable Date header. Any reply
    will do otherwise, even a 404: only its Date header is read.
    """
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
