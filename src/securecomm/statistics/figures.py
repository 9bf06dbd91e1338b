"""The figures securecomm publishes: name, group, label and definition (docs/statistics.md prints them).

Every figure is computed in the database by :mod:`securecomm.statistics.query`
for one jurisdiction (nation, state, county or ORI) and one period (calendar
month, US federal fiscal year starting 1 October, or the whole store). The
period of a booking is its booking date (the Type-2 arrest date the booking
carries); a submission too damaged to yield one is counted on the day it was
received.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    group: str
    label: str
    definition: str
    kind: str = "count"  # count | share | seconds

    @property
    def is_count(self) -> bool:
        return self.kind == "count"


#: Figure groups in report order.
GROUPS = ("volume", "levels", "review", "responses", "timing", "critics", "detainers")

_F = Figure
FIGURES: tuple[Figure, ...] = (
    # -- volume: what the programme's monthly tables opened with
    _F("submissions", "volume", "fingerprint submissions",
       "booking transactions (CAR) received: every transaction with a pipeline job, rejected ones included"),
    _F("rejected", "volume", "rejected (ERRT)", "submissions answered with an ERRT (bad input) instead of a search"),
    _F("criminal_identified", "volume", "criminal identifications",
       "submissions the criminal repository identified (SRE result I)"),
    _F("immigration_searches", "volume", "immigration-repository searches",
       "submissions searched against the immigration repository (the ORI was activated on the booking date)"),
    _F("ident_matches", "volume", "IDENT matches",
       "submissions whose IDR says match (a confident match, or a review-band one an examiner confirmed)"),
    # -- levels
    _F("matches_l1", "levels", "matches, Level 1", "IDENT matches whose status determination gave level L1"),
    _F("matches_l2", "levels", "matches, Level 2", "IDENT matches whose status determination gave level L2"),
    _F("matches_l3", "levels", "matches, Level 3", "IDENT matches whose status determination gave level L3"),
    _F("matches_nc", "levels", "matches, non-criminal",
       "IDENT matches whose status determination gave level NC (no conviction / no charge counted)"),
    _F("matches_level_pending", "levels", "matches, level not yet determined",
       "IDENT matches with no status determination yet (the IAQ is still being researched)"),
    # -- examiner review
    _F("review_band_matches", "review", "review-band matches",
       "immigration candidates in the examiner-review band (a biometric review item was opened)"),
    _F("examiner_confirmed", "review", "examiner confirmed", "review-band matches an examiner confirmed"),
    _F("examiner_rejected", "review", "examiner rejected", "review-band matches an examiner rejected"),
    _F("examiner_open", "review", "awaiting an examiner", "review-band matches not yet decided"),
    _F("analyst_reviews", "review", "status reviews by an analyst",
       "matches status determination sent to a LESC analyst (protected person, review band, mismatch, "
       "undetermined status)"),
    # -- responses
    _F("iaqs", "responses", "IAQs", "submissions for which an IAQ went to the LESC"),
    _F("iars", "responses", "IARs", "submissions answered with an IAR"),
    _F("iar_detainer", "responses", "IARs recommending a detainer", "IARs whose recommended action is detainer"),
    _F("iar_notification", "responses", "IARs recommending a notification request",
       "IARs whose recommended action is notification_request"),
    _F("iar_no_action", "responses", "IARs recommending no action", "IARs whose recommended action is no_action"),
    # -- timing
    _F("booking_to_iar_median_s", "timing", "booking to IAR, median (s)",
       "median over IARs of the seconds from the submission's receipt to the first IAR (nearest-rank)",
       kind="seconds"),
    _F("booking_to_iar_p95_s", "timing", "booking to IAR, 95th percentile (s)",
       "95th percentile (nearest rank: the ceil(0.95 n)-th smallest) of the same durations", kind="seconds"),
    # -- the critics' measures
    _F("matched_people", "critics", "people matched", "distinct immigration identities (FIN) matched"),
    _F("matched_people_no_conviction", "critics", "people matched with no conviction",
       "matched people with no conviction on their rap sheet dated on or before the booking, at any of their "
       "matches in the period (the disposition table, not the charge-based level)"),
    _F("share_no_conviction", "critics", "share of matched people with no conviction",
       "matched_people_no_conviction / matched_people", kind="share"),
    _F("detainer_no_conviction", "critics", "detainers recommended for people with no conviction",
       "IARs recommending a detainer for a person with no conviction dated on or before the booking "
       "(the 'non-criminals held' of the critics)"),
    _F("naturalized_matched", "critics", "naturalised citizens matched",
       "matched people whose status determination found a naturalised US citizen"),
    _F("false_matches", "critics", "false biometric matches (synthetic truth)",
       "IDENT matches to an identity that is not the booked person's, against the synthetic ground truth "
       "of a simulation (null where the store has no ground truth)"),
    _F("citizens_matched", "critics", "US citizens matched",
       "distinct matched people who are US citizens: naturalised (status determination) or, where the "
       "store has synthetic ground truth, a citizen the biometric match wrongly identified"),
    _F("protected_matched", "critics", "protected people matched",
       "distinct matched people with a protection flag (victim/witness, U or T visa, VAWA)"),
    # -- detainers: the field office's decisions on the jurisdiction's bookings and how each ended
    #    (the detainer tables, docs/detainers.md); counted in the period of the booking, like every figure
    _F("detainers_lodged", "detainers", "detainers lodged",
       "field-office decisions of kind detainer recorded on the submissions (a cancelled detainer followed by "
       "a new one counts twice)"),
    _F("notification_requests_lodged", "detainers", "notification requests lodged",
       "field-office decisions of kind notification_request"),
    _F("detainers_honoured", "detainers", "detainers honoured",
       "detainers the jail acknowledged and its law let it hold on (answer honoured)"),
    _F("detainers_declined_by_law", "detainers", "detainers declined by law",
       "detainers closed because the jail's law did not let it hold on them (outcome declined_by_law)"),
    _F("detainers_expired", "detainers", "detainers expired",
       "detainers held to the end of the hold and the person released (outcome released_at_expiry)"),
    _F("detainers_transferred", "detainers", "transferred to ICE custody",
       "detainers and notification requests closed by a transfer of custody to the immigration agency"),
    _F("detainers_open", "detainers", "detainers and requests still open",
       "detainers and notification requests with no outcome yet"),
    _F("over_holds", "detainers", "over-holds",
       "detainers held past the end of the 48-business-hour hold (recorded only with an audited override; "
       "should be 0)"),
    _F("held_no_conviction", "detainers", "detainers honoured, no conviction",
       "honoured detainers on a person with no conviction dated on or before the booking (the critics' "
       "'non-criminals held', as held rather than as recommended)"),
)

BY_NAME = {f.name: f for f in FIGURES}


def markdown() -> str:
    """The figure tables of docs/statistics.md (``python -m securecomm.statistics.figures`` prints them)."""
    out = []
    for g in GROUPS:
        figs = [f for f in FIGURES if f.group == g]
        if not figs:
            continue
        out += [f"### {g}", "", f"![{g} by month](img/statistics/{g}.png)", "",
                "| figure | label | definition |", "|---|---|---|"]
        out += [f"| `{f.name}` | {f.label} | {f.definition} |" for f in figs]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(markdown())
