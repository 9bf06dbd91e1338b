"""Identity in the criminal repository: a TCN collision is not a retry; merging two subjects."""

from __future__ import annotations

import datetime as dt

import pytest

from securecomm.domain.records import Charge
from securecomm.repositories import CriminalRepository, RepositoryError
from securecomm.repositories.criminal import TcnCollision

from repo_helpers import booking, ten_print


def test_a_booking_whose_tcn_names_another_arrest_does_not_inherit_that_ucn(session):
    repo = CriminalRepository(session)
    first = repo.create_subject_from_booking(booking("TCN-1"), ten_print(1))
    # the same booking again (a retried stage): the same subject, nothing new
    assert repo.create_subject_from_booking(booking("TCN-1"), ten_print(1)) == first
    # the same agency's TCN on another day, or with another charge: a collision, not that subject
    for other in (booking("TCN-1", date=dt.date(2013, 1, 1)), booking("TCN-1", charges=(Charge("5404"),), last="ROE")):
        with pytest.raises(TcnCollision):
            repo.create_subject_from_booking(other, ten_print(2))
        with pytest.raises(TcnCollision):
            repo.append_arrest(first, other)
    assert repo.count() == 1
    # another agency's TCN is another arrest: a TCN is unique per ORI only
    theirs = repo.create_subject_from_booking(booking("TCN-1", ori="MA0090100", last="ROE"), ten_print(2))
    assert theirs != first and repo.ucn_for_tcn("TCN-1", "MA0090100") == theirs
    assert repo.ucn_for_tcn("TCN-1", "MA0130100") == first
    with pytest.raises(RepositoryError, match="several agencies"):
        repo.ucn_for_tcn("TCN-1")


def test_merge_joins_rap_sheets_and_aliases_the_losing_ucn(session):
    repo = CriminalRepository(session)
    keep = repo.create_subject_from_booking(booking("TCN-1"), ten_print(1))
    gone = repo.create_subject_from_booking(booking("TCN-2", date=dt.date(2013, 2, 2)), ten_print(2))
    third = repo.create_subject_from_booking(booking("TCN-3", date=dt.date(2014, 3, 3)), ten_print(3))
    repo.merge(third, gone, merged_by="examiner 1", reason="same person")  # an alias chain: gone -> third
    result = repo.merge(keep, third, merged_by="examiner 1", reason="same person")
    session.commit()
    assert (result.survivor, result.merged, result.arrests_moved) == (keep, third, 2)
    for ucn in (keep, gone, third):  # lookups by any UCN reach the survivor
        assert repo.resolve(ucn) == keep and repo.exists(ucn)
        sheet = repo.rap_sheet(ucn, actor="examiner 1", role="examiner", purpose="test")
        assert sheet.ucn == keep and [a.tcn for a in sheet.arrests] == ["TCN-1", "TCN-2", "TCN-3"]
    assert repo.ucn_for_tcn("TCN-2") == keep
    # an identified booking against a merged UCN lands on the survivor
    repo.append_arrest(gone, booking("TCN-4", date=dt.date(2015, 4, 4)))
    assert repo.ucn_for_tcn("TCN-4") == keep
    with pytest.raises(RepositoryError, match="already one subject"):
        repo.merge(keep, gone)
    # the merged subjects' prints are still searched (a hit on them resolves to the survivor)
    assert sorted(k for _, k, _ in repo.gallery_rows()) == sorted([keep, gone, third])
