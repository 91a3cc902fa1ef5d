"""The generate_totp.py command: options, secret intake, output, env update."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from . import console
from .console import EXIT_OK, fail, note, warn
from .secret import InvalidSecret, TotpSecret, parse_secret

if TYPE_CHECKING:  # imported lazily at run time: the stdin path never needs it
    from .settings import EnvSource

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
  python generate_totp.py                       code from TOTP_SECRET (env or .env)
  python generate_totp.py -q                    just the code, for scripts
  python generate_totp.py --json                {"totp": "123456", "valid_for": 17, ...}
  pass show angel/totp | python generate_totp.py --secret-stdin -q
  python generate_totp.py --write               also set TOTP=<code> in .env
  python generate_totp.py --watch               live code with a countdown; Ctrl-C stops
  python generate_totp.py --time 2005-03-18T01:58:29Z   code for another instant

the env file:
  Without --write or --no-write you are asked "Update TOTP in .env? [y/N]"
  when standard input is a terminal; otherwise nothing is written. Only TOTP
  assignments change; each keeps its export prefix, quotes and comment. The
  write is atomic, keeps the file's permissions (a new file is 0600), goes
  through a symlink to its target, and is read back to check it. A file named
  with --env-file must exist unless --write is given, which creates it.

exit codes:
  0    success
  1    the env file could not be read, parsed or written
  2    bad input or usage: invalid secret, no secret, bad option
  130  interrupted (Ctrl-C); --watch exits 0 on Ctrl-C

A code in .env lasts 30 seconds. For a bot, keep TOTP_SECRET in .env and
make the code at login time (see README.md: "Python API for bots").
"""


def build_parser():
    parser = console.argument_parser("generate_totp.py", DESCRIPTION, EPILOG)
    source = parser.add_argument_group("secret")
    source.add_argument("--secret-stdin", action="store_true",
                        help="read the secret from the first line of standard input")
    source.add_argument("--env-file", metavar="PATH",
                        help="the env file to read TOTP_SECRET from and write TOTP to "
                             "(default: .env in the current folder)")
    output = parser.add_argument_group("output")
    formats = output.add_mutually_exclusive_group()
    formats.add_argument("-q", "--quiet", action="store_true",
                         help="print the code alone, e.g. 123456")
    formats.add_argument("--json", action="store_true",
                         help="print one JSON object: totp, valid_for, valid_until, "
                              "period, digits, algorithm")
    output.add_argument("--watch", action="store_true",
                        help="keep showing the current code with a countdown until "
                             "Ctrl-C (redrawn in place on a terminal, one line per "
                             "new code otherwise; with -q or --json always one line "
                             "per new code)")
    timing = parser.add_argument_group("time")
    timing.add_argument("--time", metavar="WHEN",
                        help="the code for that instant: Unix seconds (1111111109) or "
                             "ISO 8601 with a zone (2005-03-18T01:58:29Z); never waits")
    timing.add_argument("--min-validity", metavar="SECONDS", default=5,
                        type=console.for_argparse(console.whole_seconds),
                        help="if the current code expires sooner, wait for the next "
                             "one and say so on stderr; 0 turns this off (default: 5)")
    writing = parser.add_argument_group("writing the env file")
    write_choice = writing.add_mutually_exclusive_group()
    write_choice.add_argument("--write", action="store_true",
                              help="set TOTP=<code> in the env file without asking")
    write_choice.add_argument("--no-write", action="store_true",
                              help="never write and never ask")
    writing.add_argument("--save-secret", action="store_true",
                         help="also store the secret as TOTP_SECRET when the env file "
                              "has none (a secret typed at the prompt is offered for "
                              "saving anyway, default no)")
    from . import __version__
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    return parser


# The exact spellings parse_plain_options handles without argparse.
_FLAGS = {"--secret-stdin": "secret_stdin", "-q": "quiet", "--quiet": "quiet",
          "--json": "json", "--watch": "watch", "--write": "write",
          "--no-write": "no_write", "--save-secret": "save_secret"}


def parse_fast(argv: list[str]):
    """Options as argparse would parse them, or None to let argparse decide."""
    return console.parse_plain_options(
        argv, _FLAGS,
        {"--env-file": ("env_file", str), "--time": ("time", str),
         "--min-validity": ("min_validity", console.whole_seconds)},
        defaults={"env_file": None, "time": None, "min_validity": 5},
        exclusive=(("quiet", "json"), ("write", "no_write")))


def parse_args(argv: list[str]):
    fast = parse_fast(argv)
    return fast if fast is not None else build_parser().parse_args(argv)


