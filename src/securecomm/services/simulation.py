"""The state-year simulation through the service layer: who may run one (and replay it), audited.

    run(sessions, principal, engine, plan, *, run_id, fingers=DEFAULT_FINGERS, overrides=Overrides(),
        base_run=None, progress=..., search="exhaustive") -> SimResult

Operation ``simulation.run`` (admin only): a simulation writes a whole synthetic
state into the store. The permission check and the audit row commit first, in
their own unit of work; the run itself then proceeds as the pipeline's own
work (template-level entry, workers, the simulated examiner and analyst), as
``securecomm work`` does after ``securecomm submit``; then the simulated field
office and jails carry every IAR through the detainer service
(``services.simulated_field_office``), each event audited under its own
simulated principal and clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from securecomm.domain.principal import Principal
from securecomm.services.unit_of_work import UnitOfWork

OPERATION = "simulation.run"


def run(sessions: Callable[[], Session], principal: Principal, engine: Engine, plan: Any, *, run_id: str,
        fingers: tuple[int, ...] | None = None, overrides: Any = None, base_run: str | None = None,
        progress: Callable[[str, int], Callable[[int], None]] | None = None, search: str = "exhaustive",
        shortlist: int | None = None, prescreen: int | None = None):
    """Check ``simulation.run``, audit it, then run ``plan`` (a ``simulation.plan.Plan``) into ``engine``."""
    from securecomm.simulation.plan import Plan
    from securecomm.simulation.runner import DEFAULT_FINGERS, Overrides, run_plan

    with UnitOfWork(sessions, principal, purpose="simulation", write=True) as uow:
        uow.require(OPERATION)
        if not isinstance(plan, Plan):
            raise ValueError("a simulation needs a plan (securecomm.simulation.plan.build_plan)")
        ov = overrides or Overrides()
        uow.audit("simulate", "simulation_run", run_id,
                  detail=f"{plan.params.source} seed {plan.seed} {plan.start}..{plan.end} scale {plan.scale} "
                         f"{len(plan.bookings)} bookings" + (f"; what-if {ov.as_dict()} on {base_run}" if base_run
                                                             else ""))
    kwargs: dict[str, Any] = {"progress": progress} if progress is not None else {}
    if shortlist is not None:
        kwargs["shortlist"] = shortlist
    if prescreen is not None:
        kwargs["prescreen"] = prescreen
    return run_plan(engine, plan, run_id=run_id, fingers=fingers or DEFAULT_FINGERS, overrides=ov,
                    base_run=base_run, field_office=field_office_step(sessions), search=search, **kwargs)


def field_office_step(sessions: Callable[[], Session]):
    """The runner's field-office step: every IAR through the detainer service (``simulated_field_office``)."""
    from securecomm.services.simulated_field_office import carry_through

    def step(engine: Engine, *, plan: Any, laws: Any, progress: Callable[[int], None] | None = None):
        return carry_through(engine, sessions, seed=plan.seed, params=plan.params.detainers, laws=laws,
                             progress=progress)
    return step
