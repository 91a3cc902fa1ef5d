"""``angel-totp`` (``generate_totp.py``): print the current code, maybe update .env."""

from __future__ import annotations

import os
import sys
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Callable

from .. import __version__
from ..codes import DEFAULT_MIN_VALIDITY, Code, code_at, fresh_code, parse_when
from ..errors import EnvFileError, InvalidInputError, InvalidSecretError
from ..secret import TotpSecret, parse_secret
from . import console
from .console import EXIT_OK, UsageError, err, fail, out, shown, warn
from .waiting import Waiter
from .options import (Command, Option, min_validity_seconds, program_name, text_value,
                      timeout_seconds)

if TYPE_CHECKING:  # loaded only on the paths that read or write the env file
    from ..clock import ClockOffset
    from ..envtext import EnvText
    from ..settings import Settings

DESCRIPTION = """\
Print the current TOTP code for your Angel One SmartAPI login, and how long
it stays valid. Optionally write it to the TOTP= line of your .env file
without changing one other byte of that file.

where the secret comes from (first found wins):
  1. --secret-stdin      the first line of standard input
  2. TOTP_SECRET         in the process environment
  3. TOTP_SECRET         in the env file (--env-file, default ./.env)
  4. a hidden prompt     only when standard input is a terminal

  The secret is the 26-letter base32 text Angel One shows beside the QR
  code, in any case, with or without spaces, hyphens or '=' padding; or the
  whole otpauth://totp/... URI the QR code holds. It is never accepted as a
  command-line argument: arguments are visible to every user of the machine.
"""

EPILOG = """\
examples:
  angel-totp                        code from TOTP_SECRET (environment or .env)
  angel-totp -q                     just the code, for scripts
  angel-totp --json                 {"totp": "123456", "valid_for": 17, ...}
  pass show angel/totp | angel-totp --secret-stdin -q
  angel-totp --write                also set TOTP=<code> in .env
  angel-totp --watch                live code with a countdown; Ctrl-C stops
  angel-totp --server-time          code for Angel One's clock, not this machine's
  angel-totp --time 2005-03-18T01:58:29Z   code for another instant
  (from a checkout, 'python generate_totp.py' is the same command)

the env file:
  Without --write or --no-write you are asked "Update TOTP in .env? [y/N]"
  only when standard input is a terminal and the output is the default one;
  -q, --json and piped input never ask and never write. With --write the
  code is chosen after the file is locked, printed only after the file was
  written and read back, and has at least --min-validity seconds left when
  the new file takes the old one's place. Only TOTP assignments change
  (and TOTP_SECRET with --save-secret); each keeps its export prefix, quotes
  and comment. The write is atomic, keeps the file's permissions (a new
  file is 0600), goes through a symlink to its target, and notices a change
  another program makes meanwhile. A read-only or hard-linked file is
  refused, untouched. A file named with --env-file must exist unless
  --write is given, which creates it.

exit codes:
  0    success (--watch: also on Ctrl-C)
  1    the env file could not be read, parsed or written
  2    bad input or usage: invalid secret, no secret, bad option
  3    --server-time got no usable answer from Angel One
  130  interrupted (Ctrl-C)   141  output closed   143  terminated

A code in .env lasts 30 seconds. A bot should keep TOTP_SECRET in .env and
make the code at login time (see README.md: "The Python API, for bots").
"""

