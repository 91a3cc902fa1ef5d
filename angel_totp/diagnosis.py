"""From what Angel One answered (and the clock) to a cause and a next step; the codes'
meanings come from Angel One's documentation, SDK and forum (smartapi-facts.md)."""

from typing import NamedTuple

from .clock import ClockOffset

# Diagnoses name what the user can change in the words of whoever reads them:
# a program's parameters here, a command's options in the commands.
PROGRAM_TERMS = {
    "server_time": "server_time=True",
    "timeout": "a longer timeout",
    "base_url": "the base URL (base_url or ANGEL_BASE_URL)",
    "min_validity": "a lower min_validity",
}

_STATIC_IP_HINT = (
    "register this machine's public IP as the primary or secondary static IP of your "
    "app under My Apps at smartapi.angelbroking.com, or run from the address registered "
    "there; a router restart, a VPN or a laptop away from home changes the IP (the "
    "X-ClientPublicIP header does not matter)")


class Diagnosis(NamedTuple):
    """A cause in one line and a next step in one line, for one failure."""

    errorcode: str
    message: str    # Angel One's own words, or ours for transport failures
    cause: str      # one line: what went wrong
    hint: str       # one line: what to do next


_INTERNAL_ERROR = ("Angel One had an internal error",
                   "try again in a few minutes; check Angel One's status if it persists")
_RATE_HINT = ("wait a minute; Angel One allows one login a second per account, so stop "
              "other bots or scripts logging in at the same time")
_EXPIRED = ("the session expired", "log in again; sessions end every day")
KNOWN_CODES = {
    "AB1050": ("the TOTP code was not accepted", ""),  # the hint depends on the clock
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
               "this is a bug in angel_totp (X-UserType must be USER); please report it"),
    "AB1032": ("Angel One does not know this client code",
               "check ANGEL_CLIENT_CODE: it is your client ID, e.g. A123456"),
    "AB2000": _INTERNAL_ERROR,
    "AB2001": _INTERNAL_ERROR,
    "AG8001": ("the API key was refused (or the session token is no longer valid)",
               "check ANGEL_API_KEY against your app at smartapi.angelbroking.com "
               "(My Apps); a disabled or deleted app's key stops working"),
    "AG8002": _EXPIRED,
    "AG8003": ("the request carried no session token",
               "this is a bug in angel_totp; please report it"),
    "AG7002": ("Angel One refused this machine's IP address: it is not registered for "
               "this API key", _STATIC_IP_HINT),
    "AB1010": _EXPIRED,
    "AB1011": ("the client is not logged in (the session ended)", "log in again"),
    "AB8050": ("the refresh token is invalid", "log in again"),
    "AB8051": ("the refresh token expired", "log in again"),
    "AB1021": ("too many requests", _RATE_HINT),
}


def diagnose_refusal(errorcode: str, message: str, clock: ClockOffset | None,
                     terms: dict[str, str] = PROGRAM_TERMS, *,
                     server_time: bool = False) -> Diagnosis:
    """Angel One answered and said no (``message`` already cleaned); with ``server_time``
    the code was made for Angel One's clock, which is then not blamed for it."""
    code = errorcode.strip().upper()
    if code not in KNOWN_CODES:
        return Diagnosis(code, message, f"{message or 'no message'} ({code or 'no code'})",
                         "look up this code in Angel One's SmartAPI forum; the reply said "
                         "nothing more")
    cause, hint = KNOWN_CODES[code]
    if code == "AB1050":
        hint = reword(_invalid_totp_hint(clock, server_time), terms)
    return Diagnosis(code, message, f"{cause} ({f'{code} {message}'.strip()})", hint)


# Angel One accepts each code once: a code another login has just used (a bot,
# or the run before this one) fails like a wrong one. Reuse is the likelier
# cause when the clock is fine, and retrying costs nothing; re-copying the
# secret is the next step, never re-enabling TOTP (that resets 2FA for nothing).
_REUSED = ("Angel One accepts each code once, and this one may already have been used by "
           "another login in the same 30 s: wait for the next code and try again")
_SECRET = ("if that fails too, the secret is probably wrong: copy TOTP_SECRET again from "
           "smartapi.angelbroking.com/enable-totp")


def _invalid_totp_hint(clock: ClockOffset | None, made_for_server_time: bool) -> str:
    server_time = PROGRAM_TERMS["server_time"]
    if made_for_server_time and clock is not None:
        return (f"the code was made for Angel One's clock, so the clock is not the cause "
                f"(yours is {clock.describe()}); {_REUSED}; {_SECRET}")
    if clock is None:
        return (f"the clock could not be measured (no Date header); {_REUSED}; if that "
                f"fails too, make the code for Angel One's clock with {server_time}, "
                "and check TOTP_SECRET")
    if clock.is_far_off(15):
        return (f"your clock is {clock.describe()}: that alone makes codes fail; "
                f"turn on automatic time sync, or use {server_time}")
    if clock.is_far_off(5):
        return (f"your clock is {clock.describe()}, enough to fail near the end of a "
                f"code's 30 s; turn on automatic time sync, or use {server_time}")
    return f"your clock is {clock.describe()}, which is fine; {_REUSED}; {_SECRET}"


