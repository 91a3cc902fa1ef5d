"""``angel-login-check`` (``test_api_connection.py``): one login, a plain verdict, through
:func:`angel_totp.session.login`, so that the check and a bot's login cannot drift apart."""

from __future__ import annotations

import json
import os
import sys
from argparse import Namespace
from typing import Any

from .. import protocol
from ..clock import ClockOffset
from ..diagnosis import clock_warning
from ..errors import (
    AngelTotpError,
    EnvFileError,
    InvalidInputError,
    LoginError,
    LoginRefusedError,
    NoAnswerError,
)
from ..redact import MASK
from ..session import (
    LOGOUT_AFTER_INTERRUPT_S,
    SETTING_NAMES,
    Credentials,
    Session,
    check_credentials,
    check_value,
    login,
    reworded,
)
from ..settings import DEFAULT_ENV_FILE, Settings
from . import Signalled, console, network, problem
from .console import EXIT_OK, CommandError, fail, out, shown, warn
from .options import Parser, add_min_validity, add_timeout, manual, path_argument, program_name
from .waiting import Waiter

DESCRIPTION = """\
Log in to Angel One SmartAPI once with your API key, client code, PIN and a
fresh TOTP code, and say plainly whether it worked. On success it reads your
profile, prints "Login OK: <name> (<client code>)", and logs out again so no
session is left open (with --store, it keeps the session for today's bots).
On failure it says why and what to do next, and it always checks this
computer's clock against Angel One's.

settings (the environment first, then the env file, default ./.env):
  ANGEL_API_KEY      your SmartAPI app's API key
  ANGEL_CLIENT_CODE  your Angel One client ID, e.g. A123456
  ANGEL_PIN          your Angel One login PIN (MPIN), not the trading password
  TOTP_SECRET        preferred: a fresh code is made at login time
  TOTP               a ready 6-digit code, used when there is no secret (lasts 30 s)
  ANGEL_BASE_URL     default https://apiconnect.angelone.in (or --base-url)

  A missing setting is asked for on a terminal (the API key and PIN hidden);
  without a terminal the run stops and names every missing one. A value is
  never shown, only its name. No option takes a credential: arguments are
  visible to every user of the machine.
"""

EPILOG = """\
examples:
  %(prog)s                     check the login with .env
  %(prog)s --server-time       make the code for Angel One's clock
  %(prog)s --dry-run           show the requests, send nothing
  %(prog)s --store             keep the session for today's bots

One login request per run, never a retry loop. Each request has its verdict
within --timeout plus one second; Ctrl-C stops within a second, after trying
one logout for at most 2 s (a second Ctrl-C skips it).

exit codes: 0 login OK (or --dry-run), 1 Angel One said no, 2 bad input or
usage, 3 no usable answer from the server, 130 interrupted, 141 output
closed, 143 terminated (128 + N for another signal N).

""" + manual("login-check.md")

WAYS = "credentials are never arguments: set ANGEL_API_KEY, ANGEL_CLIENT_CODE, ANGEL_PIN " \
       "and TOTP_SECRET in the environment or the env file, or type them at the prompts " \
       "on a terminal"

# --store without a path: the per-user default for the client code (not a string:
# argparse would pass it through path_argument, which refuses an empty one)
STORE_DEFAULT = True


def parser() -> Parser:
    parser = Parser(prog=program_name("angel-login-check"), description=DESCRIPTION,
                    epilog=EPILOG, secrets=WAYS)
    parser.add_argument("--env-file", type=path_argument, metavar="PATH",
                        help="where to read settings the environment does not set "
                             "(default: .env in the current folder)")
    parser.add_argument("--base-url", metavar="URL",
                        help="the SmartAPI root (default: ANGEL_BASE_URL, else "
                             "https://apiconnect.angelone.in)")
    add_timeout(parser, "give up on a request after this long, in wall-clock time")
    add_min_validity(parser, "with TOTP_SECRET, wait for the next code if the current one "
                             "expires sooner")
    parser.add_argument("--server-time", action="store_true",
                        help="read Angel One's clock first (one request with no credential, "
                             "on the same connection) and make the code for its time")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object whatever happens: ok, and errorcode, "
                             "message, hint on failure, or client_code, name on success "
                             "(not with --dry-run)")
    sending = parser.add_mutually_exclusive_group()
    sending.add_argument("--dry-run", action="store_true",
                         help="print the requests that would be sent, with the key, PIN and "
                              "code masked; send nothing")
    sending.add_argument("--store", nargs="?", const=STORE_DEFAULT, type=path_argument,
                         metavar="PATH",
                         help="keep the session for today's bots instead of logging out, in "
                              "PATH (default: a per-user state folder); a second run reuses "
                              "it after one profile request")
    return parser


