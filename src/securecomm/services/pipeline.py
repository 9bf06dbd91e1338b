"""Running the pipeline: who may start workers, and the identity the workers act under.

An operator (admin) starts workers; the workers themselves act as the
pipeline's own principal (``securecomm.domain.principal.PIPELINE``), whose
role, ``system``, is the only one allowed to run a stage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine

from securecomm.domain.clock import SYSTEM_CLOCK, Clock
from securecomm.domain.principal import PIPELINE, Principal
from securecomm.services.permissions import require
from securecomm.workflow import pipeline
from securecomm.workflow.gallery import Galleries
from securecomm.workflow.stages import PipelineConfig

__all__ = ["worker", "run_workers", "WORKER_PRINCIPAL"]

#: Who the workers act as.
WORKER_PRINCIPAL = PIPELINE


def worker(engine: Engine, principal: Principal, config: PipelineConfig | None = None, *,
           lease_seconds: float = 60.0, acting_as: Principal = WORKER_PRINCIPAL,
           clock: Clock = SYSTEM_CLOCK, galleries: Galleries | None = None) -> pipeline.Worker:
    """A worker in this process, started by ``principal`` (allowed ``pipeline.work``), running stages as
    ``acting_as`` (allowed ``pipeline.run_stage``: only the pipeline's own identity); ``galleries``: the
    search galleries to use (default: those ``config`` names)."""
    require(principal, "pipeline.work")
    require(acting_as, "pipeline.run_stage")
    return pipeline.Worker(engine, config, lease_seconds=lease_seconds, clock=clock, galleries=galleries)


def run_workers(engine: Engine, principal: Principal, workers: int, config: PipelineConfig | None = None, *,
                lease_seconds: float = 60.0,
                on_poll: Callable[[dict[str, int]], None] | None = None, follow: bool = False,
                stop: threading.Event | None = None,
                on_restart: Callable[[int], None] | None = None) -> list[int]:
    """Worker processes until the queue is empty (``follow``: until ``stop``), started by ``principal``;
    a worker that dies is replaced while work remains; their exit codes."""
    require(principal, "pipeline.work")
    require(WORKER_PRINCIPAL, "pipeline.run_stage")
    return pipeline.run_workers(engine, workers, config, lease_seconds=lease_seconds, on_poll=on_poll,
                                follow=follow, stop=stop, on_restart=on_restart)
