"""Immigration repository: identities, derived protections, audited reads, no-match retention."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from securecomm.domain.records import Biographic, Encounter, ImmigrationEnrolment
from securecomm.policy.retention import RetentionPolicy, retention_policy_for
from securecomm.repositories import ImmigrationRepository, RepositoryError, UnknownIdentity
from securecomm.domain.identifiers import InvalidIdentifier, is_valid_fin, normalise_a_number
from securecomm.store import audit

from repo_helpers import booking, template_bytes, ten_print

PERSON = Biographic("GARCIA", "MARIA", dt.date(1990, 7, 8), "F", "MX")


def enrolment(tcn: str, *encounters: Encounter, a_number: str = "", aliases=()) -> ImmigrationEnrolment:
    return ImmigrationEnrolment(tcn, PERSON, tuple(encounters), a_number=a_number, aliases=tuple(aliases))


def test_a_number_normalisation():
    assert normalise_a_number("A12345678") == "A012345678"
    assert normalise_a_number("a-012345678") == "A012345678"
    with pytest.raises(InvalidIdentifier, match="A-number 'B1'"):
        normalise_a_number("B1")


def test_enroll_and_read_identity(session):
    repo = ImmigrationRepository(session)
    fin = repo.enroll(enrolment("I-1", Encounter("admission", dt.date(2010, 1, 2), "JFK", dt.date(2010, 7, 1)),
                                Encounter("visa_application", dt.date(2009, 11, 1), "MEXICO CITY"),
                                a_number="A98765432", aliases=("MARIA GARCIA LOPEZ", "MARIA GARCIA LOPEZ")),
                      ten_print(7))
    assert is_valid_fin(fin)
    rec = repo.identity(fin, actor="analyst1", role="lesc", purpose="IAQ 1")
    assert rec.a_number == "A098765432"
    assert [e.type for e in rec.encounters] == ["visa_application", "admission"]  # by date
    assert rec.encounters[1].expires == dt.date(2010, 7, 1)
    assert rec.aliases == ("MARIA GARCIA LOPEZ",)
    assert rec.protected_flags == frozenset()
    assert repo.fin_for_a_number("A98765432") == fin
    with pytest.raises(RepositoryError, match="already belongs"):
        repo.enroll(enrolment("I-2", a_number="098765432"), ten_print(8))
    with pytest.raises(RepositoryError, match="encounter type 'tourist'"):
        repo.enroll(enrolment("I-3", Encounter("tourist", dt.date(2010, 1, 1))), ten_print(8))
    with pytest.raises(UnknownIdentity):
        repo.identity("0000000000", actor="a", role="b")
    assert [(r.actor, r.detail) for r in audit.trail(session, "immigration_identity", fin)] == [("analyst1", "IAQ 1")]


def test_protected_flags_derive_from_encounters_and_victim_flag(session):
    repo = ImmigrationRepository(session)
    fin = repo.enroll(enrolment("I-4", Encounter("u_visa_application", dt.date(2011, 3, 1))), ten_print(9))
    assert repo.identity(fin, actor="a", role="lesc").protected_flags == {"u_visa"}
    repo.add_encounter(fin, Encounter("vawa_self_petition", dt.date(2011, 4, 1)))
    with pytest.raises(RepositoryError, match="needs a note"):
        repo.set_victim_witness(fin, flagged=True, note="")
    repo.set_victim_witness(fin, flagged=True, note="witness in case 2011-123")
    rec = repo.identity(fin, actor="a", role="lesc")
    assert rec.protected_flags == {"u_visa", "vawa", "victim_witness"}
    repo.set_victim_witness(fin, flagged=False)
    assert repo.identity(fin, actor="a", role="lesc").protected_flags == {"u_visa", "vawa"}


def test_gallery_rows_watermark(session):
    repo = ImmigrationRepository(session)
    fins = [repo.enroll(enrolment(f"G{i}"), ten_print(i)) for i in range(3)]
    rows = list(repo.gallery_rows(batch=2))
    assert [f for _, f, _ in rows] == fins and rows[2][2][10] == ten_print(2)[10]
    late = repo.enroll(enrolment("G9"), {3: template_bytes(5)})
    assert [(f, list(t)) for _, f, t in repo.gallery_rows(rows[-1][0])] == [(late, [3])]


def test_unmatched_bookings_are_not_kept_unless_policy_says(session):
    repo = ImmigrationRepository(session)
    b = booking("NM-1", date=dt.date(2012, 6, 1))
    default = retention_policy_for(b.date)
    assert default.retain_unmatched is False
    assert repo.retain_unmatched(b, ten_print(1), default) is None
    assert repo.retained_count() == 0 and repo.count() == 0
    keep = RetentionPolicy("test-keep-30", dt.date(2012, 1, 1), retain_unmatched=True, retain_days=30)
    rid = repo.retain_unmatched(b, ten_print(1), keep)
    assert rid is not None and repo.retain_unmatched(b, ten_print(1), keep) == rid
    assert repo.retained_count() == 1 and repo.count() == 0  # never becomes a searchable identity
    assert list(repo.gallery_rows()) == []
    assert repo.purge_expired(dt.date(2012, 7, 1)) == 0  # kept through 2012-07-01 inclusive
    assert repo.purge_expired(dt.date(2012, 7, 2)) == 1
    assert [(r.action, r.object_id) for r in audit.trail(session, "retained_booking")] == [("purge", "NM-1")]
    assert repo.retained_count() == 0
    with pytest.raises(Exception, match="retain_days > 0"):
        RetentionPolicy.from_dict({"version": "x", "effective_from": "2012-01-01", "retain_unmatched": True})
    assert dataclasses.replace(keep, retain_unmatched=False).retain_until(b.date) is None
