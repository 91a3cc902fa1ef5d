"""The console: exit codes, one-line errors, prompts.

Every failure a user can cause ends as ``error: ...`` (and maybe
``hint: ...``) on stderr with a deliberate exit code, never a traceback.
Prompts and notes go to stderr so that stdout carries only the result.
"""

from __future__ import annotations

import sys
from typing import Callable, NoReturn

EXIT_OK = 0
EXIT_FAILED = 1        # the job ran and failed
EXIT_USAGE = 2         # bad input, missing setting, bad option
EXIT_NO_ANSWER = 3     # no usable answer from the server
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure to report as one ``error:`` line, an optional hint, and an exit code."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


def fail(message: str, hint: str | None = None, exit_code: int = EXIT_USAGE) -> NoReturn:
    raise CliError(message, hint, exit_code)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    note(f"warning: {message}")


def report_error(error: CliError) -> None:
    print(f"error: {_one_line(error.message)}", file=sys.stderr)
    if error.hint:
        print(f"hint: {_one_line(error.hint)}", file=sys.stderr)
    sys.stderr.flush()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run(main: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """Run ``main`` and turn every user-caused failure into an exit code."""
    try:
        return main(sys.argv[1:] if argv is None else argv)
    except CliError as error:
        report_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        note("")
        note("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAILED
    except Exception as error:  # a bug: still one line, and no values in it
        report_error(CliError(f"unexpected {type(error).__name__} at {_where(error)}",
                              hint="this is a bug; please report it with the command "
                                   "you ran (never your secrets)"))
        return EXIT_FAILED


def _where(error: BaseException) -> str:
    # File and line only: an exception's message may carry a secret's value.
    import os
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return "an unknown place"
    return f"{os.path.basename(frame.tb_frame.f_code.co_filename)}:{frame.tb_lineno}"


def _silence_stdout() -> None:
    # The reader went away (e.g. `| head`); stop Python complaining at exit.
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def parse_plain_options(argv: list[str], flags: dict[str, str],
                        values: dict[str, tuple[str, Callable[[str], object]]],
                        defaults: dict[str, object],
                        exclusive: tuple[tuple[str, str], ...] = ()):
    """Parse the documented spellings of the options, or return None.

    argparse's import (gettext, locale, shutil) costs more start-up time
    than making a code, so each command parses its own exact option names
    here and hands anything else (--help, --version, abbreviations,
    mistakes, conflicts) to its argparse parser, which stays the reference.
    Tests check both agree. ``values`` maps an option to (destination,
    converter); a converter that raises ValueError defers to argparse.
    """
    from types import SimpleNamespace

    options = dict.fromkeys(flags.values(), False)
    options.update(defaults)
    items = iter(argv)
    for item in items:
        if item in flags:
            options[flags[item]] = True
            continue
        name, equals, value = item.partition("=")
        if name not in values:
            return None
        if not equals:
            value = next(items, None)
            if value is None or value.startswith("-"):
                return None
        destination, convert = values[name]
        try:
            options[destination] = convert(value)
        except ValueError:
            return None
    if any(options[a] and options[b] for a, b in exclusive):
        return None
    return SimpleNamespace(**options)


def whole_seconds(text: str) -> int:
    """An option's whole number of seconds (a ValueError is argparse's cue)."""
    if not text.strip().isdigit():
        raise ValueError(f"'{text}' is not a whole number of seconds")
    return int(text)


def positive_seconds(text: str) -> float:
    """Seconds above 0 and up to 300, e.g. for --timeout."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 300:
        raise ValueError(f"'{text}' is not a number of seconds from 0 to 300")
    return value


def argument_parser(prog: str, description: str, epilog: str):
    """An argparse parser whose errors are one line and a hint, not usage + exit."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            fail(message, hint=f"run '{self.prog} --help' for the options")

    return Parser(prog=prog, description=description, epilog=epilog,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


def waiting_note(min_validity: int) -> Callable[[object, float], None]:
    """The on_wait callback that tells the user why a run pauses for the next code."""
    def say(code, wait: float) -> None:
        note(f"the current code expires in {code.seconds_left:.0f} s "
             f"(under --min-validity {min_validity}); waiting {wait:.0f} s for the next one")
    return say


def for_argparse(convert: Callable[[str], object]) -> Callable[[str], object]:
    """A converter whose ValueError argparse reports with its own message."""
    import argparse

    def checked(text: str):
        try:
            return convert(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return checked


def is_terminal(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False


def stdin_is_terminal() -> bool:
    return is_terminal(sys.stdin)


def ask_hidden(prompt: str, what: str) -> str:
    """Read a line without echo. EOF or an empty answer is a usage error."""
    import getpass
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # getpass's "can not control echo"
        try:
            answer = getpass.getpass(prompt, stream=sys.stderr)
        except EOFError:
            note("")
            fail(f"no {what} was entered (end of input)",
                 hint=f"type the {what} and press Enter")
    if not answer.strip():
        fail(f"no {what} was entered")
    return answer


def ask_line(prompt: str, what: str) -> str:
    print(prompt, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not answer:
        note("")
        fail(f"no {what} was entered (end of input)")
    if not answer.strip():
        fail(f"no {what} was entered")
    return answer.strip()


def ask_yes_no(question: str) -> bool:
    """A [y/N] question on the terminal; anything but yes is no."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not answer:
        note("")
        return False
    return answer.strip().lower() in ("y", "yes")
