"""The criminal and immigration repositories over a SQLAlchemy session (the caller commits)."""

from securecomm.repositories._common import RepositoryError, UnknownRecord
from securecomm.repositories.criminal import CriminalRepository, RapSheet, UnknownSubject, render_rap_sheet
from securecomm.repositories.immigration import ImmigrationRecord, ImmigrationRepository, UnknownIdentity

__all__ = [
    "CriminalRepository", "ImmigrationRepository", "RapSheet", "ImmigrationRecord", "render_rap_sheet",
    "RepositoryError", "UnknownRecord", "UnknownSubject", "UnknownIdentity",
]
