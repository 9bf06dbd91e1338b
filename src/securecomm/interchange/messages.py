"""The JSON documents of the immigration side: IDR, IAQ, IAR (pydantic v2).

These are not EBTS transactions: the IDENT Data Response, the Immigration Alien
Query and the Immigration Alien Response travel as JSON between securecomm's
services. Their fields follow the message flow of docs/mission (IDR: match or no
match with the biometric evidence; IAQ: who is in custody where, for what; IAR:
status, removability, criminal level, priority, action). The validators enforce
the programme's safeguards at the document level, so a malformed or unsafe
document cannot even be built:

* an IDR match carries a FIN and its score evidence; a no-match carries neither;
* an IAQ is only built from a confident match or one an examiner confirmed;
* an IAR with a protected flag (victim, witness, U/T visa, VAWA) never
  recommends a detainer without manual review.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import ncic
from securecomm.domain.identifiers import A_NUMBER_FORMAT, ORI_FORMAT, PLACE_FORMAT, TCN_FORMAT
from securecomm.domain.protections import PROTECTED_FLAGS

__all__ = ["FingerEvidence", "BiometricEvidence", "IDR", "IAQ", "IAR", "PROTECTED_FLAGS", "CRIMINAL_LEVELS"]

ORI = Annotated[str, Field(pattern=f"^{ORI_FORMAT}$", description="9-character originating agency identifier")]
TCN = Annotated[str, Field(min_length=1, max_length=40, pattern=f"^{TCN_FORMAT}$")]
#: Secure Communities criminal offense levels; NC = no criminal conviction.
CRIMINAL_LEVELS = ("L1", "L2", "L3", "NC")


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FingerEvidence(_Doc):
    """How one finger of the probe compared with the candidate's same finger."""

    position: int = Field(ge=1, le=10, description="finger position 1-10")
    score: float = Field(ge=0, description="matcher score for this finger")
    paired_minutiae: int | None = Field(default=None, ge=0)
    probe_quality: float | None = Field(default=None, ge=0, le=100)


class BiometricEvidence(_Doc):
    """The fused score, the threshold it was judged against, and the per-finger scores."""

    score: float = Field(ge=0)
    threshold: float = Field(ge=0, description="score at or above which a match is confident")
    matcher: str = Field(min_length=1, description="engine name and version")
    fingers: tuple[FingerEvidence, ...] = Field(min_length=1)
    examiner_confirmed: bool = False
    examiner_id: str = ""

    @property
    def confident(self) -> bool:
        return self.score >= self.threshold

    @model_validator(mode="after")
    def _distinct_fingers(self) -> BiometricEvidence:
        positions = [f.position for f in self.fingers]
        if len(positions) != len(set(positions)):
            raise ValueError("per-finger evidence lists a finger position twice")
        if self.examiner_confirmed and not self.examiner_id:
            raise ValueError("an examiner confirmation must name the examiner")
        return self


class IDR(_Doc):
    """IDENT Data Response: the immigration repository's answer to one booking's fingerprints."""

    kind: Literal["IDR"] = "IDR"
    tcn: TCN = Field(description="this response's transaction control number")
    tcr: TCN = Field(description="TCN of the booking (CAR) it answers")
    ori: ORI = Field(description="booking agency that submitted the fingerprints")
    sib_ori: ORI | None = Field(default=None, description="state identification bureau receiving a copy")
    created: dt.datetime
    result: Literal["match", "no_match"]
    fin: str | None = Field(default=None, min_length=1, description="IDENT fingerprint identification number")
    evidence: BiometricEvidence | None = None
    examiner_review: bool = Field(default=False, description="match below the confident threshold, sent to an examiner")

    @model_validator(mode="after")
    def _consistent(self) -> IDR:
        if self.result == "match":
            if not self.fin or self.evidence is None:
                raise ValueError("a match carries the FIN and the biometric evidence")
            if not self.evidence.confident and not self.evidence.examiner_confirmed and not self.examiner_review:
                raise ValueError("a match below the threshold must be flagged for examiner review")
        elif self.fin is not None:
            raise ValueError("a no-match carries no FIN")
        return self


class IAQ(_Doc):
    """Immigration Alien Query: sent to the status determination centre on a match."""

    kind: Literal["IAQ"] = "IAQ"
    tcn: TCN = Field(description="this query's transaction control number")
    idr_tcn: TCN = Field(description="the IDR that produced it")
    booking_tcn: TCN
    created: dt.datetime
    ori: ORI = Field(description="booking agency")
    sib_ori: ORI | None = None
    last_name: str = Field(min_length=1)
    first_name: str = Field(min_length=1)
    middle_name: str = ""
    dob: dt.date
    sex: Literal["M", "F", "X", "U"]
    pob: str = Field(pattern=f"^{PLACE_FORMAT}$")
    custody_status: str = Field(min_length=1)
    most_serious_ncic: str = Field(description="NCIC code of the most serious charge")
    most_serious_literal: str = ""
    ucn: str | None = Field(default=None, description="FBI number / UCN when the criminal search identified")
    a_number: str | None = Field(default=None, pattern=f"^{A_NUMBER_FORMAT}$")
    fin: str = Field(min_length=1)
    evidence: BiometricEvidence

    @field_validator("most_serious_ncic")
    @classmethod
    def _ncic(cls, v: str) -> str:
        if not ncic.is_valid(v):
            raise ValueError(f"{v!r} is not an NCIC uniform offense code")
        return v

    @model_validator(mode="after")
    def _confident(self) -> IAQ:
        if not self.evidence.confident and not self.evidence.examiner_confirmed:
            raise ValueError("an IAQ needs a confident match or an examiner's confirmation")
        return self


class IAR(_Doc):
    """Immigration Alien Response: the status determination, sent to the field office and the agency."""

    kind: Literal["IAR"] = "IAR"
    tcn: TCN
    iaq_tcn: TCN = Field(description="the IAQ it answers")
    booking_tcn: TCN
    created: dt.datetime
    fin: str = Field(min_length=1)
    a_number: str | None = Field(default=None, pattern=f"^{A_NUMBER_FORMAT}$")
    immigration_status: str = Field(min_length=1, description="e.g. lawful_permanent_resident, visa_overstay, "
                                                               "entered_without_inspection, removal_order, naturalized")
    removable: bool
    criminal_level: Literal["L1", "L2", "L3", "NC"]
    enforcement_priority: int | None = Field(default=None, ge=1, le=3, description="None: not a priority")
    policy_version: str = Field(min_length=1, description="the enforcement-priority policy applied (versioned data)")
    protected_flags: tuple[str, ...] = ()
    recommended_action: Literal["no_action", "notification_request", "detainer"]
    manual_review: bool = False
    review_reasons: tuple[str, ...] = ()
    field_office: str = Field(min_length=1, description="ERO area of responsibility receiving the IAR")
    originating_agency: ORI
    sib_ori: ORI | None = None

    @field_validator("protected_flags")
    @classmethod
    def _flags(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [f for f in v if f not in PROTECTED_FLAGS]
        if bad:
            raise ValueError(f"unknown protected flags {bad}; known: {PROTECTED_FLAGS}")
        return v

    @model_validator(mode="after")
    def _safeguards(self) -> IAR:
        if self.protected_flags and self.recommended_action == "detainer" and not self.manual_review:
            raise ValueError("a protected person (victim, witness, U/T visa, VAWA) never gets a detainer without manual review")
        if self.recommended_action != "no_action" and not self.removable:
            raise ValueError("enforcement action recommended for a person who is not removable")
        if self.manual_review and not self.review_reasons:
            raise ValueError("manual review needs a stated reason")
        return self
