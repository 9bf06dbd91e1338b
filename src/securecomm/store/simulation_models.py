"""Tables of the state-year simulation: the runs, and the synthetic ground truth of their bookings.

Nothing in the pipeline reads these. The statistics read ``sim_truth`` only
for the figures that need the truth a real deployment never has (false
biometric matches, citizens wrongly matched); where a store has no truth
rows those figures are null, not zero.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from securecomm.store.base import Base
from securecomm.store.models import utcnow


class SimulationRun(Base):
    """One simulated state-year: what was asked (parameters, seed, overrides) and what came of it."""

    __tablename__ = "sim_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(2))
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    seed: Mapped[int] = mapped_column(Integer)
    parameters: Mapped[str] = mapped_column(String(200))  # the parameter file's name
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # scale, fingers, overrides
    base_run: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a what-if replay's base
    bookings: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SimulatedBooking(Base):
    """The ground truth of one simulated booking: who was really booked."""

    __tablename__ = "sim_truth"

    tcn: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    person: Mapped[str] = mapped_column(String(32))  # the synthetic person's key (stable for a seed)
    category: Mapped[str] = mapped_column(String(32))  # citizen_birth, naturalized, lpr, visa, overstay, ewi, ...
    citizen: Mapped[bool] = mapped_column(Boolean, default=False)
    true_fin: Mapped[str | None] = mapped_column(String(16), nullable=True)  # their immigration identity, if any
    protected: Mapped[bool] = mapped_column(Boolean, default=False)


SIMULATION_TABLES = ("sim_runs", "sim_truth")
