"""Policy versions loaded from data: offense levels, enforcement priorities, actions, protections.

Everything that changed between the 2008 launch, the 2011 Morton memo, the
2014 Johnson memo / PEP and the 2017 executive order is in
``policy/data/*.json``; this module only evaluates that data with the closed
condition language of :mod:`securecomm.domain.rules`. Every rule is checked
against the facts it may use when the file is loaded, so a typo in a policy
file fails loudly at load instead of quietly changing who gets a detainer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from securecomm.domain import offenses
from securecomm.domain.actions import ACTIONS, DETAINER, NO_ACTION
from securecomm.domain.offenses import OFFENSE_FIELDS, OFFENSE_OUTCOMES
from securecomm.domain.protections import PROTECTED_FLAGS
from securecomm.domain.records import Arrest, Charge
from securecomm.domain import rules

__all__ = [
    "PolicyError", "OffenseScheme", "Policy", "Priority", "StateLimit", "LEVELS",
    "load_policy", "policy_for", "policy_versions", "load_scheme", "state_limit_for", "IMMIGRATION_FACTS",
    "load_state_limits",
]

#: Offense levels, most serious first.
LEVELS = ("L1", "L2", "L3", "NC")
#: Facts status determination derives from the immigration record (see workflow.status_determination).
IMMIGRATION_FACTS = (
    "status", "removable", "encounter_types", "naturalized", "lpr", "removal_order_outstanding",
    "removal_order_date", "reentered_after_removal", "in_status", "overstay", "ewi", "asylum_pending", "asylee",
    "tps", "daca", "last_unlawful_entry", "years_since_unlawful_entry", "protected", "protected_flags",
    "booking_date", "state",
)
_BASE_OFFENSE_FACTS = ("level", "counted", "convicted", "convictions", "convicted_felonies",
                       "convicted_misdemeanors", "current_charges")


class PolicyError(ValueError):
    """Policy data is malformed, or no version answers the question asked."""


def _read(name: str) -> dict[str, Any]:
    try:
        text = resources.files("securecomm.policy").joinpath("data", name).read_text("utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy data file {name} is missing") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"policy data file {name}: invalid JSON ({exc})") from exc


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise PolicyError(f"{where}: {value!r} is not an ISO date") from None


# --------------------------------------------------------------------------- offense levels


def _offences(charges: Sequence[Charge], arrests: Iterable[Arrest]) -> list[dict[str, Any]]:
    try:
        return offenses.offences(charges, arrests)
    except offenses.UnknownOffenseCode as exc:
        raise PolicyError(f"cannot classify offence: {exc}") from exc


@dataclass(frozen=True)
class OffenseScheme:
    """Classes of offences and the level rules over their counts (one entry of offense_levels.json)."""

    name: str
    title: str
    basis: str
    count_outcomes: frozenset[str]
    classes: tuple[tuple[str, Mapping[str, Any]], ...]
    level_rules: tuple[Mapping[str, Any], ...]
    default_level: str

    @classmethod
    def from_data(cls, name: str, data: Mapping[str, Any]) -> "OffenseScheme":
        where = f"offense scheme {name}"
        outcomes = frozenset(data.get("count_outcomes", ()))
        if not outcomes or not outcomes <= set(OFFENSE_OUTCOMES):
            raise PolicyError(f"{where}: count_outcomes must be a non-empty subset of {OFFENSE_OUTCOMES}")
        classes = []
        for i, c in enumerate(data.get("classes", ())):
            if not isinstance(c, Mapping) or "class" not in c or "match" not in c:
                raise PolicyError(f"{where}: class {i} needs 'class' and 'match'")
            rules.check(c["match"], OFFENSE_FIELDS, f"{where}.classes[{c['class']}]")
            classes.append((str(c["class"]), c["match"]))
        scheme = cls(name, str(data.get("title", name)), str(data.get("basis", "")), outcomes, tuple(classes),
                     tuple(data.get("level_rules", ())), str(data.get("default_level", "NC")))
        known = scheme.fact_names()
        for i, r in enumerate(scheme.level_rules):
            if r.get("level") not in LEVELS:
                raise PolicyError(f"{where}: level rule {i} gives {r.get('level')!r}, not one of {LEVELS}")
            rules.check(r.get("when", {}), known, f"{where}.level_rules[{i}]")
        if scheme.default_level not in LEVELS:
            raise PolicyError(f"{where}: default_level {scheme.default_level!r} is not one of {LEVELS}")
        return scheme

    def fact_names(self) -> tuple[str, ...]:
        names = list(_BASE_OFFENSE_FACTS)
        for cname, _ in self.classes:
            names += [f"counted.{cname}", f"convicted.{cname}"]
        return tuple(names)

    def facts(self, charges: Sequence[Charge], arrests: Iterable[Arrest]) -> dict[str, Any]:
        """Counts per class over the offences, and the level they give."""
        offences = _offences(charges, arrests)
        facts: dict[str, Any] = {n: 0 for n in self.fact_names()}
        for off in offences:
            counted = off["outcome"] in self.count_outcomes
            convicted = off["outcome"] == "convicted"
            facts["counted"] += counted
            facts["convicted"] += convicted
            facts["convicted_felonies"] += convicted and off["felony"]
            facts["convicted_misdemeanors"] += convicted and not off["felony"]
            facts["current_charges"] += off["current"]
            for cname, match in self.classes:
                if rules.evaluate(match, off):
                    facts[f"counted.{cname}"] += counted
                    facts[f"convicted.{cname}"] += convicted
        facts["convictions"] = facts["convicted"]
        facts["level"] = None
        rule = rules.first_match(self.level_rules, facts)
        facts["level"] = rule["level"] if rule is not None else self.default_level
        return facts


@lru_cache(maxsize=None)
def load_scheme(name: str) -> OffenseScheme:
    schemes = _read("offense_levels.json").get("schemes", {})
    if name not in schemes:
        raise PolicyError(f"no offense scheme {name!r}; have {', '.join(sorted(schemes))}")
    return OffenseScheme.from_data(name, schemes[name])


# --------------------------------------------------------------------------- policy versions


@dataclass(frozen=True)
class Priority:
    """An enforcement priority: '1', '2', '3' or 'none', the policy's label for it, and the policy."""

    priority: str
    label: str
    version: str


