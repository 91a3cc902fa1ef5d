"""``angel-totp`` (``generate_totp.py``): print the current code, maybe update .env."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING

from .. import __version__
from ..codes import DEFAULT_MIN_VALIDITY, Code, code_at, fresh_code, parse_when
from ..errors import EnvFileError, InvalidInputError, InvalidSecretError
from ..secret import MAX_SECRET_LENGTH, TotpSecret, parse_secret
from ..settings import DEFAULT_ENV_FILE, Settings
from . import console, waiting
from .console import EXIT_OK, UsageError, err, fail, out, shown, warn
from .options import (
    Command,
    Option,
    min_validity_seconds,
    program_name,
    text_value,
    timeout_seconds,
)
from .waiting import Waiter

if TYPE_CHECKING:  # loaded only on the paths that read or write the env file
    from ..clock import ClockOffset
    from ..envfile import EnvFile

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
  code, in any case, with or without spaces (any kind, such as a web
  page's non-breaking ones), hyphens or '=' padding; or the whole
  otpauth://totp/... URI the QR code holds. It is never accepted as a
  command-line argument: arguments are visible to every user of the
  machine. An invalid secret is refused (exit 2) with what is wrong and
  where, never any of its characters: a character that is not a base32
  letter (a non-ASCII letter is never read as a Latin one), too short or
  too long (over 1,024 characters), or a 6 to 8 digit code from an
  authenticator app instead of the secret.
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

waiting for the next code:
  A code that would expire within --min-validity seconds (default 5) is not
  handed out: the command waits for the next one, with a countdown on
  stderr when stderr is a terminal and a single note otherwise. --time
  never waits, and --min-validity 0 turns the wait off.

the env file:
  Without --write or --no-write you are asked "Update TOTP in .env? [y/N]"
  only when standard input is a terminal and the output is the default one;
  -q, --json and piped input never ask and never write.
  With --write, in this order: everything that can be checked beforehand
  is (the path is not empty, its folder exists and is writable, the file is
  writable, not read-only, not hard-linked, and parses), before any wait or
  output; then the file is locked, the code is chosen, so that it has at
  least --min-validity seconds left when the new file takes the old one's
  place, the file is written, read back and checked; and only then is the
  code printed. If the file cannot be written, nothing is printed on stdout,
  the file is left untouched, and the exit status is 1 (2 for a bad path
  you named).
  Only TOTP assignments change (and TOTP_SECRET with --save-secret); each
  keeps its export prefix, quotes and comment. The write is atomic, keeps
  the file's permissions (a new file is 0600), goes through a symlink to
  its target, leaves no temporary file behind (also on Ctrl-C and
  SIGTERM), and notices a change another program makes meanwhile and redoes
  its update on top of it. A lock held by another program for over 10 s
  ends the run with exit 1. A read-only or hard-linked file is refused,
  untouched; a file that other users can read gets a warning. A file named
  with --env-file must exist unless --write or --save-secret is given,
  which create it.

exit codes:
  0    success (--watch: also on Ctrl-C)
  1    the env file could not be read, parsed or written
  2    bad input or usage: invalid secret, no secret, bad option, an
       --env-file that is empty, a folder, in a folder that does not
       exist, or missing without --write
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
                "in place on a terminal of any width, one line per new code otherwise "
                "and with -q or --json)"),
    Option("--time", dest="time", convert=text_value, metavar="WHEN", group="time",
           help="the code for that instant: Unix seconds (1111111109) or ISO 8601 with "
                "a zone (2005-03-18T01:58:29Z), from 1970 to 9999 (milliseconds are "
                "refused, with a hint); never waits"),
    Option("--min-validity", dest="min_validity", convert=min_validity_seconds,
           default=DEFAULT_MIN_VALIDITY, metavar="SECONDS", group="time",
           help="if the current code expires sooner, wait for the next one and say so "
                "on stderr (a countdown on a terminal); 0 turns this off "
                f"(default: {DEFAULT_MIN_VALIDITY})"),
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
           help="set TOTP=<code> in the env file without asking; the code is printed "
                "only once the file is written and checked"),
    Option("--no-write", dest="no_write", group="writing the env file", exclusive="write",
           help="never write and never ask"),
    Option("--save-secret", dest="save_secret", group="writing the env file",
           help="also store the secret as TOTP_SECRET when the env file has none or an "
                "empty one (a URI with values other than Angel One's is stored whole, "
                "quoted); a secret typed at the prompt is offered for saving, "
                "default no"),
)

# With --write, the code must outlast the write itself: it is chosen with this
# much more than --min-validity left, so that what is printed after the file was
# written and read back still shows at least --min-validity seconds.
WRITE_MARGIN = 0.5


def command() -> Command:
    return Command(program_name("generate_totp.py"), DESCRIPTION, EPILOG, OPTIONS, __version__)


class Secret:
    """The secret, where it came from (for messages), whether it was typed, and
    what to store as TOTP_SECRET."""

    __slots__ = ("value", "source", "typed", "storable")

    def __init__(self, value: TotpSecret, source: str, typed: bool, storable: str) -> None:
        self.value = value
        self.source = source
        self.typed = typed
        self.storable = storable


class Run:
    """One run's options and its env file, read at most once (one warning)."""

    def __init__(self, args: SimpleNamespace, min_validity_given: bool) -> None:
        self.args = args
        self.min_validity_given = min_validity_given
        self.path: str = args.env_file if args.env_file is not None else DEFAULT_ENV_FILE
        self.settings = Settings(self.path)  # cheap: the file is read only when needed
        self._file: EnvFile | None = None
        self._read = False


    @property
    def named(self) -> bool:
        return self.args.env_file is not None

    @property
    def shown_path(self) -> str:
        return shown(self.path)

    def file_error(self, error: EnvFileError) -> console.CommandError:
        """A library file error in people's words, with the contract's exit code:
        2 for a bad path the user named (empty, a folder, missing without
        --write, in a folder that does not exist), else 1."""
        hint = error.hint
        reason = error.reason
        if reason == "missing":
            hint = "check the path, or add --write to create it"
        bad_path = self.named and (
            reason in ("missing", "not_a_file")
            # A typo in the folder, not a symlink pointing into a missing one.
            or (reason == "no_folder" and not os.path.lexists(self.path)))
        message, hint = shown(error.message, 400), hint and shown(hint, 400)
        if bad_path:
            return UsageError(message, hint)
        return console.CommandError(message, hint, console.EXIT_FAILED)

    def file(self) -> EnvFile | None:
        """The env file as read (warning once if others can read it); None if absent."""
        if self._read:
            return self._file
        from ..envfile import readable_by_others
        try:
            found = self.settings.file()
        except EnvFileError as error:
            raise self.file_error(error) from None
        creates = self.args.write or self.args.save_secret
        if found is None and self.named and not creates:
            raise UsageError(f"env file {self.shown_path} does not exist",
                             hint="check the path, or add --write to create it")
        if found is not None and readable_by_others(found):
            warn(f"{self.shown_path} can be read by other users (mode {found.mode:04o}) "
                 "and it holds secrets")
            err(f"hint: chmod 600 {self.shown_path}")
        self._file, self._read = found, True
        return found

    def check_writable(self) -> None:
        """Everything about writing the file that can be known before a code is chosen."""
        from ..envfile import check_writable
        try:
            check_writable(self.path)
        except EnvFileError as error:
            raise self.file_error(error) from None
        self.file()


