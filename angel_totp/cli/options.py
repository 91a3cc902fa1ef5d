"""Each command's options, declared once.

A command lists its options as :class:`Option` values. From that one list
come both the argparse parser (``--help``, ``--version``, abbreviations and
every error message) and a fast parser for the exact spellings, which the
common runs take: argparse's import (gettext, locale, shutil) costs more
start-up time than making a code. Anything the fast parser is not sure of
goes to argparse, which therefore decides every doubtful case.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn

from ..secret import ANGEL_ONE_PERIOD
from .console import UsageError

if TYPE_CHECKING:  # argparse is imported only when a run needs it (start-up cost)
    import argparse


class Option:
    """One command-line option: its spellings, where it goes, how it converts.

    ``convert`` turns the text into the value or raises ``ValueError`` with
    a message for people; ``None`` makes the option a flag. ``exclusive``
    names a group of which at most one option may be given.
    """

    __slots__ = ("flags", "dest", "convert", "default", "metavar", "help", "group",
                 "exclusive")

    def __init__(self, *flags: str, dest: str, help: str,
                 convert: Callable[[str], Any] | None = None, default: Any = None,
                 metavar: str | None = None, group: str = "options",
                 exclusive: str | None = None) -> None:
        self.flags = flags
        self.dest = dest
        self.convert = convert
        self.default = False if convert is None and default is None else default
        self.metavar = metavar
        self.help = help
        self.group = group
        self.exclusive = exclusive

    @property
    def takes_value(self) -> bool:
        return self.convert is not None


class Command:
    """A command's name, manual text and options."""

    __slots__ = ("prog", "description", "epilog", "options", "version")

    def __init__(self, prog: str, description: str, epilog: str,
                 options: Sequence[Option], version: str) -> None:
        self.prog = prog
        self.description = description
        self.epilog = epilog
        self.options = tuple(options)
        self.version = version

    def defaults(self) -> dict[str, Any]:
        return {option.dest: option.default for option in self.options}

    def parse(self, argv: Sequence[str]) -> SimpleNamespace:
        """The options in ``argv``; a mistake raises :class:`UsageError`."""
        fast = self.parse_fast(argv)
        if fast is not None:
            return fast
        return SimpleNamespace(**vars(self.argparse_parser().parse_args(list(argv))))

    def parse_fast(self, argv: Sequence[str]) -> SimpleNamespace | None:
        """The exact spellings, as argparse would read them, or None if unsure."""
        by_flag = {flag: option for option in self.options for flag in option.flags}
        values = self.defaults()
        given: set[str] = set()
        items = iter(argv)
        for item in items:
            name, equals, text = item.partition("=")
            option = by_flag.get(item if not equals else name)
            if option is None or (equals and not option.takes_value):
                return None
            if option.takes_value:
                if not equals:
                    following = next(items, None)
                    if following is None or following.startswith("-"):
                        return None
                    text = following
                assert option.convert is not None
                try:
                    values[option.dest] = option.convert(text)
                except ValueError:
                    return None
            else:
                values[option.dest] = True
            given.add(option.dest)
        groups: dict[str, int] = {}
        for option in self.options:
            if option.exclusive and option.dest in given:
                groups[option.exclusive] = groups.get(option.exclusive, 0) + 1
        if any(count > 1 for count in groups.values()):
            return None
        return SimpleNamespace(**values)

    def argparse_parser(self) -> argparse.ArgumentParser:
        """The reference parser: --help, --version, abbreviations and errors."""
        import argparse

        class Parser(argparse.ArgumentParser):
            def error(self, message: str) -> NoReturn:
                raise UsageError(message, hint=f"run '{self.prog} --help' for the options")

        parser = Parser(prog=self.prog, description=self.description, epilog=self.epilog,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
        groups: dict[str, Any] = {}
        exclusive: dict[str, Any] = {}
        for option in self.options:
            if option.group not in groups:
                groups[option.group] = (parser if option.group == "options"
                                        else parser.add_argument_group(option.group))
            target = groups[option.group]
            if option.exclusive:
                if option.exclusive not in exclusive:
                    exclusive[option.exclusive] = target.add_mutually_exclusive_group()
                target = exclusive[option.exclusive]
            if option.takes_value:
                assert option.convert is not None
                target.add_argument(*option.flags, dest=option.dest, default=option.default,
                                    metavar=option.metavar, help=option.help,
                                    type=_for_argparse(option.convert))
            else:
                target.add_argument(*option.flags, dest=option.dest, action="store_true",
                                    help=option.help)
        parser.add_argument("--version", action="version",
                            version=f"%(prog)s {self.version}")
        return parser


def _for_argparse(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """A converter whose ValueError argparse reports with our message."""
    import argparse

    def checked(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return checked


# Converters shared by both commands. Their ValueError messages are for people.

def whole_seconds(text: str) -> int:
    """A whole number of seconds, 0 or more (e.g. --min-validity)."""
    if not text.strip().isdigit():
        raise ValueError(f"'{_shown(text)}' is not a whole number of seconds")
    return int(text)


def min_validity_seconds(text: str) -> int:
    """--min-validity: 0 to 29 s, since Angel One's codes last 30 s."""
    value = whole_seconds(text)
    if value >= ANGEL_ONE_PERIOD:
        raise ValueError(f"{value} s is not less than a code's {ANGEL_ONE_PERIOD} s")
    return value


def timeout_seconds(text: str) -> float:
    """--timeout: a number of seconds above 0 and up to 300."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 300:
        raise ValueError(f"'{_shown(text)}' is not a number of seconds from 0 to 300")
    return value


def text_value(text: str) -> str:
    return text


def _shown(text: str) -> str:
    # An option's value is the user's own words, but keep it short and printable.
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean[:40] + ("..." if len(clean) > 40 else "")


def program_name(script: str) -> str:
    """How the user started us: ``generate_totp.py`` or ``angel-totp``."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return invoked if invoked and invoked != "__main__.py" else script
