"""Who may do what: one allow-list, operation by operation.

An operation not in :data:`PERMISSIONS` is refused to everyone; a role not
listed for an operation is refused it. Scopes (ORI, state, area) narrow what
an allowed role sees and are checked by the service function on the objects
it touches (``UnitOfWork.require_scope``). ``docs/security.md`` prints this
table; a test walks every role against every operation.

Service modules add their operations here, one line each, grouped by party.
"""

from __future__ import annotations

from securecomm.domain.principal import Principal, Role

R = Role

#: operation -> roles allowed to perform it.
PERMISSIONS: dict[str, frozenset[Role]] = {
    # --- the pipeline's own work -------------------------------------------------------------
    "pipeline.run_stage": frozenset({R.SYSTEM}),
    "pipeline.work": frozenset({R.ADMIN, R.SYSTEM}),            # start workers
    # --- booking agencies ------------------------------------------------------------------------
    "booking.submit": frozenset({R.AGENCY, R.ADMIN}),
    "booking.status": frozenset({R.AGENCY, R.SIB, R.ADMIN, R.EXAMINER, R.LESC_ANALYST}),
    "booking.responses": frozenset({R.AGENCY, R.SIB, R.ADMIN}),
    "booking.list": frozenset({R.AGENCY, R.SIB, R.ADMIN}),        # the inbox: own ORI / own state
    # --- field offices -----------------------------------------------------------------------------
    "iar.list": frozenset({R.FIELD_OFFICER, R.FIELD_SUPERVISOR, R.ADMIN}),  # IARs addressed to its area
    # --- the repositories ------------------------------------------------------------------------
    "enrolment.criminal": frozenset({R.ADMIN}),
    "enrolment.immigration": frozenset({R.ADMIN}),
    # --- the manual review queue -----------------------------------------------------------------
    "review.list": frozenset({R.EXAMINER, R.LESC_ANALYST, R.FIELD_SUPERVISOR}),
    "review.decide_biometric": frozenset({R.EXAMINER}),
    "review.decide_status": frozenset({R.LESC_ANALYST, R.FIELD_SUPERVISOR}),
    # --- protections (victim / witness) ----------------------------------------------------------
    "protection.flag": frozenset({R.LESC_ANALYST, R.FIELD_OFFICER, R.FIELD_SUPERVISOR}),
    "protection.clear": frozenset({R.FIELD_SUPERVISOR}),
    # --- detainers: the field office decides, the jail answers under its law ------------------------
    "detainer.decide": frozenset({R.FIELD_OFFICER, R.FIELD_SUPERVISOR}),
    "detainer.cancel": frozenset({R.FIELD_OFFICER, R.FIELD_SUPERVISOR}),
    "detainer.acknowledge": frozenset({R.JAIL}),
    "detainer.release": frozenset({R.JAIL}),
    "detainer.transfer": frozenset({R.JAIL, R.FIELD_OFFICER, R.FIELD_SUPERVISOR}),
    "detainer.override_expiry": frozenset({R.JAIL, R.FIELD_SUPERVISOR}),  # record a hold past expiry (counted)
    "detainer.list": frozenset({R.FIELD_OFFICER, R.FIELD_SUPERVISOR, R.JAIL, R.SIB, R.OVERSIGHT, R.ADMIN}),
    "detainer.expiry": frozenset({R.FIELD_OFFICER, R.FIELD_SUPERVISOR, R.JAIL, R.AGENCY, R.SIB, R.OVERSIGHT,
                                  R.ADMIN}),  # compute a hold's expiry; touches no record
    "detainer.timers": frozenset({R.ADMIN, R.SYSTEM}),  # list / fire due timers
    # --- configuration ---------------------------------------------------------------------------
    "agencies.load": frozenset({R.ADMIN}),
    "agencies.list": frozenset({R.ADMIN, R.OVERSIGHT, R.SIB, R.AGENCY, R.FIELD_OFFICER,
                                R.FIELD_SUPERVISOR, R.JAIL, R.EXAMINER, R.LESC_ANALYST}),
    "activations.load": frozenset({R.ADMIN}),
    "users.add": frozenset({R.ADMIN}),
    "users.list": frozenset({R.ADMIN}),
    "users.disable": frozenset({R.ADMIN}),
    "tokens.issue": frozenset({R.ADMIN}),     # HTTP API bearer tokens (stored hashed)
    "tokens.list": frozenset({R.ADMIN}),
    "tokens.revoke": frozenset({R.ADMIN}),
    # --- operating the queue (parked / failed jobs) ------------------------------------------------
    "jobs.list": frozenset({R.ADMIN}),
    "jobs.retry": frozenset({R.ADMIN}),
    "jobs.park": frozenset({R.ADMIN}),
    # --- identity: consolidation of criminal subjects ---------------------------------------------
    "identity.consolidation_queue": frozenset({R.EXAMINER, R.ADMIN}),
    "identity.merge": frozenset({R.EXAMINER, R.ADMIN}),
    # --- oversight ---------------------------------------------------------------------------------
    "audit.read": frozenset({R.OVERSIGHT, R.ADMIN}),
    "audit.verify": frozenset({R.OVERSIGHT, R.ADMIN}),  # walk the hash chain
    "statistics.read": frozenset({R.OVERSIGHT, R.PUBLIC, R.ADMIN}),  # aggregates; public: small cells suppressed
    "simulation.run": frozenset({R.ADMIN}),  # a synthetic state-year (or a what-if replay) into a store
}


class PermissionDenied(PermissionError):
    """The principal's role may not perform the operation, or the object is outside its scopes."""

    def __init__(self, principal: Principal, operation: str, why: str = "") -> None:
        self.principal = principal
        self.operation = operation
        self.why = why
        super().__init__(f"{principal.role.value} may not {operation}" + (f": {why}" if why else ""))


def allowed(role: Role | str, operation: str) -> bool:
    """Whether ``role`` may perform ``operation`` (unknown operations: nobody)."""
    return Role.parse(role) in PERMISSIONS.get(operation, frozenset())


def require(principal: Principal, operation: str) -> None:
    """Raise :class:`PermissionDenied` unless the principal's role may perform ``operation``."""
    if operation not in PERMISSIONS:
        raise PermissionDenied(principal, operation, "no such operation")
    if not allowed(principal.role, operation):
        raise PermissionDenied(principal, operation)


def matrix_markdown() -> str:
    """The role x operation table of ``docs/security.md``, generated from :data:`PERMISSIONS`."""
    roles = list(Role)
    head = "| operation | " + " | ".join(r.value for r in roles) + " |"
    rule = "|---|" + "|".join(":-:" for _ in roles) + "|"
    rows = [f"| `{op}` | " + " | ".join("yes" if r in allowed_roles else "" for r in roles) + " |"
            for op, allowed_roles in sorted(PERMISSIONS.items())]
    return "\n".join([head, rule, *rows]) + "\n"
