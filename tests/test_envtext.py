"""The env-text scanner against python-dotenv itself, and rewriting one key.

The scanner mirrors dotenv 1.2's grammar; these tests hold it to dotenv's
own parser and loader on generated text, including backslashes, both
quotes, escapes before closing quotes, ``#`` inside values, ``export``,
Unicode spaces and every kind of line ending.
"""

from __future__ import annotations

import io
import re
import time

import pytest
from dotenv import dotenv_values
from dotenv.parser import parse_stream
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from angel_totp import envtext
from angel_totp.envtext import EnvSyntaxError
from angel_totp.errors import InvalidInputError

# Fragments that exercise every branch of dotenv's grammar.
FRAGMENTS = ["A", "TOTP", "B_2", "=", " ", "\t", "'", '"', "\\", "#", "\n", "\r\n", "\r",
             "export ", "x", "\xa0", "\x0b", "\x85", "${A}", "${", "}", ":-", "$", "é"]
fragments = st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join)


def dotenv_view(text: str) -> object:
    """What dotenv's parser makes of ``text``: the keyed statements, or the
    line where the first statement it cannot parse starts."""
    found = []
    for binding in parse_stream(io.StringIO(text, newline="")):
        if binding.error:
            leading = re.match(r"\s*", binding.original.string).group()  # type: ignore[union-attr]
            return ("error", binding.original.line + len(re.findall(r"\r\n|\n|\r", leading)))
        if binding.key is not None:
            found.append((binding.key, binding.value, binding.original.string))
    return found


def our_view(text: str) -> object:
    try:
        parsed = envtext.parse(text)
    except EnvSyntaxError as error:
        return ("error", error.line)
    assert parsed.render() == text
    return [(s.key, s.value, s.text) for s in parsed.statements()]


def loaded(text: str) -> dict[str, str | None]:
    """dotenv_values as it reads a file: universal newlines. A byte-order mark
    is not part of the first key (dotenv would make it so; we keep it aside)."""
    body = text[1:] if text.startswith(envtext.BOM) else text
    return dict(dotenv_values(stream=io.StringIO(body, newline=None)))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragments)
@example("TOTP='abc\\\\' # note\n")
@example("TOTP='abc\\\\' # note\nB='x'\n")
@example("A='x\\' y\\' z'\n")
@example('A="a\\\\" # n\nB="c"\n')
@example("export  =1\n")
@example("'A B'=1\nC\n")
def test_statements_match_dotenvs_parser(text):
    assert our_view(text) == dotenv_view(text)


@settings(max_examples=500, deadline=None)
@given(fragments)
def test_values_match_dotenv_values(text):
    if isinstance(dotenv_view(text), tuple):
        return  # dotenv skips a statement it cannot parse; we refuse the file
    parsed = envtext.parse(text)
    assert parsed.values(override=True) == loaded(text)
    assert parsed.values(interpolate=False) == dict(
        dotenv_values(stream=io.StringIO(text, newline=None), interpolate=False))
    for key, value in loaded(text).items():
        if "${" not in (value or "") and "\n" not in key:  # keys are looked up as written
            assert parsed.value(key) == value


def test_values_expand_with_the_environment_first_as_load_dotenv_does():
    parsed = envtext.parse("X=file\nY=${X}\nZ=${NOPE:-dflt}\nW=${X:-d}\n")
    assert parsed.value("Y", environ={"X": "env"}) == "env"        # load_dotenv()
    assert parsed.values(override=True, environ={"X": "env"})["Y"] == "file"  # dotenv_values()
    assert parsed.value("Z", environ={}) == "dflt"
    assert parsed.value("W", environ={}) == "file"


def test_values_match_dotenv_reading_a_file(tmp_path):
    text = 'A="line one\r\nline two"\r\nB=plain\r\nC=\'x\ry\'\r\n'
    path = tmp_path / ".env"
    path.write_bytes(text.encode())
    assert envtext.parse(text).values(override=True) == dict(dotenv_values(path))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["$", "{", "}", ":", "-", "a", "B"]), max_size=16).map("".join))
def test_variable_scanner_finds_what_dotenvs_expression_finds(raw):
    pattern = re.compile(r"\$\{(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}")
    expected = [(m.start(), m.end(), m.group("name"), m.group("default"))
                for m in pattern.finditer(raw)]
    assert list(envtext._variables(raw)) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([" ", "\t", "\xa0", "#", "a", "b"]), max_size=16).map("".join))