def main(argv: list[str]) -> int:
    args = command().parse(argv)
    when = check_options(args)
    job = Run(args, _min_validity_given(argv))
    if args.write or args.save_secret:
        job.check_writable()  # before any prompt, wait or output
    elif job.named:
        job.file()  # a file the user named must exist and be readable
    if args.server_time:
        _check_base_url_setting(job)  # before a prompt: nothing is sent with a bad one
    asks = (not args.write and not args.no_write and when is None and not args.watch
            and not args.quiet and not args.json and console.stdin_is_terminal()
            and not args.secret_stdin)
    secret = obtain_secret(job)
    if when is None and not args.watch:
        check_min_validity(job, secret.value)
    clock = _server_clock(job) if args.server_time else None

    if args.watch:
        return watch(secret.value, args, clock)
    if when is not None:
        instant = code_at(secret.value, when)
        out(render(instant, args, instant.seconds_left))
        return EXIT_OK
    saved = False
    if args.write:
        written = write_env(job, secret, clock, write_code=True,
                            save_secret=args.save_secret)
        assert written is not None
        out(render(written, args, _seconds_left(written, clock)))
        return EXIT_OK
    if args.save_secret:
        write_env(job, secret, clock, write_code=False, save_secret=True)
        saved = True
    code = make_code(secret.value, args, clock)
    out(render(code, args, _seconds_left(code, clock)))
    if asks:
        offer_update(job, secret, clock, code, saved)
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
    if args.env_file is not None and "\0" in args.env_file:
        fail("--env-file contains a NUL character", hint="give the path of a .env file")
    if args.server_time:
        from .network import check_server_time_room  # the network stack: only when used
        check_server_time_room(args)
    if args.base_url is not None:
        if not args.server_time:
            fail("--base-url is only used with --server-time")
        _check_base_url(args.base_url, "--base-url")
    if args.time is None:
        return None
    try:
        return parse_when(args.time)
    except InvalidInputError as error:
        fail(f"--time: {error.message}", hint=error.hint)