def clock_warning(clock: ClockOffset | None, terms: dict[str, str] = PROGRAM_TERMS) -> str | None:
    if clock is None or not clock.is_far_off():
        return None
    return (f"your clock is {clock.describe()}; TOTP logins fail when it is off by "
            f"more than a few seconds: turn on automatic time sync, or use "
            f"{terms['server_time']}")


# Failures where no usable answer came back (exit 3). errorcode is ours.
TRANSPORT = {
    "RATE_LIMITED": ("Angel One refused the request for exceeding its rate limit", _RATE_HINT),
    "HTML_REPLY": ("Angel One answered with an HTML page instead of JSON "
                   "(a firewall 'Request Rejected' page or a maintenance page)",
                   "try again later; if it persists, try another network: some "
                   "networks and VPNs are blocked"),
    "NOT_JSON": ("Angel One's reply was not JSON",
                 "try again later; check {base_url} if you changed it"),
    "SERVER_ERROR": ("Angel One's server failed", "try again in a few minutes"),
    "HTTP_ERROR": ("Angel One answered with an unexpected HTTP error",
                   "check {base_url}; try again later"),
    "TIMEOUT": ("no answer from Angel One in time",
                "check your internet connection, or allow {timeout}"),
    "CONNECTION_REFUSED": ("the connection was refused",
                           "check {base_url} and any proxy settings"),
    "DNS": ("the server's name could not be resolved",
            "check your internet connection and DNS, and the host in {base_url}"),
    "TLS": ("the secure (TLS) connection could not be set up",
            "if the certificate was not accepted: on macOS run 'Install "
            "Certificates.command' in your Python folder; behind a company proxy set "
            "SSL_CERT_FILE to its CA bundle"),
    "NETWORK": ("the connection failed",
                "check your internet connection and proxy settings"),
    "PROXY_AUTH": ("the proxy wants credentials (HTTP 407)",
                   "put the proxy's user name and password in {proxy_variable} "
                   "(http://user:password@proxy:port), or ask your network admin"),
    "PROXY_UNREACHABLE": ("the proxy could not be reached",
                          "check the proxy's host and port in {proxy_variable}, or unset "
                          "it if you need no proxy"),
    "PROXY_ERROR": ("the proxy refused to connect to Angel One",
                    "check {proxy_variable}, or ask your network admin whether Angel "
                    "One's host is allowed"),
    "BAD_REPLY": ("Angel One's reply did not have the expected shape",
                  "try again later; the API may have changed"),
    "INVALID_REQUEST": ("the request could not be sent",
                        "check the settings for stray characters"),
    "NO_DATE": ("Angel One's reply had no usable Date header, so its clock could not be "
                "measured",
                "try again later, or leave out {server_time} and set this machine's clock "
                "right (turn on automatic time sync)"),
    "CLOCK_UNCERTAIN": ("Angel One's clock could not be measured closely enough to be sure "
                        "of a code with that much validity left",
                        "try again (a slow reply widens the bound), or ask for "
                        "{min_validity}"),
}


def diagnose_transport(errorcode: str, detail: str = "", proxy_variable: str | None = None,
                       terms: dict[str, str] = PROGRAM_TERMS) -> Diagnosis:
    """No usable answer. ``detail`` is ours, never the server's bytes."""
    cause, hint = TRANSPORT.get(errorcode, TRANSPORT["NETWORK"])
    if detail and detail.lower() not in cause.lower():  # saying nothing twice
        cause = f"{cause}: {detail}" if "(" in detail else f"{cause} ({detail})"
    hint = hint.format(proxy_variable=proxy_variable or "HTTPS_PROXY", **PROGRAM_TERMS)
    return Diagnosis(errorcode, detail, cause, reword(hint, terms))


def staged(found: Diagnosis, stage: str, refused: bool = False) -> str:
    """The cause, said for the request it happened in (``clock``, ``login``, ``profile``...)."""
    if stage == "login" and refused:
        return f"Angel One refused the login: {found.cause}"
    if found.errorcode in ("NO_DATE", "CLOCK_UNCERTAIN"):
        return found.cause  # it says already that the clock could not be read
    prefix = {"clock": "Angel One's clock could not be read: ",
              "profile": "login worked, but reading the profile failed: "}.get(stage, "")
    return prefix + found.cause


def reword(text: str, terms: dict[str, str]) -> str:
    """A hint written in PROGRAM_TERMS, in other words (a command's option names)."""
    for key, words in PROGRAM_TERMS.items():
        text = text.replace(words, terms.get(key, words))
    return text