OPTIONS = (
    Option("--secret-stdin", dest="secret_stdin", group="secret",
           help="read the secret from the first line of standard input"),
    Option("--env-file", dest="env_file", convert=text_value, metavar="PATH", group="secret",
           help="the env file to read TOTP_SECRET from and write TOTP to "
                "(default: .env in the current folder)"),
    Option("-q", "--quiet", dest="quiet", group="output", exclusive="format",
           help="print the code alone, e.g. 123456 (never asks anything)"),
    Option("--json", dest="json", group="output", exclusive="format",
           help="print one JSON object: totp, valid_for, valid_until, period, digits, "
                "algorithm (never asks anything)"),
    Option("--watch", dest="watch", group="output",
           help="keep showing the current code with a countdown until Ctrl-C (redrawn "
                "in place on a terminal, one line per new code otherwise and with -q "
                "or --json)"),
    Option("--time", dest="time", convert=text_value, metavar="WHEN", group="time",
           help="the code for that instant: Unix seconds (1111111109) or ISO 8601 with "
                "a zone (2005-03-18T01:58:29Z), from 1970 to 9999; never waits"),
    Option("--min-validity", dest="min_validity", convert=min_validity_seconds,
           default=DEFAULT_MIN_VALIDITY, metavar="SECONDS", group="time",
           help="if the current code expires sooner, wait for the next one and say so "
                f"on stderr; 0 turns this off (default: {DEFAULT_MIN_VALIDITY})"),
    Option("--server-time", dest="server_time", group="time",
           help="make the code for Angel One's clock, measured from one request that "
                "carries no secret; prints the offset on stderr"),
    Option("--base-url", dest="base_url", convert=text_value, metavar="URL", group="time",
           help="with --server-time: the SmartAPI root (default: ANGEL_BASE_URL, else "
                "https://apiconnect.angelone.in)"),
    Option("--timeout", dest="timeout", convert=timeout_seconds, default=10.0,
           metavar="SECONDS", group="time",
           help="with --server-time: give up after this long (default: 10)"),
    Option("--write", dest="write", group="writing the env file", exclusive="write",
           help="set TOTP=<code> in the env file without asking"),
    Option("--no-write", dest="no_write", group="writing the env file", exclusive="write",
           help="never write and never ask"),
    Option("--save-secret", dest="save_secret", group="writing the env file",
           help="also store the secret as TOTP_SECRET when the env file has none or an "
                "empty one (a secret typed at the prompt is offered for saving, "
                "default no)"),
)


def command() -> Command:
    return Command(program_name("generate_totp.py"), DESCRIPTION, EPILOG, OPTIONS, __version__)


class Secret:
    """The secret, where it came from (for messages), and whether it was typed."""

    __slots__ = ("value", "source", "typed")

    def __init__(self, value: TotpSecret, source: str, typed: bool) -> None:
        self.value = value
        self.source = source
        self.typed = typed


def main(argv: list[str]) -> int:
    args = command().parse(argv)
    when = check_options(args)
    settings = _settings(args)
    asks = (not args.write and not args.no_write and when is None and not args.watch
            and not args.quiet and not args.json and console.stdin_is_terminal()
            and not args.secret_stdin)
    if args.write or args.save_secret:
        _check_writable(args, settings)  # before any wait or output
    secret = obtain_secret(args, settings)
    clock = _server_clock(args, settings) if args.server_time else None

    if args.watch:
        return watch(secret.value, args, clock)
    if when is not None:
        out(render(code_at(secret.value, when), args))
        return EXIT_OK
    if args.write or args.save_secret:
        code = write_env(args, settings, secret, clock)
        if code is not None:
            out(render(code, args))
        return EXIT_OK
    code = make_code(secret.value, args, clock)
    out(render(code, args))
    if asks:
        offer_update(args, settings, secret, clock, code)
    return EXIT_OK


def check_options(args: SimpleNamespace) -> float | None:
    """Every check on the options alone, before anything else happens."""
    if args.watch and (args.write or args.save_secret or args.time is not None):
        fail("--watch cannot be combined with --write, --save-secret or --time",
             hint="run once with --write to update the env file")
    if args.time is not None and (args.write or args.save_secret):
        fail("--time makes a code for another instant; it is not written to the env file",
             hint="drop --write and --save-secret to just print it")
    if args.time is not None and args.server_time:
        fail("--time and --server-time cannot be combined: --time fixes the instant")
    if args.env_file is not None and not args.env_file.strip():
        fail("--env-file is empty", hint="give the path of a .env file")
    if args.base_url is not None and not args.server_time:
        fail("--base-url is only used with --server-time")
    if args.time is None:
        return None
    try:
        return parse_when(args.time)
    except InvalidInputError as error:
        fail(f"--time: {error.message}", hint=error.hint)


def _settings(args: SimpleNamespace) -> Settings:
    from ..settings import DEFAULT_ENV_FILE, Settings
    return Settings(args.env_file if args.env_file is not None else DEFAULT_ENV_FILE)


def _env_path(args: SimpleNamespace) -> str:
    from ..settings import DEFAULT_ENV_FILE
    return args.env_file if args.env_file is not None else DEFAULT_ENV_FILE


def _file_error(error: EnvFileError, args: SimpleNamespace) -> UsageError | console.CommandError:
    """A library file error in people's words, with the contract's exit code."""
    named = args.env_file is not None
    hint = error.hint
    if error.reason == "missing":
        hint = "check the path, or add --write to create it"
    bad_path = error.reason in ("missing", "not_a_file", "no_folder") and named
    message, hint = shown(error.message, 400), hint and shown(hint, 400)
    if bad_path:
        return UsageError(message, hint)
    return console.CommandError(message, hint, console.EXIT_FAILED)


