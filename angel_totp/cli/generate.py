"""``angel-totp`` (``generate_totp.py``): print the current code, maybe update .env."""

from __future__ import annotations

import math
import os
import sys
from argparse import Namespace
from functools import cached_property
from typing import TYPE_CHECKING

from .. import checks
from ..codes import DEFAULT_MIN_VALIDITY, Code, code_at, fresh_code, parse_when
from ..errors import EnvFileError, InvalidInputError, InvalidSecretError
from ..hidden import Hidden
from ..secret import MAX_SECRET_LENGTH, TotpSecret, parse_secret
from . import console, waiting
from .console import EXIT_OK, CommandError, err, fail, out, shown, warn
from .options import Parser, add_min_validity, add_timeout, manual, path_argument, program_name
from .waiting import Waiter

if TYPE_CHECKING:  # loaded only on the paths that need them
    from ..clock import ClockOffset
    from ..envfile import EnvFile
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

  The secret is the base32 text Angel One shows beside the QR code (any case,
  spaces, hyphens, '=' padding), or the whole otpauth://totp/... URI. It is
  never a command-line argument: arguments are visible to every user of the
  machine. An invalid secret is refused (exit 2) without showing any of it.
"""

EPILOG = """\
examples:
  %(prog)s                   code from TOTP_SECRET (environment or .env)
  %(prog)s -q                just the code, for scripts
  pass show angel/totp | %(prog)s --secret-stdin -q
  %(prog)s --write           also set TOTP=<code> in .env
  %(prog)s --watch           live code with a countdown; Ctrl-C stops

A code that would expire within --min-validity seconds is not handed out:
the command waits for the next one (once at most) and says so on stderr.
With --write the file is checked before any wait, locked only while the
code is chosen and written, and the code is printed once the file holds it.

exit codes: 0 success, 1 the env file could not be read or written, 2 bad
input or usage, 3 --server-time got no usable answer, 130 interrupted,
141 output closed, 143 terminated (128 + N for another signal N).

