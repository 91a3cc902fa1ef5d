"""Outside text made safe to show: the one rule, used by the library and the commands.

A server, a file or the environment can send anything: escape sequences
that rewrite the terminal, line breaks that forge a second line, bidi
characters that reorder it, or our own credentials echoed back. :func:`clean`
turns such text into one printable line of bounded length with every
credential masked; :func:`scrub` does the same without joining lines or
cutting, for text we composed around outside pieces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "********"
LIMIT = 200

# An ESC sequence (CSI, OSC, or a two-character one), a C1 CSI, or one control.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.?)"
                     r"|\x9b[0-?]*[ -/]*[@-~]?", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")
# Invisible format characters (bidi controls, zero-width ones), line and
# paragraph separators, surrogates and private-use characters.
_HIDDEN_CATEGORIES = ("Cf", "Zl", "Zp", "Cs", "Co")


def scrub(text: str, hidden: Iterable[str] = ()) -> str:
    """``text`` without control or format characters, and with ``hidden`` masked.

    Invisible format characters are deleted (not spaced), so that one put
    inside an echoed credential cannot hide it from the mask; controls and
    escape sequences become spaces, which the mask looks through too.
    """
    text = _ESCAPE.sub(" ", text)
    text = _CONTROL.sub(" ", text)
    if not text.isascii():
        import unicodedata  # only for text that can hold format characters
        text = "".join(
            "" if category == "Cf" else " " if category in _HIDDEN_CATEGORIES else c
            for c, category in ((c, unicodedata.category(c)) for c in text))
    return mask(text, hidden)


def clean(text: object, hidden: Iterable[str] = (), limit: int = LIMIT) -> str:
    """Outside text as one printable line of at most ``limit`` characters."""
    line = _SPACES.sub(" ", scrub(str(text), hidden)).strip()
    if len(line) > limit:
        line = line[:max(0, limit - 3)].rstrip() + "..."
    return line


def mask(text: str, hidden: Iterable[str]) -> str:
    """``text`` with each value in ``hidden`` masked, however it is echoed.

    Matches any case, with white space slipped between its characters,
    URL-encoded (in part or in full) and JSON/Python-escaped, and, for a
    long value such as a session token, every 12-character piece of it, so
    that a part of a token echoed back is masked too.
    """
    for value in hidden:
        value = value.strip()
        if len(value) < 4:
            continue
        spaced = {value}
        if len(value) >= 24:
            spaced.update(value[start:start + 12] for start in range(0, len(value) - 11, 12))
        raw = value.encode("utf-8", "surrogatepass")  # text from a bad byte holds surrogates
        exact = {quote(raw, safe=""),
                 "".join(f"%{byte:02x}" for byte in raw),
                 value.encode("unicode_escape").decode(),
                 "".join(f"\\u{ord(c):04x}" for c in value)}
        patterns = [r"\s*".join(re.escape(c) for c in form) for form in spaced]
        patterns += [re.escape(form) for form in exact]
        for pattern in sorted(patterns, key=len, reverse=True):
            text = re.sub(pattern, MASK, text, flags=re.IGNORECASE)
    return text