def _check_writable(args: SimpleNamespace, settings: Settings) -> None:
    from ..envfile import check_writable
    try:
        check_writable(_env_path(args))
        _read_file(args, settings)
    except EnvFileError as error:
        raise _file_error(error, args) from None


def _read_file(args: SimpleNamespace, settings: Settings) -> object:
    """The env file as read (warning if others can read it); None if absent."""
    from ..envfile import readable_by_others
    try:
        found = settings.file()
    except EnvFileError as error:
        raise _file_error(error, args) from None
    if found is None and args.env_file is not None and not args.write:
        raise UsageError(f"env file {shown(args.env_file)} does not exist",
                         hint="check the path, or add --write to create it")
    if found is not None and readable_by_others(found):
        path = shown(_env_path(args))
        warn(f"{path} can be read by other users (mode {found.mode:04o}) and it holds "
             "secrets")
        err(f"hint: chmod 600 {path}")
    return found


def obtain_secret(args: SimpleNamespace, settings: Settings) -> Secret:
    """The secret from the first source that has one (see --help)."""
    if args.secret_stdin:
        if console.stdin_is_terminal():
            return _parse(console.ask_hidden("TOTP secret (input hidden): ", "secret"),
                          "the secret you typed", typed=True)
        line = _first_line()
        if not line.strip():
            fail("--secret-stdin: standard input had no secret on its first line",
                 hint="pipe the secret in, e.g.: pass show angel/totp | "
                      "angel-totp --secret-stdin")
        return _parse(line, "the secret from standard input", typed=False)
    if "TOTP_SECRET" not in os.environ:  # the file decides: read it, with its warnings
        _read_file(args, settings)
    setting = settings.get("TOTP_SECRET")
    if setting.value is not None:
        where = "the environment" if setting.source == "environment" else \
            shown(_env_path(args))
        return _parse(setting.value, f"TOTP_SECRET in {where}", typed=False)
    if console.stdin_is_terminal():
        return _parse(console.ask_hidden("TOTP secret (input hidden): ", "secret"),
                      "the secret you typed", typed=True)
    if setting.empty:
        where = "the environment" if setting.source == "environment" else \
            shown(_env_path(args))
        fail(f"TOTP_SECRET in {where} is empty",
             hint=f"use --secret-stdin, put your secret in TOTP_SECRET, or run in a "
                  "terminal to be asked for it")
    fail("no TOTP secret found",
         hint=f"use --secret-stdin, set TOTP_SECRET in the environment or in "
              f"{shown(_env_path(args))}, or run in a terminal to be asked for it")


def _first_line(limit: int = 4096) -> str:
    # A bounded read: a 10 MB line is refused without holding it all.
    if sys.stdin is None:
        return ""
    try:
        line = sys.stdin.readline(limit)
    except (OSError, ValueError):
        return ""
    except UnicodeDecodeError:
        fail("--secret-stdin: standard input is not text in this system's encoding")
    return line


def _parse(text: str, source: str, typed: bool) -> Secret:
    console.hide(_secret_part(text))
    try:
        secret = parse_secret(text)
    except InvalidSecretError as error:
        fail(f"{source} is not a valid TOTP secret: {error.message}",
             hint=error.hint or "copy the 26-letter secret shown beside the QR code on "
                                "smartapi.angelbroking.com/enable-totp")
    console.hide(secret.base32, secret.storable_text())
    caution = secret.compatibility_warning()
    if caution:
        warn(caution)
    return Secret(secret, source, typed)


def _secret_part(text: str) -> str:
    """What of the text to never show: the secret= value of a URI, else all of it."""
    stripped = text.strip()
    if "://" not in stripped:
        return stripped
    from urllib.parse import parse_qsl, urlsplit
    try:
        query = parse_qsl(urlsplit(stripped).query)
    except ValueError:
        return stripped
    return next((value for name, value in query if name.lower() == "secret"), "")


def _server_clock(args: SimpleNamespace, settings: Settings) -> ClockOffset:
    """Angel One's clock, measured once; the offset is shown on stderr."""
    from .network import measure_clock_for_people
    return measure_clock_for_people(args, settings)


def _clock_args(clock: ClockOffset | None) -> dict[str, object]:
    """fresh_code's clock and uncertainty for Angel One's time, or this machine's."""
    if clock is None:
        return {}
    offset = clock.estimate
    return {"clock": lambda: time.time() - offset, "uncertainty": clock.uncertainty}