""" + manual("generate.md")

# How to give a secret, for errors about a missing one or one given as an argument.
WAYS = "use --secret-stdin, TOTP_SECRET in the environment or the env file, or the hidden " \
       "prompt on a terminal"


def parser() -> Parser:
    parser = Parser(prog=program_name("angel-totp"), description=DESCRIPTION, epilog=EPILOG,
                    secrets=f"secrets are never arguments: {WAYS}")
    source = parser.add_argument_group("secret")
    source.add_argument("--secret-stdin", action="store_true",
                        help="read the secret from the first line of standard input")
    source.add_argument("--env-file", type=path_argument, metavar="PATH",
                        help="the env file to read TOTP_SECRET from and write TOTP to "
                             "(default: .env in the current folder)")
    output = parser.add_argument_group("output")
    output_format = output.add_mutually_exclusive_group()
    output_format.add_argument("-q", "--quiet", action="store_true",
                               help="print the code alone (never asks anything)")
    output_format.add_argument("--json", action="store_true",
                               help="print one JSON object: totp, valid_for, valid_until, "
                                    "period, digits, algorithm (never asks anything)")
    output.add_argument("--watch", action="store_true",
                        help="keep showing the current code with a countdown until Ctrl-C")
    time = parser.add_argument_group("time")
    instant = time.add_mutually_exclusive_group()  # --time fixes the instant
    instant.add_argument("--time", metavar="WHEN",
                         help="the code for that instant: Unix seconds or ISO 8601 with a "
                              "zone (2005-03-18T01:58:29Z), 1970 to 9999; never waits")
    add_min_validity(time, "if the current code expires sooner, wait for the next one",
                     default=None)  # main() tells whether it was given
    instant.add_argument("--server-time", action="store_true",
                         help="make the code for Angel One's clock, measured from one "
                              "request that carries no secret; prints the offset on stderr")
    time.add_argument("--base-url", metavar="URL",
                      help="with --server-time: the SmartAPI root (default: ANGEL_BASE_URL, "
                           "else https://apiconnect.angelone.in)")
    add_timeout(time, "with --server-time: give up after this long")
    writing = parser.add_argument_group("writing the env file")
    write = writing.add_mutually_exclusive_group()
    write.add_argument("--write", action="store_true",
                       help="set TOTP=<code> in the env file without asking")
    write.add_argument("--no-write", action="store_true", help="never write and never ask")
    writing.add_argument("--save-secret", action="store_true",
                         help="also store the secret as TOTP_SECRET when the env file has "
                              "none or an empty one")
    return parser


# With --write, the code must outlast the write itself: it is chosen with this
# much more than --min-validity left, so that what is printed after the file was
# written and read back still shows at least --min-validity seconds.
WRITE_MARGIN = 0.5
WRITE_ATTEMPTS = 3  # a code that expired while it was written is written again


class Run:
    """One run's options and its env file, read at most once (one warning)."""

    def __init__(self, args: Namespace, min_validity_given: bool) -> None:
        self.args = args
        self.min_validity_given = min_validity_given
        self.named = args.env_file is not None
        self._read = False
        self.typed = False  # the secret was typed at the prompt
        self.given = Hidden("")  # the secret as given, for _storable

    # The settings are loaded only when used: --secret-stdin never needs them (start-up).
    @cached_property
    def path(self) -> str:
        from ..settings import DEFAULT_ENV_FILE
        return self.args.env_file if self.named else DEFAULT_ENV_FILE

    @cached_property
    def settings(self) -> Settings:
        from ..settings import Settings
        return Settings(self.path)

    @cached_property
    def shown_path(self) -> str:
        return shown(self.path)

    def file_error(self, error: EnvFileError) -> CommandError:
        # Exit 2 for a bad path the user named, else 1.
        reason = error.reason
        bad_path = self.named and (
            reason in ("missing", "not_a_file")
            # A typo in the folder, not a symlink pointing into a missing one.
            or (reason == "no_folder" and not os.path.lexists(self.path)))
        return CommandError(shown(error.message, 400), error.hint and shown(error.hint, 400),
                            console.EXIT_USAGE if bad_path else console.EXIT_FAILED)

    def file(self) -> EnvFile | None:
        if self._read:
            return self.settings.file()
        creates = self.args.write or self.args.save_secret
        # --write makes a missing file, never a missing folder.
        hint = "check the path, or add --write to create it" \
            if os.path.isdir(os.path.dirname(self.path) or ".") else "check the path"
        try:
            found = console.env_file(self.settings, self.path, self.named and not creates,
                                     hint=hint)
        except EnvFileError as error:
            raise self.file_error(error) from None
        self._read = True
        return found

    def check_writable(self) -> None:
        from ..envfile import check_writable
        try:
            check_writable(self.path)
        except EnvFileError as error:
            raise self.file_error(error) from None
        self.file()


def main(argv: list[str]) -> int:
    args = parser().parse(argv)
    given = args.min_validity is not None
    if not given:
        args.min_validity = DEFAULT_MIN_VALIDITY
    when = check_options(args)
    job = Run(args, given)
    if args.write or args.save_secret:
        job.check_writable()  # before any prompt, wait or output
    elif job.named:
        job.file()  # a file the user named must exist and be readable
    url: str | None = None
    if args.server_time:  # --base-url, else ANGEL_BASE_URL: checked before a prompt
        from . import network  # the network stack: only when used (start-up)
        if args.base_url is None and "ANGEL_BASE_URL" not in os.environ:
            job.file()  # the file decides: read it, with its warnings
        url = network.base_url(args, job.settings)
    secret = obtain_secret(job)
    if when is None and not args.watch:
        check_min_validity(job, secret)
    clock = network.measure_clock_for_people(args, url) if url is not None else None

    if args.watch:
        return watch(secret, args, clock)
    if when is not None:
        instant = code_at(secret, when)
        out(render(instant, args, instant.seconds_left))
        return EXIT_OK
    code = None
    if args.write or args.save_secret:
        code = write_env(job, secret, clock, write_code=args.write, save_secret=args.save_secret)
    if code is None:
        code = make_code(secret, args, clock)
    out(render(code, args, _seconds_left(code, clock)))
    if console.is_terminal(sys.stdin) and not (args.write or args.no_write or args.quiet
                                               or args.json or args.secret_stdin):
        offer_update(job, secret, clock, code, saved=args.save_secret)
    return EXIT_OK


