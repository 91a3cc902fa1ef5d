"""The writer parses the file once; each changed statement is checked on its own.

The installed python-dotenv's full parse of the result is the oracle: whatever
the writer accepts reads back, as a whole, as the values it meant to write.
The hard cases are where a statement parsed alone reads differently from the
same statement in its file: a quoted value of dotenv < 1.2.3 that ends in an
escaped-looking quote (``'x\\\\'``) and takes a later quote when there is one,
a last statement without a line ending, trailing blanks, a byte-order mark.
"""

from __future__ import annotations

import io

import pytest
from dotenv import parser as dotenv_parser
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from angel_totp import envfile
from angel_totp.errors import EnvFileError
from angel_totp.hidden import Hidden

TRICKY = ["654321", "it's", 'say "hi"', "back\\", "a'b\\", "a #b", "x y", "",
          "otpauth://totp/A:b?secret=JBSW&digits=8", "\\'", 'q"\\']


def dotenv_pairs(text: str) -> list[tuple[str, str | None]] | None:
    """What the installed dotenv reads in the whole text; None if it skips a statement."""
    pairs = []
    for binding in dotenv_parser.parse_stream(io.StringIO(text, newline=None)):
        if binding.error:
            return None
        if binding.key is not None:
            pairs.append((binding.key, binding.value))
    return pairs


def check_rewrite(text: str, values: dict[str, str]) -> str | None:
    """The writer's text for ``values``, after checking it against dotenv's whole
    parse; None where the writer refused."""
    current = envfile._parse_checked(text)
    assert isinstance(current, envfile.EnvFile)
    try:
        new = envfile._new_text(text, current, {k: Hidden(v) for k, v in values.items()})
    except ValueError:
        return None
    result = text if new is None else new.reveal()
    before = dotenv_pairs(text)
    assert before is not None
    keys = {key for key, _ in before}
    expected = [(key, values.get(key, value)) for key, value in before]
    expected += [(key, value) for key, value in values.items() if key not in keys]
    assert dotenv_pairs(result) == expected, "accepted a text dotenv reads otherwise"
    return result


line = st.sampled_from([
    "A=1", "A='x\\\\'", 'A="x\\\\"', "A='x\\'", "A='it\\'s'", "# it's", "TOTP=111111",
    "export TOTP='111111' # c", 'TOTP="1" # "', "TOTP", "TOTP= # note", "B=it's", "  ", "",
    "A='multi\nline'", 'TOTP_SECRET=""',
])


@st.composite
def env_text(draw):
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = eol.join(draw(st.lists(line, max_size=6)))
    if draw(st.booleans()):
        text += eol
    return ("\ufeff" if draw(st.booleans()) else "") + text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env_text(), st.sampled_from(TRICKY), st.one_of(st.none(), st.sampled_from(TRICKY)))
@example("A='x\\\\'\nTOTP=111111\n", "it's", None)          # 1.2.2 reads A to TOTP='
@example("A='x\\\\'\nTOTP=111111", "654321", "it's")         # the append brings the quote
@example("A=1\n  ", "654321", "it's")                        # blanks at the end
@example("\ufeffTOTP=1", "654321", "x y")                    # a byte-order mark
@example("TOTP=1 # c", "654321", "a #b")                    # no final newline
def test_what_the_writer_accepts_reads_back_whole_as_meant(text, totp, secret):
    if dotenv_pairs(text) is None:
        return  # refused on reading: tested elsewhere
    values = {"TOTP": totp} if secret is None else {"TOTP": totp, "TOTP_SECRET": secret}
    check_rewrite(text, values)


@pytest.mark.parametrize("text,totp", [
    ("A='x\\\\'\nTOTP=111111\n", "it's"),
    ('A="x\\\\"\nTOTP=111111\n', 'say "hi"'),
])
def test_a_value_that_reads_otherwise_in_its_file_is_refused_or_checked_whole(text, totp):
    # Parsed alone, TOTP's new statement reads right; dotenv < 1.2.3 reads A on to
    # the new quote. The writer parses the whole file then, and never writes that.
    assert check_rewrite(text, {"TOTP": totp}) in (None, text.replace("111111", {
        "it's": "'it\\'s'", 'say "hi"': "'say \"hi\"'"}[totp]))


def counted_parses(monkeypatch) -> list[int]:
    sizes: list[int] = []
    real = envfile._parse

    def parse(text):
        sizes.append(len(text))
        return real(text)
    monkeypatch.setattr(envfile, "_parse", parse)
    return sizes


@pytest.mark.parametrize("tail,values", [
    ("TOTP='111111' # code\n", {"TOTP": "654321"}),
    ("TOTP=111111", {"TOTP": "654321", "TOTP_SECRET": "JBSWY3DPEHPK3PXP"}),  # appended
    ("", {"TOTP": "654321"}),
])
def test_an_update_parses_the_file_once(tmp_path, monkeypatch, tail, values):
    text = "".join(f'KEY_{i}="value {i}"  # comment {i}\n' for i in range(2000)) + tail
    path = tmp_path / ".env"
    path.write_text(text)
    sizes = counted_parses(monkeypatch)
    envfile.update_env_file(path, lambda current: (values, float("inf")))
    assert max(sizes) >= len(text) and sum(sizes) < len(text) + 1000, sizes
    assert dotenv_pairs(path.read_text())[-len(values):] == list(values.items())


def test_a_value_ending_in_a_backslash_is_checked_in_the_whole_file(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("A='C:\\\\temp\\\\'\n" + "B=1\n" * 500 + "TOTP=1\n")
    sizes = counted_parses(monkeypatch)
    try:
        envfile.update_env_file(path, lambda current: ({"TOTP": "it's"}, float("inf")))
    except EnvFileError as error:
        assert error.reason == "value"
    assert len([size for size in sizes if size > 1000]) == 2  # read, then checked whole
