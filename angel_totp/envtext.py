"""Env-file text: parsed once, in linear time, and rewritten one value at a time.

Pure functions on ``str``; :mod:`angel_totp.envfile` does the file I/O.

The scanner mirrors the grammar of python-dotenv 1.2's parser step by step
(``dotenv/parser.py``: leading whitespace, ``export``, a plain or
single-quoted key, ``=``, a plain, single-quoted or double-quoted value,
an inline comment, the end of the line), so a key is found exactly where a
dotenv-based bot finds it and its value is read exactly as dotenv reads it,
escapes included. Property tests check it against dotenv itself.

Three points of that grammar matter for rewriting:

* A quoted value ends at the first quote of its kind that no backslash
  precedes. When there is none, dotenv's regular expression backtracks to
  the *last* such quote in the rest of the file, so ``TOTP='abc\\\\'`` is
  read as ``abc\\`` only while no other ``'`` follows anywhere. Such a value
  depends on text after it; a rewrite must not add that quote after it.
* Escapes are decoded as dotenv does: ``\\\\`` and ``\\'`` in single quotes;
  those, ``\\"`` and ``\\a \\b \\f \\n \\r \\t \\v`` in double quotes.
* ``${NAME}`` and ``${NAME:-default}`` are expanded when values are loaded.

Unlike python-dotenv's own parser, this one keeps no object per line: one
compact array of offsets per assignment, so a 10 MB file costs a few MB.
A rewrite is a list of edits on the original text (each only the value
token of one assignment, or one appended line), so every other byte
(comments, blank lines, order, CRLF, ``export``, quotes, a byte-order mark,
a missing final newline) stays as it was; each edited line is parsed again
and must read back as exactly the new value.
"""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Iterator, Mapping
from typing import NamedTuple, TypeVar

from .errors import InvalidInputError

BOM = "\ufeff"
_V = TypeVar("_V", str, "str | None")

# dotenv.parser's expressions, under the same names where they exist.
_multiline_whitespace = re.compile(r"\s*")
_export = re.compile(r"export[^\S\r\n]+")
_single_quoted_key = re.compile(r"'[^']+'")
_unquoted_key = re.compile(r"[^=\#\s]+")
_whitespace = re.compile(r"[^\S\r\n]*")
_equal_sign = re.compile(r"=[^\S\r\n]*")
_unquoted_value = re.compile(r"[^\r\n]*")
_comment = re.compile(r"[^\S\r\n]*#[^\r\n]*")
_end_of_line = re.compile(r"[^\S\r\n]*(?:\r\n|\n|\r|$)")
_single_quote_escapes = re.compile(r"\\[\\']")
_double_quote_escapes = re.compile(r"\\[\\'\"abfnrtv]")
# The first quote that no backslash precedes (the opening quote precedes
# the first candidate, so it never counts as a backslash).
_closing = {"'": re.compile(r"(?<!\\)'"), '"': re.compile(r'(?<!\\)"')}
_escapes = {"'": _single_quote_escapes, '"': _double_quote_escapes}
_ESCAPED = {"\\\\": "\\", "\\'": "'", '\\"': '"', "\\a": "\a", "\\b": "\b", "\\f": "\f",
            "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\v": "\v"}
_line_end = re.compile(r"\r\n|\n|\r")
_plain_key = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
# Values written bare when they parse back; anything else is quoted.
_bare_value = re.compile(r"[A-Za-z0-9_./:@+-]*")

# How an assignment's value is written.
NO_VALUE = 0      # "KEY" alone, no "=": dotenv loads None
UNQUOTED = 1      # KEY=value  (also KEY= with nothing after it)
SINGLE = 2        # KEY='value'
DOUBLE = 3        # KEY="value"
HASH = 4          # KEY= # text: dotenv loads "# text"; a rewrite keeps it as a comment
_KIND_MASK = 7
_LOOKAHEAD = 8    # flag: the quoted value closed on the last quote of the file

# One row of the table per statement that has a key.
_STMT, _KEY0, _KEY1, _KIND, _TOK0, _TOK1, _VAL0, _VAL1, _END = range(9)
_WIDTH = 9


