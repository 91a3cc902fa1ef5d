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
    """``text`` without control or format characters, and with ``hidden`` masked."""
    text = _ESCAPE.sub(" ", text)
    text = _CONTROL.sub(" ", text)
    if not text.isascii():
        import unicodedata  # only for text that can hold format characters
        text = "".join(" " if unicodedata.category(c) in _HIDDEN_CATEGORIES else c
                       for c in text)
    return mask(text, hidden)


def clean(text: object, hidden: Iterable[str] = (), limit: int = LIMIT) -> str:
    """Outside text as one printable line of at most ``limit`` characters."""
    line = _SPACES.sub(" ", scrub(str(text), hidden)).strip()
    if len(line) > limit:
        line = line[:max(0, limit - 3)].rstrip() + "..."
    return line


def mask(text: str, hidden: Iterable[str]) -> str:
    """``text`` with each value in ``hidden`` masked, however it is echoed.

    Matches any case, URL-encoded and JSON/Python-escaped forms, and, for a
    long value such as a session token, every 12-character piece of it, so
    that a part of a token echoed back is masked too.
    """
    for value in hidden:
        value = value.strip()
        if len(value) < 4:
            continue
        forms = {value, quote(value, safe=""), value.encode("unicode_escape").decode()}
        if len(value) >= 24:
            forms.update(value[start:start + 12] for start in range(0, len(value) - 11, 12))
        for form in sorted(forms, key=len, reverse=True):
            text = re.sub(re.escape(form), MASK, text, flags=re.IGNORECASE)
    return text