def _min_validity_given(argv: list[str]) -> bool:
    """Whether --min-validity (or an abbreviation argparse accepts) was given."""
    for item in argv:
        if item == "--":
            return False
        if item.startswith("--m"):  # no other option of this command starts so
            return True
    return False


def _check_base_url(url: str, name: str) -> None:
    from .. import protocol
    from ..errors import InvalidSettingError
    try:
        protocol.check_base_url(url, name)
    except InvalidSettingError as error:
        raise UsageError(error.message, error.hint) from None


def _check_base_url_setting(run: Run) -> None:
    if run.args.base_url is not None:
        return
    if "ANGEL_BASE_URL" not in os.environ:
        run.file()
    try:
        url = run.settings.value("ANGEL_BASE_URL")
    except EnvFileError as error:
        raise run.file_error(error) from None
    if url is not None:
        _check_base_url(url, "ANGEL_BASE_URL")


def obtain_secret(run: Run) -> Secret:
    """The secret from the first source that has one (see --help)."""
    args = run.args
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
        run.file()
    try:
        setting = run.settings.get("TOTP_SECRET")
    except EnvFileError as error:
        raise run.file_error(error) from None
    where = "the environment" if setting.source == "environment" else run.shown_path
    if setting.value is not None:
        return _parse(setting.value, f"TOTP_SECRET in {where}", typed=False)
    if console.stdin_is_terminal():
        return _parse(console.ask_hidden("TOTP secret (input hidden): ", "secret"),
                      "the secret you typed", typed=True)
    if setting.empty:
        fail(f"TOTP_SECRET in {where} is empty",
             hint="use --secret-stdin, put your secret in TOTP_SECRET, or run in a "
                  "terminal to be asked for it")
    fail("no TOTP secret found",
         hint=f"use --secret-stdin, set TOTP_SECRET in the environment or in "
              f"{run.shown_path}, or run in a terminal to be asked for it")


def _first_line(limit: int = 4 * MAX_SECRET_LENGTH) -> str:
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
    # Masked in every output from now on; not a text too long to be a secret,
    # which is refused at once and whose words no message repeats.
    if len(text) <= MAX_SECRET_LENGTH:
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
    return Secret(secret, source, typed, _storable(text, secret))


def _storable(text: str, secret: TotpSecret) -> str:
    """What to save as TOTP_SECRET: a URI with values other than Angel One's
    whole, as given (python-dotenv reads back exactly that); else the key."""
    given = text.strip()
    if not secret.is_angel_one_compatible and given[:10].lower() == "otpauth://":
        return given
    return secret.storable_text()


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


def check_min_validity(run: Run, secret: TotpSecret) -> None:
    """A --min-validity this secret's codes cannot meet: exit 2, before any wait,
    in words that fit whether the user gave --min-validity or not."""
    asked, period = run.args.min_validity, secret.period
    if asked < period:
        return
    if run.min_validity_given:
        fail(f"--min-validity {asked} is too long for this secret, whose codes last only "
             f"{period} s", hint=f"use --min-validity 0 to {period - 1} (0 never waits)")
    fail(f"this secret's codes last only {period} s, too short to still have the "
         f"{asked} s of validity that a code must have left by default",
         hint=f"pass --min-validity 0 to {period - 1} (0 never waits)")