@dataclass(frozen=True)
class Policy:
    """One policy version: which offense scheme, which priority and action rules, which protections."""

    version: str
    title: str
    effective_from: dt.date
    source: str
    scheme: OffenseScheme
    priority_rules: tuple[Mapping[str, Any], ...]
    action_rules: tuple[Mapping[str, Any], ...]
    protected_flags: frozenset[str]
    protected_action_cap: str
    review_band_action_cap: str
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> "Policy":
        version = str(data.get("version", "")).strip()
        if not version:
            raise PolicyError("policy data without a version")
        where = f"policy {version}"
        scheme = load_scheme(str(data.get("offense_scheme", "")))
        prot = data.get("protections", {})
        flags = frozenset(prot.get("flags", ()))
        if not flags <= set(PROTECTED_FLAGS):
            raise PolicyError(f"{where}: unknown protected flags {sorted(flags - set(PROTECTED_FLAGS))}")
        caps = (str(prot.get("action_cap", NO_ACTION)), str(data.get("review_band_action_cap", NO_ACTION)))
        for cap in caps:
            if cap not in ACTIONS or cap == DETAINER:
                # the programme's safeguard: no automatic detainer on a protected person or a weak match
                raise PolicyError(f"{where}: action caps must be 'no_action' or 'notification_request', got {cap!r}")
        policy = cls(version, str(data.get("title", version)), _date(data.get("effective_from"), where),
                     str(data.get("source", "")), scheme, tuple(data.get("priority_rules", ())),
                     tuple(data.get("action_rules", ())), flags, caps[0], caps[1], data)
        known = policy.fact_names()
        for i, r in enumerate(policy.priority_rules):
            if str(r.get("priority")) not in ("1", "2", "3"):
                raise PolicyError(f"{where}: priority rule {i} gives {r.get('priority')!r}, not 1, 2 or 3")
            rules.check(r.get("when", {}), known, f"{where}.priority_rules[{i}]")
        for i, r in enumerate(policy.action_rules):
            if r.get("action") not in ACTIONS:
                raise PolicyError(f"{where}: action rule {i} gives {r.get('action')!r}, not one of {ACTIONS}")
            rules.check(r.get("when", {}), known + ("priority", "priority_label"), f"{where}.action_rules[{i}]")
        return policy

    def fact_names(self) -> tuple[str, ...]:
        return self.scheme.fact_names() + IMMIGRATION_FACTS

    def offense_facts(self, charges: Sequence[Charge], arrests_with_dispositions: Iterable[Arrest] = ()) \
            -> dict[str, Any]:
        """Per-class counts and the level, for priority and action rules."""
        return self.scheme.facts(tuple(charges), tuple(arrests_with_dispositions))

    def offense_level(self, charges: Sequence[Charge], arrests_with_dispositions: Iterable[Arrest] = ()) -> str:
        """'L1' | 'L2' | 'L3' | 'NC' for the booking's charges and the rap sheet's arrests."""
        return self.offense_facts(charges, arrests_with_dispositions)["level"]

    def charge_level(self, charge: Charge) -> str:
        """The level of one charge on its own, for ranking a booking's charges.

        A conviction-based scheme gives every bare charge 'NC', so ranking uses
        the policy's ``charge_ranking_scheme`` (default: the charge-based one).
        """
        scheme = self.scheme if self.scheme.basis == "charge" else \
            load_scheme(str(self.raw.get("charge_ranking_scheme", "sc-charge-2008")))
        return scheme.facts((charge,), ())["level"]

    def most_serious_charge(self, charges: Sequence[Charge]) -> Charge:
        """The booking's most serious charge (the one the IAQ carries); ties keep booking order."""
        if not charges:
            raise PolicyError("a booking without charges has no most serious charge")
        return min(charges, key=lambda c: LEVELS.index(self.charge_level(c)))

    def priority(self, facts: Mapping[str, Any]) -> Priority:
        """The first priority rule that holds over ``facts`` (offense and immigration facts), else 'none'."""
        rule = rules.first_match(self.priority_rules, facts)
        if rule is None:
            return Priority("none", "not a priority", self.version)
        return Priority(str(rule["priority"]), str(rule.get("label", rule["priority"])), self.version)

    def action(self, facts: Mapping[str, Any], priority: Priority) -> str:
        """The action the policy calls for, before protections, review band and state limits."""
        rule = rules.first_match(self.action_rules,
                                 {**facts, "priority": priority.priority, "priority_label": priority.label})
        return str(rule["action"]) if rule is not None else NO_ACTION


