"""``angel-login-check`` (``test_api_connection.py``): one login, a plain verdict.

A thin command over :func:`angel_totp.session.login`, so that the check and
a bot's login cannot drift apart: it gathers the settings (asking on a
terminal for what is missing), logs in, reads the profile, logs out, and
says what worked or why not.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from .. import __version__, protocol
from ..codes import DEFAULT_MIN_VALIDITY
from ..diagnosis import clock_warning
from ..errors import EnvFileError, InvalidInputError, LoginError, LoginRefusedError
from ..settings import Settings
from . import console, network
from .console import (EXIT_FAILED, EXIT_NO_ANSWER, EXIT_OK, UsageError, err, fail, out,
                      shown, warn)
from .options import (Command, Option, min_validity_seconds, program_name, text_value,
                      timeout_seconds)
from .waiting import Waiter

if TYPE_CHECKING:
    from ..clock import ClockOffset
    from ..session import Session

DESCRIPTION = """\
Log in to Angel One SmartAPI once with your API key, client code, PIN and a
fresh TOTP code, and say plainly whether it worked. On success it reads your
profile, prints "Login OK: <name> (<client code>)", and logs out again so no
session is left open. On failure it says why and what to do next, and it
always checks this computer's clock against Angel One's.

settings (the environment first, then the env file, default ./.env):
  ANGEL_API_KEY      your SmartAPI app's API key
  ANGEL_CLIENT_CODE  your Angel One client ID, e.g. A123456
  ANGEL_PIN          your Angel One login PIN (MPIN), not the trading password
  TOTP_SECRET        preferred: a fresh code is made at login time
  TOTP               a ready 6-digit code, used when there is no secret (lasts 30 s)
  ANGEL_BASE_URL     default https://apiconnect.angelone.in (or --base-url)

  A missing setting is asked for on a terminal (the API key and PIN hidden);
  without a terminal the run stops and names every missing one. Every
  setting is checked before anything is sent, and a value is never shown,
  only its name. No option takes a secret: arguments are visible to every
  user of the machine.
"""

EPILOG = """\
examples:
  angel-login-check                     check the login with .env
  angel-login-check --server-time       make the code for Angel One's clock
  angel-login-check --dry-run           show the requests, send nothing
  angel-login-check --json              {"ok": true, "name": ..., ...}
  angel-login-check --env-file prod.env --timeout 20
  (from a checkout, 'python test_api_connection.py' is the same command)

network:
  The requests share one connection where the server keeps it open. Each
  has its verdict within --timeout plus one second, whatever the network
  does. HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured; TLS certificates
  are always verified; redirects are not followed. Ctrl-C stops within a
  second, after trying one logout for at most 2 s if a session was open
  (a second Ctrl-C skips it).

exit codes:
  0    login OK (or --dry-run)
  1    Angel One said no (wrong PIN, code, key, unregistered IP...; see the hint)
  2    bad input or usage: a missing or invalid setting, a bad option, an env
       file that cannot be read
  3    no usable answer: network, DNS, TLS, proxy, timeout, rate limit, HTML or
       non-JSON or malformed reply, server error
  130  interrupted (Ctrl-C)   141  output closed   143  terminated

