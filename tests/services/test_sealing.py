"""Batch sealing of the audit hash chain (``securecomm.services.sealing``), on SQLite and PostgreSQL.

Requests only insert their audit rows; a :class:`BatchSealer` puts many on the chain in one transaction.
These tests hold the sealer's thread back with a long delay and seal at ``stop`` (no timing assertions),
then check the order of the chain, that tampering with batch-sealed rows is still found, that pending
rows are reported as such, and that concurrent writers and sealers leave one gapless chain.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text, update

from securecomm.domain.principal import Principal, Role
from securecomm.services import UnitOfWork
from securecomm.services import audit as audit_service
from securecomm.services.sealing import SEALER_KEY, BatchSealer, after_commit, seal_now
from securecomm.store import audit as audit_store
from securecomm.store.db import open_store
from securecomm.store.models import AuditEntry

CLERK = Principal("clerk", Role.AGENCY, ori="MA0130100")
AUDITOR = Principal("auditor", Role.OVERSIGHT)


@pytest.fixture
def store(db_url):
    engine, sessions = open_store(db_url)
    yield sessions
    engine.dispose()


def _read(sessions, n: int, *, tag: str = "T") -> None:
    for i in range(n):
        with UnitOfWork(sessions, CLERK, purpose="poll") as uow:
            uow.require("booking.status")
            uow.audit("read", "transaction", f"{tag}{i}")


def _chain(sessions) -> list[tuple[int, int | None]]:
    with sessions() as s:
        return [tuple(r) for r in s.execute(select(AuditEntry.id, AuditEntry.chain_seq).order_by(AuditEntry.id))]


def _verify(sessions, **kw) -> audit_store.ChainReport:
    with sessions() as s:
        return audit_store.verify(s, **kw)


def test_units_of_work_leave_rows_to_the_sealer_which_chains_them_in_order_in_one_batch(store):
    sealer = BatchSealer(store, delay=600, sweep=600).start()  # never fires by itself here
    try:
        _read(store, 12)
        assert [seq for _, seq in _chain(store)] == [None] * 12  # inserted, not sealed: the request paid no seal
        pending = _verify(store)
        assert pending.ok and pending.rows == 0 and pending.unsealed == 12  # reported honestly, not passed off
    finally:
        assert sealer.stop() == 12
    assert (sealer.seals, sealer.sealed) == (1, 12)  # one transaction for all twelve
    rows = _chain(store)
    assert [seq for _, seq in rows] == list(range(1, 13))  # id order = chain order
    rep = _verify(store)
    assert rep.ok and rep.rows == 12 and rep.unsealed == 0 and rep.head_seq == 12
    # after stop the sealer is no longer registered: the next unit of work seals its own row at once
    _read(store, 1, tag="after")
    assert _chain(store)[-1][1] == 13


def test_tampering_with_batch_sealed_rows_is_found(store):
    with BatchSealer(store, delay=600, sweep=600):
        _read(store, 10)
    head = _verify(store).head_seq, _verify(store).head_hash
    ids = [i for i, _ in _chain(store)]
    with store() as s:  # edit one row
        s.execute(update(AuditEntry).where(AuditEntry.id == ids[3]).values(object_id="T999"))
        s.commit()
    rep = _verify(store)
    assert not rep.ok and any(f"audit row {ids[3]} " in p and "edited" in p for p in rep.problems)
    with store() as s:  # put it back, delete another
        s.execute(update(AuditEntry).where(AuditEntry.id == ids[3]).values(object_id="T3"))
        s.commit()
        assert audit_store.verify(s).ok
        s.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": ids[6]})
        s.commit()
    rep = _verify(store)
    assert not rep.ok and any("missing (rows deleted)" in p for p in rep.problems)
    with store() as s:  # re-insert a forged row in the gap, chained by hand: its hash does not fit
        row = s.get(AuditEntry, ids[5])
        s.add(AuditEntry(id=ids[6], at=row.at, actor="someone", role="agency", action="read",
                         object_type="transaction", object_id="T6", detail="", purpose="poll", chain_seq=7,
                         prev_hash=row.row_hash, row_hash="0" * 64))
        s.commit()
    rep = _verify(store)
    assert not rep.ok and any(f"audit row {ids[6]} " in p for p in rep.problems)
    with store() as s:  # truncating the end leaves no trace inside the chain, but not the recorded head
        s.execute(text("DELETE FROM audit_log WHERE id >= :i"), {"i": ids[6]})
        s.commit()
    assert _verify(store).ok
    assert not _verify(store, expect_head=head).ok


def test_verify_seals_pending_rows_first_and_no_seal_checks_them_as_stored(store):
    with BatchSealer(store, delay=600, sweep=600):
        _read(store, 3)
        with UnitOfWork(store, AUDITOR) as uow:
            as_stored = audit_service.verify(uow, seal_first=False)
        assert as_stored.ok and as_stored.rows == 0 and as_stored.unsealed == 3 and as_stored.sealed_now == 0
        with UnitOfWork(store, AUDITOR) as uow:
            rep = audit_service.verify(uow)
        # the first verify's own row (committed before) is sealed too; this verify's row is pending
        assert rep.ok and rep.sealed_now == 4 and rep.rows == 4 and rep.unsealed == 0
        with UnitOfWork(store, AUDITOR) as uow:
            res = audit_service.seal(uow)
        assert (res.sealed, res.head_seq, res.pending) == (1, 5, 0)


def test_a_write_unit_of_work_verifies_without_waiting_on_its_own_lock(store):
    sqlite = store.kw["bind"].dialect.name == "sqlite"
    with BatchSealer(store, delay=600, sweep=600):
        _read(store, 2)
        with UnitOfWork(store, AUDITOR, write=True) as uow:
            rep = audit_service.verify(uow)
        # on SQLite the seal would wait on the write lock this unit of work holds: the rows are left pending
        assert rep.ok and rep.sealed_now == (0 if sqlite else 2) and rep.unsealed == (2 if sqlite else 0)
    seal_now(store)
    after = _verify(store)
    assert after.ok and after.unsealed == 0 and after.rows == 3  # the two reads and the verify's own row


def test_concurrent_writers_and_sealers_leave_one_gapless_chain(store):
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            _read(store, 15, tag=f"W{k}-")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def other_sealer() -> None:  # another process's unit of work sealing at once, racing the batch sealer
        try:
            for _ in range(10):
                seal_now(store)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    sealer = BatchSealer(store, delay=0.01, sweep=0.05).start()
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)] + [threading.Thread(target=other_sealer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sealer.stop()
    assert not errors, errors
    rows = _chain(store)
    assert len(rows) == 60
    assert sorted(seq for _, seq in rows) == list(range(1, 61))  # every row sealed exactly once, no gap
    rep = _verify(store)
    assert rep.ok and rep.rows == 60 and rep.unsealed == 0


def test_a_unit_of_work_without_a_running_sealer_seals_at_once(store):
    _read(store, 2)
    assert [seq for _, seq in _chain(store)] == [1, 2]
    stopped = BatchSealer(store, delay=600, sweep=600)  # registered but never started: not running
    after_commit(store, {SEALER_KEY: stopped})  # nothing pending; must not wait for it
    with store() as s:
        assert s.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.chain_seq.is_(None))) == 0
