"""Three portable SQL functions the statistics need, compiled per back end.

SQLite and PostgreSQL disagree on date parts and interval arithmetic, so the
queries use these SQLAlchemy constructs and each dialect renders its own SQL:

* ``year_of(x)`` / ``month_of(x)``: the calendar year / month (1..12) of a
  date or timestamp, as an integer;
* ``seconds_between(a, b)``: ``b - a`` in seconds (float), for two timestamps;
* ``local_date(ts, zone)``: the calendar date of the UTC instant ``ts`` in the
  IANA time zone ``zone`` (a column or expression). PostgreSQL converts with
  ``timezone(zone, ts)``, which does not depend on the session's ``TimeZone``;
  SQLite has no time-zone database, so :func:`prepare` registers a
  deterministic Python function (``zoneinfo``) on the connection first.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Date, Float, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class year_of(FunctionElement):  # noqa: N801 - reads as SQL
    type = Integer()
    inherit_cache = True
    name = "year_of"


class month_of(FunctionElement):  # noqa: N801
    type = Integer()
    inherit_cache = True
    name = "month_of"


class seconds_between(FunctionElement):  # noqa: N801
    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(year_of, "sqlite")
def _year_sqlite(element, compiler, **kw):
    return "CAST(strftime('%%Y', %s) AS INTEGER)" % compiler.process(element.clauses, **kw)


@compiles(month_of, "sqlite")
def _month_sqlite(element, compiler, **kw):
    return "CAST(strftime('%%m', %s) AS INTEGER)" % compiler.process(element.clauses, **kw)


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw):
    a, b = list(element.clauses)
    return "((julianday(%s) - julianday(%s)) * 86400.0)" % (compiler.process(b, **kw), compiler.process(a, **kw))


@compiles(year_of)
def _year_default(element, compiler, **kw):
    return "CAST(EXTRACT(YEAR FROM %s) AS INTEGER)" % compiler.process(element.clauses, **kw)


@compiles(month_of)
def _month_default(element, compiler, **kw):
    return "CAST(EXTRACT(MONTH FROM %s) AS INTEGER)" % compiler.process(element.clauses, **kw)


@compiles(seconds_between)
def _seconds_default(element, compiler, **kw):
    a, b = list(element.clauses)
    return "CAST(EXTRACT(EPOCH FROM (%s - %s)) AS DOUBLE PRECISION)" % (compiler.process(b, **kw),
                                                                         compiler.process(a, **kw))


class local_date(FunctionElement):  # noqa: N801
    type = Date()
    inherit_cache = True
    name = "local_date"


#: Name of the SQLite function behind :class:`local_date`.
SQLITE_LOCAL_DATE = "securecomm_local_date"


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # agencies' zones are checked when recorded; never crash a query on one


def _local_date_py(value, zone_name) -> str | None:
    """SQLite's ``local_date``: a stored UTC wall time (``YYYY-MM-DD HH:MM:SS[.ffffff]``) to a local date."""
    if value is None:
        return None
    at = dt.datetime.fromisoformat(str(value))
    at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
    return at.astimezone(_zone(str(zone_name or "UTC"))).date().isoformat()


def prepare(session) -> None:
    """Make :class:`local_date` callable on ``session``'s connection (SQLite: register the function)."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        conn.connection.driver_connection.create_function(SQLITE_LOCAL_DATE, 2, _local_date_py, deterministic=True)


@compiles(local_date, "sqlite")
def _local_date_sqlite(element, compiler, **kw):
    ts, zone = list(element.clauses)
    return "%s(%s, %s)" % (SQLITE_LOCAL_DATE, compiler.process(ts, **kw), compiler.process(zone, **kw))


@compiles(local_date)
def _local_date_default(element, compiler, **kw):
    ts, zone = list(element.clauses)
    return "CAST(timezone(%s, %s) AS DATE)" % (compiler.process(zone, **kw), compiler.process(ts, **kw))
