"""The one declarative base every table of securecomm hangs from, and its timestamp type.

A fixed naming convention keeps constraint names identical on SQLite and
PostgreSQL, so Alembic migrations are portable between the two. Every
timestamp column is a :class:`UTCDateTime`: aware UTC in, aware UTC out.
"""

from __future__ import annotations

from sqlalchemy import DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from securecomm.domain.clock import SYSTEM_CLOCK, UTC, aware_utc

#: Default of timestamp columns whose writer did not pass the unit of work's clock reading.
clock_now = SYSTEM_CLOCK.now

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with portable constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """A timestamp column that holds aware UTC instants on every back end.

    PostgreSQL stores ``timestamp with time zone``; SQLite has no time zones
    and stores the UTC wall time. Either way a value comes back timezone-aware
    UTC, and a naive datetime is refused on the way in (never guessed at), so
    every comparison in Python and in SQL means the same instant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return aware_utc(value, what="a stored timestamp")

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
