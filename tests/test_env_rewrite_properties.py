"""Property tests: a rewrite changes the TOTP values and no other byte.

Two oracles, both independent of the code under test:

* files generated from pieces whose layout the test knows: the expected
  result is the same pieces, with each TOTP value token swapped;
* files full of backslashes, quotes of both kinds, escapes before closing
  quotes and ``#`` inside values, where python-dotenv itself says where
  each statement and value token is, what every key loads as, and whether
  the file can be parsed at all.
"""

from __future__ import annotations

import io

from dotenv import dotenv_values
from dotenv import parser as dotenv_parser
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from angel_totp import envfile
from angel_totp.hidden import Hidden

NEW = "654321"
newline = st.sampled_from(["\n", "\r\n"])
key = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True).filter(lambda k: k != "TOTP")
bare_value = st.from_regex(r"[A-Za-z0-9_./:@+-]{0,12}", fullmatch=True)
quoted_text = st.text(alphabet=st.characters(blacklist_characters="'\"\\\r\n\x00",
                                              blacklist_categories=("Cs",)), max_size=12)
hash_text = st.lists(st.sampled_from(["a", " ", "#", " # ", "x#y"]), max_size=4).map("".join)
multiline_text = st.lists(quoted_text, min_size=1, max_size=3)
comment = st.one_of(st.just(""), quoted_text.map(lambda t: "  # " + t))
export = st.sampled_from(["", "export "])
spaces = st.sampled_from(["", " ", "  "])


@st.composite
def other_line(draw, eol):
    kind = draw(st.sampled_from(["bare", "single", "double", "multi", "comment", "blank"]))
    if kind == "comment":
        return "# " + draw(quoted_text) + eol
    if kind == "blank":
        return draw(spaces) + eol
    head = draw(export) + draw(key) + draw(spaces) + "=" + draw(spaces)
    if kind == "bare":
        value = draw(bare_value)
    elif kind == "single":
        value = "'" + draw(st.one_of(quoted_text, hash_text)) + "'"
    elif kind == "double":
        value = '"' + draw(st.one_of(quoted_text, hash_text)) + '"'
    else:
        value = '"' + eol.join(draw(multiline_text)) + '"'
    return head + value + draw(comment) + eol


@st.composite
def totp_line(draw, eol):
    """(text before, old value token, new value token, text after)"""
    head = draw(export) + "TOTP" + draw(spaces) + "=" + draw(spaces)
    style = draw(st.sampled_from(["bare", "single", "double", "multi", "empty"]))
    old = draw(st.from_regex(r"[0-9]{6}", fullmatch=True))
    if style == "multi":
        tokens = ('"' + eol.join(draw(multiline_text)) + '"', f'"{NEW}"')
    elif style == "bare":
        tokens = (old, NEW)
    elif style == "single":
        tokens = (f"'{old}'", f"'{NEW}'")
    elif style == "double":
        tokens = (f'"{old}"', f'"{NEW}"')
    else:
        tokens = ("", NEW)
    tail = draw(comment) if style != "empty" else ""
    return head, tokens[0], tokens[1], tail + eol


@st.composite
def env_file(draw):
    eol = draw(newline)
    pieces = []  # each: (old text, expected new text)
    has_totp = False
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 3)) == 0:
            head, old, new, tail = draw(totp_line(eol))
            pieces.append((head + old + tail, head + new + tail))
            has_totp = True
        else:
            line = draw(other_line(eol))
            pieces.append((line, line))
    bom = ""  # a byte-order mark: see test_env_dotenv_oracle.py, it reads per version
    drop_final_newline = draw(st.booleans())
    old = bom + "".join(p[0] for p in pieces)
    new = bom + "".join(p[1] for p in pieces)
    if drop_final_newline and old.endswith(eol):
        old, new = old[: -len(eol)], new[: -len(eol)]
    return old, new, eol, has_totp


def _loaded(text: str) -> dict:
    return dotenv_values(stream=io.StringIO(text, newline=None))


def rewrite(text: str) -> str:
    """``text`` with TOTP set by the writer's own rewrite (no file involved)."""
    current = envfile._parse_checked(text)
    assert isinstance(current, envfile.EnvFile), current
    new = envfile._new_text(text, current, {"TOTP": Hidden(NEW)})
    return text if new is None else new.reveal()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env_file())
def test_rewrite_changes_only_totp_values(case):
    old, expected, eol, has_totp = case
    result = rewrite(old)
    if has_totp:
        assert result == expected
    else:
        # Appended in the file's own style (\n if it has none); a missing
        # final newline stays missing.
        body = old
        eol = eol if eol in body else "\n"
        if not body:
            assert result == old + "TOTP=" + NEW + "\n"
        elif body.endswith(("\n", "\r")):
            assert result == old + "TOTP=" + NEW + eol
        else:
            assert result == old + eol + "TOTP=" + NEW
    before, after = _loaded(old), _loaded(result)
    assert after.pop("TOTP") == NEW
    before.pop("TOTP", None)
    assert after == before


# -- dotenv as the oracle ----------------------------------------------------

# Inside quotes: backslashes alone and in escapes, both quotes, "#", spaces.
inner = st.lists(st.sampled_from(["a", "b", " ", "#", " # ", "\\", "\\\\", "\\'", '\\"', "'",
                                  '"', "$", "=", "\\n"]), max_size=6).map("".join)


