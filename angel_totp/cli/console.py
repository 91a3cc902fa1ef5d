"""The console: the one gate for outside text (:func:`out`, :func:`err` and
:func:`shown` mask the run's credentials and drop control characters), exit codes, prompts."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from .. import redact
from ..errors import (
    AngelTotpError,
    InvalidInputError,
    LoginError,
    MissingSettingError,
    NoAnswerError,
)
from . import EXIT_CLOSED_OUTPUT, EXIT_INTERRUPTED, Signalled, ended, signal, silence

if TYPE_CHECKING:
    from ..envfile import EnvFile
    from ..settings import Settings

EXIT_OK = 0
EXIT_FAILED = 1         # the job ran and failed
EXIT_USAGE = 2          # bad input, missing setting, bad option
EXIT_NO_ANSWER = 3      # no usable answer from the server

# The signals that end a run. Each raises Signalled, so that every ``finally``
# runs: a temporary file is removed, a prompt restores the terminal's echo.
ENDING_SIGNALS = ("SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGTERM")


class CommandError(Exception):
    """A failure to report as one ``error:`` line, an optional hint, and an exit code."""

    def __init__(self, message: str, hint: str | None = None,
                 exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


class ClosedOutput(Exception):
    pass


def fail(message: str, hint: str | None = None, exit_code: int = EXIT_USAGE) -> NoReturn:
    raise CommandError(message, hint, exit_code)


_hidden: list[str] = []


def hide(*values: str | None) -> None:
    """Never show these (a secret, PIN, API key, token), however they are echoed."""
    for value in values:
        if value and len(value.strip()) >= 4 and value.strip() not in _hidden:
            _hidden.append(value.strip())


def shown(text: object, limit: int = redact.LIMIT) -> str:
    """Outside text, safe to show: one line, printable, masked, at most ``limit`` chars."""
    return redact.clean(text, _hidden, limit)


def shown_number(value: float) -> float | None:
    # None if it would show a credential (a server could shift its Date header by the PIN).
    return value if redact.mask(repr(value), _hidden) == repr(value) else None


_REPLACEMENTS = {"±": "+/-", "…": "...", "—": "-", "–": "-", "’": "'", "“": '"', "”": '"'}


def _write(stream: TextIO, line: str, end: str) -> None:
    text = redact.scrub(line, _hidden) + end
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):  # what the encoding cannot carry
        for wide, narrow in _REPLACEMENTS.items():
            text = text.replace(wide, narrow)
        text = text.encode(encoding, errors="replace").decode(encoding, errors="replace")
    stream.write(text)
    stream.flush()


def out(line: str = "", end: str = "\n") -> None:
    """A line of the result on stdout; a closed stdout raises ClosedOutput."""
    if sys.stdout is None:
        raise ClosedOutput()
    try:
        _write(sys.stdout, line, end)
    except (BrokenPipeError, ValueError) as error:  # ValueError: closed file
        raise ClosedOutput() from error
    except OSError as error:
        if error.errno in (errno.EPIPE, errno.EBADF, errno.EINVAL):
            raise ClosedOutput() from error
        reason = (error.strerror or type(error).__name__).lower()
        silence()  # what stayed in the buffer must not follow the error at exit
        raise CommandError(f"could not write the output: {reason}",
                           hint="check where standard output goes (a full disk?)",
                           exit_code=EXIT_FAILED) from None


def err(line: str = "", end: str = "\n") -> None:
    """A message on stderr; dropped if stderr is closed, never sent to stdout."""
    try:
        if sys.stderr is not None:
            _write(sys.stderr, line, end)
    except (OSError, ValueError):
        silence("stderr")


def warn(message: str) -> None:
    err(f"warning: {message}")


def report_error(message: str, hint: str | None = None) -> None:
    err(f"error: {' '.join(message.split())}")
    if hint:
        err(f"hint: {' '.join(hint.split())}")


def env_file(settings: Settings, path: str, must_exist: bool, hint: str) -> EnvFile | None:
    """The env file as read (EnvFileError for one that cannot be), with its warning."""
    found = settings.file()
    if found is None and must_exist:
        fail(f"env file {shown(path)} does not exist", hint=hint)
    from ..envfile import readable_by_others
    if found is not None and readable_by_others(found):
        warn(f"{shown(path)} can be read by other users (mode {found.mode:04o}) and it "
             "holds secrets")
        err(f"hint: chmod 600 {shown(path)}")
    return found


def missing(names: list[str], env_file: str, *, hint: str) -> CommandError:
    from ..settings import missing_settings_error
    return CommandError(shown(missing_settings_error(names, env_file).message), hint=hint)


# Running a command.

def exit_code_for(error: CommandError | AngelTotpError) -> int:
    if isinstance(error, CommandError):
        return error.exit_code
    if isinstance(error, NoAnswerError):
        return EXIT_NO_ANSWER
    if isinstance(error, (InvalidInputError, MissingSettingError)):
        return EXIT_USAGE
    return EXIT_FAILED


def run(main: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    previous = _install_signal_handlers()
    try:
        return main(sys.argv[1:] if argv is None else argv)
    except CommandError as error:
        report_error(error.message, error.hint)
        return error.exit_code
    except AngelTotpError as error:
        # A LoginError's message is the server's words; its cause says what went wrong.
        message = error.cause if isinstance(error, LoginError) else error.message
        report_error(shown(message, 400), error.hint and shown(error.hint, 400))
        return exit_code_for(error)
    except KeyboardInterrupt:
        return ended("INTERRUPTED", "interrupted", EXIT_INTERRUPTED)
    except Signalled as signalled:
        err(signalled.words)
        return signalled.exit_code
    except ClosedOutput:
        silence()
        return EXIT_CLOSED_OUTPUT
    except SystemExit as done:  # --help and --version, once printed
        return done.code if isinstance(done.code, int) else EXIT_OK
    except FileNotFoundError as error:
        try:
            os.getcwd()
        except FileNotFoundError:
            report_error("the current folder no longer exists",
                         hint="change to an existing folder (cd) and run again")
            return EXIT_USAGE
        return _bug(error)
    except Exception as error:
        return _bug(error)
    finally:
        _restore_signals(previous)
        try:  # a reader that went away must not make Python complain at exit
            if sys.stdout is not None:
                sys.stdout.flush()
        except (OSError, ValueError):
            silence()


def _bug(error: Exception) -> int:
    # File and line only: an exception's message may carry a secret's value.
    import traceback
    where = traceback.extract_tb(error.__traceback__)[-1]
    report_error(f"unexpected {type(error).__name__} at "
                 f"{os.path.basename(where.filename)}:{where.lineno}",
                 hint="this is a bug; please report it with the command you ran "
                      "(never your secrets)")
    return EXIT_FAILED


def _install_signal_handlers() -> dict[int, Any]:
    # Each ending signal raises Signalled once: a second one would cut the cleanup short.
    def end(signum: int, frame: object) -> None:
        for number in previous:
            _set_handler(number, signal.SIG_IGN)
        raise Signalled(signum)
    previous: dict[int, Any] = {}
    for name in ENDING_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = _set_handler(number, end)
    return previous


def _set_handler(number: int, handler: Any) -> Any:
    try:
        return signal.signal(number, handler)
    except (ValueError, OSError):  # not the main thread
        return None


def _restore_signals(previous: dict[int, Any]) -> None:
    # The run is over: a late Ctrl-C or SIGTERM must not show a traceback (ignored
    # first, never given back a handler that raises), and the other signals get
    # back what they had (their default: end quietly).
    ignored = [getattr(signal, name) for name in ("SIGINT", "SIGTERM")]
    for number in ignored:
        _set_handler(number, signal.SIG_IGN)
    for number, handler in previous.items():
        if handler is not None and number not in ignored:
            _set_handler(number, handler)


def is_terminal(stream: object) -> bool:
    try:
        return stream is not None and bool(stream.isatty())  # type: ignore[attr-defined]
    except (ValueError, OSError, AttributeError):
        return False


def terminal_width(stream: TextIO | None) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80  # type: ignore[union-attr]
    except (OSError, ValueError, AttributeError):
        return 80


# Prompts go to stderr, so that stdout carries only the result.

def ask_hidden(prompt: str, what: str) -> str:
    import getpass  # only when a prompt is shown: it loads termios
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # getpass's "can not control echo"
        try:
            line: str | None = getpass.getpass(prompt, stream=sys.stderr)
        except EOFError:
            line = None
    return _answer(line, what)


def ask_line(prompt: str, what: str | None) -> str:
    err(prompt, end="")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return _answer(line or None, what)  # "": the input ended


def _answer(line: str | None, what: str | None) -> str:
    # Stripped; no line (the input ended) or an empty one is a usage error, if ``what``.
    if line is None:  # the input ended
        err("")
    what = what and what.removeprefix("the ")  # "no PIN was entered", not "no the PIN"
    if what and line is None:
        fail(f"no {what} was entered (end of input)", hint=f"type the {what} and press Enter")
    answer = (line or "").strip()
    if what and not answer:
        fail(f"no {what} was entered")
    return answer


def ask_yes_no(question: str) -> bool:
    return ask_line(f"{question} [y/N] ", None).lower() in ("y", "yes")


def redraw(line: str, on_stdout: bool) -> None:
    # "" clears the line.
    stream, write = (sys.stdout, out) if on_stdout else (sys.stderr, err)
    if stream is None:
        write("", end="")  # out() raises ClosedOutput; err() drops it
        return
    # Cut to the width (a wrapped line cannot be redrawn), not shortened with "...":
    # in a 1 to 3 column terminal even that wraps.
    text = shown(line)[:terminal_width(stream) - 1] if line else ""
    try:
        stream.write("\r")
        write(text, end="")
        stream.write("\x1b[K")
        stream.flush()
    except (OSError, ValueError):
        if write is out:
            raise ClosedOutput() from None
        silence("stderr")