def check_options(args: Namespace) -> float | None:
    # Every check on the options alone; returns the instant of --time.
    if args.watch and (args.write or args.save_secret or args.time is not None):
        fail("--watch cannot be combined with --write, --save-secret or --time",
             hint="run once with --write to update the env file")
    if args.time is not None and (args.write or args.save_secret):
        fail("--time makes a code for another instant; it is not written to the env file",
             hint="drop --write and --save-secret to just print it")
    if args.server_time:
        from .network import check_server_time_room  # the network stack: only when used
        check_server_time_room(args)
    if args.base_url is not None:
        if not args.server_time:
            fail("--base-url is only used with --server-time")
        from ..protocol import check_base_url
        check_base_url(args.base_url, "--base-url")
    if args.time is None:
        return None
    try:
        return parse_when(args.time)
    except InvalidInputError as error:
        fail(f"--time: {error.message}", hint=error.hint)


def obtain_secret(run: Run) -> TotpSecret:
    def typed() -> TotpSecret:
        run.typed = True
        return _parse(run, console.ask_hidden("TOTP secret (input hidden): ", "secret"),
                      "the secret you typed")
    if run.args.secret_stdin:
        if console.is_terminal(sys.stdin):
            return typed()
        line = _first_line()
        if not line.strip():
            fail("--secret-stdin: standard input had no secret on its first line",
                 hint=f"pipe the secret in, e.g.: pass show angel/totp | "
                      f"{program_name('angel-totp')} --secret-stdin")
        return _parse(run, line, "the secret from standard input")
    if "TOTP_SECRET" not in os.environ:  # the file decides: read it, with its warnings
        run.file()
    setting = run.settings.get("TOTP_SECRET")
    where = "the environment" if setting.source == "environment" else run.shown_path
    if setting.value is not None:
        return _parse(run, setting.value, f"TOTP_SECRET in {where}")
    if console.is_terminal(sys.stdin):
        return typed()
    if setting.empty:
        from ..settings import absolute_path
        where = "the environment" if setting.source == "environment" else \
            shown(absolute_path(run.path))
        fail(f"TOTP_SECRET in {where} is empty", hint=WAYS)
    raise console.missing(["TOTP_SECRET"], run.path, hint=WAYS)


def _first_line(limit: int = 4 * MAX_SECRET_LENGTH) -> str:
    # A bounded read, of bytes: a 10 MB line is refused without holding it all,
    # and bytes that are not UTF-8 are named as such, whatever the locale says.
    stream = getattr(sys.stdin, "buffer", None)
    try:
        if stream is None:
            return sys.stdin.readline(limit) if sys.stdin is not None else ""
        line: bytes = stream.readline(limit)
        return line.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        fail("--secret-stdin: standard input is not UTF-8 text",
             hint="pipe the secret in as UTF-8 text")
    except (OSError, ValueError):
        return ""


def _parse(run: Run, text: str, source: str) -> TotpSecret:
    # Masked in every output from now on; not a text too long to be a secret,
    # which is refused at once and whose words no message repeats.
    if len(text) <= MAX_SECRET_LENGTH:
        console.hide(_secret_part(text))
    try:
        secret = parse_secret(text)
    except InvalidSecretError as error:
        fail(f"{source} is not a valid TOTP secret: {error.message}", hint=error.hint)
    console.hide(secret.base32, secret.storable_text())
    caution = secret.compatibility_warning()
    if caution:
        warn(caution)
    run.given = Hidden(text.strip())
    return secret