def _server_clock(run: Run) -> ClockOffset:
    """Angel One's clock, measured once; the offset is shown on stderr."""
    from .network import measure_clock_for_people
    return measure_clock_for_people(run.args, run.settings)


def _now_for(clock: ClockOffset | None) -> Callable[[], float]:
    """The time codes are made for: Angel One's (estimated), or this machine's."""
    if clock is None:
        return lambda: waiting.clock.now()
    offset = clock.estimate
    return lambda: waiting.clock.now() - offset


def make_code(secret: TotpSecret, args: SimpleNamespace, clock: ClockOffset | None,
              margin: float = 0.0) -> Code:
    """A code with at least --min-validity (plus ``margin``) seconds left."""
    waiter = Waiter(args.min_validity, writing=margin > 0)
    try:
        if clock is not None:
            return _code_for_server(secret, args.min_validity + margin, clock, waiter)
        return fresh_code(secret, args.min_validity + margin, on_wait=waiter.announce,
                          sleep=waiter.sleep, clock=waiting.clock.now)
    except InvalidInputError as error:
        option = {"min_validity": "--min-validity", "uncertainty": "--server-time"}.get(
            error.what, "")
        fail(f"{option}: {error.message}" if option else error.message, hint=error.hint)
    finally:
        waiter.done()


def _code_for_server(secret: TotpSecret, min_validity: float, clock: ClockOffset,
                     waiter: Waiter) -> Code:
    """The library's rule for Angel One's clock; a bound too loose for it is exit 3."""
    from ..errors import NoAnswerError
    from ..servertime import code_for_server
    from .network import TERMS
    try:
        return code_for_server(secret, min_validity, clock, on_wait=waiter.announce,
                               sleep=waiter.sleep, now=waiting.clock.now, terms=TERMS)
    except NoAnswerError as error:
        raise console.CommandError(shown(error.cause, 400), shown(error.hint or "", 400),
                                   console.EXIT_NO_ANSWER) from None


def _write_margin(args: SimpleNamespace, secret: TotpSecret,
                  clock: ClockOffset | None) -> float:
    """WRITE_MARGIN where a code can have that much more left; 0 with
    --min-validity 0, which never waits."""
    uncertainty = clock.uncertainty if clock is not None else 0.0
    if args.min_validity <= 0 or \
            2 * uncertainty + args.min_validity + WRITE_MARGIN >= secret.period:
        return 0.0
    return WRITE_MARGIN


def _local_expiry(code: Code, clock: ClockOffset | None) -> float:
    """When, by this machine's clock, the code surely still works until."""
    return code.valid_until + (clock.low if clock is not None else 0.0)


WRITE_ATTEMPTS = 3


def _still_fresh(code: Code, clock: ClockOffset | None, min_validity: float) -> bool:
    left = _local_expiry(code, clock) - waiting.clock.now()
    return left > 0 and left >= min_validity


def _seconds_left(code: Code, clock: ClockOffset | None) -> float:
    """How long the code surely stays valid from now (never below 0)."""
    return max(0.0, _local_expiry(code, clock) - waiting.clock.now())


def render(code: Code, args: SimpleNamespace, left: float) -> str:
    """The code in the chosen format, ``left`` seconds before it expires."""
    valid_for = max(0, math.floor(left))
    if args.quiet:
        return code.totp
    if args.json:
        import json
        return json.dumps({**code.as_json_dict(), "valid_for": valid_for})
    return f"TOTP {code.totp} (valid for {valid_for} s)"


