"""Operating the queue: list the jobs that stopped, resume them, or stop one by hand.

A job stops as ``parked`` when infrastructure trouble or a bug outlasted its retries (or an
operator parked it), as ``failed`` when its workers died on it. Neither is ever answered
with an ERRT: the operator looks (``list_jobs``), fixes the cause and resumes (``retry_job``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from securecomm.services.unit_of_work import NotFound, UnitOfWork
from securecomm.store.workflow_models import JOB_STATES, Job, Transaction
from securecomm.workflow.queue import JobQueue

#: The states an operator attends to.
STOPPED = ("parked", "failed")


@dataclass(frozen=True)
class JobView:
    """A job as an operator sees it (no personal data: keys, stage, state, the error's first line)."""

    tcn: str
    ori: str
    stage: str
    state: str
    attempts: int
    error: str
    updated_at: dt.datetime


def _view(job: Job, ori: str) -> JobView:
    first = (job.last_error or "").strip().splitlines()
    return JobView(job.tcn, ori, job.stage, job.state, job.attempts, first[0][:300] if first else "",
                   job.updated_at)


def list_jobs(uow: UnitOfWork, states: tuple[str, ...] = STOPPED) -> list[JobView]:
    """Jobs in ``states`` (parked and failed by default), oldest first."""
    uow.require("jobs.list")
    bad = [st for st in states if st not in JOB_STATES]
    if bad:
        raise ValueError(f"unknown job state {bad[0]!r} (one of: {', '.join(JOB_STATES)})")
    rows = uow.session.execute(select(Job, Transaction.ori).join(Transaction, Transaction.tcn == Job.tcn)
                               .where(Job.state.in_(states)).order_by(Job.id)).all()
    return [_view(job, ori) for job, ori in rows]


def _job(uow: UnitOfWork, tcn: str) -> tuple[Job, str]:
    row = uow.session.execute(select(Job, Transaction.ori).join(Transaction, Transaction.tcn == Job.tcn)
                              .where(Job.tcn == tcn)).one_or_none()
    if row is None:
        raise NotFound(f"no job for transaction {tcn!r}")
    return row[0], row[1]


def retry_job(uow: UnitOfWork, tcn: str, reason: str = "") -> JobView:
    """Resume a parked or failed job at its stage with fresh attempts; audited."""
    uow.require("jobs.retry")
    _, ori = _job(uow, tcn)
    job = JobQueue.requeue(uow.session, tcn)
    uow.audit("jobs.retry", "job", tcn, detail=reason)
    uow.session.flush()
    return _view(job, ori)


def park_job(uow: UnitOfWork, tcn: str, reason: str) -> JobView:
    """Stop a ready (or failed) job until an operator resumes it; needs a reason; audited."""
    uow.require("jobs.park")
    if not reason or not reason.strip():
        raise ValueError("parking a job needs a reason")
    _, ori = _job(uow, tcn)
    job = JobQueue.park(uow.session, tcn, reason.strip())
    uow.audit("jobs.park", "job", tcn, detail=reason.strip())
    uow.session.flush()
    return _view(job, ori)
