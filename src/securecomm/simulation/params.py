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


#: Outcomes of an honoured detainer the simulated jail and field office choose between (``detainers.honoured``).
HONOURED_OUTCOMES = ("transfer", "expiry", "released_before", "cancelled", "over_hold")


@dataclass(frozen=True)
class DetainerParams:
    """How the simulated field office, jails and custody transfers behave after an IAR (modelling assumptions).

    The field office decides what the IAR recommends ``decision_hours`` after the booking day's 06:00 local;
    the jail's scheduled release is ``days_to_release`` days later (17:00 local), or, for a share
    ``late_decision``, came before the decision; ``judicial_warrant`` / ``reimbursement`` are the shares of
    detainers carrying a judicial warrant or a reimbursement agreement (what some laws ask for); an honoured
    detainer ends as ``honoured`` weights say; a notification request ends in a transfer at release with
    probability ``notification_transfer``.
    """

    decision_hours: tuple[float, float] = (1.0, 6.0)
    days_to_release: tuple[tuple[int, float], ...] = ((1, 0.35), (3, 0.25), (7, 0.2), (21, 0.15), (60, 0.05))
    late_decision: float = 0.04
    judicial_warrant: float = 0.0
    reimbursement: float = 0.0
    honoured: tuple[tuple[str, float], ...] = (("transfer", 0.72), ("expiry", 0.17), ("released_before", 0.07),
                                               ("cancelled", 0.02), ("over_hold", 0.02))
    notification_transfer: float = 0.4


def _detainer_params(value: Any, where: str) -> DetainerParams:
    """The optional ``detainers`` section (absent: the defaults of :class:`DetainerParams`)."""
    if value is None:
        return DetainerParams()
    if not isinstance(value, dict):
        raise ParameterError(f"{where}: an object")
    known = {"about", "decision_hours", "days_to_release", "late_decision", "judicial_warrant", "reimbursement",
             "honoured", "notification_transfer"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ParameterError(f"{where}: unknown key {unknown[0]!r} (one of {', '.join(sorted(known - {'about'}))})")
    d = DetainerParams()
    hours = value.get("decision_hours", list(d.decision_hours))
    if not (isinstance(hours, list) and len(hours) == 2
            and all(isinstance(h, (int, float)) and not isinstance(h, bool) for h in hours)
            and 0 <= hours[0] <= hours[1] <= 17):
        raise ParameterError(f"{where}.decision_hours: [low, high] hours with 0 <= low <= high <= 17, got {hours!r}")
    honoured = _weights(value.get("honoured", dict(d.honoured)), f"{where}.honoured", HONOURED_OUTCOMES)
    return DetainerParams(
        decision_hours=(float(hours[0]), float(hours[1])),
        days_to_release=_pairs(value.get("days_to_release", [list(x) for x in d.days_to_release]),
                               f"{where}.days_to_release"),
        late_decision=_share(value.get("late_decision", d.late_decision), f"{where}.late_decision"),
        judicial_warrant=_share(value.get("judicial_warrant", d.judicial_warrant), f"{where}.judicial_warrant"),
        reimbursement=_share(value.get("reimbursement", d.reimbursement), f"{where}.reimbursement"),
        honoured=tuple(honoured.items()),
        notification_transfer=_share(value.get("notification_transfer", d.notification_transfer),
                                     f"{where}.notification_transfer"))


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
    detainers: DetainerParams = DetainerParams()

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
    from securecomm.domain import offenses
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
            if not offenses.is_valid(c):
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
        detainers=_detainer_params(data.get("detainers"), f"{source}: detainers"),
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
