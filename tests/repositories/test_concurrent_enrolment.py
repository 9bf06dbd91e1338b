"""Concurrent enrolments get distinct UCNs/FINs and row ids that commit in order."""

from __future__ import annotations

import threading

from securecomm.domain.records import ImmigrationEnrolment
from securecomm.repositories import CriminalRepository, ImmigrationRepository

from repo_helpers import PERSON, booking, ten_print


def test_parallel_sessions_get_distinct_identifiers(store):
    ucns: list[str] = []
    fins: list[str] = []
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(4):
                with store() as s:
                    ucns.append(CriminalRepository(s).create_subject_from_booking(booking(f"W{k}-{i}"), ten_print(i)))
                    fins.append(ImmigrationRepository(s).enroll(
                        ImmigrationEnrolment(f"I{k}-{i}", PERSON, ()), ten_print(i)))
                    s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(ucns)) == len(ucns) == 12 and len(set(fins)) == len(fins) == 12
    with store() as s:
        rows = list(CriminalRepository(s).gallery_rows())
        assert sorted(u for _, u, _ in rows) == sorted(ucns)
        assert [u for _, u, _ in rows] == sorted(ucns)  # sequence order == row-id order
