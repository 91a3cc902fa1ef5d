"""Env-file text, parsed and rewritten without touching other bytes.

Pure functions on ``str``; :mod:`angel_totp.envfile` does the file I/O.

The file is split with python-dotenv's own parser, so a key is found
exactly where a dotenv-based bot would find it. Each binding keeps its
original text; a rewrite swaps only the value token of the chosen key's
assignments, so its ``export`` prefix, quotes and inline comment stay,
and every other byte (comments, blank lines, order, CRLF, a missing
final newline) is copied through unchanged.
"""

from __future__ import annotations

import io
import re

# dotenv's grammar for the part of an assignment before the value,
# mirroring dotenv.parser (_multiline_whitespace, _export, key, _equal_sign).
_BEFORE_VALUE = re.compile(
    r"\s*(?:export[^\S\r\n]+)?(?:'[^']+'|[^=\#\s]+)[^\S\r\n]*=[^\S\r\n]*")
_SINGLE_QUOTED = re.compile(r"'(?:\\'|[^'])*'")
_DOUBLE_QUOTED = re.compile(r'"(?:\\"|[^"])*"')
_UNQUOTED = re.compile(r"[^\r\n]*")
_LINE_END = re.compile(r"\r\n|\n|\r")
_SAFE_BARE_VALUE = re.compile(r"[A-Za-z0-9_.:/+-]*")

BOM = "\ufeff"


class EnvSyntaxError(ValueError):
    """A line python-dotenv cannot parse (it would skip it with a warning)."""

    def __init__(self, line: int):
        super().__init__(f"line {line} cannot be parsed")
        self.line = line


class Binding:
    """One statement of the file, with its original text."""

    __slots__ = ("key", "value", "text", "line")

    def __init__(self, key: str | None, value: str | None, text: str, line: int):
        self.key = key          # None for blank lines and comments
        self.value = value      # None for a bare key without '='
        self.text = text        # the original text, line ending included
        self.line = line


class EnvText:
    """A parsed env file: an optional byte-order mark, then the bindings."""

    __slots__ = ("bom", "bindings")

    def __init__(self, bom: str, bindings: tuple[Binding, ...]):
        self.bom = bom
        self.bindings = bindings

    def render(self) -> str:
        return self.bom + "".join(b.text for b in self.bindings)

    def assignments(self, key: str) -> list[Binding]:
        return [b for b in self.bindings if b.key == key and b.value is not None]

    def has(self, key: str) -> bool:
        return bool(self.assignments(key))

    def line_ending(self) -> str:
        match = _LINE_END.search(self.render())
        return match.group(0) if match else "\n"


def parse(text: str) -> EnvText:
    """Parse the text of an env file. Raises :class:`EnvSyntaxError`."""
    from dotenv.parser import parse_stream

    bom = BOM if text.startswith(BOM) else ""
    body = text[len(bom):]
    # newline="" keeps CRLF and lone CR in each binding's original text.
    bindings = []
    for found in parse_stream(io.StringIO(body, newline="")):
        if found.error:
            raise EnvSyntaxError(found.original.line)
        bindings.append(Binding(found.key, found.value, found.original.string,
                                found.original.line))
    parsed = EnvText(bom, tuple(bindings))
    if parsed.render() != text:  # guard: parsing must be lossless
        raise EnvSyntaxError(1)
    return parsed


def values_as_loaded(text: str) -> dict[str, str | None]:
    """The values ``load_dotenv`` would use, interpolation included.

    dotenv reads files with universal newlines, so the text is read that
    way here too.
    """
    from dotenv.main import DotEnv

    body = text[len(BOM):] if text.startswith(BOM) else text
    return DotEnv(dotenv_path=None, stream=io.StringIO(body), override=False).dict()


def replace_value(binding: Binding, new_value: str) -> str:
    """The binding's text with only its value token replaced.

    ``new_value`` must need no escaping in the binding's quote style; the
    callers give codes (digits) and base32 secrets.
    """
    head = _BEFORE_VALUE.match(binding.text)
    if head is None:
        raise ValueError("not an assignment")
    start = head.end()
    rest = binding.text[start:]
    first = rest[:1]
    if first == "'":
        end = start + _SINGLE_QUOTED.match(rest).end()
        token = f"'{new_value}'"
    elif first == '"':
        end = start + _DOUBLE_QUOTED.match(rest).end()
        token = f'"{new_value}"'
    else:
        line = _UNQUOTED.match(rest).group(0)
        # dotenv: the value ends where whitespace + '#' starts a comment.
        comment = re.search(r"\s+#", line)
        value_part = line[:comment.start()] if comment else line
        if value_part.startswith("#"):
            # "KEY= # note": dotenv reads "# note" as the value; keep the note.
            end = start
            token = new_value + " "
        else:
            end = start + len(value_part.rstrip())
            token = new_value
    return binding.text[:start] + token + binding.text[end:]


def set_value(env: EnvText, key: str, value: str) -> EnvText:
    """Set every assignment of ``key`` to ``value``, or append one.

    Appending uses the file's own line ending, and keeps a file that had
    no final newline without one.
    """
    if not _SAFE_BARE_VALUE.fullmatch(value):
        raise ValueError("value needs quoting")
    if env.has(key):
        bindings = tuple(
            Binding(b.key, value, replace_value(b, value), b.line)
            if b.key == key and b.value is not None else b
            for b in env.bindings)
        return EnvText(env.bom, bindings)
    newline = env.line_ending()
    text = env.render()[len(env.bom):]
    bindings = list(env.bindings)
    missing_final_newline = bool(text) and not _LINE_END.search(text[-1:])
    if missing_final_newline:
        last = bindings.pop()
        bindings.append(Binding(last.key, last.value, last.text + newline, last.line))
        appended = f"{key}={value}"
    else:
        appended = f"{key}={value}{newline}"
    line = text.count("\n") + text.count("\r") - text.count("\r\n") + 1
    bindings.append(Binding(key, value, appended, line))
    return EnvText(env.bom, tuple(bindings))
