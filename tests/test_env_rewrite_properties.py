"""Property tests: a rewrite changes the TOTP values and no other byte.

Files are generated from pieces whose layout the test knows, so the
expected result is built independently of the code under test: the same
pieces, with each TOTP value token swapped for the new code.
"""

from __future__ import annotations

import io

from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from angel_totp import envtext

NEW = "654321"
newline = st.sampled_from(["\n", "\r\n"])
key = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True).filter(lambda k: k != "TOTP")
bare_value = st.from_regex(r"[A-Za-z0-9_./:@+-]{0,12}", fullmatch=True)
quoted_text = st.text(alphabet=st.characters(blacklist_characters="'\"\\\r\n\x00",
                                              blacklist_categories=("Cs",)), max_size=12)
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
        value = "'" + draw(quoted_text) + "'"
    elif kind == "double":
        value = '"' + draw(quoted_text) + '"'
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
    bom = draw(st.sampled_from(["", envtext.BOM]))
    drop_final_newline = draw(st.booleans())
    old = bom + "".join(p[0] for p in pieces)
    new = bom + "".join(p[1] for p in pieces)
    if drop_final_newline and old.endswith(eol):
        old, new = old[: -len(eol)], new[: -len(eol)]
    return old, new, eol, has_totp


def _loaded(text: str) -> dict:
    body = text[1:] if text.startswith(envtext.BOM) else text
    return dotenv_values(stream=io.StringIO(body))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(env_file())
def test_rewrite_changes_only_totp_values(case):
    old, expected, eol, has_totp = case
    result = envtext.set_value(envtext.parse(old), "TOTP", NEW).render()
    if has_totp:
        assert result == expected
    else:
        # Appended in the file's own style (\n if it has none); a missing
        # final newline stays missing.
        body = old[1:] if old.startswith(envtext.BOM) else old
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


@settings(max_examples=200)
@given(env_file())
def test_parse_is_lossless(case):
    old = case[0]
    assert envtext.parse(old).render() == old