def write_env(run: Run, secret: Secret, clock: ClockOffset | None, *, write_code: bool,
              save_secret: bool, printed: Code | None = None) -> Code | None:
    """Update the env file; the code is chosen under its lock. Returns what was written."""
    from ..envfile import update_env_file

    args = run.args
    chosen: list[Code] = []
    margin = _write_margin(args, secret.value, clock) if write_code else 0.0

    def compute(parsed: EnvFile) -> tuple[dict[str, str], float]:
        values: dict[str, str] = {}
        good_until = float("inf")
        if write_code:
            code = make_code(secret.value, args, clock, margin)
            chosen.append(code)
            values["TOTP"] = code.totp
            good_until = _local_expiry(code, clock) - args.min_validity - margin
        if save_secret and not parsed.has_nonempty("TOTP_SECRET"):
            values["TOTP_SECRET"] = _fitting(parsed, secret)
        return values, good_until

    for _ in range(WRITE_ATTEMPTS):
        try:
            result = update_env_file(run.path, compute, clock=lambda: waiting.clock.now())
        except EnvFileError as error:
            raise run.file_error(error) from None
        code = chosen[-1] if chosen else None
        # Steps after the swap (syncing the folder, reading back) can be slow:
        # a code that no longer has its validity is written again, never shown.
        if code is None or _still_fresh(code, clock, args.min_validity):
            break
    else:
        raise console.CommandError(
            f"writing {run.shown_path} took so long that each code expired first",
            "check the disk (a slow or failing drive?), then run again", console.EXIT_FAILED)
    if code is not None:
        if result.written["TOTP"].reveal() != code.totp:  # never report what is not in the file
            raise console.CommandError(
                f"{run.shown_path} does not hold the code chosen for it",
                "this is a bug; please report it", console.EXIT_FAILED)
        if printed is not None and printed.totp != code.totp:
            why = "has expired" if _seconds_left(printed, clock) <= 0 else \
                f"expires in under {args.min_validity} s"
            err(f"the code above {why}; wrote the next one, {code.totp}")
        left = math.floor(_seconds_left(code, clock))
        err(f"updated TOTP in {run.shown_path} (valid for {left} s)")
    if save_secret:
        if "TOTP_SECRET" in result.written:
            err(f"saved TOTP_SECRET in {run.shown_path}")
        else:
            err(f"{run.shown_path} already has a TOTP_SECRET; it was left as it was")
    return code


def _fitting(parsed: EnvFile, secret: Secret) -> str:
    """The secret as given where python-dotenv can read that back, else its key form."""
    from ..envfile import can_store
    return secret.storable if can_store(secret.storable) else secret.value.storable_text()


def offer_update(run: Run, secret: Secret, clock: ClockOffset | None, printed: Code,
                 saved: bool) -> None:
    """Interactively: ask to write the code, and to save a typed secret."""
    path = run.shown_path
    write_code = console.ask_yes_no(f"Update TOTP in {path}?")
    save = False
    if secret.typed and not saved:
        found = run.file()
        if found is None or not found.has_nonempty("TOTP_SECRET"):
            save = console.ask_yes_no(
                f"Save this secret as TOTP_SECRET in {path} (so you are not asked again)?")
    if not (write_code or save):
        return
    run.check_writable()
    write_env(run, secret, clock, write_code=write_code, save_secret=save,
              printed=printed if write_code else None)


def watch_line(code: Code, width: int | None) -> str:
    """The code and its countdown in the widest form that fits ``width`` columns
    less one (a line that fills the last column may wrap), so that the line can
    be redrawn in place on a terminal of any width."""
    left = code.valid_for
    forms = (f"TOTP {code.totp} (valid for {left} s)", f"TOTP {code.totp} ({left} s)",
             f"{code.totp} ({left} s)", f"{code.totp} {left}s", code.totp)
    if width is None:
        return forms[0]
    return next((form for form in forms if len(form) <= width - 1), forms[-1])


def watch(secret: TotpSecret, args: SimpleNamespace, clock: ClockOffset | None) -> int:
    """Show the current code until Ctrl-C; redraw in place on a terminal."""
    now = _now_for(clock)
    redraw = console.is_terminal(sys.stdout) and not (args.quiet or args.json)
    last_step = None
    try:
        while True:
            code = code_at(secret, now())
            if redraw:
                width = console.terminal_width(sys.stdout)
                console.out_redraw(watch_line(code, width))
                waiting.clock.sleep(1 - now() % 1 + 0.01)
            else:
                if code.valid_from != last_step:
                    out(render(code, args, code.seconds_left))
                    last_step = code.valid_from
                waiting.clock.sleep(max(code.seconds_left, 0) + 0.01)
    except KeyboardInterrupt:
        if redraw:
            out("")
        return EXIT_OK


def run() -> int:
    return console.run(main)