def check_store(store: str, env_file: str) -> None:
    # Before any prompt or request; the env file would be replaced (it is no session).
    hint = "name a file, or give --store without a path for the default"
    if os.path.isdir(store):
        fail(f"--store {shown(store)} is a folder", hint=hint)
    folder = os.path.dirname(os.path.abspath(store))
    while not os.path.lexists(folder):  # the missing folders would be created
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        fail(f"--store {shown(store)} is under {shown(folder)}, which is not a folder",
             hint=hint)
    try:
        same = os.path.realpath(store) == os.path.realpath(env_file) or (
            os.path.exists(store) and os.path.samefile(store, env_file))
    except OSError:  # the env file is missing: the path comparison above decided
        same = False
    if same:
        fail(f"--store {shown(store)} is the env file: the session would replace it",
             hint=hint)


PLACEHOLDER_TOKEN = "<token from the login reply>"

# The settings a login needs, by the name login() gives each.
SETTINGS = {name: key for key, name in SETTING_NAMES.items() if key != "base_url"}
# What is asked for on a terminal when missing: prompt, words for errors, hidden?
PROMPTS = {"ANGEL_API_KEY": ("API key (input hidden): ", "the API key", True),
           "ANGEL_CLIENT_CODE": ("Client code (e.g. A123456): ", "the client code", False),
           "ANGEL_PIN": ("PIN (input hidden): ", "the PIN", True)}


def main(argv: list[str]) -> int:
    report = Report("--json" in argv)  # no abbreviation: this is the only spelling
    try:
        options = parser()
        args = options.parse(argv)
        if args.json and args.dry_run:  # the requests are text: no one JSON object
            options.error("argument --json: not allowed with argument --dry-run")
        report.server_time = args.server_time
        return check(args, report)
    except (CommandError, AngelTotpError) as error:
        report.problem("USAGE" if console.exit_code_for(error) == console.EXIT_USAGE
                       else "FAILED", error.message, error.hint)
        raise
    except KeyboardInterrupt:
        report.problem("INTERRUPTED", "interrupted", None)
        raise
    except Signalled as ended:
        report.problem("TERMINATED", ended.words, None)
        raise


def check(args: Namespace, report: Report) -> int:
    network.check_server_time_room(args)
    path = args.env_file or DEFAULT_ENV_FILE
    if isinstance(args.store, str):
        check_store(args.store, path)
    settings = Settings(path)
    try:  # now: a file that cannot be read or parsed exits 2, before anything is sent
        console.env_file(settings, path, args.env_file is not None, hint="check the path")
    except EnvFileError as error:
        from ..envfile import next_step  # loaded by now: the file was read
        hint = next_step(error)
        hint = f"{hint}; nothing was sent" if hint else "nothing was sent"
        raise CommandError(shown(error.message, 400), shown(hint, 400)) from None
    url = network.base_url(args, settings)
    credentials = gather_credentials(settings, path)
    if args.dry_run:
        return dry_run(url, credentials, args.server_time)
    return check_login(args, url, credentials, report)


