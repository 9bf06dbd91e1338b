"""A small, closed condition language for policy data, evaluated generically.

Policy lives in data files, so the conditions in them must be checkable at
load time and unable to run code. A condition is a JSON object whose keys
are ANDed:

* ``"fact": value`` -- the fact equals the value;
* ``"fact__op": value`` with ``op`` one of ``eq ne in not_in gt gte lt lte
  contains any none`` (``contains``: a set/list fact holds the value;
  ``any``/``none``: a set/list fact shares some / no element with the list);
* ``"has": "type"`` / ``"has_any": [...]`` -- sugar for
  ``"encounter_types__contains"`` / ``"encounter_types__any"``;
* ``"all": [cond, ...]``, ``"any": [cond, ...]``, ``"not": cond``.

Facts are a flat mapping of names to bools, numbers, strings, dates (compared
with ISO date strings in the data) or sets. A condition naming a fact the
evaluator was not given is an error, never silently false, so a typo in a
policy file fails its load-time check instead of changing outcomes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "any", "none")
_SUGAR = {"has": "encounter_types__contains", "has_any": "encounter_types__any"}
_LOGIC = ("all", "any", "not")
#: Operators whose data value must be a list (checked at load time and again when evaluated).
_LIST_OPS = ("in", "not_in", "any", "none")


class RuleError(ValueError):
    """A policy condition is malformed or names an unknown fact."""


def _split(key: str) -> tuple[str, str]:
    key = _SUGAR.get(key, key)
    name, sep, op = key.rpartition("__")
    if not sep:
        return key, "eq"
    if op not in OPS:
        raise RuleError(f"unknown operator {op!r} in condition key {key!r} (have {', '.join(OPS)})")
    return name, op


def _coerce(fact: Any, value: Any) -> Any:
    """Let data compare dates as ISO strings."""
    if isinstance(fact, dt.date) and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise RuleError(f"{value!r} is not an ISO date to compare with a date fact") from None
    return value


def _compare(fact: Any, op: str, value: Any, name: str) -> bool:
    if op in _LIST_OPS and not isinstance(value, list):
        raise RuleError(f"{name}__{op} needs a list, got {value!r}")
    if op in ("contains", "any", "none") and not isinstance(fact, (set, frozenset, list, tuple)):
        raise RuleError(f"{name}__{op}: fact {name!r} is not a set")
    if op in ("gt", "gte", "lt", "lte"):
        value = _coerce(fact, value)
        if fact is None:
            return False  # an absent date or number satisfies no ordering
        try:
            return {"gt": fact > value, "gte": fact >= value, "lt": fact < value, "lte": fact <= value}[op]
        except TypeError:
            raise RuleError(f"cannot compare fact {name}={fact!r} with {value!r}") from None
    if op == "eq":
        return fact == _coerce(fact, value)
    if op == "ne":
        return fact != _coerce(fact, value)
    if op == "in":
        return fact in [_coerce(fact, v) for v in value]
    if op == "not_in":
        return fact not in [_coerce(fact, v) for v in value]
    if op == "contains":
        return value in fact
    if op == "any":
        return bool(set(fact) & set(value))
    return not (set(fact) & set(value))  # none


def evaluate(cond: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    """Does ``cond`` hold over ``facts``? Raises RuleError for malformed conditions or unknown facts."""
    if not isinstance(cond, Mapping):
        raise RuleError(f"a condition must be an object, got {cond!r}")
    for key, value in cond.items():
        if key == "all":
            ok = all(evaluate(c, facts) for c in _conds(value, key))
        elif key == "any":
            ok = any(evaluate(c, facts) for c in _conds(value, key))
        elif key == "not":
            ok = not evaluate(value, facts)
        else:
            name, op = _split(key)
            if name not in facts:
                raise RuleError(f"condition names unknown fact {name!r} (known: {', '.join(sorted(facts))})")
            ok = _compare(facts[name], op, value, name)
        if not ok:
            return False
    return True


def _conds(value: Any, key: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not value:
        raise RuleError(f"{key!r} needs a non-empty list of conditions, got {value!r}")
    return value


def check(cond: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    """Load-time check: every key is a known fact with a known operator, recursively."""
    known = set(known)
    if not isinstance(cond, Mapping):
        raise RuleError(f"{where}: a condition must be an object, got {cond!r}")
    for key, value in cond.items():
        if key in ("all", "any"):
            for i, c in enumerate(_conds(value, key)):
                check(c, known, f"{where}.{key}[{i}]")
        elif key == "not":
            check(value, known, f"{where}.not")
        else:
            try:
                name, op = _split(key)
            except RuleError as exc:
                raise RuleError(f"{where}: {exc}") from None
            if name not in known:
                raise RuleError(f"{where}: unknown fact {name!r}")
            if op in _LIST_OPS and not isinstance(value, list):
                raise RuleError(f"{where}: {key} needs a list")


def first_match(rules: Iterable[Mapping[str, Any]], facts: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first rule whose ``when`` holds (a rule without ``when`` always holds), or None."""
    for rule in rules:
        if evaluate(rule.get("when", {}), facts):
            return rule
    return None
