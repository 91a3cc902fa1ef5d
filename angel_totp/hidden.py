"""A credential held so that no ``repr``, ``str`` or error tracker shows it (trackers
record frame locals by ``repr``, walking lists, tuples and dicts)."""


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

    # Equal texts are equal credentials: a TotpSecret or a Code compares by what it holds.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hidden) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
