"""Offense levels and priorities come from versioned data, evaluated generically."""

from __future__ import annotations

import datetime as dt

import pytest

from securecomm.domain.records import Arrest, Charge, Disposition
from securecomm.policy import load_policy, load_scheme, policy_for, policy_versions, state_limit_for
from securecomm.policy.model import OffenseScheme, Policy, PolicyError
from securecomm.policy.rules import RuleError, check, evaluate

D = dt.date


def arrest(tcn, *dispositions, charges=None, date=D(2010, 1, 1)):
    charges = charges or tuple(Charge(d.ncic) for d in dispositions)
    return Arrest(date, "MA0130100", tcn, tuple(charges), tuple(dispositions))


def conv(code, felony=False, days=0):
    return Disposition(code, "convicted", D(2010, 6, 1), felony, days)


def test_versions_and_which_is_in_force():
    assert policy_versions() == ["2008-sc", "2011-morton", "2012-detainer-guidance", "2014-pep", "2017-eo13768"]
    assert policy_for(D(2011, 3, 1)).version == "2008-sc"
    assert policy_for(D(2011, 3, 2)).version == "2011-morton"
    assert policy_for(D(2012, 12, 20)).version == "2011-morton"
    assert policy_for(D(2014, 11, 19)).version == "2012-detainer-guidance"
    assert policy_for(D(2014, 11, 20)).version == "2014-pep"
    assert policy_for(D(2019, 1, 1)).version == "2017-eo13768"
    with pytest.raises(PolicyError, match="no policy in force on 2001-01-01"):
        policy_for(D(2001, 1, 1))
    with pytest.raises(PolicyError, match="no policy version 'x'"):
        load_policy("x")


@pytest.mark.parametrize("codes,level", [
    (["0911"], "L1"),          # homicide
    (["1003"], "L1"),          # kidnapping
    (["1304"], "L1"),          # aggravated assault
    (["1313"], "L3"),          # simple assault
    (["3803"], "L1"),          # cruelty toward wife
    (["5202"], "L1"),          # weapons
    (["0103"], "L1"),          # espionage: national security
    (["2202"], "L2"),          # burglary
    (["2006"], "L2"),          # arson
    (["2303"], "L2"),          # shoplifting: property
    (["3562"], "L2"),          # minor drug offense
    (["5404"], "L3"),          # DUI
    (["5405", "2303"], "L2"),  # the most serious charge decides
    ([], "NC"),
])
def test_charge_based_levels_2011(codes, level):
    assert load_policy("2011-morton").offense_level([Charge(c) for c in codes], []) == level


def test_charge_based_drug_level_depends_on_sentence_and_dismissals_do_not_count():
    p = load_policy("2011-morton")
    assert p.offense_level([], [arrest("A", conv("3530", True, 730))]) == "L1"  # drug, > 1 year
    assert p.offense_level([], [arrest("A", conv("3530", True, 200))]) == "L2"
    assert p.offense_level([], [arrest("A", Disposition("0911", "dismissed"))]) == "NC"
    assert p.offense_level([], [arrest("A", charges=(Charge("0911"),))]) == "L1"  # charged, no disposition


@pytest.mark.parametrize("history,level", [
    ([], "NC"),
    ([conv("1313")], "L3"),
    ([conv("1313"), conv("2303")], "L3"),
    ([conv("1313"), conv("2303"), conv("5404")], "L2"),        # three misdemeanors
    ([conv("1313"), conv("2303"), conv("5405")], "L3"),        # minor traffic does not count
    ([conv("2202", True, 200)], "L2"),                         # one felony
    ([conv("2202", True, 200), conv("2303", True, 100)], "L1"),  # two felonies
    ([conv("0911", True, 3650)], "L1"),                        # aggravated felony
    ([conv("2202", True, 400)], "L1"),                         # burglary with >= 1 year: aggravated felony
    ([Disposition("0911", "acquitted")], "NC"),
    ([Disposition("0911", "pending")], "NC"),
])
def test_conviction_based_levels_2014(history, level):
    p = load_policy("2014-pep")
    assert p.offense_level([Charge("0911")], [arrest("A", *history)] if history else []) == level


def test_priorities_change_with_policy():
    facts_base = {"status": "EWI", "removable": True, "encounter_types": frozenset({"border_apprehension"}),
                  "removal_order_outstanding": False, "removal_order_date": None, "reentered_after_removal": False,
                  "last_unlawful_entry": D(2015, 6, 1), "years_since_unlawful_entry": 0.5}
    for version, booking_day, prio, action in [
        ("2011-morton", D(2015, 12, 1), "2", "detainer"),
        ("2012-detainer-guidance", D(2015, 12, 1), "2", "notification_request"),  # DUI charge, not convicted
        ("2014-pep", D(2015, 12, 1), "2", "notification_request"),  # 2(c), not a conviction: no detainer
        ("2017-eo13768", D(2017, 6, 1), "1", "detainer"),           # charged with any offense
    ]:
        p = load_policy(version)
        facts = _facts(p, [Charge("5404")], [], booking_day, facts_base)
        pr = p.priority(facts)
        assert pr.priority == prio, version
        assert p.action(facts, pr) == action, version


