"""The simulation's parameter files (``simulation/data/<NAME>.json``), read and checked.

A file describes one synthetic jurisdiction set: states (with their state
bureau, field office and activation schedule) and counties (population,
foreign-born share, arrest rate, the share of foreign-born arrestees with a
prior record, agencies), and the behaviour shared by all of them: the status
mix of the foreign-born, arrest multipliers by status, protections, repeat
arrests, the charge mix by NCIC category, prior arrests and convictions, the
examiner's error rate and the background gallery size. docs/simulation.md
describes every key. A malformed file fails at load with the key named.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

STATUSES = ("naturalised", "lpr", "visa_holder", "overstay", "ewi", "ewi_never_encountered", "previously_removed")
PROTECTIONS = ("u_visa", "t_visa", "vawa", "victim_witness")


class ParameterError(ValueError):
    """A parameter file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class County:
    state: str
    name: str
    population: int
    foreign_born: float
    arrest_rate: float
    prior_record_foreign_born: float
    agencies: tuple[tuple[str, str, str], ...]  # (ORI, name, kind)


@dataclass(frozen=True)
class StateParams:
    state: str
    sib_ori: str
    field_office: str
    activations: tuple[dict[str, str], ...]
    counties: tuple[County, ...]


@dataclass(frozen=True)
class Parameters:
    name: str
    source: str
    states: tuple[StateParams, ...]
    foreign_born_status: dict[str, float]
    arrest_multiplier: dict[str, float]
    prior_record_citizen: float
    protections: dict[str, float]
    repeat_arrest: float
    charges_per_booking: tuple[tuple[int, float], ...]
    charge_mix: tuple[tuple[str, str, float, tuple[tuple[str, float], ...]], ...]  # category, label, share, codes
    felony_codes: frozenset[str]
    prior_arrests: tuple[tuple[int, float], ...]
    conviction_per_charge: float
    examiner_error: float
    gallery_background: float
    calibration_targets: dict[str, Any]

    @property
    def counties(self) -> tuple[County, ...]:
        return tuple(c for s in self.states for c in s.counties)

    def state_of(self, code: str) -> StateParams:
        for s in self.states:
            if s.state == code:
                return s
        raise ParameterError(f"{self.source}: no state {code!r} (have {', '.join(s.state for s in self.states)})")


def available() -> list[str]:
    """Names of the packaged parameter files (``--state`` values)."""
    return sorted(p.name[:-5] for p in resources.files("securecomm.simulation").joinpath("data").iterdir()
                  if p.name.endswith(".json"))


def _share(value: Any, where: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= float(value) <= 1:
        raise ParameterError(f"{where}: must be a number from 0 to 1, got {value!r}")
    return float(value)


def _weights(value: Any, where: str, keys: tuple[str, ...] | None = None) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise ParameterError(f"{where}: must be an object of weights")
    out = {}
    for k, v in value.items():
        if keys is not None and k not in keys:
            raise ParameterError(f"{where}: unknown key {k!r} (one of {', '.join(keys)})")
        if not isinstance(v, (int, float)) or v < 0:
            raise ParameterError(f"{where}.{k}: must be a non-negative number, got {v!r}")
        out[k] = float(v)
    if sum(out.values()) <= 0:
        raise ParameterError(f"{where}: weights sum to zero")
    return out


def _pairs(value: Any, where: str) -> tuple[tuple[int, float], ...]:
    try:
        out = tuple((int(n), float(w)) for n, w in value)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}: must be a list of [count, weight] pairs") from None
    if not out or any(n < 1 or w < 0 for n, w in out) or sum(w for _, w in out) <= 0:
        raise ParameterError(f"{where}: counts must be >= 1 and weights non-negative, not all zero")
    return out


def _get(data: dict, key: str, where: str) -> Any:
    if key not in data:
        raise ParameterError(f"{where}: missing key {key!r}")
    return data[key]


