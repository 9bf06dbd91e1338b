"""The one declarative base every table of securecomm hangs from.

A fixed naming convention keeps constraint names identical on SQLite and
PostgreSQL, so Alembic migrations are portable between the two.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

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