def gather_credentials(settings: Settings, path: str) -> Credentials:
    # Each setting checked as it is read; on a terminal, what is missing is asked for.
    values: dict[str, str | None] = {}
    missing: list[str] = []
    for name in SETTINGS:
        setting = settings.get(name)
        values[name] = setting.value
        if setting.value is None and name in PROMPTS:
            where = "the environment" if setting.source == "environment" else shown(path)
            missing.append(f"{name} (empty in {where})" if setting.empty else name)
    has_code = values["TOTP_SECRET"] is not None or values["TOTP"] is not None
    if values["TOTP_SECRET"] is not None:
        values["TOTP"] = None  # a ready code is only for when there is no secret
    for name, value in values.items():
        if value is not None:  # checked before any prompt; errors name it, never show it
            console.hide(value if name != "ANGEL_CLIENT_CODE" else None)
            check_value(SETTINGS[name], value, SETTING_NAMES)
    if not console.is_terminal(sys.stdin) and (missing or not has_code):
        names = missing + ([] if has_code else ["TOTP_SECRET (or TOTP)"])
        raise console.missing(names, path,
                              hint="set them in the env file (see .env.example) or the "
                                   "environment, or run in a terminal to be asked")
    for name, (prompt, what, hidden) in PROMPTS.items():
        if values[name] is None:
            ask = console.ask_hidden if hidden else console.ask_line
            answer = ask(prompt, what)
            console.hide(answer if hidden else None)
            check_value(SETTINGS[name], answer, {SETTINGS[name]: what})
            values[name] = answer
    if not has_code:
        values["TOTP"] = console.ask_line("6-digit code from your authenticator app: ", "code")
        console.hide(values["TOTP"])
        try:
            check_value("totp", values["TOTP"])
        except InvalidInputError:
            fail("the code must be 6 digits",
                 hint="type the code your authenticator app shows now, or set TOTP_SECRET")
    credentials = check_credentials(values["ANGEL_API_KEY"], values["ANGEL_CLIENT_CODE"],
                                    values["ANGEL_PIN"], values["TOTP_SECRET"],
                                    totp=values["TOTP"], names=SETTING_NAMES)
    console.hide(*(value.reveal() for value in credentials.hidden))
    caution = credentials.secret.compatibility_warning() if credentials.secret else None
    if caution:
        warn(caution)
    if credentials.totp is not None:
        warn("using TOTP, a ready code: it lasts only 30 s; set TOTP_SECRET so that a "
             "fresh one is made at login time")
    if not (credentials.pin.reveal().isascii() and credentials.pin.reveal().isdigit()):
        warn("ANGEL_PIN is not all digits; Angel One wants your login PIN (MPIN), not the "
             "trading password")
    return credentials


def dry_run(url: str, credentials: Credentials, server_time: bool) -> int:
    local_ip = "<this machine's IPv4>"
    requests = [protocol.clock_request()] if server_time else []
    requests += [
        protocol.login_request(MASK, local_ip, credentials.client_code, MASK, MASK),
        protocol.profile_request(MASK, local_ip, PLACEHOLDER_TOKEN),
        protocol.logout_request(MASK, local_ip, PLACEHOLDER_TOKEN, credentials.client_code)]
    for request in requests:
        out(f"{request.method} {shown(url)}{request.path}")
        for name, value in request.headers:
            out(f"  {name}: {value}")
        if request.body is not None:
            out(f"  {json.dumps(request.body)}")
        out()
    out("--dry-run: nothing was sent")
    return EXIT_OK


