"""Three portable SQL functions the statistics need, compiled per back end.

SQLite and PostgreSQL disagree on date parts and interval arithmetic, so the
queries use these SQLAlchemy constructs and each dialect renders its own SQL:

* ``year_of(x)`` / ``month_of(x)``: the calendar year / month (1..12) of a
  date or timestamp, as an integer;
* ``seconds_between(a, b)``: ``b - a`` in seconds (float), for two timestamps.
"""

from __future__ import annotations

from sqlalchemy import Float, Integer
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