def _secret_part(text: str) -> str:
    # What to never show: the secret= value of a URI, else all of it.
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
    # Before any wait, in words that fit whether the user gave --min-validity or not.
    option = "--min-validity" if run.min_validity_given else \
        f"the default --min-validity {DEFAULT_MIN_VALIDITY}"
    try:
        checks.check_min_validity(run.args.min_validity, secret.period, what=option)
    except InvalidInputError as error:
        fail(error.message, hint=f"pass --min-validity 0 to {secret.period - 1} "
                                 "(0 never waits)")


class NeedsWait(Exception):
    """Raised out of the env file's update, so that its lock is let go for the wait."""


def make_code(secret: TotpSecret, args: Namespace, clock: ClockOffset | None,
              margin: float = 0.0, *, may_wait: bool = True) -> Code:
    """A code with at least --min-validity (plus ``margin``) seconds left, after one
    wait at most; without ``may_wait``, a wait due raises :class:`NeedsWait`."""
    waiter = Waiter(args.min_validity, writing=margin > 0)
    waited = False

    def on_wait(code: Code, seconds: float) -> None:
        nonlocal waited
        if not may_wait:
            raise NeedsWait()
        if waited:  # the one wait did not land on a code that lasts: say so, now
            raise missed(args, clock)
        waited = True
        waiter.announce(code, seconds)
    try:
        if clock is not None:
            from ..servertime import code_for_server
            from .network import TERMS
            return code_for_server(secret, args.min_validity + margin, clock, on_wait=on_wait,
                                   sleep=waiter.sleep, now=waiting.clock.now, terms=TERMS)
        return fresh_code(secret, args.min_validity + margin, on_wait=on_wait,
                          sleep=waiter.sleep, clock=waiting.clock.now)
    finally:
        waiter.done()


def missed(args: Namespace, clock: ClockOffset | None) -> CommandError:
    # The one wait for the next code did not give one lasting --min-validity.
    if clock is not None:
        return CommandError(
            f"no code lasts --min-validity {args.min_validity:g} s with Angel One's clock "
            f"known only to +/- {clock.uncertainty:.2f} s",
            "use a lower --min-validity, or run again (a faster reply measures the clock "
            "more closely)", console.EXIT_NO_ANSWER)
    return CommandError("the wait for the next code overran it (was the machine "
                        "suspended, or very busy?)", "run again", console.EXIT_FAILED)


def _local_expiry(code: Code, clock: ClockOffset | None) -> float:
    # Until when, by this machine's clock, the code surely works.
    return code.valid_until + (clock.low if clock is not None else 0.0)


def _seconds_left(code: Code, clock: ClockOffset | None) -> float:
    return max(0.0, _local_expiry(code, clock) - waiting.clock.now())


def render(code: Code, args: Namespace, left: float) -> str:
    valid_for = max(0, math.floor(left))
    if args.quiet:
        return code.totp
    if args.json:
        import json
        return json.dumps({**code.as_json_dict(), "valid_for": valid_for})
    return f"TOTP {code.totp} (valid for {valid_for} s)"