One login request per run, never a retry loop: Angel One allows one login
a second per account.
"""

OPTIONS = (
    Option("--env-file", dest="env_file", convert=text_value, metavar="PATH",
           help="where to read settings the environment does not set "
                "(default: .env in the current folder)"),
    Option("--base-url", dest="base_url", convert=text_value, metavar="URL",
           help="the SmartAPI root (default: ANGEL_BASE_URL, else "
                "https://apiconnect.angelone.in)"),
    Option("--timeout", dest="timeout", convert=timeout_seconds, default=10.0,
           metavar="SECONDS", help="give up on a request after this long, in wall-clock "
                                   "time (default: 10)"),
    Option("--min-validity", dest="min_validity", convert=min_validity_seconds,
           default=DEFAULT_MIN_VALIDITY, metavar="SECONDS",
           help="with TOTP_SECRET, wait for the next code if the current one expires "
                f"sooner than this (default: {DEFAULT_MIN_VALIDITY}; 0 turns it off)"),
    Option("--server-time", dest="server_time",
           help="read Angel One's clock first (one request with no credential, on the "
                "same connection) and make the code for its time"),
    Option("--json", dest="json",
           help="print one JSON object: ok, and errorcode, message, cause, hint on "
                "failure, or client_code, name on success; clock_offset_s whenever the "
                "clock was measured"),
    Option("--dry-run", dest="dry_run",
           help="print the requests that would be sent, with the key, PIN and code "
                "masked; send nothing"),
)

PLACEHOLDER_TOKEN = "<token from the login reply>"


def command() -> Command:
    return Command(program_name("test_api_connection.py"), DESCRIPTION, EPILOG, OPTIONS,
                   __version__)


class Credentials:
    """The settings a login needs, gathered and checked."""

    __slots__ = ("api_key", "client_code", "pin", "secret", "totp")

    def __init__(self, api_key: str, client_code: str, pin: str, secret: str | None,
                 totp: str | None) -> None:
        self.api_key = api_key
        self.client_code = client_code
        self.pin = pin
        self.secret = secret
        self.totp = totp


def main(argv: list[str]) -> int:
    args = command().parse(argv)
    if args.env_file is not None and not args.env_file.strip():
        fail("--env-file is empty", hint="give the path of a .env file")
    settings = Settings(args.env_file if args.env_file is not None else ".env")
    _check_env_file(args, settings)
    url = network.base_url(args, settings)
    creds = gather_credentials(args, settings)
    if args.dry_run:
        return dry_run(creds)
    report = Report(args.json)
    return check_login(args, url, creds, report)


def _check_env_file(args: SimpleNamespace, settings: Settings) -> None:
    from ..envfile import readable_by_others
    try:
        found = settings.file()
    except EnvFileError as error:
        raise network.env_file_unusable(error) from None
    path = shown(settings.env_file or ".env")
    if found is None and args.env_file is not None:
        fail(f"env file {path} does not exist", hint="check the path")
    if found is not None and readable_by_others(found):
        warn(f"{path} can be read by other users (mode {found.mode:04o}) and it holds "
             "secrets")
        err(f"hint: chmod 600 {path}")


def gather_credentials(args: SimpleNamespace, settings: Settings) -> Credentials:
    """Every setting, asking on a terminal for what is missing, all checked."""
    path = shown(settings.env_file or ".env")
    values: dict[str, str | None] = {}
    missing: list[str] = []
    for name in ("ANGEL_API_KEY", "ANGEL_CLIENT_CODE", "ANGEL_PIN", "TOTP_SECRET", "TOTP"):
        setting = settings.get(name)
        values[name] = setting.value
        console.hide(setting.value)
        if setting.value is None and name not in ("TOTP_SECRET", "TOTP"):
            missing.append(name if not setting.empty else
                           f"{name} (empty in {'the environment' if setting.source == 'environment' else path})")
    has_code = values["TOTP_SECRET"] is not None or values["TOTP"] is not None
    interactive = console.stdin_is_terminal()
    if not interactive and (missing or not has_code):
        names = missing + ([] if has_code else ["TOTP_SECRET (or TOTP)"])
        fail("missing settings: " + ", ".join(names),
             hint=f"set them in {path} (see .env.example) or the environment, or run in "
                  "a terminal to be asked")
    prompts = {"ANGEL_API_KEY": ("API key (input hidden): ", "API key", True),
               "ANGEL_CLIENT_CODE": ("Client code (e.g. A123456): ", "client code", False),
               "ANGEL_PIN": ("PIN (input hidden): ", "PIN", True)}
    for name, (prompt, what, hidden) in prompts.items():
        if values[name] is None:
            answer = console.ask_hidden(prompt, what) if hidden else \
                console.ask_line(prompt, what)
            values[name] = answer.strip()
            console.hide(values[name])
    if not has_code:
        values["TOTP"] = console.ask_line("6-digit code from your authenticator app: ", "code")
        console.hide(values["TOTP"])
    creds = Credentials(values["ANGEL_API_KEY"] or "", values["ANGEL_CLIENT_CODE"] or "",
                        values["ANGEL_PIN"] or "", values["TOTP_SECRET"],
                        None if values["TOTP_SECRET"] else values["TOTP"])
    return check_credentials(creds)


def check_credentials(creds: Credentials) -> Credentials:
    """The library's checks, before anything is sent; exit 2 naming the setting."""
    from ..secret import parse_secret
    try:
        api_key = protocol.check_setting("ANGEL_API_KEY", creds.api_key)
        client_code = protocol.check_client_code(creds.client_code)
        pin = protocol.check_setting("ANGEL_PIN", creds.pin)
        totp = protocol.check_totp(creds.totp) if creds.totp is not None else None
        if creds.secret is not None:
            secret = parse_secret(creds.secret)
            console.hide(secret.base32)
            caution = secret.compatibility_warning()
            if caution:
                warn(caution)
    except InvalidInputError as error:
        what = "TOTP_SECRET" if error.what == "secret" else error.what
        message = error.message if error.what != "secret" else \
            f"TOTP_SECRET is not a valid TOTP secret: {error.message}"
        raise UsageError(message if what in message else f"{what}: {message}",
                         error.hint) from None
    if totp is not None:
        warn("using TOTP, a ready code: it lasts only 30 s; set TOTP_SECRET so that a "
             "fresh one is made at login time")
    if not pin.isdigit():
        warn("ANGEL_PIN is not all digits; Angel One wants your login PIN (MPIN), not the "
             "trading password")
    return Credentials(api_key, client_code, pin, creds.secret, totp)


