"""Status determination: data rules settle the clear cases, people settle the rest, safeguards hold."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from securecomm.engine.template import Template
from securecomm.domain.records import (Arrest, Biographic, Booking, Charge, Disposition, Encounter,
                                       ImmigrationEnrolment)
from securecomm.policy import load_policy
from securecomm.policy.model import PolicyError
from securecomm.repositories import CriminalRepository, ImmigrationRepository
from securecomm.repositories.criminal import RapSheet
from securecomm.repositories.immigration import ImmigrationRecord
from securecomm.store import audit
from securecomm.store.db import open_store
from securecomm.workflow.status_determination import derive_immigration_facts, determine, load_status_rules

D = dt.date
PERSON = Biographic("PEREZ", "JUAN", D(1988, 2, 3), "M", "MX")


def booking(date=D(2012, 6, 1), charges=("1313",), person=PERSON, tcn="T-1") -> Booking:
    return Booking("MA0130100", tcn, "DCFBIWA00", date, person, date, tuple(Charge(c) for c in charges))


def record(*encounters, victim=False, aliases=(), person=PERSON) -> ImmigrationRecord:
    return ImmigrationRecord("1234567897", "A012345678", person, tuple(aliases), tuple(encounters), victim)


def sheet(*arrests) -> RapSheet:
    return RapSheet("00000001A", PERSON, tuple(arrests))


def felony(code="2202", days=200, date=D(2009, 1, 1)) -> Arrest:
    return Arrest(date, "MA0130100", f"OLD-{code}-{days}", (Charge(code),),
                  (Disposition(code, "convicted", date, True, days),))


E = Encounter


@pytest.mark.parametrize("encounters,status,removable", [
    ((E("lpr_grant", D(2000, 1, 1)), E("naturalization", D(2006, 1, 1))), "USC_NATURALIZED", False),
    ((E("border_apprehension", D(2005, 1, 1)), E("removal_order", D(2005, 3, 1))), "REMOVAL_ORDER_OUTSTANDING", True),
    ((E("removal_order", D(2005, 3, 1)), E("removal", D(2005, 4, 1))), "PREVIOUSLY_REMOVED_REENTERED", True),
    ((E("admission", D(2010, 1, 1), expires=D(2010, 7, 1)),), "OVERSTAY", True),
    ((E("admission", D(2012, 1, 1), expires=D(2012, 12, 1)),), "NONIMMIGRANT_IN_STATUS", False),
    ((E("border_apprehension", D(2011, 1, 1)), E("voluntary_return", D(2011, 1, 2))), "EWI", True),
    ((E("lpr_grant", D(2001, 1, 1)),), "LPR", False),
    ((E("visa_application", D(2009, 1, 1)),), "UNKNOWN", None),
    ((E("admission", D(2008, 1, 1), expires=D(2008, 6, 1)), E("asylum_application", D(2008, 5, 1))),
     "ASYLUM_PENDING", None),
    ((E("removal_order", D(2005, 3, 1)), E("lpr_grant", D(2008, 1, 1))), "LPR", False),  # relief after the order
])
def test_clear_cases_and_the_rest(encounters, status, removable):
    d = determine(record=record(*encounters), rap_sheet=None, booking=booking(), band="hit", score=0.97)
    assert (d.status, d.removable) == (status, removable)
    assert d.manual_review == (removable is None)
    if removable is False:
        assert d.action == "none"


def test_encounters_after_the_booking_date_are_ignored():
    rec = record(E("admission", D(2010, 1, 1), expires=D(2010, 7, 1)), E("naturalization", D(2013, 1, 1)))
    assert determine(record=rec, rap_sheet=None, booking=booking(D(2012, 6, 1)), band="hit",
                     score=0.9).status == "OVERSTAY"
    assert determine(record=rec, rap_sheet=None, booking=booking(D(2013, 6, 1)), band="hit",
                     score=0.9).status == "USC_NATURALIZED"
    facts = derive_immigration_facts(rec, D(2012, 6, 1))
    assert facts["overstay"] and not facts["naturalized"]


def test_removal_order_and_level_give_priority_and_detainer_2011():
    rec = record(E("border_apprehension", D(2005, 1, 1)), E("removal_order", D(2005, 3, 1)))
    d = determine(record=rec, rap_sheet=sheet(felony("1304", 900)), booking=booking(charges=("1313",)),
                  band="hit", score=0.99)
    assert (d.policy_version, d.offense_level, d.priority, d.action) == ("2011-morton", "L1", "1", "detainer")
    assert not d.manual_review and "ACTION: detainer" in d.summary()


def test_same_person_under_pep_gets_a_notification_not_a_detainer():
    rec = record(E("admission", D(2010, 1, 1), expires=D(2010, 7, 1)))
    prior = Arrest(D(2013, 1, 1), "MA0130100", "OLD", (Charge("2303"),),
                   (Disposition("2303", "convicted", D(2013, 2, 1), False, 5),))
    d11 = determine(record=rec, rap_sheet=sheet(prior), booking=booking(D(2014, 6, 1)), band="hit", score=0.95)
    d14 = determine(record=rec, rap_sheet=sheet(prior), booking=booking(D(2015, 6, 1)), band="hit", score=0.95)
    assert (d11.policy_version, d11.priority, d11.action) == ("2012-detainer-guidance", "1", "notification_request")
    d11 = determine(record=rec, rap_sheet=sheet(prior), booking=booking(D(2012, 6, 1)), band="hit", score=0.95)
    assert (d11.policy_version, d11.action) == ("2011-morton", "detainer")  # convicted criminal: priority 1
    assert (d14.policy_version, d14.offense_level, d14.priority, d14.action) == ("2014-pep", "L3", "none", "none")


@pytest.mark.parametrize("victim,encounter", [
    (True, None), (False, "u_visa_application"), (False, "t_visa_application"), (False, "vawa_self_petition")])
def test_protected_people_always_go_to_a_person_and_never_get_a_detainer(victim, encounter):
    encs = [E("border_apprehension", D(2005, 1, 1)), E("removal_order", D(2005, 3, 1))]
    if encounter:
        encs.append(E(encounter, D(2009, 1, 1)))
    d = determine(record=record(*encs, victim=victim), rap_sheet=sheet(felony("0911", 5000)),
                  booking=booking(), band="hit", score=0.999)
    assert d.action_before_safeguards == "detainer"  # the policy alone would have asked for one
    assert d.action == "none" and d.manual_review
    assert any(r.startswith("protected:") for r in d.reasons)
    assert d.protected_flags


def test_review_band_always_goes_to_a_person_and_never_gets_a_detainer():
    rec = record(E("border_apprehension", D(2005, 1, 1)), E("removal_order", D(2005, 3, 1)))
    d = determine(record=rec, rap_sheet=sheet(felony("0911", 5000)), booking=booking(), band="review", score=0.41)
    assert d.manual_review and d.action == "none" and d.action_before_safeguards == "detainer"
    assert any("examiner-review band" in r for r in d.reasons)
    # even a naturalised citizen in the review band is looked at by a person
    d = determine(record=record(E("naturalization", D(2000, 1, 1))), rap_sheet=None, booking=booking(),
                  band="review", score=0.4)
    assert d.manual_review and d.status == "USC_NATURALIZED" and d.action == "none"
    with pytest.raises(ValueError, match="band 'none'"):
        determine(record=rec, rap_sheet=None, booking=booking(), band="none", score=0.1)


def test_biographic_mismatch_goes_to_a_person():
    rec = record(E("border_apprehension", D(2005, 1, 1)), E("removal_order", D(2005, 3, 1)),
                 aliases=("JUAN PERES",))
    other = Biographic("SMITH", "JOHN", D(1970, 1, 1), "M", "MA")
    d = determine(record=rec, rap_sheet=None, booking=booking(person=other), band="hit", score=0.95)
    assert d.manual_review and d.action != "detainer"
    assert any("date of birth" in r and "name SMITH" in r for r in d.reasons)
    alias = Biographic("PERES", "JUAN", PERSON.dob, "M", "MX")
    d = determine(record=rec, rap_sheet=None, booking=booking(person=alias), band="hit", score=0.95)
    assert not any("biographic" in r for r in d.reasons)


def test_trust_act_caps_the_request_in_california():
    rec = record(E("admission", D(2010, 1, 1), expires=D(2010, 7, 1)))
    priors = [Arrest(D(2012, 1, i), "CA0194200", f"OLD{i}", (Charge("2303"),),
                     (Disposition("2303", "convicted", D(2012, 2, i), False, 5),)) for i in (1, 2, 3)]
    d = determine(record=rec, rap_sheet=sheet(*priors), booking=booking(D(2014, 6, 1)), band="hit", score=0.9,
                  state="CA")
    assert (d.action_before_safeguards, d.action) == ("detainer", "notification_request")
    assert "TRUST Act" in d.state_limit


def test_the_rules_data_is_checked():
    rules = load_status_rules()
    assert rules[0] == {"when": {"has": "naturalization"}, "status": "USC_NATURALIZED", "removable": False,
                        "action": "none"}
    with pytest.raises(PolicyError, match="no status rules version"):
        load_status_rules("nope")


def test_determination_from_the_store(db_url):
    """End to end over the repositories: the reads are audited, the rap sheet feeds the level."""
    engine, factory = open_store(db_url)
    rng = np.random.default_rng(1)
    tpl = {1: Template(rng.uniform(0, 300, 12), rng.uniform(0, 300, 12), rng.uniform(0, 6, 12),
                       rng.integers(1, 3, 12), rng.integers(50, 99, 12), 320, 320).to_bytes()}
    with factory() as s:
        crim, imm = CriminalRepository(s), ImmigrationRepository(s)
        fin = imm.enroll(ImmigrationEnrolment("I-1", PERSON, (E("border_apprehension", D(2004, 1, 1)),
                                                               E("removal_order", D(2004, 2, 1)))), tpl)
        b = booking(D(2012, 6, 1), charges=("1304",), tcn="BK-1")
        ucn = crim.create_subject_from_booking(b, tpl)
        s.commit()
        d = determine(record=imm.identity(fin, actor="lesc-7", role="lesc", purpose="IAQ BK-1"),
                      rap_sheet=crim.rap_sheet(ucn, actor="lesc-7", role="lesc", purpose="IAQ BK-1"),
                      booking=b, band="hit", score=0.98, policy=load_policy("2011-morton"))
        s.commit()
        assert (d.status, d.offense_level, d.priority, d.action) == ("REMOVAL_ORDER_OUTSTANDING", "L1", "3", "detainer")
        assert {(r.object_type, r.actor) for r in audit.trail(s)} == {("immigration_identity", "lesc-7"),
                                                                    ("rap_sheet", "lesc-7")}
    engine.dispose()
