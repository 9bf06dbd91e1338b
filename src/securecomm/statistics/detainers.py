"""Detainer figures by jurisdiction: what the field offices decided and how each detainer ended.

``figures(session, by="state" | "county" | "ori", start=None, end=None, state=None)`` returns one dict per
jurisdiction (sorted by its key) with these counts, over decisions whose ``decided_at`` falls in
``[start, end]`` (UTC dates, both inclusive; None = unbounded):

=====================  ==============================================================================
figure                 meaning
=====================  ==============================================================================
decisions              every recorded field-office decision (including no_action)
lodged                 detainers lodged (kind ``detainer``)
notification_requests  notification requests lodged
honoured               detainers the jail acknowledged and its law let it hold on
declined_by_law        detainers the jail's law did not let it hold on (outcome ``declined_by_law``)
expired                held to the end of the hold and released (outcome ``released_at_expiry``)
transferred            custody transferred to the immigration agency
released_before        released before expiry (bail, charges dropped, sentence served, ...)
released_notified      notification requests answered by a release notice
cancelled              withdrawn by the field office
lodged_after_release   the decision came after the release (too late)
over_held              held past expiry, recorded only with an audited override (should be 0)
open                   not yet closed
=====================  ==============================================================================

Keys: ``state`` -> ``"MA"``; ``county`` -> ``"MA:SUFFOLK"``; ``ori`` -> the jail's ORI. The counts are
aggregates only (no person-level data). Issue 12 wires these into the published tables
(``statistics.query``); the service wrapper is ``services.detainers.figures`` (``statistics.read``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from securecomm.store.detainer_models import DetainerRow

__all__ = ["FIGURES", "figures", "DetainerFiguresError"]

FIGURES = ("decisions", "lodged", "notification_requests", "honoured", "declined_by_law", "expired", "transferred",
           "released_before", "released_notified", "cancelled", "lodged_after_release", "over_held", "open")
_OUTCOME_FIGURE = {"declined_by_law": "declined_by_law", "released_at_expiry": "expired",
                   "transferred": "transferred", "released_before": "released_before",
                   "released_notified": "released_notified", "cancelled": "cancelled",
                   "lodged_after_release": "lodged_after_release"}


class DetainerFiguresError(ValueError):
    """A figures question that cannot be answered as asked."""


def figures(session: Session, *, by: str = "state", start: dt.date | None = None, end: dt.date | None = None,
            state: str | None = None) -> list[dict[str, Any]]:
    """Counts per jurisdiction (see the module's table)."""
    if by not in ("state", "county", "ori"):
        raise DetainerFiguresError(f"by {by!r} is not one of state, county, ori")
    if start and end and end < start:
        raise DetainerFiguresError(f"end {end} is before start {start}")
    key_cols = {"state": (DetainerRow.state_code,), "county": (DetainerRow.state_code, DetainerRow.county),
                "ori": (DetainerRow.ori,)}[by]
    cols = (*key_cols, DetainerRow.kind, DetainerRow.answer, DetainerRow.outcome, DetainerRow.over_held)
    q = select(*cols, func.count()).group_by(*cols)
    if start is not None:
        q = q.where(DetainerRow.decided_at >= dt.datetime.combine(start, dt.time(0), tzinfo=dt.UTC))
    if end is not None:
        q = q.where(DetainerRow.decided_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0),
                                                                 tzinfo=dt.UTC))
    if state:
        q = q.where(DetainerRow.state_code == state.strip().upper())
    out: dict[str, dict[str, Any]] = {}
    for *key, kind, answer, outcome, over_held, n in session.execute(q):
        name = key[0] if by != "county" else f"{key[0]}:{' '.join((key[1] or '').split()).upper()}"
        fig = out.setdefault(name, {"jurisdiction": name, **dict.fromkeys(FIGURES, 0)})
        fig["decisions"] += n
        if kind == "detainer":
            fig["lodged"] += n
        elif kind == "notification_request":
            fig["notification_requests"] += n
        if answer == "honoured":
            fig["honoured"] += n
        if outcome in _OUTCOME_FIGURE:
            fig[_OUTCOME_FIGURE[outcome]] += n
        if outcome is None:
            fig["open"] += n
        if over_held:
            fig["over_held"] += n
    return [out[k] for k in sorted(out)]
