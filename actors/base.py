"""The shared declarative base: stable constraint names and UTC-aware timestamps.

Lives in `actors` because it is the lowest layer with tables.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Dialect,
    Enum,
    MetaData,
    Text,
    TypeDecorator,
    bindparam,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns an aware datetime (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonType = JSON().with_variant(JSONB(), "postgresql")
"""A JSON document column: `jsonb` on PostgreSQL (containment, no re-parsing), JSON (text)
on SQLite. `Mapped[list[Any]]` and `Mapped[dict[str, Any]]` columns get it."""


def str_enum(enum_type: type[enum.StrEnum], length: int) -> Enum:
    """A column of a `StrEnum`, stored as its lower-case `value` in a plain VARCHAR (no
    PostgreSQL `CREATE TYPE`, so adding a member needs no migration); strings that are no
    member's value are refused on write, and reads give back the member."""
    return Enum(
        enum_type,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        str: Text(),
        int: BigInteger(),
        list[Any]: JsonType,
        dict[str, Any]: JsonType,
    }


_T = TypeVar("_T")


def among(column: InstrumentedAttribute[_T], values: Iterable[_T]) -> ColumnElement[bool]:
    """`column IN (values)` with the values in one expanding parameter: `in_` of a list
    coerces each value on its own (a failed `hasattr` apiece), and the inbox asks about
    the hundreds of ids of a processing batch at once."""
    return column.in_(bindparam(None, list(values), expanding=True, type_=column.type))


def dialect_name(session: AsyncSession) -> str:
    """ "sqlite" or "postgresql": the few statements that differ (upserts, row locks) ask this."""
    return session.get_bind().dialect.name


def insert_into(session: AsyncSession, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """INSERT for this engine (both spell ON CONFLICT DO NOTHING the same way).

    On the model's Table, not the mapped class: a list of rows then goes to the driver
    as one executemany, not through the ORM's bulk-insert bookkeeping (~10 µs a row).
    """
    table = model.__table__
    if dialect_name(session) == "postgresql":
        return postgresql.insert(table)  # type: ignore[arg-type]  # Table is a valid target
    return sqlite.insert(table)  # type: ignore[arg-type]


def utcnow() -> datetime:
    return datetime.now(UTC)
