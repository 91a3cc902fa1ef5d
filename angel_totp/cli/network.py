"""What both commands say about the network: the base URL, Angel One's clock, failures."""

from __future__ import annotations

from argparse import Namespace
from typing import TYPE_CHECKING

from .. import protocol
from ..connection import Connection
from ..errors import InvalidInputError
from ..secret import ANGEL_ONE_PERIOD
from ..servertime import MIN_UNCERTAINTY_ROOM, check_room, measure
from .console import CommandError, err, warn

if TYPE_CHECKING:
    from ..clock import ClockOffset
    from ..settings import Settings

# The diagnosis's words for what a user of the commands can change.
TERMS = {
    "server_time": "--server-time",
    "timeout": "more time with --timeout",
    "base_url": "--base-url / ANGEL_BASE_URL",
    "proxy": "HTTPS_PROXY / NO_PROXY",
    "min_validity": "a lower --min-validity",
}


def base_url(args: Namespace, settings: Settings) -> str:
    # --base-url, else ANGEL_BASE_URL, else Angel One's; checked, never shown.
    if args.base_url is not None:
        url, name = args.base_url, "--base-url"
    else:
        url = settings.get("ANGEL_BASE_URL").value or protocol.DEFAULT_BASE_URL
        name = "ANGEL_BASE_URL"
    checked = protocol.check_base_url(url, name)
    if protocol.sends_in_clear(checked):
        warn(f"{name} uses plain http: the PIN and API key would cross the network "
             "unencrypted; use https")
    return checked


def check_server_time_room(args: Namespace) -> None:
    # --server-time with a --min-validity that no measured clock can satisfy: exit 2 now.
    if not args.server_time:
        return
    try:
        check_room(args.min_validity, ANGEL_ONE_PERIOD)
    except InvalidInputError:
        highest = ANGEL_ONE_PERIOD - 1 - MIN_UNCERTAINTY_ROOM
        raise CommandError(f"--min-validity {args.min_validity} leaves no room for the "
                           f"uncertainty of Angel One's clock with --server-time",
                           hint=f"use --min-validity {highest} or less") from None


def show_clock(clock: ClockOffset) -> None:
    err(f"Angel One's clock: this machine's clock is {clock.describe()}; "
        "codes are made for Angel One's time")


def measure_clock_for_people(args: Namespace, url: str) -> ClockOffset:
    with Connection(url, timeout=args.timeout) as connection:
        clock = measure(connection, TERMS)
    show_clock(clock)
    return clock
