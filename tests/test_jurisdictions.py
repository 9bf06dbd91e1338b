"""Agencies by ORI and the activation schedule: the booking's date decides."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources

import pytest

from securecomm import jurisdictions as jur
from securecomm.store.db import open_store


@pytest.fixture
def session(db_url):
    engine, factory = open_store(db_url)
    with factory() as s:
        yield s
    engine.dispose()


def example(name: str):
    return resources.files("securecomm").joinpath("data", name)


def test_load_example_and_activation_by_scope(session):
    assert len(jur.load_agencies(session, example("agencies_example.csv"))) == 14
    assert len(jur.load_activations(session, example("activations_example.csv"))) == 6
    assert jur.load_activations(session, example("activations_example.csv")) == []  # a reload adds nothing
    assert len(jur.activations(session)) == 6
    boston = jur.agency(session, "ma0130100")
    assert (boston.name, boston.county, boston.state, boston.kind, boston.sib_ori) == \
        ("Boston Police Department", "Suffolk", "MA", "police", "MAMSP0000")
    assert jur.agency(session, "ZZ9999999") is None
    # Boston's own ORI activation predates the statewide one
    assert jur.is_activated(session, "MA0130100", dt.date(2008, 1, 1))
    assert not jur.is_activated(session, "MA0090300", dt.date(2012, 5, 14))  # Cambridge: the day before
    assert jur.is_activated(session, "MA0090300", dt.date(2012, 5, 15))
    assert jur.activation_for(session, "MA0130100", dt.date(2013, 1, 1)).scope == "ori"  # most specific
    # county activation covers the county's agencies, not the neighbours
    assert jur.is_activated(session, "TX227015C", dt.date(2009, 6, 9))
    assert not jur.is_activated(session, "TX2270100", dt.date(2009, 6, 8))
    assert not jur.is_activated(session, "ZZ9999999", dt.date(2020, 1, 1))  # unknown ORI


def test_effective_to_is_inclusive_and_county_needs_its_state(session):
    jur.upsert_agency(session, ori="NY0300000", name="Somewhere PD", state="NY", county="Kings")
    jur.upsert_agency(session, ori="WA0300000", name="Elsewhere PD", state="WA", county="King")
    jur.activate(session, state="NY", county="kings", effective_from=dt.date(2011, 1, 1),
                 effective_to=dt.date(2011, 12, 31), note="suspended 2012")
    assert jur.is_activated(session, "NY0300000", dt.date(2011, 12, 31))
    assert not jur.is_activated(session, "NY0300000", dt.date(2012, 1, 1))
    assert not jur.is_activated(session, "WA0300000", dt.date(2011, 6, 1))
    jur.activate(session, county="WA:King", effective_from="2013-01-01")
    assert jur.is_activated(session, "WA0300000", dt.date(2013, 1, 1))
    with pytest.raises(jur.JurisdictionError, match="needs its state"):
        jur.activate(session, county="Kings", effective_from="2011-01-01")
    with pytest.raises(jur.JurisdictionError, match="ends 2010-01-01 before it starts"):
        jur.activate(session, state="NY", effective_from="2011-01-01", effective_to="2010-01-01")
    with pytest.raises(jur.JurisdictionError, match="not several"):
        jur.activate(session, state="NY", ori="NY0300000", effective_from="2011-01-01")


def test_json_agencies_and_bad_records(session, tmp_path):
    good = tmp_path / "a.json"
    good.write_text(json.dumps({"agencies": [
        {"ori": "VT0010000", "name": "Burlington PD", "state": "VT", "county": "Chittenden"}]}))
    assert jur.load_agencies(session, good) == ["VT0010000"]
    assert jur.agency(session, "VT0010000").kind == "police"
    bad = tmp_path / "b.csv"
    bad.write_text("ori,name,state\nVT0010000,X,VT\nVT00100,Short,VT\n")
    with pytest.raises(jur.JurisdictionError, match=r"b.csv record 2: ORI 'VT00100'"):
        jur.load_agencies(session, bad)
    mismatch = tmp_path / "c.csv"
    mismatch.write_text("ori,name,state\nNH0010000,X,VT\n")
    with pytest.raises(jur.JurisdictionError, match="begins with 'NH' but state is 'VT'"):
        jur.load_agencies(session, mismatch)
    with pytest.raises(jur.JurisdictionError, match="unsupported file type"):
        (tmp_path / "d.xml").write_text("")
        jur.load_agencies(session, tmp_path / "d.xml")


def test_field_office_must_fit_the_iar_recipient(session):
    """An IAR goes to the field office by name: a name the outbox cannot hold would lose every IAR."""
    ok = "X" * jur.FIELD_OFFICE_MAX
    assert jur.upsert_agency(session, ori="MA0130100", name="Boston PD", state="MA", field_office=ok).field_office == ok
    assert jur.FIELD_OFFICE_MAX >= 100  # long office names ("ERO ... FIELD OFFICE, ... SUB-OFFICE") fit
    with pytest.raises(jur.JurisdictionError, match=f"field_office .* is longer than {jur.FIELD_OFFICE_MAX} characters"):
        jur.upsert_agency(session, ori="MA0130100", name="Boston PD", state="MA", field_office=ok + "X")
