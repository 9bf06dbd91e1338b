"""Enforcement actions: one vocabulary for the policy data, the status determination, the review queue and the IAR.

``no_action`` < ``notification_request`` < ``detainer``. Caps (protections,
an unconfirmed match, a state law) only ever weaken an action.
"""

from __future__ import annotations

#: Enforcement actions, weakest first.
ACTIONS = ("no_action", "notification_request", "detainer")
NO_ACTION, NOTIFICATION_REQUEST, DETAINER = ACTIONS


class UnknownAction(ValueError):
    """A word that is not one of :data:`ACTIONS`."""


def check_action(value: object, what: str = "action") -> str:
    """``value`` if it is an action of the vocabulary; UnknownAction naming it otherwise."""
    if value not in ACTIONS:
        raise UnknownAction(f"{what} {value!r} is not one of {', '.join(ACTIONS)}")
    return str(value)


def action_min(a: str, b: str) -> str:
    """The weaker of two actions (caps never strengthen)."""
    return ACTIONS[min(ACTIONS.index(check_action(a)), ACTIONS.index(check_action(b)))]
