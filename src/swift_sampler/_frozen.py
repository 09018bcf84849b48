"""A TOML table that cannot change once parsed: the ``[data.kwargs]`` and ``[model.kwargs]`` of a
frozen :class:`~swift_sampler.config.Config`.

A frozen dataclass holding a ``dict`` is neither immutable (``config.data.kwargs["x"] = 1``
changes a config whose fingerprint was already taken) nor hashable. :class:`FrozenTable` is
both; :func:`thaw` gives a factory its own plain, mutable copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class FrozenTable(Mapping[str, Any]):
    """An immutable, hashable mapping; nested tables are frozen too and arrays become tuples.

    Equal to any mapping with the same items (a plain ``dict`` included); ``repr`` is the
    plain dict's, so messages read like the TOML the user wrote.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = {str(k): freeze(v) for k, v in (items or {}).items()}

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and thaw(self) == thaw(other)

    def __repr__(self) -> str:
        return repr(thaw(self))

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (workers, torchrun) as its plain dict
        return (FrozenTable, (thaw(self),))


def freeze(value: Any) -> Any:
    """``value`` with every table a :class:`FrozenTable` and every array a tuple."""
    if isinstance(value, FrozenTable):
        return value
    if isinstance(value, Mapping):
        return FrozenTable(value)
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A fresh plain copy of ``value``: every table a ``dict``, every array a ``list``."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value