def test_comment_cut_is_dotenvs_substitution(part):
    expected = re.sub(r"\s+#.*", "", part)
    assert part[:envtext._comment_cut(part, 0, len(part))] == expected


# -- linear time -----------------------------------------------------------

ADVERSARIAL = {
    "spaces without #": lambda n: "A=x" + " " * n + "y\n",
    "many ${ without }": lambda n: "A=" + "${" * (n // 2) + "\n",
    "escaped quotes, no closing one": lambda n: "A='" + "\\'" * (n // 2) + "\n",
    "unclosed quoted key": lambda n: "'" + "k" * n,
    "many short lines": lambda n: "K=v\n" * (n // 4),
    "many quoted lines": lambda n: "K='v' # c\n" * (n // 10),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_parse_and_values_take_linear_time(name):
    make = ADVERSARIAL[name]

    def cost(size: int) -> float:
        text = make(size)
        started = time.perf_counter()
        try:
            envtext.parse(text).values()
        except EnvSyntaxError:
            pass
        return time.perf_counter() - started

    small, large = cost(50_000), cost(400_000)
    assert large < 2.0, f"{name}: {large:.2f} s for 400 kB"
    # 8x the input: quadratic would be ~64x the time.
    assert large < 24 * small + 0.05, f"{name}: {small:.4f} s then {large:.4f} s"


# -- rewriting -------------------------------------------------------------

URI = "otpauth://totp/Angel%20One?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH&algorithm=SHA1&digits=8&period=60"


@pytest.mark.parametrize("before,after", [
    ("TOTP='abc\\\\' # note\n", "TOTP='123456' # note\n"),
    ("TOTP='abc\\\\' # note", "TOTP='123456' # note"),
    ('TOTP="abc\\\\" # note\r\n', 'TOTP="123456" # note\r\n'),
    ("TOTP\n", "TOTP=123456\n"),
    ("export TOTP  # c\n", "export TOTP=123456  # c\n"),
    ("TOTP#c\n", "TOTP='123456'#c\n"),
    ("TOTP= # refreshed by cron\n", "TOTP= 123456 # refreshed by cron\n"),
    ("TOTP=\n", "TOTP=123456\n"),
    ("'TOTP' = '1' # q\n", "'TOTP' = '123456' # q\n"),
    ("A=1\r\nB=2", "A=1\r\nB=2\r\nTOTP=123456"),
    ("", "TOTP=123456\n"),
    ("\ufeff", "\ufeffTOTP=123456\n"),
])
def test_set_value_changes_only_the_value_token(before, after):
    result = envtext.parse(before).set_value("TOTP", "123456").render()
    assert result == after
    assert loaded(result)["TOTP"] == "123456"


@pytest.mark.parametrize("value", [
    URI, "a b", "it's", 'say "hi"', "x # y", "#hash", "back\\slash", "ends\\",
    "percent%20&a=b?c", "multi\nline", " padded ", "", "ünïcödé",
])
@pytest.mark.parametrize("layout", ["", "A=1\n", "KEY=old # c\n", "KEY='old'\n", 'KEY="old"\n',
                                    "KEY\n", "KEY= # note\n", "X='tail\\\\' # c\n"])
def test_any_value_reads_back_exactly_or_is_refused(layout, value):
    parsed = envtext.parse(layout)
    try:
        result = parsed.set_value("KEY", value).render()
    except InvalidInputError as error:
        assert error.what == "value"
        # A final backslash closes no quote; after X's value, which closed on
        # the file's last "'", no "'" may follow.
        assert value.endswith("\\") or ("'" in value and layout.startswith("X="))
        return
    assert loaded(result)["KEY"] == value
    others = {k: v for k, v in loaded(layout).items() if k != "KEY"}
    assert {k: v for k, v in loaded(result).items() if k != "KEY"} == others


def test_a_uri_is_quoted_so_a_shell_does_not_trip_on_it():
    result = envtext.parse("A=1\n").set_value("TOTP_SECRET", URI).render()
    assert result == f"A=1\nTOTP_SECRET='{URI}'\n"


def test_no_quote_is_added_after_a_value_that_closed_on_the_files_last_quote():
    # X's value ends on the last "'" of the file; a "'" after it would extend X.
    text = "X='tail\\\\' # c\n"
    result = envtext.parse(text).set_value("TOTP_SECRET", URI).render()
    assert result == f'{text}TOTP_SECRET="{URI}"\n'
    assert loaded(result) == {"X": "tail\\", "TOTP_SECRET": URI}


@pytest.mark.parametrize("value,words", [
    ("${HOME}", "expand"), ("a\rb", "carriage return"),
])
def test_values_dotenv_cannot_read_back_are_refused(value, words):
    with pytest.raises(InvalidInputError) as caught:
        envtext.parse("").set_value("TOTP", value)
    assert words in str(caught.value) and caught.value.what == "value"


@pytest.mark.parametrize("key", ["", "1A", "A B", "A=B", "A#", None])
def test_keys_must_be_plain_names(key):
    with pytest.raises(InvalidInputError) as caught:
        envtext.parse("").set_value(key, "1")  # type: ignore[arg-type]
    assert caught.value.what == "key"


def test_every_assignment_is_updated_and_none_appended():
    text = "TOTP=1\nA=2\nexport TOTP='3' # c\nTOTP\n"
    result = envtext.parse(text).set_value("TOTP", "999999").render()
    assert result == "TOTP=999999\nA=2\nexport TOTP='999999' # c\nTOTP=999999\n"


def test_an_empty_secret_as_in_the_example_file_counts_as_none_and_is_filled_in_place():
    example = "# comment\nTOTP_SECRET=\n\nTOTP=\nANGEL_PIN=\n"
    parsed = envtext.parse(example)
    assert parsed.has("TOTP_SECRET") and not parsed.has_nonempty("TOTP_SECRET")
    assert parsed.value("TOTP_SECRET") == ""
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEH"
    filled = parsed.set_value("TOTP_SECRET", secret)
    assert filled.render() == example.replace("TOTP_SECRET=", "TOTP_SECRET=" + secret)
    assert filled.has_nonempty("TOTP_SECRET")
    assert not envtext.parse("TOTP_SECRET='  '\n").has_nonempty("TOTP_SECRET")
    assert not envtext.parse("A=1\n").has_nonempty("TOTP_SECRET")
    assert envtext.parse("TOTP_SECRET=x\nTOTP_SECRET\n").value("TOTP_SECRET") is None


def test_edits_describe_the_change_and_several_keys_combine():
    parsed = envtext.parse("A=1\nTOTP=0\n")
    both = parsed.set_value("TOTP", "5").set_value("TOTP_SECRET", "S").set_value("TOTP", "6")
    assert both.render() == "A=1\nTOTP=6\nTOTP_SECRET=S\n"
    assert both.edits == (envtext.Edit(9, 10, "6"), envtext.Edit(11, 11, "TOTP_SECRET=S\n"))
    assert both.value("TOTP") == "6" and both.values(interpolate=False)["TOTP_SECRET"] == "S"
    assert parsed.render() == "A=1\nTOTP=0\n"  # the original is unchanged


def test_env_text_is_immutable_and_its_repr_shows_no_value():
    parsed = envtext.parse("TOTP_SECRET=JBSWY3DPEHPK3PXPJBSWY3DPEH\n")
    with pytest.raises(AttributeError):
        parsed._source = ""  # type: ignore[misc]
    with pytest.raises(TypeError):
        envtext.EnvText()
    assert "JBSW" not in repr(parsed)
    assert "python-dotenv" in (envtext.EnvText.__doc__ or "") or envtext.EnvText.__doc__


def test_syntax_errors_name_the_line_where_the_statement_starts():
    with pytest.raises(EnvSyntaxError) as caught:
        envtext.parse("A=1\n\n\nB=\"never closed\nC=3\n")
    assert caught.value.line == 4 and str(caught.value) == "line 4 cannot be parsed"


def test_assignments_keep_the_old_interface():
    parsed = envtext.parse("A=1\nTOTP='2' # c\nTOTP\n")
    assert [(b.key, b.value, b.text, b.line) for b in parsed.assignments("TOTP")] == [
        ("TOTP", "2", "TOTP='2' # c\n", 2)]
    assert envtext.set_value(parsed, "A", "9").render().startswith("A=9\n")
    assert parsed.keys() == ["A", "TOTP"] and parsed.line_ending() == "\n"
