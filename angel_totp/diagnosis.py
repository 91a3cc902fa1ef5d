"""From what Angel One answered (and the clock) to a cause and a next step.

Pure: no I/O. The codes and their usual meanings come from Angel One's
documentation, its SDK and its users' forum (see smartapi-facts.md).
"""

from __future__ import annotations

from .clock import ClockOffset


class Diagnosis:
    __slots__ = ("errorcode", "message", "cause", "hint")

    def __init__(self, errorcode: str, message: str, cause: str, hint: str):
        self.errorcode = errorcode
        self.message = message    # Angel One's own words, or ours for transport failures
        self.cause = cause        # one line: what went wrong
        self.hint = hint          # one line: what to do next


KNOWN_CODES = {
    "AB1050": ("the TOTP code was not accepted",
               "check the clock (below) and that TOTP_SECRET is the secret from "
               "smartapi.angelbroking.com/enable-totp; a code is valid for 30 s and "
               "cannot be reused"),
    "AB7001": ("the trading password was sent instead of the PIN",
               "set ANGEL_PIN to your Angel One login PIN (MPIN), not the trading password"),
    "AB1007": ("the client code or PIN is wrong",
               "check ANGEL_CLIENT_CODE (your client ID, e.g. A123456) and ANGEL_PIN "
               "(your login PIN)"),
    "AB1000": ("the client code or PIN is wrong",
               "check ANGEL_CLIENT_CODE (your client ID, not your e-mail) and ANGEL_PIN"),
    "AB1004": ("Angel One had a problem, or an e-mail address was used as the client ID",
               "make sure ANGEL_CLIENT_CODE is your client ID (e.g. A123456); "
               "otherwise try again in a few minutes"),
    "AB1006": ("the account is blocked for trading",
               "contact Angel One support; no setting here can fix this"),
    "AB1005": ("the request's user type was refused",
               "this is a bug in the login check (X-UserType must be USER); please report it"),
    "AB1032": ("Angel One does not know this client code",
               "check ANGEL_CLIENT_CODE: it is your client ID, e.g. A123456"),
    "AB2000": ("Angel One had an internal error",
               "try again in a few minutes; check Angel One's status if it persists"),
    "AB2001": ("Angel One had an internal error",
               "try again in a few minutes; check Angel One's status if it persists"),
    "AG8001": ("the API key was refused (or the session token is no longer valid)",
               "check ANGEL_API_KEY against your app at smartapi.angelbroking.com "
               "(My Apps); a disabled or deleted app's key stops working"),
    "AG8002": ("the session expired",
               "log in again; sessions end every day"),
    "AG8003": ("the request carried no session token",
               "this is a bug in the login check; please report it"),
}


def diagnose_refusal(errorcode: str, message: str, clock: ClockOffset | None) -> Diagnosis:
    """Angel One answered and said no."""
    code = (errorcode or "").strip().upper()
    known = KNOWN_CODES.get(code)
    if known is None:
        cause = f"{message or 'no message'} ({code or 'no code'})"
        hint = "look up this code in Angel One's SmartAPI forum; the reply said nothing more"
        return Diagnosis(code, message, cause, hint)
    cause, hint = known
    if code == "AB1050":
        hint = _invalid_totp_hint(clock)
    return Diagnosis(code, message, cause, hint)


def _invalid_totp_hint(clock: ClockOffset | None) -> str:
    if clock is None:
        return ("the clock could not be measured (no Date header); " + KNOWN_CODES["AB1050"][1])
    if clock.is_far_off(15):
        return (f"your clock is {clock.describe()}: that alone makes codes fail; "
                "turn on automatic time sync, then try again")
    if clock.is_far_off(5):
        return (f"your clock is {clock.describe()}, enough to fail near the end of a "
                "code's 30 s; turn on automatic time sync")
    return (f"your clock is {clock.describe()}, which is fine, so the secret is "
            "probably wrong: copy TOTP_SECRET again from "
            "smartapi.angelbroking.com/enable-totp (re-enabling TOTP makes a new secret)")


def clock_warning(clock: ClockOffset | None) -> str | None:
    if clock is None or not clock.is_far_off():
        return None
    return (f"your clock is {clock.describe()}; TOTP logins fail when it is off by "
            "more than a few seconds: turn on automatic time sync")


# Failures where no usable answer came back (exit 3). errorcode is ours.
TRANSPORT = {
    "RATE_LIMITED": ("Angel One refused the request for exceeding its rate limit",
                     "wait a minute; Angel One allows one login a second per account, "
                     "so stop other bots or scripts logging in at the same time"),
    "HTML_REPLY": ("Angel One answered with an HTML page instead of JSON "
                   "(a firewall 'Request Rejected' page or a maintenance page)",
                   "try again later; if it persists, try another network: some "
                   "networks and VPNs are blocked"),
    "NOT_JSON": ("Angel One's reply was not JSON",
                 "try again later; check --base-url if you changed it"),
    "SERVER_ERROR": ("Angel One's server failed",
                     "try again in a few minutes"),
    "HTTP_ERROR": ("Angel One answered with an unexpected HTTP error",
                   "check --base-url; try again later"),
    "TIMEOUT": ("no answer from Angel One in time",
                "check your internet connection, or allow more time with --timeout"),
    "CONNECTION_REFUSED": ("the connection was refused",
                           "check --base-url / ANGEL_BASE_URL and any proxy settings"),
    "DNS": ("the server's name could not be resolved",
            "check your internet connection and DNS, and the host in --base-url"),
    "TLS": ("the server's TLS certificate could not be verified",
            "on macOS run 'Install Certificates.command' in your Python folder; "
            "behind a company proxy set SSL_CERT_FILE to its CA bundle"),
    "NETWORK": ("the connection failed",
                "check your internet connection and proxy settings"),
    "BAD_REPLY": ("Angel One's reply did not have the expected shape",
                  "try again later; the API may have changed"),
}


def diagnose_transport(errorcode: str, detail: str = "") -> Diagnosis:
    cause, hint = TRANSPORT[errorcode]
    if detail:
        cause = f"{cause} ({detail})"
    return Diagnosis(errorcode, detail, cause, hint)