class EnvSyntaxError(ValueError):
    """A statement python-dotenv cannot parse (it would skip it with a warning).

    ``line`` is the line (from 1) where the statement starts.
    """

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line} cannot be parsed")
        self.line = line


class Binding(NamedTuple):
    """One assignment as written: its key, value as dotenv decodes it (before
    ``${...}`` expansion; None without ``=``), original text and first line."""

    key: str
    value: str | None
    text: str
    line: int


class Edit(NamedTuple):
    """Replace ``text[start:end]`` of the original text with ``new``."""

    start: int
    end: int
    new: str


class EnvText:
    """An env file's text, parsed; immutable.

    Build one with :func:`parse`. :meth:`set_value` returns a new
    ``EnvText`` with that key set; :meth:`render` gives its text and
    :attr:`edits` the changes to the original text. Values are read as
    python-dotenv reads them.
    """

    __slots__ = ("_source", "_rows", "_edits", "_overlay", "_appended", "_quote_free_after")

    _source: str
    _rows: array[int]
    _edits: dict[str, tuple[Edit, ...]]
    _overlay: dict[str, str]
    _appended: tuple[tuple[str, str, str], ...]   # (key, value, token)
    _quote_free_after: dict[str, int]

    def __init__(self) -> None:
        raise TypeError("use angel_totp.envtext.parse(text)")

    @classmethod
    def _make(cls, source: str, rows: array[int], edits: dict[str, tuple[Edit, ...]],
              overlay: dict[str, str], appended: tuple[tuple[str, str, str], ...],
              quote_free_after: dict[str, int]) -> EnvText:
        self = object.__new__(cls)
        for name, value in (("_source", source), ("_rows", rows), ("_edits", edits),
                            ("_overlay", overlay), ("_appended", appended),
                            ("_quote_free_after", quote_free_after)):
            object.__setattr__(self, name, value)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("EnvText is immutable; set_value() returns a new one")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("EnvText is immutable")

    def __repr__(self) -> str:  # an env file holds secrets: never show its text
        return (f"<EnvText: {len(self._source)} characters, {len(self._rows) // _WIDTH} "
                f"keys, {self.edit_count()} edits>")

    # -- reading ---------------------------------------------------------

    @property
    def source(self) -> str:
        """The text as parsed, before any :meth:`set_value`."""
        return self._source

    @property
    def bom(self) -> str:
        """The byte-order mark the text starts with, or ``""``."""
        return BOM if self._source.startswith(BOM) else ""

    def _key_rows(self, key: str) -> Iterator[int]:
        """Offsets into the table of the statements whose key is ``key``."""
        rows, source, size = self._rows, self._source, len(key)
        for base in range(0, len(rows), _WIDTH):
            start = rows[base + _KEY0]
            if rows[base + _KEY1] - start == size and source.startswith(key, start):
                yield base

    def _raw(self, base: int) -> str | None:
        """A statement's value as dotenv decodes it (no ``${...}`` expansion)."""
        rows = self._rows
        kind = rows[base + _KIND] & _KIND_MASK
        if kind == NO_VALUE:
            return None
        value = self._source[rows[base + _VAL0]:rows[base + _VAL1]]
        if kind in (SINGLE, DOUBLE) and "\\" in value:
            quote = "'" if kind == SINGLE else '"'
            value = _escapes[quote].sub(lambda m: _ESCAPED[m.group()], value)
        return value

    def keys(self) -> list[str]:
        """Every key, in order of first appearance (as dotenv's dict has them)."""
        return list(self.values(interpolate=False))

    def has(self, key: str) -> bool:
        """Whether the file assigns ``key`` (``KEY=...``; ``KEY`` alone does not)."""
        if key in self._overlay:
            return True
        rows = self._rows
        return any(rows[base + _KIND] & _KIND_MASK != NO_VALUE for base in self._key_rows(key))

    def value(self, key: str, *, interpolate: bool = True,
              environ: Mapping[str, str] | None = None) -> str | None:
        """``key``'s value as ``load_dotenv`` loads it; None when absent or bare.

        The last statement of the key wins, as in dotenv. ``${NAME}`` is
        expanded with the environment first (``environ``, default
        ``os.environ``), then the file's earlier values, as
        ``load_dotenv(override=False)`` does.
        """
        if key in self._overlay:
            return self._overlay[key]
        last = None
        for found in self._key_rows(key):
            last = found
        if last is None:
            return None
        raw = _as_read(self._raw(last))
        if raw is None or not interpolate or "${" not in raw:
            return raw
        return self.values(environ=environ).get(key)

    def has_nonempty(self, key: str) -> bool:
        """Whether ``key`` loads as a value other than empty or spaces.

        A fresh copy of an example file has ``TOTP_SECRET=``: that counts
        as having none, so it may be filled in.
        """
        found = self.value(key)
        return found is not None and found.strip() != ""

    def values(self, *, interpolate: bool = True, override: bool = False,
               environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
        """Every key and its value, as python-dotenv loads them.

        ``override=False`` expands ``${NAME}`` as ``load_dotenv()`` does
        (the environment wins); ``override=True`` as ``dotenv_values()``
        does (the file wins). A key without ``=`` has the value None. Linear
        time, unlike dotenv's own expansion, which copies the environment
        for every key.
        """
        env: Mapping[str, str] = os.environ if environ is None else environ
        result: dict[str, str | None] = {}
        for key, raw in self._raw_items():
            key, raw = _as_read(key), _as_read(raw)
            if raw is not None and interpolate and "${" in raw:
                raw = _expand(raw, result, env, override)
            result[key] = raw
        return result

    def _raw_items(self) -> Iterator[tuple[str, str | None]]:
        rows, source, overlay = self._rows, self._source, self._overlay
        for base in range(0, len(rows), _WIDTH):
            key = source[rows[base + _KEY0]:rows[base + _KEY1]]
            yield key, overlay[key] if key in overlay else self._raw(base)
        for key, value, _token in self._appended:
            yield key, value

    def statements(self) -> list[Binding]:
        """Every statement that has a key, in order, as in the original text."""
        rows, source = self._rows, self._source
        return [Binding(source[rows[base + _KEY0]:rows[base + _KEY1]], self._raw(base),
                        source[rows[base + _STMT]:rows[base + _END]],
                        _line_of(source, _first_non_space(source, rows[base + _STMT])))
                for base in range(0, len(rows), _WIDTH)]

    def assignments(self, key: str) -> list[Binding]:
        """Every ``key=...`` statement as written in the original text."""
        found = []
        for base in self._key_rows(key):
            if self._rows[base + _KIND] & _KIND_MASK == NO_VALUE:
                continue
            start = _first_non_space(self._source, self._rows[base + _STMT])
            found.append(Binding(key, self._raw(base),
                                 self._source[self._rows[base + _STMT]:self._rows[base + _END]],
                                 _line_of(self._source, start)))
        return found

    def line_ending(self) -> str:
        """The file's own line ending (its first one), ``"\\n"`` if it has none."""
        match = _line_end.search(self._source)
        return match.group() if match else "\n"

    # -- rewriting -------------------------------------------------------


    @property
    def edits(self) -> tuple[Edit, ...]:
        """The changes to :attr:`source`, in order; the last may append at its end."""
        found = sorted(edit for edits in self._edits.values() for edit in edits)
        if self._appended:
            found.append(Edit(len(self._source), len(self._source), self._appended_text()))
        return tuple(found)

    def edit_count(self) -> int:
        """How many statements :meth:`set_value` changed or appended."""
        return sum(len(edits) for edits in self._edits.values()) + len(self._appended)

    def render(self) -> str:
        """The text with every :meth:`set_value` applied."""
        parts, at = [], 0
        for edit in self.edits:
            parts.append(self._source[at:edit.start])
            parts.append(edit.new)
            at = edit.end
        parts.append(self._source[at:])
        return "".join(parts)

    def _appended_text(self) -> str:
        newline = self.line_ending()
        body = self._source[len(self.bom):]
        lines = [f"{key}={token}" for key, _value, token in self._appended]
        if body and not body.endswith(("\n", "\r")):
            return "".join(newline + line for line in lines)  # still no final newline
        return "".join(line + newline for line in lines)

    def set_value(self, key: str, value: str) -> EnvText:
        """A new ``EnvText`` in which ``key`` loads as exactly ``value``.

        Every statement of ``key`` gets the new value, each keeping its
        ``export``, quote style and comment where the value allows (a
        ``KEY`` without ``=`` gains one). Without any, ``KEY=value`` is
        appended in the file's own line ending; a file without a final
        newline keeps none. A value that needs it is quoted so that dotenv
        reads back exactly ``value``; each changed statement is parsed
        again to make sure.

        Raises :class:`~angel_totp.errors.InvalidInputError` for a key that
        is not a plain name, or a value dotenv cannot read back exactly
        (one with ``${...}``, which dotenv expands, or one that no quoting
        can carry, such as a line break with a final backslash).
        """
        if not isinstance(key, str) or not _plain_key.fullmatch(key):
            raise InvalidInputError("the key must be a name of letters, digits, '_' and '.', "
                                    "not starting with a digit", what="key")
        if not isinstance(value, str):
            raise InvalidInputError(f"the value for {key} must be text", what="value")
        if "\r" in value:
            raise InvalidInputError(f"the value for {key} contains a carriage return, which "
                                    "python-dotenv reads back as a line feed", what="value")
        if next(_variables(value), None) is not None:
            raise InvalidInputError(f"the value for {key} contains ${{...}}, which "
                                    "python-dotenv would expand", what="value")
        edits = tuple(self._edit_statement(base, key, value) for base in self._key_rows(key))
        new_edits = {k: v for k, v in self._edits.items() if k != key}
        appended = tuple(item for item in self._appended if item[0] != key)
        if edits:
            new_edits[key] = edits
        else:
            token = self._choose(key, value, "", "\n", len(self._source))
            appended += ((key, value, token),)
        return EnvText._make(self._source, self._rows, new_edits,
                             {**self._overlay, key: value}, appended, self._quote_free_after)

    def _edit_statement(self, base: int, key: str, value: str) -> Edit:
        rows, source = self._rows, self._source
        kind = rows[base + _KIND] & _KIND_MASK
        start, end = rows[base + _TOK0], rows[base + _TOK1]
        head = source[rows[base + _STMT]:start]
        tail = source[end:rows[base + _END]]
        if kind == NO_VALUE:
            token = self._choose(key, value, head + "=", tail, start)
            return Edit(start, end, "=" + token)
        if kind == HASH:
            # "KEY= # note": dotenv loads "# note"; the rewrite keeps it as a comment.
            token = self._choose(key, value, head, " " + tail, start)
            return Edit(start, end, token + " ")
        return Edit(start, end, self._choose(key, value, head, tail, start, prefer=kind))

    def _choose(self, key: str, value: str, head: str, tail: str, at: int,
                prefer: int = UNQUOTED) -> str:
        """The first way of writing ``value`` that parses back exactly in its statement.

        ``head + token + tail`` is the whole statement. A statement's parse
        depends on nothing before it, and on nothing after it unless an
        earlier quoted value closed on the file's last quote of its kind
        (``_quote_free_after``): no token after that may add such a quote.
        """
        if prefer == UNQUOTED and not _bare_value.fullmatch(value):
            # Quoted rather than bare where a shell reading the file would
            # trip on it (a URI's "&", "?"...), bare only as a last resort.
            prefer = SINGLE
        order = {UNQUOTED: (UNQUOTED, SINGLE, DOUBLE), SINGLE: (SINGLE, DOUBLE, UNQUOTED),
                 DOUBLE: (DOUBLE, SINGLE, UNQUOTED)}[prefer]
        for style in order:
            token = _token(value, style)
            if token is None:
                continue
            if any(quote in token and at >= after
                   for quote, after in self._quote_free_after.items()):
                continue
            if head:
                statement = head + token + tail
            else:  # appended: "KEY=token" on a line of its own
                statement = f"{key}={token}{tail}"
            if _reads_back(statement, key, value):
                return token
        raise InvalidInputError(
            f"the value for {key} cannot be written so that python-dotenv reads it back "
            "exactly", what="value")


def _token(value: str, style: int) -> str | None:
    """``value`` written in one style, or None where that style cannot carry it."""
    if style == UNQUOTED:
        return value if "\n" not in value and "\r" not in value else None
    if style == SINGLE:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return ('"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            + '"')


def _reads_back(statement: str, key: str, value: str) -> bool:
    """Whether ``statement`` alone is one statement that sets ``key`` to ``value``."""
    try:
        parsed = parse(statement)
    except EnvSyntaxError:
        return False
    rows = parsed._rows
    return (len(rows) == _WIDTH and rows[_END] == len(statement)
            and not rows[_KIND] & _LOOKAHEAD  # its closing quote must not depend on later text
            and statement[rows[_KEY0]:rows[_KEY1]] == key and parsed._raw(0) == value)


def _as_read(value: _V) -> _V:
    """A value as dotenv loads it from a file, which it opens with universal
    newlines: CRLF and CR inside a quoted value arrive as LF."""
    if value is not None and "\r" in value:
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _comment_cut(text: str, start: int, end: int) -> int:
    """Where dotenv's ``re.sub(r"\\s+#.*", "", part)`` cuts ``text[start:end]``.

    The leftmost match of ``\\s+#`` starts the run of spaces before the first
    ``#`` that follows a space. Found with ``str.find``: the expression
    itself takes quadratic time on a long run of spaces without ``#``.
    """
    at = start
    while True:
        mark = text.find("#", at, end)
        if mark < 0:
            return end
        if mark > start and text[mark - 1].isspace():
            cut = mark - 1
            while cut > start and text[cut - 1].isspace():
                cut -= 1
            return cut
        at = mark + 1


def _variables(raw: str) -> Iterator[tuple[int, int, str, str | None]]:
    """Each ``${NAME}`` / ``${NAME:-default}`` in ``raw``, as dotenv's
    ``_posix_variable`` finds them: (start, end, name, default).

    In linear time (the expression is quadratic on ``${${${...``): the name
    runs to the first ``}`` or ``:``, which must be ``}`` or ``:-`` followed
    by a default up to the first ``}``; the next ``}`` and ``:`` are looked
    up once and reused while still ahead.
    """
    close = colon = -2  # -2: not looked up yet; -1: none left
    start = raw.find("${")
    while start >= 0:
        name_at = start + 2
        if close != -1 and close < name_at:
            close = raw.find("}", name_at)
        if close == -1:
            return  # no "}" left: no more variables
        if colon != -1 and colon < name_at:
            colon = raw.find(":", name_at)
        if colon == -1 or close < colon:
            yield start, close + 1, raw[name_at:close], None
            start = raw.find("${", close + 1)
        elif raw.startswith(":-", colon):
            yield start, close + 1, raw[name_at:colon], raw[colon + 2:close]
            start = raw.find("${", close + 1)
        else:
            start = raw.find("${", start + 1)


def _expand(raw: str, loaded: Mapping[str, str | None], environ: Mapping[str, str],
            override: bool) -> str:
    """dotenv's expansion of one value (``resolve_variables``, one value)."""
    first: Mapping[str, str | None] = loaded if override else environ
    second: Mapping[str, str | None] = environ if override else loaded
    parts, at = [], 0
    for start, end, name, default in _variables(raw):
        if name in first:
            found = first[name]
        elif name in second:
            found = second[name]
        else:
            found = default if default is not None else ""
        parts.append(raw[at:start])
        parts.append("" if found is None else found)
        at = end
    parts.append(raw[at:])
    return "".join(parts)


def _first_non_space(text: str, at: int) -> int:
    return _multiline_whitespace.match(text, at).end()  # type: ignore[union-attr]


def _line_of(text: str, at: int) -> int:
    """The line (from 1) of position ``at``; CRLF, LF and CR each end a line."""
    return (text.count("\n", 0, at) + text.count("\r", 0, at)
            - text.count("\r\n", 0, at) + 1)


def parse(text: str) -> EnvText:
    """Parse the text of an env file, once, in linear time.

    A byte-order mark at the start is kept but is not part of the first
    key. Raises :class:`EnvSyntaxError` at the first statement
    python-dotenv could not parse.
    """
    if not isinstance(text, str):
        raise TypeError("parse() takes the decoded text of the file")
    pos = len(BOM) if text.startswith(BOM) else 0
    size = len(text)
    # Offsets fit in 32 bits below 2 GiB of text: half the memory.
    rows: array[int] = array("i" if size < 2**31 else "q")
    quote_free_after: dict[str, int] = {}
    ws_match, export_match = _multiline_whitespace.match, _export.match
    key_match, quoted_key_match = _unquoted_key.match, _single_quoted_key.match
    space_match = _whitespace.match
    equal_match, comment_match = _equal_sign.match, _comment.match
    eol_match, line_match = _end_of_line.match, _unquoted_value.match
    while pos < size:
        mark = pos
        pos = ws_match(text, pos).end()  # type: ignore[union-attr]
        if pos == size:
            break  # only whitespace is left
        start = pos
        found = export_match(text, pos)
        if found:
            pos = found.end()
        char = text[pos:pos + 1]
        if char == "#":
            key0 = -1
        else:
            found = quoted_key_match(text, pos) if char == "'" else key_match(text, pos)
            if found is None:
                raise EnvSyntaxError(_line_of(text, start))
            if char == "'":
                key0, key1 = pos + 1, found.end() - 1
            else:
                key0, key1 = pos, found.end()
            pos = found.end()
        # "KEY" without "=": a rewrite inserts "=value" right after the key.
        tok0 = tok1 = val0 = val1 = pos
        pos = space_match(text, pos).end()  # type: ignore[union-attr]
        kind = NO_VALUE
        if key0 >= 0 and text.startswith("=", pos):
            pos = equal_match(text, pos).end()  # type: ignore[union-attr]
            tok0 = tok1 = val0 = val1 = pos
            char = text[pos:pos + 1]
            if char == "'" or char == '"':
                close = _closing[char].search(text, pos + 1)
                if close is not None:
                    end = close.start()
                    kind = SINGLE if char == "'" else DOUBLE
                else:
                    # dotenv's expression backtracks to the last quote of the
                    # file; every quote after the opening one is escaped.
                    end = text.rfind(char, pos + 1)
                    if end < 0:
                        raise EnvSyntaxError(_line_of(text, start))
                    kind = (SINGLE if char == "'" else DOUBLE) | _LOOKAHEAD
                val0, val1, tok1 = pos + 1, end, end + 1
                pos = end + 1
            elif char in ("", "\n", "\r"):
                kind = UNQUOTED
            else:
                line_end = line_match(text, pos).end()  # type: ignore[union-attr]
                val1 = _comment_cut(text, pos, line_end)
                while val1 > pos and text[val1 - 1].isspace():
                    val1 -= 1
                if char == "#":
                    kind = HASH   # the token to replace is empty: the "#..." stays
                else:
                    kind, tok1 = UNQUOTED, val1
                pos = line_end
        found = comment_match(text, pos)
        if found:
            pos = found.end()
        found = eol_match(text, pos)
        if found is None:
            raise EnvSyntaxError(_line_of(text, start))
        pos = found.end()
        if kind & _LOOKAHEAD:
            quote = "'" if kind & _KIND_MASK == SINGLE else '"'
            quote_free_after[quote] = min(quote_free_after.get(quote, pos), pos)
        if key0 >= 0:
            rows.extend((mark, key0, key1, kind, tok0, tok1, val0, val1, pos))
    return EnvText._make(text, rows, {}, {}, (), quote_free_after)


def set_value(env: EnvText, key: str, value: str) -> EnvText:
    """``env.set_value(key, value)``, kept for callers of the first version."""
    return env.set_value(key, value)
