"""Outside text made safe to show: the one rule, used by the library and the commands.
Masking sees through the forms an echo takes (escapes, base64, full-width letters,
characters between the letters, any case) in time linear in the text."""

import base64
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from .hidden import Hidden

MASK = "********"
LIMIT = 200
# A credential shorter than this (a PIN) is masked only where it stands alone: a
# mask inside a word (the PIN 4826 in the client code A104826) would show it.
SHORT = 8
PIECE = 12  # a long credential is also masked piece by piece, for an echo of part of it
_CUT_MARGIN = 32  # what a cut leaves of a credential is shorter: less than two pieces

# The one control-character rule: C0 and C1 controls, DEL, every format character
# (category Cf), the other default-ignorable characters, line and paragraph
# separators; a test checks it against Python's Unicode tables. Surrogates are left
# to the output's encoding. Patterns compile on first use: plain text never pays.
_CONTROL = (
    "[\x00-\x1f\x7f-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
# An ESC sequence (CSI, OSC, or a two-character one), a C1 CSI.
_ESCAPE = (r"(?s)\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.?)"
           r"|\x9b[0-?]*[ -/]*[@-~]?")
# A bearer token (JWT): three base64url parts, the first starting "eyJ"; looked for
# in the folded text, to find one escaped, split over lines or in full-width letters.
_BEARER = r"(?a)eyJ[\w-]*\.[\w-]+\.[\w-]*"
_WORD_RUN = r"(?a)[\w-]*"
# A session token is well over this; words that merely start "eyJ" are not.
_SPLIT_TOKEN = 40
# What an echo may have encoded: URL escapes (a run of non-ASCII bytes at once),
# backslash escapes, HTML character references, any character but printable ASCII.
_UNIT = (r"(?s)(?:%[89A-Fa-f][0-9A-Fa-f])+|%[0-7][0-9A-Fa-f]"
         r"|\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|U[0-9A-Fa-f]{8}|[^0-9A-Za-z])"
         r"|&#(?:[0-9]{1,7}|[xX][0-9A-Fa-f]{1,6});"
         r"|[^!-~]")


def __getattr__(name: str) -> re.Pattern[str]:
    if name == "CONTROL":  # the rule, for other modules
        return re.compile(_CONTROL)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def scrub(text: str, hidden: Iterable[str | Hidden] = ()) -> str:
    """``text`` without control or format characters (for text we composed around
    outside pieces), and with ``hidden`` masked. Controls and escape sequences become
    spaces (a line break must not join two words); what shows nothing is deleted."""
    if not (text.isascii() and text.isprintable()):  # plain text: nothing to drop
        text = re.sub(_ESCAPE, " ", text)
        text = re.sub(_CONTROL, _replacement, text)
    return mask(text, hidden)


def _replacement(found: re.Match[str]) -> str:
    char = found.group()
    return " " if char <= "\x9f" or char in "\u2028\u2029" else ""


def clean(text: object, hidden: Iterable[str | Hidden] = (), limit: int = LIMIT) -> str:
    """Outside text as one printable line of at most ``limit`` characters, masked. Only
    the start of a long text is read; what a credential cut there leaves is dropped."""
    text = str(text)
    start = max(4096, 32 * limit)
    cut = len(text) > start
    line = scrub(text[:start], hidden)[:-_CUT_MARGIN] if cut else scrub(text, hidden)
    line = " ".join(line.split())
    if cut or len(line) > limit:
        line = line[:max(0, limit - 3)].rstrip() + "..."
    return line


def mask(text: str, hidden: Iterable[str | Hidden]) -> str:
    """``text`` with each credential in ``hidden`` masked, however it is echoed,
    and any bearer token masked whoever it belongs to."""
    folded, starts, ends, gaps = _fold(text)
    found = _bearers(folded, gaps)
    revealed = (value.reveal() if isinstance(value, Hidden) else value for value in hidden)
    try:
        lowered = _lower(folded)
        for needles in map(_needles, revealed):
            if needles is not None:
                found += needles.find(lowered, gaps)
    except BaseException as error:  # Ctrl-C: the frames below hold credentials in plain text
        raise error.with_traceback(None) from None  # the same error, without those frames
    if not found:
        return text
    pieces: list[str] = []
    done = 0
    for start, stop in sorted((starts[i], ends[j - 1]) for i, j in found):
        if not pieces or start > done:  # one mask for spans that overlap or touch
            pieces += [text[done:start], MASK]
        done = max(done, stop)
    pieces.append(text[done:])
    return "".join(pieces)


# Folding: the text as an echo's reader would see it.

def _fold(text: str) -> tuple[str, Sequence[int], Sequence[int], set[int]]:
    """``text`` with escapes decoded, letters NFKC-normalised, white space, controls and
    invisible characters left out; for each folded character the start and end of what it
    came from; the positions where white space was left out just before (a word ends)."""
    if text.isascii() and text.isprintable() and not any(c in text for c in " %\\&"):
        return text, range(len(text)), range(1, len(text) + 1), set()
    from array import array  # only for text beyond plain ASCII

    parts: list[str] = []
    starts, ends = array("q"), array("q")
    gaps: set[int] = set()  # where white space was left out, by length folded so far
    done = 0
    for unit in re.finditer(_UNIT, text):
        begin, stop = unit.span()
        if begin > done:  # printable ASCII: one for one
            parts.append(text[done:begin])
            starts.extend(range(done, begin))
            ends.extend(range(done + 1, begin + 1))
        done = stop
        for char in _unescape(unit.group()):
            piece = _fold_char(char)
            if piece is None:
                gaps.add(len(starts))
            elif piece:
                parts.append(piece)
                starts.extend([begin] * len(piece))
                ends.extend([stop] * len(piece))
    if len(text) > done:
        parts.append(text[done:])
        starts.extend(range(done, len(text)))
        ends.extend(range(done + 1, len(text) + 1))
    return "".join(parts), starts, ends, gaps


@lru_cache(maxsize=4096)  # an echo repeats its units: a megabyte of them costs half
def _unescape(unit: str) -> str:
    if unit[0] == "%":
        return bytes.fromhex(unit.replace("%", "")).decode("utf-8", "replace")
    if unit[0] == "\\" and len(unit) > 2:
        point = int(unit[2:], 16)
        return chr(point) if point < 0x110000 else unit
    if unit[0] == "&":  # &#107; or &#x6b;
        digits = unit[2:-1]
        point = int(digits[1:], 16) if digits[0] in "xX" else int(digits)
        return chr(point) if point < 0x110000 else unit
    return unit[-1]


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str | None:
    """What one character reads as: None for white space or a control, "" for nothing."""
    if char.isspace() or char <= "\x9f" and not char.isprintable():
        return None
    if re.match(_CONTROL, char):
        return ""
    if char.isascii():
        return char
    import unicodedata  # only for text beyond ASCII
    return "".join(unicodedata.normalize("NFKC", char).split())


def _lower(text: str) -> str:
    """Lower case, one character for one (so that positions still match)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(char.lower() if len(char.lower()) == 1 else char for char in text)


# What to look for, prepared once per credential.

class _Needles:
    """The folded forms of one credential (its repr never shows them)."""

    __slots__ = ("forms", "short", "pieces")

    def __init__(self, forms: set[str], short: bool, pieces: frozenset[str]) -> None:
        self.forms = forms
        self.short = short
        self.pieces = pieces

    def __repr__(self) -> str:
        return "<needles>"

    def find(self, text: str, gaps: set[int]) -> list[tuple[int, int]]:
        """Spans of the credential in ``text`` (folded, lower case)."""
        found: list[tuple[int, int]] = []
        for form in self.forms:
            at = text.find(form)
            while at >= 0:
                stop = at + len(form)
                if self.short and not _alone(text, at, stop, gaps):
                    at = text.find(form, at + 1)
                    continue
                found.append((at, stop))
                at = text.find(form, stop)
        if self.pieces:
            found += [(at, at + PIECE) for at in range(len(text) - PIECE + 1)
                      if text[at:at + PIECE] in self.pieces]
        return found


def _bearers(text: str, gaps: set[int]) -> list[tuple[int, int]]:
    """Where bearer tokens are in folded text, in linear time: only where a word
    starts is one looked for; where none is, no later start in that word can be one."""
    found: list[tuple[int, int]] = []
    bearer, word_run = re.compile(_BEARER), re.compile(_WORD_RUN)  # once, not per start
    at = text.find("eyJ")
    while at >= 0:
        if at and at not in gaps and (text[at - 1].isalnum() or text[at - 1] in "_-"):
            at = text.find("eyJ", at + 1)
            continue
        match = bearer.match(text, at)
        span = None if match is None else _bearer_span(text, match, gaps)
        if span is not None:
            found.append(span)
        elif match is None:
            at = word_run.match(text, at).end()  # type: ignore[union-attr]
        at = text.find("eyJ", span[1] if span else at + 1)
    return found


def _bearer_span(text: str, match: re.Match[str], gaps: set[int]) -> tuple[int, int] | None:
    """Where the bearer token ``match`` found is, or None. White space left out
    inside it joined its parts (a token split over lines): only a token-sized run
    counts then, and it ends at the first white space after its second dot."""
    start, stop = match.span()
    signature = text.index(".", text.index(".", start) + 1, stop)
    stop = next((at for at in range(signature + 1, stop) if at in gaps), stop)
    split = any(at in gaps for at in range(start + 1, signature + 1))
    return (start, stop) if not split or stop - start >= _SPLIT_TOKEN else None


def _alone(text: str, start: int, stop: int, gaps: set[int]) -> bool:
    # No letter or digit joined on either side.
    return ((start == 0 or start in gaps or not text[start - 1].isalnum())
            and (stop == len(text) or stop in gaps or not text[stop].isalnum()))


_URLSAFE = str.maketrans("+/", "-_")
# Credentials are short and tokens a few KiB: a longer value is not looked for in
# base64 (what a reply could hold of it is masked as pieces).
_BASE64_UP_TO = 64 * 1024


@lru_cache(maxsize=64)
def _needles(value: str) -> _Needles | None:
    value = value.strip()
    folded = _lower(_fold(value)[0])
    if len(folded) < 4:
        return None
    short = len(folded) < SHORT
    forms = {folded}
    raw = value.encode("utf-8", "surrogatepass")  # text from a bad byte holds surrogates
    if short:  # base64 of the value alone
        coded = [base64.b64encode(raw).decode().rstrip("=")]
    elif len(raw) > _BASE64_UP_TO:
        coded = []
    else:  # what the value makes wherever it starts in base64 of a longer text
        coded = [base64.b64encode(bytes(skip) + raw).decode()[-(-8 * skip // 6):
                                                                (8 * (skip + len(raw))) // 6]
                 for skip in range(3)]
    forms.update(form.lower() for text in coded for form in (text, text.translate(_URLSAFE)))
    if len(raw) <= _BASE64_UP_TO:
        forms.add(raw.hex())  # a server's debug dump
    ends = range(PIECE, len(folded) + 1, PIECE) if len(folded) >= 2 * PIECE else range(0)
    pieces = frozenset(map(folded.__getitem__, map(slice, range(0, len(folded), PIECE), ends)))
    return _Needles({form for form in forms if len(form) >= 4}, short, pieces)