def parse(data: Any, source: str) -> Parameters:
    """Check a parameter document and build :class:`Parameters` (every problem named with its key)."""
    from securecomm.interchange import ncic
    from securecomm.jurisdictions import validate_ori

    if not isinstance(data, dict):
        raise ParameterError(f"{source}: a parameter file is a JSON object")
    states = []
    for i, s in enumerate(_get(data, "states", source)):
        w = f"{source}: states[{i}]"
        code = str(_get(s, "state", w)).upper()
        if len(code) != 2 or not code.isalpha():
            raise ParameterError(f"{w}.state: a two-letter state code, got {code!r}")
        counties = []
        for j, c in enumerate(_get(s, "counties", w)):
            cw = f"{w}.counties[{j}]"
            pop = _get(c, "population", cw)
            if not isinstance(pop, int) or pop < 1:
                raise ParameterError(f"{cw}.population: a positive integer, got {pop!r}")
            agencies = []
            for k, a in enumerate(_get(c, "agencies", cw)):
                try:
                    ori, name, kind = a
                    validate_ori(ori)
                except (TypeError, ValueError) as exc:
                    raise ParameterError(f"{cw}.agencies[{k}]: [ORI, name, kind] with a valid ORI ({exc})") from None
                agencies.append((str(ori), str(name), str(kind)))
            if not agencies:
                raise ParameterError(f"{cw}.agencies: at least one agency")
            rate = _get(c, "arrest_rate", cw)
            counties.append(County(code, str(_get(c, "name", cw)), pop, _share(_get(c, "foreign_born", cw),
                                   f"{cw}.foreign_born"), _share(rate, f"{cw}.arrest_rate"),
                                   _share(_get(c, "prior_record_foreign_born", cw), f"{cw}.prior_record_foreign_born"),
                                   tuple(agencies)))
        acts = []
        for k, a in enumerate(_get(s, "activations", w)):
            aw = f"{w}.activations[{k}]"
            if a.get("scope") not in ("state", "county", "ori"):
                raise ParameterError(f"{aw}.scope: state, county or ori, got {a.get('scope')!r}")
            try:
                dt.date.fromisoformat(str(_get(a, "effective_from", aw)))
            except ValueError:
                raise ParameterError(f"{aw}.effective_from: an ISO date, got {a.get('effective_from')!r}") from None
            acts.append({k2: str(v) for k2, v in a.items()})
        states.append(StateParams(code, str(_get(s, "sib_ori", w)), str(_get(s, "field_office", w)), tuple(acts),
                                  tuple(counties)))
    if not states:
        raise ParameterError(f"{source}: states: at least one state")
    mix = []
    for i, m in enumerate(_get(data, "charge_mix", source)):
        w = f"{source}: charge_mix[{i}]"
        codes = tuple((str(c), float(x)) for c, x in _get(m, "codes", w))
        for c, _ in codes:
            if not ncic.is_valid(c):
                raise ParameterError(f"{w}.codes: {c!r} is not an NCIC offense code")
        mix.append((str(_get(m, "category", w)), str(m.get("label", "")), float(_get(m, "share", w)), codes))
    return Parameters(
        name=str(data.get("name", source)), source=source, states=tuple(states),
        foreign_born_status=_weights(_get(data, "foreign_born_status", source), f"{source}: foreign_born_status",
                                     STATUSES),
        arrest_multiplier=_weights(_get(data, "arrest_multiplier", source), f"{source}: arrest_multiplier",
                                   ("citizen_birth", *STATUSES)),
        prior_record_citizen=_share(_get(data, "prior_record_citizen", source), f"{source}: prior_record_citizen"),
        protections={k: _share(v, f"{source}: protections.{k}") for k, v in
                     _weights(_get(data, "protections", source), f"{source}: protections", PROTECTIONS).items()},
        repeat_arrest=_share(_get(data, "repeat_arrest", source), f"{source}: repeat_arrest"),
        charges_per_booking=_pairs(_get(data, "charges_per_booking", source), f"{source}: charges_per_booking"),
        charge_mix=tuple(mix),
        felony_codes=frozenset(str(c) for c in _get(data, "felony_codes", source)),
        prior_arrests=_pairs(_get(data, "prior_arrests", source), f"{source}: prior_arrests"),
        conviction_per_charge=_share(_get(data, "conviction_per_charge", source), f"{source}: conviction_per_charge"),
        examiner_error=_share(_get(data, "examiner_error", source), f"{source}: examiner_error"),
        gallery_background=float(_get(data, "gallery_background", source)),
        calibration_targets=dict(data.get("calibration_targets", {})),
    )


def load(name_or_path: str | Path) -> Parameters:
    """A packaged parameter file by name (``MA``, ``US``) or any file by path."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        text, source = path.read_text("utf-8"), str(path)
    else:
        name = str(name_or_path).upper()
        entry = resources.files("securecomm.simulation").joinpath("data").joinpath(f"{name}.json")
        if not entry.is_file():
            raise ParameterError(f"no parameter file for {name_or_path!r} (packaged: {', '.join(available())}; "
                                 "or give a path to a .json file)")
        text, source = entry.read_text("utf-8"), f"{name}.json"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{source}: not JSON ({exc})") from None
    return parse(data, source)