def obtain_secret(args, env: EnvSource) -> tuple[str, str, bool]:
    """(secret text, where it came from, typed at the prompt?)"""
    if args.secret_stdin:
        if console.stdin_is_terminal():
            return console.ask_hidden("TOTP secret (input hidden): ", "secret"), \
                "the secret you typed", True
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if not line.strip():
            fail("--secret-stdin: standard input had no secret on its first line",
                 hint="pipe the secret in, e.g.: pass show angel/totp | "
                      "python generate_totp.py --secret-stdin")
        return line, "the secret from standard input", False
    value, source = env.lookup("TOTP_SECRET")
    if value is not None and value.strip():
        return value, source, False
    # An empty TOTP_SECRET (a fresh copy of .env.example) counts as missing.
    if console.stdin_is_terminal():
        return console.ask_hidden("TOTP secret (input hidden): ", "secret"), \
            "the secret you typed", True
    fail(f"{source} is empty" if value is not None else "no TOTP secret found",
         hint=f"use --secret-stdin, set TOTP_SECRET in the environment or in "
              f"{env.path}, or run in a terminal to be asked for it")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.watch and (args.write or args.save_secret or args.time):
        fail("--watch cannot be combined with --write, --save-secret or --time",
             hint="run once with --write to update the env file")
    if args.time and (args.write or args.save_secret):
        fail("--time makes a code for another instant; it is not written to the env file",
             hint="drop --write to just print it")
    when = None
    if args.time is not None:
        from .codes import parse_when
        try:
            when = parse_when(args.time)
        except ValueError as error:
            fail(f"--time: {error}")

    from .settings import EnvSource
    env = EnvSource(args.env_file, will_create=args.write,
                    missing_hint="check the path, or add --write to create it")
    if args.write or args.save_secret:
        env.file()  # a file we cannot write fails before any code is printed
    text, source, typed = obtain_secret(args, env)
    try:
        secret = parse_secret(text)
    except InvalidSecret as error:
        fail(f"{source} is not a valid TOTP secret: {error}",
             hint="copy the 26-letter secret shown beside the QR code on "
                  "smartapi.angelbroking.com/enable-totp")
    caution = secret.compatibility_warning()
    if caution:
        warn(caution)

    if args.watch:
        return watch(secret, args)

    from .codes import check_min_validity, code_at, fresh_code
    if when is not None:
        code = code_at(secret, when)
    else:
        try:
            check_min_validity(args.min_validity, secret.period)
        except ValueError as error:
            fail(str(error))
        code = fresh_code(secret, args.min_validity,
                          on_wait=console.waiting_note(args.min_validity))
    sys.stdout.write(render(code, args) + "\n")
    sys.stdout.flush()

    if when is None and not args.no_write:
        return update_env(args, env, secret, code, typed)
    return EXIT_OK


def render(code, args) -> str:
    if args.quiet:
        return code.totp
    if args.json:
        import json
        return json.dumps(code.as_json_dict())
    return f"TOTP {code.totp} (valid for {code.valid_for} s)"


def update_env(args, env: EnvSource, secret: TotpSecret, code, typed: bool) -> int:
    interactive = console.stdin_is_terminal() and not args.secret_stdin
    write_code = args.write or (interactive and console.ask_yes_no(
        f"Update TOTP in {env.path}?"))
    save_secret = args.save_secret
    if typed and not save_secret and interactive:
        existing = env.file()
        if existing is None or not existing.parsed.has("TOTP_SECRET"):
            save_secret = console.ask_yes_no(
                f"Save this secret as TOTP_SECRET in {env.path} "
                "(so you are not asked again)?")
    if not (write_code or save_secret):
        return EXIT_OK

    from .envfile import EnvFileError, update_env_file
    env.file()  # the same read errors and permission warning as for reading
    values = {}
    if write_code:
        # Any question above may have taken the user a while: write a code
        # that is still fresh, not the printed one if it has expired since.
        from .codes import fresh_code
        printed = code.totp
        code = fresh_code(secret, args.min_validity,
                          on_wait=console.waiting_note(args.min_validity))
        if code.totp != printed:
            note(f"the code above has expired; writing the next one, {code.totp}")
        values["TOTP"] = code.totp
    if save_secret:
        values["TOTP_SECRET"] = secret.storable_text()
    try:
        written = update_env_file(env.path, values, keep_existing=frozenset({"TOTP_SECRET"}))
    except EnvFileError as error:
        from .settings import env_error
        raise env_error(error) from None
    if written.get("TOTP"):
        left = int(code.valid_until - time.time())
        note(f"updated TOTP in {env.path} (valid for {left} s)")
    if save_secret:
        if written.get("TOTP_SECRET"):
            note(f"saved TOTP_SECRET in {env.path}")
        else:
            note(f"{env.path} already has a TOTP_SECRET; it was left as it was")
    return EXIT_OK


def watch(secret: TotpSecret, args) -> int:
    from .codes import code_at

    redraw = console.is_terminal(sys.stdout) and not (args.quiet or args.json)
    last_step = None
    try:
        while True:
            code = code_at(secret, time.time())
            if redraw:
                sys.stdout.write("\r" + render(code, args).ljust(40))
                sys.stdout.flush()
                time.sleep(1 - time.time() % 1 + 0.01)
            else:
                if code.valid_from != last_step:
                    sys.stdout.write(render(code, args) + "\n")
                    sys.stdout.flush()
                    last_step = code.valid_from
                time.sleep(max(code.seconds_left, 0) + 0.01)
    except KeyboardInterrupt:
        if redraw:
            sys.stdout.write("\n")
            sys.stdout.flush()
        return EXIT_OK


def run() -> int:
    return console.run(main)