def test_pep_detainer_only_for_listed_convictions():
    p = load_policy("2014-pep")
    base = {"status": "OVERSTAY", "removable": True, "last_unlawful_entry": None,
            "years_since_unlawful_entry": None}
    f = _facts(p, [Charge("1313")], [arrest("A", conv("2202", True, 200))], D(2015, 3, 1), base)
    pr = p.priority(f)
    assert (pr.priority, pr.label, p.action(f, pr)) == ("1", "1(d)", "detainer")
    f = _facts(p, [Charge("1313")], [arrest("A", conv("5404"))], D(2015, 3, 1), base)
    pr = p.priority(f)
    assert (pr.priority, pr.label, p.action(f, pr)) == ("2", "2(b)", "detainer")  # DUI: significant misdemeanor
    f = _facts(p, [Charge("1313")], [arrest("A", conv("2303"))], D(2015, 3, 1), base)
    pr = p.priority(f)
    assert (pr.priority, p.action(f, pr)) == ("none", "none")


def _facts(policy, charges, arrests, on, extra):
    facts = {name: None for name in policy.fact_names()}
    facts.update({"encounter_types": frozenset(), "protected_flags": frozenset(), "protected": False,
                  "removal_order_outstanding": False, "reentered_after_removal": False, "booking_date": on,
                  "removal_order_date": None})
    facts.update(policy.offense_facts(charges, arrests))
    facts.update(extra)
    return facts


def test_rule_language_refuses_typos_and_bad_operators():
    with pytest.raises(RuleError, match="unknown fact 'levle'"):
        check({"levle": "L1"}, ["level"], "test")
    with pytest.raises(RuleError, match="unknown operator 'gtx'"):
        check({"level__gtx": 1}, ["level"], "test")
    with pytest.raises(RuleError, match="needs a list"):
        check({"level__in": "L1"}, ["level"], "test")
    assert evaluate({"any": [{"a": 1}, {"b__gte": 3}], "not": {"c__contains": "x"}}, {"a": 0, "b": 3, "c": {"y"}})
    assert evaluate({"d__gte": "2014-01-01"}, {"d": D(2014, 1, 1)})
    assert not evaluate({"d__gte": "2014-01-01"}, {"d": None})
    with pytest.raises(RuleError, match="unknown fact 'zz'"):
        evaluate({"zz": 1}, {"a": 1})


def test_bad_policy_data_fails_at_load():
    good = load_policy("2014-pep").raw
    with pytest.raises(PolicyError, match="action caps must be 'none' or 'notification_request'"):
        Policy.from_data({**good, "protections": {"flags": ["u_visa"], "action_cap": "detainer"}})
    with pytest.raises(RuleError, match="unknown fact 'convicted.felonny'"):
        Policy.from_data({**good, "priority_rules": [{"when": {"convicted.felonny__gte": 1}, "priority": "1"}]})
    with pytest.raises(PolicyError, match="not 1, 2 or 3"):
        Policy.from_data({**good, "priority_rules": [{"priority": "0"}]})
    with pytest.raises(PolicyError, match="count_outcomes"):
        OffenseScheme.from_data("x", {"count_outcomes": ["won"]})
    assert load_scheme("conviction-2014").basis == "conviction"


def test_state_limits_are_dated_data():
    assert state_limit_for("MA", D(2015, 1, 1)) is None
    assert state_limit_for("CA", D(2013, 12, 31)) is None
    trust = state_limit_for("ca", D(2014, 1, 1))
    assert "TRUST" in trust.name
    assert trust.cap({"convicted_felonies": 0, "level": "L3"}) == "notification_request"
    assert trust.cap({"convicted_felonies": 1, "level": "L2"}) == "detainer"
    assert "Values" in state_limit_for("CA", D(2018, 1, 1)).name


def test_most_serious_charge_ranks_even_under_a_conviction_scheme():
    charges = [Charge("5405"), Charge("2303"), Charge("1304"), Charge("0911")]
    for version in ("2011-morton", "2014-pep"):
        p = load_policy(version)
        assert p.most_serious_charge(charges).ncic == "1304"  # first L1 in booking order
        assert p.charge_level(Charge("2303")) == "L2"
    with pytest.raises(PolicyError, match="without charges"):
        load_policy("2014-pep").most_serious_charge([])
