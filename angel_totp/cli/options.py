"""What both commands' options share: argparse, with no abbreviation, and no usage
error that repeats an argument (it may be a secret typed in the wrong place)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from .. import __version__
from ..checks import check_min_validity, check_timeout
from ..codes import DEFAULT_MIN_VALIDITY
from ..errors import InvalidInputError
from . import console
from .console import CommandError


def manual(page: str) -> str:
    return f"""\
Env files are read by the installed python-dotenv's own parser (python-dotenv
1.0 and newer are supported), so every value reads exactly as the installed
one reads them.

Full manual: docs/{page} in the source (the reference starts at docs/README.md)."""


class Parser(argparse.ArgumentParser):
    def __init__(self, *, secrets: str, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, formatter_class=_formatter, **kwargs)
        self.secrets = secrets  # how to give the secrets, for a stray argument's error
        self.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    def parse(self, argv: list[str]) -> argparse.Namespace:
        self.argv = argv
        return self.parse_args(argv)

    def error(self, message: str) -> NoReturn:
        # argparse repeats arguments it did not expect, those given to a flag
        # ("ignored explicit argument"), and more: any of them may be a secret.
        hint = f"run '{self.prog} --help' for the options"
        words = [word for item in getattr(self, "argv", []) for word in item.partition("=")
                 if len(word) >= 4 and word not in self._option_string_actions]
        if any(word in message for word in words) or any(
                phrase in message for phrase in ("unrecognized", "explicit", "ambiguous")):
            raise CommandError("unexpected argument (not repeated here: it may be a secret)",
                               hint=f"{self.secrets}; {hint}")
        raise CommandError(message, hint=hint)

    def _print_message(self, message: str, file: Any = None) -> None:
        # --help and --version: a closed stdout is 141, a full one exit 1, as any output.
        for line in message.rstrip("\n").split("\n"):
            console.out(line)


def _formatter(prog: str) -> argparse.HelpFormatter:
    # With its width given, argparse's formatter does not import shutil, which every
    # run would pay for: add_argument() makes a formatter.
    width = min(console.terminal_width(sys.stdout), 100) - 2
    return argparse.RawDescriptionHelpFormatter(prog, width=max(width, 40))


def timeout_seconds(text: str) -> float:
    # No error repeats the value: it may be a secret typed in the wrong place.
    try:
        return check_timeout(float(text), "the timeout")
    except InvalidInputError as error:
        raise argparse.ArgumentTypeError(error.message) from None
    except ValueError:
        raise argparse.ArgumentTypeError("not a number of seconds") from None


def min_validity_seconds(text: str) -> float:
    try:
        if not text.strip().isdigit():  # whole seconds, as the help says
            raise ValueError
        return check_min_validity(int(text), what="the validity")
    except InvalidInputError as error:
        raise argparse.ArgumentTypeError(error.message) from None
    except ValueError:  # also int("²"), a digit to isdigit()
        raise argparse.ArgumentTypeError("not a whole number of seconds") from None


def add_min_validity(parser: argparse._ActionsContainer, help: str,
                     default: int | None = DEFAULT_MIN_VALIDITY) -> None:
    parser.add_argument("--min-validity", type=min_validity_seconds, default=default,
                        metavar="SECONDS",
                        help=f"{help} (default: {DEFAULT_MIN_VALIDITY}; 0 turns it off)")


def add_timeout(parser: argparse._ActionsContainer, help: str) -> None:
    parser.add_argument("--timeout", type=timeout_seconds, default=10.0,
                        metavar="SECONDS", help=f"{help} (default: %(default)g)")


def path_argument(text: str) -> str:
    # --env-file= (a variable that expanded to nothing) is a slip, not the default.
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty")
    return text


def program_name(default: str) -> str:
    # As the user started the command, so that its hints name something that exists.
    started = sys.argv[0] if sys.argv and sys.argv[0] else ""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if started.endswith(".py") and os.path.abspath(started).startswith(package + os.sep):
        module = os.path.relpath(os.path.abspath(started)[:-3], os.path.dirname(package))
        return "python -m " + module.replace(os.sep, ".").removesuffix(".__main__")
    name = os.path.basename(started)
    return name if name and name not in ("-c", "__main__.py") else default