def write_env(run: Run, secret: TotpSecret, clock: ClockOffset | None, *, write_code: bool,
              save_secret: bool, printed: Code | None = None) -> Code | None:
    """Update the env file; the code is chosen under its lock. Returns what was written."""
    from ..envfile import update_env_file

    args = run.args
    chosen: list[Code] = []
    # No margin with --min-validity 0 (it never waits) or where no code could have it.
    uncertainty = clock.uncertainty if clock is not None else 0.0
    room = 2 * uncertainty + args.min_validity + WRITE_MARGIN < secret.period
    margin = WRITE_MARGIN if write_code and args.min_validity > 0 and room else 0.0

    def compute(parsed: EnvFile) -> tuple[dict[str, str], float]:
        values: dict[str, str] = {}
        good_until = float("inf")
        if write_code:
            code = make_code(secret, args, clock, margin, may_wait=False)
            chosen.append(code)
            values["TOTP"] = code.totp
            good_until = _local_expiry(code, clock) - args.min_validity - margin
        if save_secret and not parsed.has_nonempty("TOTP_SECRET"):
            values["TOTP_SECRET"] = _storable(run, secret)
        return values, good_until

    waited = False
    for _ in range(WRITE_ATTEMPTS):
        try:
            result = update_env_file(run.path, compute, clock=lambda: waiting.clock.now())
        except NeedsWait:  # the lock is let go: wait outside it, once
            if waited:
                raise missed(args, clock) from None
            waited = True
            make_code(secret, args, clock, margin)  # waits for the next code
            continue
        except EnvFileError as error:
            raise run.file_error(error) from None
        code = chosen[-1] if chosen else None
        # Steps after the swap (syncing the folder, reading back) can be slow:
        # a code that no longer has its validity is written again, never shown.
        if code is None or 0 < _seconds_left(code, clock) >= args.min_validity:
            break
    else:
        raise CommandError(
            f"writing {run.shown_path} took so long that each code expired first",
            "check the disk (a slow or failing drive?), then run again", console.EXIT_FAILED)
    if code is not None:
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


def _storable(run: Run, secret: TotpSecret) -> str:
    # A URI with values other than Angel One's is kept whole, if dotenv reads it back.
    from ..envfile import can_store
    given = run.given.reveal()
    uri = given[:10].lower() == "otpauth://"
    if uri and not secret.is_angel_one_compatible and can_store(given):
        return given
    return secret.storable_text()


def offer_update(run: Run, secret: TotpSecret, clock: ClockOffset | None, printed: Code,
                 saved: bool) -> None:
    path = run.shown_path
    save = False
    if run.typed and not saved:
        found = run.file()
        if found is None or not found.has_nonempty("TOTP_SECRET"):
            save = console.ask_yes_no(
                f"Save this secret as TOTP_SECRET in {path} (so you are not asked again)?")
    write_code = console.ask_yes_no(f"Update TOTP in {path}?")
    if not (write_code or save):
        return
    run.check_writable()
    write_env(run, secret, clock, write_code=write_code, save_secret=save,
              printed=printed if write_code else None)


def watch_line(code: Code, width: int) -> str:
    # The widest form that fits: a full line may wrap, and cannot be redrawn in place.
    left = code.valid_for
    forms = (f"TOTP {code.totp} (valid for {left} s)", f"TOTP {code.totp} ({left} s)",
             f"{code.totp} ({left} s)", f"{code.totp} {left}s", code.totp)
    return next((form for form in forms if len(form) <= width - 1), forms[-1])


def watch(secret: TotpSecret, args: Namespace, clock: ClockOffset | None) -> int:
    offset = clock.estimate if clock is not None else 0.0  # codes for Angel One's time
    redraw = console.is_terminal(sys.stdout) and not (args.quiet or args.json)
    last_step = None
    try:
        while True:
            now = waiting.clock.now() - offset
            code = code_at(secret, now)
            if redraw:
                width = console.terminal_width(sys.stdout)
                console.redraw(watch_line(code, width), on_stdout=True)
                waiting.clock.sleep(1 - now % 1 + 0.01)
            else:
                if code.valid_from != last_step:
                    out(render(code, args, code.seconds_left))
                    last_step = code.valid_from
                waiting.clock.sleep(max(code.seconds_left, 0) + 0.01)
    except KeyboardInterrupt:
        if redraw:
            out("")
        return EXIT_OK


if __name__ == "__main__":  # python -m angel_totp.cli.generate
    sys.exit(console.run(main))