@lru_cache(maxsize=1)
def _index() -> tuple[tuple[dt.date, str, str], ...]:
    """(effective_from, version, file) of every packaged policy-*.json, oldest first."""
    out = []
    for entry in resources.files("securecomm.policy").joinpath("data").iterdir():
        if entry.name.startswith("policy-") and entry.name.endswith(".json"):
            data = json.loads(entry.read_text("utf-8"))
            out.append((_date(data.get("effective_from"), entry.name), str(data.get("version")), entry.name))
    out.sort()
    versions = [v for _, v, _ in out]
    if len(set(versions)) != len(versions):
        raise PolicyError(f"duplicate policy versions in data: {versions}")
    if not out:
        raise PolicyError("no policy-*.json files in securecomm/policy/data")
    return tuple(out)


def policy_versions() -> list[str]:
    """Packaged policy versions, oldest first."""
    return [v for _, v, _ in _index()]


@lru_cache(maxsize=None)
def load_policy(version: str) -> Policy:
    """The packaged policy with this version name."""
    for _, v, name in _index():
        if v == version:
            return Policy.from_data(_read(name))
    raise PolicyError(f"no policy version {version!r}; have {', '.join(policy_versions())}")


def policy_for(on: dt.date) -> Policy:
    """The policy in force on ``on`` (the booking's date)."""
    if not isinstance(on, dt.date):
        raise PolicyError(f"policy_for needs a date, got {on!r}")
    current = [v for start, v, _ in _index() if start <= on]
    if not current:
        raise PolicyError(f"no policy in force on {on}: the first, {_index()[0][1]}, starts {_index()[0][0]}")
    return load_policy(current[-1])


# --------------------------------------------------------------------------- state limits


@dataclass(frozen=True)
class StateLimit:
    """A state law capping what is asked of its jails (e.g. the California TRUST Act)."""

    state: str
    name: str
    effective_from: dt.date
    effective_to: dt.date | None
    rules: tuple[Mapping[str, Any], ...]

    def cap(self, facts: Mapping[str, Any]) -> str:
        rule = rules.first_match(self.rules, facts)
        return str(rule["max_action"]) if rule is not None else DETAINER


@lru_cache(maxsize=1)
def _state_limits() -> tuple[StateLimit, ...]:
    return _parse_state_limits(_read("state_limits.json"), "state_limits")


@lru_cache(maxsize=8)
def load_state_limits(path: str) -> tuple[StateLimit, ...]:
    """State limits from a file in the format of ``policy/data/state_limits.json`` (what-if laws)."""
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read a state-limits file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("limits"), list):
        raise PolicyError(f"{path}: a state-limits file is an object with a 'limits' list (an empty list: no "
                          "state limits at all)")
    for i, d in enumerate(data["limits"]):
        if not isinstance(d, dict) or not re.fullmatch(r"[A-Za-z]{2}", str(d.get("state", ""))):
            raise PolicyError(f"{path}: limits[{i}] must be an object with a two-letter 'state'")
    return _parse_state_limits(data, str(path))


def _parse_state_limits(data: Mapping[str, Any], source: str) -> tuple[StateLimit, ...]:
    out = []
    known = set(_BASE_OFFENSE_FACTS) | set(IMMIGRATION_FACTS)
    for i, d in enumerate(data.get("limits", ())):
        where = f"{source}[{i}]"
        start = _date(d.get("effective_from"), where)
        end = _date(d["effective_to"], where) if d.get("effective_to") else None
        lim = StateLimit(str(d.get("state", "")).upper(), str(d.get("name", "")), start, end, tuple(d.get("rules", ())))
        for j, r in enumerate(lim.rules):
            if r.get("max_action") not in ACTIONS:
                raise PolicyError(f"{where}.rules[{j}]: max_action {r.get('max_action')!r} not one of {ACTIONS}")
            rules.check(r.get("when", {}), known, f"{where}.rules[{j}]")
        out.append(lim)
    return tuple(out)


def state_limit_for(state: str | None, on: dt.date, limits: Sequence[StateLimit] | None = None) -> StateLimit | None:
    """The state limit in force for bookings in ``state`` on ``on``, if any (from ``limits`` when given,
    else the packaged ``state_limits.json``)."""
    if not state:
        return None
    state = state.upper()
    for lim in (_state_limits() if limits is None else limits):
        if lim.state == state and lim.effective_from <= on and (lim.effective_to is None or on <= lim.effective_to):
            return lim
    return None
