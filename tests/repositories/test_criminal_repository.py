"""Criminal repository: subjects, rap sheets, idempotent appends, audited reads, gallery watermark."""

from __future__ import annotations

import datetime as dt

import pytest

from securecomm.domain.records import Arrest, Biographic, Charge, CriminalEnrolment, Disposition
from securecomm.repositories import CriminalRepository, RepositoryError, UnknownSubject, render_rap_sheet
from securecomm.domain.identifiers import is_valid_ucn, make_ucn
from securecomm.store import audit

from repo_helpers import booking, template_bytes, ten_print

PERSON = Biographic("ROE", "RICHARD", dt.date(1970, 1, 2), "M", "TX")


def test_ucn_check_letter_catches_typos():
    ucn = make_ucn(1234567)
    assert len(ucn) == 9 and is_valid_ucn(ucn)
    assert not is_valid_ucn(ucn[:3] + str((int(ucn[3]) + 1) % 10) + ucn[4:])  # one wrong digit
    swapped = ucn[:5] + ucn[6] + ucn[5] + ucn[7:]
    assert ucn[5] == ucn[6] or not is_valid_ucn(swapped)


def test_booking_not_identified_creates_subject_then_identified_appends(session):
    repo = CriminalRepository(session)
    tp = ten_print(1)
    ucn = repo.create_subject_from_booking(booking("TCN-1"), tp)
    assert is_valid_ucn(ucn)
    assert repo.create_subject_from_booking(booking("TCN-1"), tp) == ucn  # retried stage: same subject
    assert repo.count() == 1
    repo.append_arrest(ucn, booking("TCN-2", date=dt.date(2013, 1, 5), charges=(Charge("3562"),)))
    repo.append_arrest(ucn, booking("TCN-2", date=dt.date(2013, 1, 5), charges=(Charge("3562"),)))  # idempotent
    session.commit()
    sheet = repo.rap_sheet(ucn, actor="clerk", role="cjis", purpose="SRE")
    assert [a.tcn for a in sheet.arrests] == ["TCN-1", "TCN-2"]
    assert sheet.arrests[1].charges == (Charge("3562", ""),)
    assert sheet.person.last_name == "DOE"
    other = repo.create_subject_from_booking(booking("TCN-3", last="ROE"), ten_print(2))
    assert other != ucn
    with pytest.raises(RepositoryError, match="already on the rap sheet of another subject"):
        repo.append_arrest(other, booking("TCN-1"))
    with pytest.raises(UnknownSubject):
        repo.append_arrest("000000000", booking("TCN-9"))


def test_enroll_with_history_and_dispositions(session):
    repo = CriminalRepository(session)
    arrests = (
        Arrest(dt.date(2009, 5, 1), "TX2270100", "H-1", (Charge("1399", "AGG ASSAULT"),),
               (Disposition("1399", "convicted", dt.date(2009, 9, 1), felony=True, sentence_days=730),)),
        Arrest(dt.date(2005, 2, 1), "TX2270100", "H-0", (Charge("2399"),),
               (Disposition("2399", "dismissed", dt.date(2005, 3, 1)),)),
    )
    ucn = repo.enroll(CriminalEnrolment("E-1", "TX2270100", PERSON, arrests), ten_print(3))
    repo.record_disposition("H-1", Disposition("1399", "convicted", dt.date(2009, 9, 1), True, 730))  # no-op
    repo.append_arrest(ucn, booking("TCN-5", charges=(Charge("5404"),)))
    repo.record_disposition("TCN-5", Disposition("5404", "pending"))
    repo.record_disposition("TCN-5", Disposition("5404", "convicted", dt.date(2012, 8, 1), False, 10))
    sheet = repo.rap_sheet(ucn, actor="a", role="lesc")
    assert [a.tcn for a in sheet.arrests] == ["H-0", "H-1", "TCN-5"]  # by date
    assert sheet.arrests[1].dispositions == arrests[0].dispositions
    assert sheet.arrests[2].dispositions == (Disposition("5404", "convicted", dt.date(2012, 8, 1), False, 10),)
    assert len(sheet.convictions()) == 2
    text = render_rap_sheet(sheet)
    assert f"UCN: {ucn}" in text and "NAME: ROE, RICHARD" in text
    assert "1399 CONVICTED 2009-09-01 FELONY SENTENCE 730 DAYS" in text
    assert "2399 DISMISSED" in text and "CHARGE 1: 5404 " in text
    with pytest.raises(RepositoryError, match="UCN .* already enrolled"):
        repo.enroll(CriminalEnrolment("E-2", "TX2270100", PERSON, (), ucn=ucn), ten_print(4))


def test_bad_input_is_refused_with_the_field_named(session):
    repo = CriminalRepository(session)
    with pytest.raises(RepositoryError, match="finger position 11"):
        repo.create_subject_from_booking(booking("T1"), {11: template_bytes(1)})
    with pytest.raises(RepositoryError, match="finger 2 template is unreadable"):
        repo.create_subject_from_booking(booking("T1"), {2: b"junk"})
    with pytest.raises(RepositoryError, match="at least one finger"):
        repo.create_subject_from_booking(booking("T1"), {})
    with pytest.raises(RepositoryError, match="charge 1: NCIC offense code '99X9'"):
        repo.create_subject_from_booking(booking("T1", charges=(Charge("99X9"),)), ten_print(1))
    repo.create_subject_from_booking(booking("T1"), ten_print(1))
    with pytest.raises(RepositoryError, match="outcome 'guilty'"):
        repo.record_disposition("T1", Disposition("1313", "guilty"))  # type: ignore[arg-type]


def test_rap_sheet_read_is_audited(store):
    with store() as s:
        ucn = CriminalRepository(s).create_subject_from_booking(booking("T-A"), ten_print(5))
        s.commit()
    with store() as s:
        CriminalRepository(s).rap_sheet(ucn, actor="analyst9", role="lesc", purpose="IAQ T-A")
        s.commit()
    with store() as s:
        rows = audit.trail(s, "rap_sheet", ucn)
        assert [(r.actor, r.role, r.action, r.detail) for r in rows] == [("analyst9", "lesc", "read", "IAQ T-A")]
        with pytest.raises(UnknownSubject):
            CriminalRepository(s).rap_sheet("nope", actor="x", role="y")


def test_gallery_rows_watermark_tops_up(session):
    repo = CriminalRepository(session)
    first = [repo.create_subject_from_booking(booking(f"G{i}"), ten_print(i)) for i in range(3)]
    rows = list(repo.gallery_rows(batch=2))
    assert [u for _, u, _ in rows] == first
    assert rows[0][2][7] == ten_print(0)[7] and sorted(rows[0][2]) == list(range(1, 11))
    mark = rows[-1][0]
    assert list(repo.gallery_rows(mark)) == []
    late = repo.create_subject_from_booking(booking("G9"), {1: template_bytes(99)})
    top = list(repo.gallery_rows(mark))
    assert [(u, sorted(t)) for _, u, t in top] == [(late, [1])]
