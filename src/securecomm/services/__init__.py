"""The service layer: every operation runs in a unit of work with a principal and a clock.

Entry points (CLI, HTTP API, console, workers) build a
:class:`~securecomm.domain.principal.Principal` from what they trust, open a
:class:`~securecomm.services.unit_of_work.UnitOfWork` and call a service
function. The unit of work checks the operation against the allow-list in
:mod:`securecomm.services.permissions`, writes the audit rows in the same
transaction as the work, and commits or rolls back both together.
"""

from securecomm.services.permissions import PermissionDenied, allowed, require
from securecomm.services.unit_of_work import NotFound, UnitOfWork

__all__ = ["NotFound", "PermissionDenied", "UnitOfWork", "allowed", "require"]
