"""Each command's options are declared once; the fast parser agrees with argparse.

The words the property test draws from are derived from the declarations
themselves, so an option added later cannot escape the test.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from angel_totp.cli import generate, login_check
from angel_totp.cli.console import UsageError
from angel_totp.codes import DEFAULT_MIN_VALIDITY

COMMANDS = [generate.command(), login_check.command()]
SAMPLE_VALUES = ["x.env", "5", "0", "29", "30", "-1", "2.5", "abc", "nan", "301", " 7",
                 "https://a", "2005-03-18T01:58:29Z", ""]


def words_for(command) -> list[str]:
    words = ["-h", "--", "-qq", "--nonsense"]
    for option in command.options:
        for flag in option.flags:
            words.append(flag)
            if flag.startswith("--") and len(flag) > 4:
                words.append(flag[:-2])  # an abbreviation: argparse's to judge
            if option.takes_value:
                words += [f"{flag}={value}" for value in SAMPLE_VALUES[:4]]
    return words + SAMPLE_VALUES


def assert_agree(command, argv: list[str]) -> None:
    fast = command.parse_fast(argv)
    if fast is None:
        return  # argparse decides, so nothing can differ
    try:
        reference = command.argparse_parser().parse_args(argv)
    except (UsageError, SystemExit):
        raise AssertionError(f"argparse rejects {argv} but the fast parser accepted it") from None
    assert vars(fast) == vars(reference), argv


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.prog)
def test_fast_parser_agrees_with_argparse(command):
    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.sampled_from(words_for(command)), max_size=6))
    def check(argv):
        assert_agree(command, argv)
    check()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.prog)
def test_every_option_is_in_help_and_parses_fast(command):
    help_text = command.argparse_parser().format_help()
    for option in command.options:
        for flag in option.flags:
            assert flag in help_text
        argv = [option.flags[-1]] + (["5"] if option.takes_value else [])
        if option.dest in ("time",):
            argv = [option.flags[-1], "1111111109"]
        assert command.parse_fast(argv) is not None, argv


def test_defaults_come_from_the_library():
    for command in COMMANDS:
        assert command.defaults()["min_validity"] == DEFAULT_MIN_VALIDITY


def test_a_bad_value_is_one_usage_error_naming_the_option():
    with pytest.raises(UsageError) as caught:
        generate.command().parse(["--min-validity", "30"])
    assert "--min-validity" in caught.value.message
    assert "--help" in caught.value.hint
