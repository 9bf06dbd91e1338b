"""Status determination in the pipeline: the policy in force, the state limit, the status rules, then the rule.

The decision itself is the pure function :func:`securecomm.domain.status.determine`;
this module only fetches what it needs from the versioned policy data for the
booking's date and the booking agency's state (``securecomm.policy``).
"""

from __future__ import annotations

from collections.abc import Sequence

from securecomm.domain import status
from securecomm.domain.records import Booking, ImmigrationRecord, RapSheet
from securecomm.domain.status import Determination, derive_immigration_facts
from securecomm.policy.model import Policy, StateLimit, policy_for, state_limit_for
from securecomm.policy.status_rules import DEFAULT_STATUS_RULES, load_status_rules

__all__ = ["Determination", "determine", "derive_immigration_facts", "load_status_rules", "DEFAULT_STATUS_RULES"]


def determine(*, record: ImmigrationRecord, rap_sheet: RapSheet | None, booking: Booking, band: str,
              score: float, policy: Policy | None = None, state: str | None = None,
              status_rules: str = DEFAULT_STATUS_RULES,
              state_limits: Sequence[StateLimit] | None = None) -> Determination:
    """Determine status, level, priority and the recommended action for one immigration match.

    ``policy`` defaults to the one in force on the booking's date; ``state``
    (the booking agency's) brings in state limits such as the TRUST Act;
    ``state_limits`` replaces the packaged set of state laws (what-if replays).
    """
    on = booking.date
    return status.determine(record=record, rap_sheet=rap_sheet, booking=booking, band=band, score=score,
                            policy=policy or policy_for(on), status_rules=load_status_rules(status_rules),
                            status_rules_version=status_rules,
                            limit=state_limit_for(state, on, limits=state_limits), state=state)