def check_login(args: Namespace, url: str, credentials: Credentials, report: Report) -> int:
    waiter = Waiter(args.min_validity)
    common: dict[str, Any] = dict(
        api_key=credentials.api_key, client_code=credentials.client_code, pin=credentials.pin,
        secret=credentials.secret, totp=credentials.totp, base_url=url, timeout=args.timeout,
        min_validity=args.min_validity, server_time=args.server_time, on_wait=waiter.announce,
        sleep=waiter.sleep, on_clock=network.show_clock, names=SETTING_NAMES)
    session: Session | None = None
    logout_tried = args.store is not None  # today's shared session is kept, not logged out
    try:
        if args.store is None:
            session = login(_keep_open=True, **common)
        else:
            from ..store import daily_login
            store = None if args.store is STORE_DEFAULT else args.store
            session = daily_login(store=store, **common)
        waiter.done()
        console.hide(session.jwt_token, session.refresh_token, session.feed_token)
        if not logout_tried:
            logout_tried = True
            session.logout()
            failure = session.logout_error
            if isinstance(failure, NoAnswerError) and failure.errorcode == "BAD_REPLY":
                # Out of step, or garbled: the profile's answer cannot be trusted either.
                return report.failure(reworded(failure, network.TERMS))
            if failure is not None:
                why = f"{failure.errorcode} {failure.message}" if isinstance(
                    failure, LoginRefusedError) else failure.errorcode.lower().replace("_", " ")
                warn(f"could not log out ({shown(why)}); the session will expire on its own")
        return report.success(session)
    except LoginError as error:
        return report.failure(reworded(error, network.TERMS))
    except InvalidInputError as error:
        option = {"min_validity": "--min-validity", "uncertainty": "--server-time",
                  "timeout": "--timeout"}.get(error.what, error.what)
        raise CommandError(f"{option}: {error.message}", error.hint) from None
    except BaseException:  # Ctrl-C between the login and its logout: one short try
        if session is not None and not logout_tried:
            session.logout(LOGOUT_AFTER_INTERRUPT_S)
        raise
    finally:
        waiter.done()


class Report:
    """The verdict as text, or with --json as exactly one object whatever happens."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.server_time = False  # the offset was shown, and codes made for it
        self.printed = False

    def problem(self, errorcode: str, message: str, hint: str | None) -> None:
        # With --json, the object for a run that ended another way (usage, a signal).
        if self.as_json and not self.printed:
            self._json(problem(errorcode, shown(message, 400), shown(hint or "", 400)), None)

    def success(self, session: Session) -> int:
        clock = session.clock
        name = shown(session.name) or "(no name in the profile)"
        client_code = shown(session.client_code, 20)
        exchanges = [shown(e, 20) for e in session.exchanges]
        if self.as_json:
            payload = {"ok": True, "client_code": client_code, "name": name,
                       "exchanges": exchanges, "logged_out": session.logged_out}
            if session.store_path:
                payload.update(stored=shown(session.store_path), reused=session.reused)
            self._json(payload, clock)
        else:
            out(f"Login OK: {name} ({client_code})")
            if exchanges:
                out(f"exchanges: {shown(', '.join(exchanges))}")
            if clock is not None:
                out(f"clock: {clock.describe()}")
            if session.logged_out:
                out("logged out: no session left open")
            if session.store_path:
                how = "reused" if session.reused else "kept"
                out(f"session {how} for today in {shown(session.store_path)} (not logged out)")
        self._clock_warning(clock)
        return EXIT_OK

    def failure(self, error: LoginError) -> int:
        clock = error.clock if isinstance(error.clock, ClockOffset) else None
        if self.as_json:
            self._json({"ok": False, "errorcode": shown(error.errorcode, 40),
                        "message": shown(error.message), "cause": shown(error.cause, 400),
                        "hint": shown(error.hint or "", 400)}, clock)
        else:
            console.report_error(shown(error.cause, 400),
                                 shown(error.hint, 400) if error.hint else None)
            if error.errorcode != "AB1050":  # that hint speaks of the clock already
                self._clock_warning(clock)
        return console.exit_code_for(error)

    def _clock_warning(self, clock: ClockOffset | None) -> None:
        warning = None if self.server_time else clock_warning(clock, network.TERMS)
        if warning:
            warn(warning)

    def _json(self, payload: dict[str, Any], clock: ClockOffset | None) -> None:
        if clock is not None:
            payload["clock_offset_s"] = console.shown_number(round(clock.estimate, 2))
            payload["clock_uncertainty_s"] = console.shown_number(round(clock.uncertainty, 2))
        self.printed = True
        out(json.dumps(payload))


if __name__ == "__main__":  # python -m angel_totp.cli.login_check
    sys.exit(console.run(main))