@st.composite
def value_token(draw):
    kind = draw(st.sampled_from(["bare", "single", "double", "escape_before_close", "empty"]))
    if kind == "bare":
        return draw(st.from_regex(r"[A-Za-z0-9_./:@+-][A-Za-z0-9_./:@+#'\"\\-]{0,8}",
                                  fullmatch=True))
    if kind == "empty":
        return ""
    quote = draw(st.sampled_from(["'", '"']))
    if kind == "escape_before_close":  # 'abc\\' : an escaped backslash, then the quote
        return quote + draw(inner) + "\\\\" + quote
    return quote + draw(inner) + quote


@st.composite
def statement(draw, key, eol):
    head = draw(export) + key + draw(spaces)
    form = draw(st.sampled_from(["assign", "assign", "assign", "bare_key", "hash_value"]))
    if form == "bare_key":
        return head + draw(st.sampled_from(["", "# c", " # c"])) + eol
    if form == "hash_value":
        return head + "= # note" + eol  # dotenv loads "# note"
    tail = draw(st.sampled_from(["", " # note", "  # it's \"x\"", " #"]))
    return head + "=" + draw(spaces) + draw(value_token()) + tail + eol


@st.composite
def tricky_env(draw):
    eol = draw(newline)
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        key_name = draw(st.sampled_from(["TOTP", "TOTP", "A", "B_2", "TOTP_SECRET"]))
        lines.append(draw(statement(key_name, eol)))
    if draw(st.booleans()):
        lines.append("# a comment with ' and \" and \\" + eol)
    text = "".join(lines)
    if draw(st.booleans()) and text.endswith(eol):
        text = text[: -len(eol)]
    return text


def dotenv_statements(text):
    """dotenv's parse: (key, value, original, token span in the original), or None
    when it cannot parse a statement."""
    found = []
    for binding in dotenv_parser.parse_stream(io.StringIO(text, newline="")):
        if binding.error:
            return None
        if binding.key is not None:
            found.append((binding.key, binding.value, binding.original.string,
                          _token_span(binding.original.string)))
        else:
            found.append((None, None, binding.original.string, None))
    return found


def _token_span(original):
    """Where dotenv's own reader finds the value token of one statement."""
    reader = dotenv_parser.Reader(io.StringIO(original, newline=""))
    reader.read_regex(dotenv_parser._multiline_whitespace)
    reader.read_regex(dotenv_parser._export)
    dotenv_parser.parse_key(reader)
    key_end = reader.position.chars  # "KEY" alone gains "=value" right here
    reader.read_regex(dotenv_parser._whitespace)
    if reader.peek(1) != "=":
        return ("bare_key", key_end, key_end)
    reader.read_regex(dotenv_parser._equal_sign)
    start = reader.position.chars
    char = reader.peek(1)
    value = dotenv_parser.parse_value(reader)
    if char in ("'", '"'):
        return (char, start, reader.position.chars)
    if value.startswith("#"):
        return ("hash", start, start)
    return ("bare", start, start + len(value))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(tricky_env())
@example("TOTP='abc\\\\' # note\n")
@example("TOTP='abc\\\\' # note")
@example('A=1\nTOTP="abc\\\\" # note\nB=2\n')
def test_rewrite_keeps_every_other_byte_and_value_as_dotenv_reads_them(text):
    old = text
    before = dotenv_statements(text)
    if before is None:  # dotenv would skip a statement: the file must be refused
        assert not isinstance(envfile._parse_checked(old), envfile.EnvFile), \
            "a file python-dotenv cannot parse was accepted"
        return
    new = rewrite(old)
    after = dotenv_statements(new)
    assert after is not None, "the rewrite made the file unparseable"

    # TOTP reads back as the new value; every other key as before.
    read_old = dotenv_values(stream=io.StringIO(text, newline=None), interpolate=False)
    read_new = dotenv_values(stream=io.StringIO(new, newline=None), interpolate=False)
    assert read_new.pop("TOTP") == NEW
    read_old.pop("TOTP", None)
    assert read_new == read_old

    # Every byte outside the TOTP value tokens is kept, each TOTP statement
    # keeps its quote style, and a missing TOTP is appended in the file's style.
    had_totp = any(key == "TOTP" for key, *_ in before)
    if not had_totp:
        assert len(after) == len(before) + 1 and after[-1][0] == "TOTP"
        appended = after[-1][2].lstrip("\r\n")
        assert appended.startswith("TOTP=" + NEW)
        assert new.startswith(text)
        return
    assert len(after) == len(before)
    for (key, _, original, span), (key2, value2, rewritten, _) in zip(before, after, strict=True):
        assert key2 == key
        if key != "TOTP":
            assert rewritten == original
            continue
        style, start, end = span
        assert value2 == NEW
        assert rewritten.startswith(original[:start]) and rewritten.endswith(original[end:])
        token = rewritten[start:len(rewritten) - (len(original) - end)]
        expected = {"'": f"'{NEW}'", '"': f'"{NEW}"', "bare": NEW, "hash": NEW + " ",
                    "bare_key": "=" + NEW}[style]
        # "KEY#c" needs quotes; after a value that closed on the file's last
        # "'", no "'" may follow, so double ones.
        assert token == expected or (
            style == "bare_key" and token in (f"='{NEW}'", f'="{NEW}"', f"={NEW} "))