def dry_run(creds: Credentials) -> int:
    """The three requests, masked; nothing is resolved or sent."""
    mask = "********"
    local_ip = "<this machine's IPv4>"
    requests = [protocol.login_request(mask, local_ip, creds.client_code, mask, mask),
                protocol.profile_request(mask, local_ip, PLACEHOLDER_TOKEN),
                protocol.logout_request(mask, local_ip, PLACEHOLDER_TOKEN, creds.client_code)]
    for request in requests:
        out(f"{request.method} {request.path}")
        for name, value in request.headers:
            out(f"  {name}: {value}")
        if request.body is not None:
            out(f"  {json.dumps(request.body)}")
        out()
    out("--dry-run: nothing was sent")
    return EXIT_OK


def check_login(args: SimpleNamespace, url: str, creds: Credentials, report: Report) -> int:
    from ..session import SETTING_NAMES, login, reworded

    waiter = Waiter(args.min_validity)
    try:
        session = login(creds.api_key, creds.client_code, creds.pin, creds.secret,
                        totp=creds.totp, base_url=url, timeout=args.timeout,
                        min_validity=args.min_validity, server_time=args.server_time,
                        on_wait=waiter.announce, on_clock=network.show_clock,
                        names=SETTING_NAMES)
    except LoginError as error:
        waiter.done()
        return report.failure(reworded(error, network.TERMS))
    except InvalidInputError as error:
        waiter.done()
        option = {"min_validity": "--min-validity", "uncertainty": "--server-time"}.get(
            error.what, error.what)
        raise UsageError(f"{option}: {error.message}", error.hint) from None
    console.hide(session.jwt_token, session.refresh_token, session.feed_token)
    logged_out = session.logout()
    if not logged_out and session.logout_error is not None:
        warn(f"could not log out ({shown(session.logout_error.cause)}); the session will "
             "expire on its own")
    return report.success(session, logged_out)


class Report:
    """Prints the verdict as text or as one JSON object, through the gate."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def success(self, session: Session, logged_out: bool) -> int:
        clock = session.clock
        name = shown(session.name)
        client_code = shown(session.client_code, 20)
        exchanges = [shown(e, 20) for e in session.exchanges]
        if self.as_json:
            self._json({"ok": True, "client_code": client_code, "name": name,
                        "exchanges": exchanges, "logged_out": logged_out}, clock)
        else:
            out(f"Login OK: {name} ({client_code})")
            if exchanges:
                out(f"exchanges: {shown(', '.join(exchanges))}")
            if clock is not None:
                out(f"clock: {clock.describe()}")
            if logged_out:
                out("logged out: no session left open")
        warning = clock_warning(clock, network.TERMS)
        if warning:
            warn(warning)
        return EXIT_OK

    def failure(self, error: LoginError) -> int:
        clock = error.clock if _is_clock(error.clock) else None
        exit_code = EXIT_FAILED if isinstance(error, LoginRefusedError) else EXIT_NO_ANSWER
        if self.as_json:
            self._json({"ok": False, "errorcode": shown(error.errorcode, 40),
                        "message": shown(error.message), "cause": shown(error.cause, 400),
                        "hint": shown(error.hint or "", 400)}, clock)
        else:
            console.report_error(shown(error.cause, 400),
                                 shown(error.hint, 400) if error.hint else None)
            warning = clock_warning(clock, network.TERMS)
            if warning and error.errorcode != "AB1050":  # that hint has it already
                warn(warning)
        return exit_code

    def _json(self, payload: dict[str, Any], clock: ClockOffset | None) -> None:
        if clock is not None:
            payload["clock_offset_s"] = round(clock.estimate, 2)
            payload["clock_uncertainty_s"] = round(clock.uncertainty, 2)
        out(json.dumps(payload))


def _is_clock(value: object) -> bool:
    from ..clock import ClockOffset
    return isinstance(value, ClockOffset)


def run() -> int:
    return console.run(main)
