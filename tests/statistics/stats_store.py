"""A hand-built store whose every figure is known (the table is in test_figures.py)."""

from __future__ import annotations

import datetime as dt
import hashlib

from securecomm.store.db import open_store, session_scope
from securecomm.store.models import Agency, ArrestRow, CriminalSubject, DispositionRow
from securecomm.store.simulation_models import SimulatedBooking
from securecomm.store.workflow_models import Job, Response, ReviewItem, StageRun, Transaction

D = dt.date
T0 = dt.datetime(2012, 1, 1)


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour)


# tcn, ori, booking date (None: rejected before it was read), received day
BOOKINGS = {
    "B1": ("MA0130100", D(2012, 6, 10)),
    "B2": ("MA0130100", D(2012, 6, 20)),
    "B3": ("MA0130100", D(2012, 10, 5)),
    "B4": ("MA0090000", D(2012, 6, 15)),
    "B5": ("MA0090000", D(2012, 7, 1)),
    "B6": ("TX2270000", D(2012, 6, 1)),
    "B7": ("MA0130100", None),
    "B8": ("MA0130100", D(2012, 6, 28)),
    "B9": ("MA0090000", D(2012, 7, 15)),
}
RECEIVED = {"B7": D(2012, 6, 25)}
UCN = {"B1": "U1", "B2": "U9", "B3": "U2", "B4": "U4", "B5": "U5", "B6": "U3", "B8": "U1", "B9": "U6"}
#: seconds from receipt to the first IAR
IAR_SECONDS = {"B1": 1800, "B3": 3600, "B6": 7200, "B8": 600}
MATCH = {  # tcn: (fin, level, status, protected flags, IAR action)
    "B1": ("F1", "L1", "EWI", [], "detainer"),
    "B3": ("F2", "NC", "OVERSTAY", ["u_visa"], "no_action"),
    "B6": ("F3", "L3", "USC_NATURALIZED", [], "detainer"),  # (a hand-built store: a wrong detainer)
    "B8": ("F1", "L1", "EWI", [], "notification_request"),
}


def build(url: str):
    engine, Session = open_store(url)
    with session_scope(Session) as s:
        s.add_all([Agency(ori="MA0130100", name="Boston PD", county="Suffolk", state="MA", kind="police"),
                   Agency(ori="MA0090000", name="Middlesex Sheriff", county="Middlesex", state="MA",
                          kind="sheriff"),
                   Agency(ori="TX2270000", name="Travis Sheriff", county="Travis", state="TX", kind="sheriff")])
        # criminal repository: U1 convicted before B1; U3 arrested before but the charge was dismissed
        subjects = {u: CriminalSubject(ucn=u, last_name="X", first_name="Y", dob=D(1980, 1, 1), sex="M")
                    for u in ("U1", "U2", "U3", "U4", "U5", "U6", "U9")}
        s.add_all(subjects.values())
        s.flush()
        old1 = ArrestRow(subject_id=subjects["U1"].id, date=D(2010, 1, 1), ori="MA0130100", tcn="OLD-1")
        old3 = ArrestRow(subject_id=subjects["U3"].id, date=D(2011, 1, 1), ori="TX2270000", tcn="OLD-3")
        # U2 is convicted only AFTER B3's booking date: not a conviction at the time of the match
        late2 = ArrestRow(subject_id=subjects["U2"].id, date=D(2012, 11, 1), ori="MA0130100", tcn="LATE-2")
        s.add_all([old1, old3, late2])
        s.flush()
        s.add_all([DispositionRow(arrest_id=old1.id, ncic="1399", outcome="convicted", date=D(2010, 3, 1)),
                   DispositionRow(arrest_id=old3.id, ncic="2399", outcome="dismissed", date=D(2011, 2, 1)),
                   DispositionRow(arrest_id=late2.id, ncic="2399", outcome="convicted", date=D(2012, 12, 1))])
        # an enrolment transaction (no job): never a submission
        s.add(Transaction(tcn="CNA-1", ori="MA0130100", tot="CNA", state="done", raw=b"x", sha256="0" * 64,
                          received_at=_at(D(2012, 6, 1))))
        for tcn, (ori, day) in BOOKINGS.items():
            received = _at(day or RECEIVED[tcn])
            s.add(Transaction(tcn=tcn, ori=ori, tot="CAR", state="rejected" if day is None else "done",
                              raw=tcn.encode(), sha256=hashlib.sha256(tcn.encode()).hexdigest(),
                              booking_date=day, received_at=received))
            s.flush()
            s.add(Job(tcn=tcn, stage="iar", state="waiting" if tcn == "B9" else "done"))
            if day is None:
                s.add(StageRun(tcn=tcn, stage="validate", status="rejected", output={"errors": []}))
                continue
            s.add(StageRun(tcn=tcn, stage="criminal_search", status="done",
                           output={"decision": "hit" if tcn == "B4" else "no_hit",
                                   "result": "I" if tcn == "B4" else "N", "ucn": UCN[tcn]}))
            if tcn == "B4":
                s.add(StageRun(tcn=tcn, stage="immigration_search", status="skipped", output={"activated": False}))
                continue
            review = tcn in ("B3", "B5", "B9")
            s.add(StageRun(tcn=tcn, stage="immigration_search", status="review" if review else "done",
                           output={"activated": True, "decision": "review" if review else
                                   ("hit" if tcn in MATCH else "no_hit")}))
            if review:
                state = {"B3": "confirmed", "B5": "rejected", "B9": "open"}[tcn]
                s.add(ReviewItem(tcn=tcn, kind="biometric", reason="band", band="review", score=0.2,
                                 candidate="F2", state=state,
                                 decision={"confirmed": "confirm", "rejected": "reject"}.get(state)))
            if tcn == "B9":
                continue
            m = MATCH.get(tcn)
            s.add(StageRun(tcn=tcn, stage="idr", status="done",
                           output={"match": True, "fin": m[0], "band": "hit"} if m else {"match": False}))
            for rcpt in (ori, "MASIB0000"):
                s.add(Response(tcn=tcn, kind="IDR", recipient=rcpt, recipient_role="ori", format="json",
                               payload=b"{}", summary={}, created_at=received))
            if not m:
                continue
            fin, level, status, flags, action = m
            s.add(Response(tcn=tcn, kind="IAQ", recipient="LESC", recipient_role="lesc", format="json",
                           payload=b"{}", summary={}, created_at=received))
            s.add(StageRun(tcn=tcn, stage="status_determination", status="review" if flags else "done",
                           output={"status": status, "level": level, "protected_flags": flags,
                                   "action": "none", "manual_review": bool(flags)}))
            if flags:
                s.add(ReviewItem(tcn=tcn, kind="status", reason="protected", state="resolved",
                                 decision=action))
            s.add(StageRun(tcn=tcn, stage="iar", status="done",
                           output={"status": status, "action": action, "level": level}))
            first = received + dt.timedelta(seconds=IAR_SECONDS[tcn])
            for i, (rcpt, role) in enumerate((("ERO-BOS", "field_office"), (ori, "ori"))):
                s.add(Response(tcn=tcn, kind="IAR", recipient=rcpt, recipient_role=role, format="json",
                               payload=b"{}", summary={}, created_at=first + dt.timedelta(seconds=5 * i)))
        s.add_all([SimulatedBooking(tcn="B1", run_id="r", person="P1", category="ewi", citizen=False,
                                    true_fin="F1"),
                   SimulatedBooking(tcn="B6", run_id="r", person="P6", category="citizen_birth", citizen=True,
                                    true_fin=None)])
    return engine, Session


