"""A credential held so that no ``repr``, ``str`` or error tracker shows it.

Error trackers (Sentry, rich, better-exceptions) record the local variables
of every frame in a traceback, by ``repr`` and by walking lists, tuples and
dicts. Once checked, a PIN, an API key, a TOTP secret, a code or a token
lives in the library's frames only inside a :class:`Hidden`; the plain text
comes out with :meth:`Hidden.reveal`, at the last moment, in a frame that
raises nothing while it holds it.
"""

from __future__ import annotations


class Hidden:
    """A credential: ``repr`` and ``str`` never show it; :meth:`reveal` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    # Equal texts are equal credentials, so that values holding one (a
    # TotpSecret, a Code) compare and hash by what they hold.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hidden) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
