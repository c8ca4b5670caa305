"""`record`: the frozen, slotted dataclass that STYLE.md asks parsers to narrow into,
frozen for the type checker rather than at run time.

A `dataclass(frozen=True)` sets each field in `__init__` through `object.__setattr__`,
which made building a `Post` cost 5 µs and an `AsObject` 4 µs; processing one received
Create builds a dozen such values, accepting it three. A record's `__init__` assigns its
slots directly. Nothing assigns to a record after it is built all the same: mypy
(strict, run by CI) reports any assignment to a field as one to a read-only property.
Records are not hashable (a dataclass with `eq` and without `frozen`); none is used as
a set member or a dict key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

__all__ = ["record"]

_C = TypeVar("_C", bound=type)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: _C) -> _C:
    """`@record` on a class: `@dataclass(slots=True)`, frozen as far as mypy knows."""
    return dataclass(slots=True)(cls)  # type: ignore[return-value]  # the class it made
