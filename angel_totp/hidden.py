"""A credential held so that no ``repr``, ``str`` or error tracker shows it.

Error trackers (Sentry, rich) record every traceback frame's locals by ``repr``
and by walking lists, tuples and dicts: once checked, a credential lives in the
library's frames only inside a :class:`Hidden`.
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
