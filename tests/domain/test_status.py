"""The status rule is pure: it decides from the records, a policy and rules handed to it (no store, no files)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from securecomm.domain.actions import ACTIONS, UnknownAction, action_min, check_action
from securecomm.domain.records import Biographic, Booking, Charge, Encounter, ImmigrationRecord
from securecomm.domain.status import determine

D = dt.date
PERSON = Biographic("PEREZ", "JUAN", D(1988, 2, 3), "M", "MX")
RULES = ({"when": {"removal_order_outstanding": True}, "status": "REMOVAL_ORDER", "removable": True},
         {"status": "UNKNOWN", "removable": None, "manual": "no rule applies"})


@dataclass(frozen=True)
class _Priority:
    priority: str
    label: str


class StubPolicy:
    """A policy that asks for a detainer for everyone removable: the safeguards must still hold."""

    version = "stub-1"
    protected_action_cap = "no_action"
    review_band_action_cap = "notification_request"

    def offense_facts(self, charges, arrests=()):
        return {"level": "L1", "convictions": 0}

    def priority(self, facts):
        return _Priority("1", "1(a)")

    def action(self, facts, priority):
        return "detainer"


def _run(*encounters, band="hit", victim=False, limit=None):
    record = ImmigrationRecord("0000000018", None, PERSON, (), tuple(encounters), victim_witness=victim)
    booking = Booking("MA0130100", "T-1", "DCFBIWA00", D(2012, 6, 1), PERSON, D(2012, 6, 1), (Charge("1313"),))
    return determine(record=record, rap_sheet=None, booking=booking, band=band, score=0.9, policy=StubPolicy(),
                     status_rules=RULES, status_rules_version="test", limit=limit, state="MA")


def test_safeguards_hold_whatever_the_policy_asks():
    order = Encounter("removal_order", D(2010, 1, 1))
    assert _run(order).action == "detainer"
    assert _run(order, band="review").action == "notification_request"
    protected = _run(order, victim=True)
    assert (protected.action, protected.action_before_safeguards, protected.manual_review) == \
        ("no_action", "detainer", True)
    assert _run().action == "no_action" and _run().removable is None  # no rule but the fallback


def test_a_state_limit_caps_the_action():
    class Limit:
        name = "TRUST"

        def cap(self, facts):
            return "notification_request"

    d = _run(Encounter("removal_order", D(2010, 1, 1)), limit=Limit())
    assert d.action == "notification_request" and d.state_limit.startswith("TRUST")


def test_one_action_vocabulary():
    assert ACTIONS == ("no_action", "notification_request", "detainer")
    assert action_min("detainer", "no_action") == "no_action"
    with pytest.raises(UnknownAction, match="'none' is not one of"):
        check_action("none")