def make_code(secret: TotpSecret, args: SimpleNamespace, clock: ClockOffset | None) -> Code:
    waiter = Waiter(args.min_validity)
    try:
        return fresh_code(secret, args.min_validity, on_wait=waiter.announce,
                          sleep=waiter.sleep, **_clock_args(clock))  # type: ignore[arg-type]
    except InvalidInputError as error:
        option = {"min_validity": "--min-validity", "uncertainty": "--server-time"}.get(
            error.what, "")
        fail(f"{option}: {error.message}" if option else error.message, hint=error.hint)
    finally:
        waiter.done()


def render(code: Code, args: SimpleNamespace) -> str:
    if args.quiet:
        return code.totp
    if args.json:
        import json
        return json.dumps(code.as_json_dict())
    return f"TOTP {code.totp} (valid for {code.valid_for} s)"


def _local_expiry(code: Code, clock: ClockOffset | None) -> float:
    """When, by this machine's clock, the code surely still works until."""
    return code.valid_until + (clock.low if clock is not None else 0.0)


def write_env(args: SimpleNamespace, settings: Settings, secret: Secret,
              clock: ClockOffset | None, printed: Code | None = None) -> Code | None:
    """Update the env file; the code is chosen under its lock. Returns what was written."""
    from ..envfile import update_env_file

    chosen: list[Code] = []
    write_code = args.write
    save_secret = args.save_secret

    def compute(parsed: EnvText) -> tuple[dict[str, str], float]:
        values: dict[str, str] = {}
        good_until = float("inf")
        if write_code:
            code = make_code(secret.value, args, clock)
            chosen.append(code)
            values["TOTP"] = code.totp
            good_until = _local_expiry(code, clock) - args.min_validity
        if save_secret and not parsed.has_nonempty("TOTP_SECRET"):
            values["TOTP_SECRET"] = secret.value.storable_text()
        return values, good_until

    path = _env_path(args)
    try:
        result = update_env_file(path, compute)
    except EnvFileError as error:
        raise _file_error(error, args) from None
    code = chosen[-1] if chosen else None
    shown_path = shown(path)
    if code is not None and result.written.get("TOTP"):
        if printed is not None and printed.totp != code.totp:
            err(f"the code above has expired; wrote the next one, {code.totp}")
        left = max(0, int(_local_expiry(code, clock) - time.time()))
        err(f"updated TOTP in {shown_path} (valid for {left} s)")
    if save_secret:
        if result.written.get("TOTP_SECRET"):
            err(f"saved TOTP_SECRET in {shown_path}")
        else:
            err(f"{shown_path} already has a TOTP_SECRET; it was left as it was")
    return code


def offer_update(args: SimpleNamespace, settings: Settings, secret: Secret,
                 clock: ClockOffset | None, printed: Code) -> None:
    """Interactively: ask to write the code, and to save a typed secret."""
    path = shown(_env_path(args))
    write_code = console.ask_yes_no(f"Update TOTP in {path}?")
    save = False
    if secret.typed:
        found = _read_file(args, settings)
        parsed = getattr(found, "parsed", None)
        if parsed is None or not parsed.has_nonempty("TOTP_SECRET"):
            save = console.ask_yes_no(
                f"Save this secret as TOTP_SECRET in {path} (so you are not asked again)?")
    if not (write_code or save):
        return
    _check_writable(args, settings)
    choice = SimpleNamespace(**{**vars(args), "write": write_code, "save_secret": save})
    write_env(choice, settings, secret, clock, printed if write_code else None)


def watch(secret: TotpSecret, args: SimpleNamespace, clock: ClockOffset | None) -> int:
    """Show the current code until Ctrl-C; redraw in place on a terminal."""
    offset = clock.estimate if clock is not None else 0.0
    now: Callable[[], float] = lambda: time.time() - offset  # noqa: E731
    redraw = console.is_terminal(sys.stdout) and not (args.quiet or args.json)
    last_step = None
    try:
        while True:
            code = code_at(secret, now())
            if redraw:
                console.out_redraw(render(code, args))
                time.sleep(1 - now() % 1 + 0.01)
            else:
                if code.valid_from != last_step:
                    out(render(code, args))
                    last_step = code.valid_from
                time.sleep(max(code.seconds_left, 0) + 0.01)
    except KeyboardInterrupt:
        if redraw:
            out("")
        return EXIT_OK


def run() -> int:
    return console.run(main)
