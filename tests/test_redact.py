"""The one rule for outside text (angel_totp.redact): masks that hide, never reveal.

In-process and pure: each promise is tried with the echo an attacker or a
careless server would send.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from urllib.parse import quote, quote_plus

import pytest

from angel_totp import redact
from angel_totp.hidden import Hidden

PIN = "4826"
CLIENT_CODE = "A104826"
API_KEY = "ab/cD+ef12Kq"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEH"
HIDDEN = [PIN, Hidden(API_KEY), SECRET]


def shows(text: str, value: str) -> bool:
    """Whether ``value`` can still be read in ``text``, however it is spelled."""
    squeezed = unicodedata.normalize("NFKC", "".join(redact.CONTROL.sub("", text).split()))
    return value.lower() in squeezed.lower()


# Item 2: a mask never reveals more than it hides.

@pytest.mark.time_bound(5)
def test_a_pin_inside_the_client_code_is_not_masked():
    for text in (f"Login OK: Test User ({CLIENT_CODE})", f'"clientcode": "{CLIENT_CODE}"',
                 f"{PIN}1", f"x{PIN}"):
        assert redact.clean(text, HIDDEN) == text


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("text", [f"pin {PIN}", f"{PIN}", f"({PIN})", f"pin={PIN}&", f"_{PIN}_",
                                  " ".join(PIN), f"pin {PIN[:2]}\u00ad{PIN[2:]}",
                                  "".join(f"%{ord(c):02X}" for c in PIN), "NDgyNg=="])
def test_a_pin_standing_alone_is_masked(text):
    shown = redact.clean(text, HIDDEN)
    assert redact.MASK in shown and not shows(shown, PIN)


@pytest.mark.time_bound(5)
def test_a_long_credential_is_masked_inside_a_word_too():
    assert redact.clean(f"key{API_KEY}end", HIDDEN) == f"key{redact.MASK}end"


# Item 3: echoes in other forms.

def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


ECHOES = {
    "quote keeps /": quote(API_KEY),
    "quote, nothing safe": quote(API_KEY, safe=""),
    "quote_plus": quote_plus(API_KEY),
    "every byte escaped": "".join(f"%{b:02x}" for b in API_KEY.encode()),
    "JSON \\/": json.dumps(API_KEY).replace("/", "\\/"),
    "JSON \\u": "".join(f"\\u{ord(c):04x}" for c in API_KEY),
    "base64": base64.b64encode(API_KEY.encode()).decode(),
    "base64 urlsafe": base64.urlsafe_b64encode(API_KEY.encode()).decode(),
    "base64 inside a longer text": base64.b64encode(b'{"key":"' + API_KEY.encode() + b'"}'
                                                    ).decode(),
    "urlsafe, shifted": base64.urlsafe_b64encode(b"xy" + API_KEY.encode() + b"z").decode(),
    "variation selectors": "\ufe0f".join(API_KEY),
    "supplementary variation selectors": "\U000e0100".join(API_KEY),
    "combining grapheme joiners": "\u034f".join(API_KEY),
    "Hangul fillers": "\u3164".join(API_KEY[:6]) + "\u115f\u1160".join(API_KEY[6:]),
    "halfwidth Hangul filler": "\uffa0".join(API_KEY),
    "word joiners": "\u2060".join(API_KEY),
    "full-width": _full_width(API_KEY),
    "upper case": API_KEY.upper(),
    "spaced": " ".join(API_KEY),
}


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("form", sorted(ECHOES))
def test_an_echo_in_another_form_is_masked(form):
    text = f"Invalid key: {ECHOES[form]}, try again"
    shown = redact.clean(text, HIDDEN)
    assert redact.MASK in shown
    assert not shows(shown, API_KEY)
    assert shown.startswith("Invalid key: ") and shown.endswith(", try again")
    for encoded in (base64.b64encode(API_KEY.encode()).decode(), quote(API_KEY, safe="")):
        assert encoded[:12] not in shown


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("char", ["\ufe0f", "\U000e0100", "\u034f", "\u3164", "\u115f", "\u1160",
                                  "\uffa0", "\u00ad", "\u200b", "\u2060", "\u180e", "\u17b4",
                                  "\u061c", "\ufeff", "\U000e0041", "\u202e", "\u2066"])
def test_the_control_filter_strips_invisible_characters(char):
    assert redact.clean(f"a{char}b") == "ab"
    assert redact.scrub(f"a{char}b") == "ab"


@pytest.mark.time_bound(10)
def test_the_control_pattern_covers_every_format_character_this_python_knows():
    missed = [hex(point) for point in range(0x110000)
              if unicodedata.category(chr(point)) in ("Cc", "Cf", "Zl", "Zp")
              and not redact.CONTROL.match(chr(point))]
    assert missed == []


@pytest.mark.time_bound(5)
def test_line_breaks_become_spaces_and_escape_sequences_go():
    assert redact.clean("one\r\ntwo\u2028three\x1b[31mred\x85end") == "one two three red end"


# Item 4: bearer tokens, whoever they belong to.

JWT = ("eyJhbGciOiJIUzUxMiJ9.eyJ1c2VybmFtZSI6IkIxMjM0NTYiLCJyb2xlcyI6MH0"
       ".Zq5N3x-_7aQ9fJkW2mC8vR1tY4uI6oP0lK3jH5gF7dS9aZ2xC4vB6nM8")


@pytest.mark.time_bound(5)
@pytest.mark.parametrize("text", [f"Invalid token {JWT}", f"Bearer {JWT}.", f'"{JWT}"',
                                  f"{JWT[:40]}.x.y", "eyJ0.a."])
def test_a_bearer_token_from_outside_is_masked_with_nothing_hidden(text):
    shown = redact.clean(text)
    assert redact.MASK in shown and "eyJ" not in shown


@pytest.mark.time_bound(5)
def test_text_that_only_looks_a_little_like_a_token_stays():
    for text in ("eyJ", "key eyJx.y", "AeyJx.y.z", "3.14.15"):
        assert redact.clean(text) == text


# Long credentials: every piece of them.

@pytest.mark.time_bound(5)
def test_part_of_a_long_token_echoed_back_is_masked():
    token = "tok" + "Q7x9Lm2Pa4" * 10
    shown = redact.clean(f"seen {token[5:60]} here", [Hidden(token)])
    assert redact.MASK in shown and token[12:24] not in shown


@pytest.mark.time_bound(5)
def test_hidden_items_may_be_text_or_hidden():
    assert redact.mask(f"k {API_KEY}", [API_KEY]) == redact.mask(f"k {API_KEY}",
                                                                  [Hidden(API_KEY)])


# Item 10: masking costs time linear in the text.

@pytest.mark.time_bound(15)
def test_a_million_character_token_does_not_make_masking_slow():
    # Before: every text was matched against every 12-character piece of the
    # token, compiled anew: about two seconds per text. Twenty texts, some of
    # them long and full of near misses, now take well under a second each.
    token = Hidden("a" * 999_999 + "b")
    other = Hidden("Zk" * 500_000)
    hidden = [PIN, Hidden(API_KEY), token, other]
    texts = ["Invalid totp", f"name {CLIENT_CODE}", "x" * 2000] * 6
    texts += ["a" * 300_000 + "c", "Zk" * 100_000 + "Y"]
    for text in texts:
        shown = redact.clean(text, hidden)
        assert len(shown) <= redact.LIMIT
    assert "a" * 12 not in redact.clean("a" * 30 + "b", hidden)


@pytest.mark.time_bound(10)
def test_only_the_start_of_a_long_text_is_read_and_nothing_is_left_of_a_credential_cut_there():
    filler = "x \u00e9 " * 300_000  # a megabyte of words, each a step of work
    for shift in range(0, 40, 3):
        for value in (PIN, API_KEY, SECRET):
            text = " " * (6400 - shift) + value + " " + filler
            shown = redact.clean(text, HIDDEN)
            assert shown == "..." or shown.endswith("...")
            for piece in (value[:3], value[-3:]):
                assert piece not in shown
    assert redact.clean(f"{filler} {PIN}", HIDDEN).endswith("...")
