"""Generate the example transactions under examples/ (deterministic: fixed seeds, fixed dates).

    .venv/bin/python examples/make_examples.py

Every person and fingerprint here is synthetic (``securecomm.synth``); no real
person's data. One subject ("TESTER, ALEX") appears in the booking, the
criminal enrolment and the immigration enrolment with different impressions of
the same fingers, so a demo booking is identified in both repositories.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from securecomm.interchange import (
    TransactionRejected, parse_booking, write_booking, write_criminal_enrolment, write_errt,
    write_immigration_enrolment, write_sre,
)
from securecomm.interchange.messages import IAQ, IAR, IDR, BiometricEvidence, FingerEvidence
from securecomm.interchange.records import (
    Arrest, Biographic, Booking, Charge, CriminalEnrolment, Disposition, Encounter, FingerImage,
    ImmigrationEnrolment,
)
from securecomm.synth import make_person, render

OUT = Path(__file__).resolve().parent
DATE = dt.date(2026, 3, 2)
BOOKING_ORI, SIB_ORI, FBI_ORI = "MA0130100", "MAMSP0000", "DCFBIWA0Z"


def ten_fingers(person_seed: int, impression_seed: int) -> dict[int, FingerImage]:
    """Ten plain 400x400 500-ppi impressions of one synthetic person."""
    person = make_person(person_seed)
    assert not person.missing, "choose a person seed with ten fingers"
    out = {}
    for pos, master in person.fingers.items():
        imp = render(master, seed=impression_seed * 100 + pos, kind="plain")
        out[pos] = FingerImage(position=pos, pixels=imp.pixels, ppi=500.0, impression=0)
    return out


def main() -> None:
    alex = Biographic(last_name="TESTER", first_name="ALEX", middle_name="Q", dob=dt.date(1988, 2, 29), sex="X",
                      pob="MX", citizenship="MX")
    robin = Biographic(last_name="SAMPLE", first_name="ROBIN", dob=dt.date(1975, 11, 3), sex="F", pob="MA")
    files: dict[str, bytes] = {}

    booking = Booking(ori=BOOKING_ORI, tcn="MA0130100-20260302-0001", dai=FBI_ORI, date=DATE, person=alex,
                      arrest_date=dt.date(2026, 3, 1),
                      charges=(Charge("1313", "SIMPLE ASSLT"), Charge("5404", "DUI LIQUOR")),
                      fingers=ten_fingers(101, 1), sib_ori=SIB_ORI)
    files["car-booking.an2"] = write_booking(booking, image_type=14)
    files["car-booking-type4.an2"] = write_booking(
        Booking(ori="MA0130200", tcn="MA0130200-20260302-0007", dai=FBI_ORI, date=DATE, person=robin,
                arrest_date=DATE, charges=(Charge("2303", "SHOPLIFTING"),), fingers=ten_fingers(202, 1),
                sib_ori=SIB_ORI), image_type=4)
    files["cna-criminal-enrolment.an2"] = write_criminal_enrolment(CriminalEnrolment(
        tcn="MA0130100-20190401-0003", ori=BOOKING_ORI, person=alex, ucn="UCN0000001",
        arrests=(Arrest(dt.date(2019, 4, 1), BOOKING_ORI, "MA0130100-20190401-0003", (Charge("5404"),),
                        (Disposition("5404", "convicted", dt.date(2019, 8, 15), False, 0),)),),
        fingers=ten_fingers(101, 2)), date=dt.date(2019, 4, 1))
    files["ien-immigration-enrolment.an2"] = write_immigration_enrolment(ImmigrationEnrolment(
        tcn="IDENT-20150601-0042", person=alex, fin="FIN0000001", a_number="A012345678", aliases=("ALEKS TESTOV",),
        encounters=(Encounter("visa_application", dt.date(2015, 3, 10), "MEXICO CITY"),
                    Encounter("admission", dt.date(2015, 6, 1), "JFK", dt.date(2015, 12, 1), "B2 visitor"),
                    Encounter("visa_overstay", dt.date(2015, 12, 2))),
        fingers=ten_fingers(101, 3)), date=dt.date(2015, 6, 1))
    files["sre-identified.an2"] = write_sre(
        tcn="FBI-20260302-000001", tcr=booking.tcn, ori=FBI_ORI, dai=BOOKING_ORI, result="I", ucn="UCN0000001",
        rap_sheet="UCN0000001 TESTER,ALEX Q\n2019-04-01 MA0130100 5404 DRIVING UNDER INFLUENCE LIQUOR - CONVICTED",
        date=DATE)

    # invalid bookings: each breaks one rule, in place (same length, so the structure stays valid)
    good = files["car-booking.an2"]
    files["invalid-car-bad-ncic.an2"] = good.replace(b"2.901:1313", b"2.901:9999", 1)
    few = Booking(**{**booking.__dict__, "tcn": "MA0130100-20260302-0002",
                     "fingers": {p: f for p, f in booking.fingers.items() if p <= 6}})
    files["invalid-car-six-fingers.an2"] = write_booking(few)
    corrupt = bytearray(good)
    at = good.index(b"14.999:") + 7  # the first image's WSQ stream
    corrupt[at + 2:at + 40] = bytes(38)
    files["invalid-car-corrupt-wsq.an2"] = bytes(corrupt)

    try:
        parse_booking(files["invalid-car-bad-ncic.an2"])
        raise SystemExit("invalid-car-bad-ncic.an2 was accepted")
    except TransactionRejected as exc:
        files["errt-bad-ncic.an2"] = write_errt(tcn="FBI-20260302-000002", tcr=booking.tcn, ori=FBI_ORI,
                                               dai=BOOKING_ORI, errors=exc.errors, date=DATE)
    for name, data in files.items():
        (OUT / name).write_bytes(data)

    created = dt.datetime(2026, 3, 2, 14, 5, tzinfo=dt.timezone.utc)
    evidence = BiometricEvidence(score=87.5, threshold=40.0, matcher="securecomm-mcc 0.1",
                                 fingers=tuple(FingerEvidence(position=p, score=s, paired_minutiae=m)
                                               for p, s, m in ((1, 61.2, 22), (2, 74.0, 27), (7, 55.1, 19))))
    idr = IDR(tcn="IDR-20260302-000001", tcr=booking.tcn, ori=BOOKING_ORI, sib_ori=SIB_ORI, created=created,
              result="match", fin="FIN0000001", evidence=evidence)
    iaq = IAQ(tcn="IAQ-20260302-000001", idr_tcn=idr.tcn, booking_tcn=booking.tcn, created=created, ori=BOOKING_ORI,
              sib_ori=SIB_ORI, last_name="TESTER", first_name="ALEX", middle_name="Q", dob=alex.dob, sex="X",
              pob="MX", custody_status="IN CUSTODY", most_serious_ncic="1313", most_serious_literal="SIMPLE ASSLT",
              ucn="UCN0000001", a_number="A012345678", fin="FIN0000001", evidence=evidence)
    iar = IAR(tcn="IAR-20260302-000001", iaq_tcn=iaq.tcn, booking_tcn=booking.tcn, created=created,
              fin="FIN0000001", a_number="A012345678", immigration_status="visa_overstay", removable=True,
              criminal_level="L3", enforcement_priority=None, policy_version="morton-2011-v1",
              recommended_action="notification_request", manual_review=False, field_office="BOS",
              originating_agency=BOOKING_ORI, sib_ori=SIB_ORI)
    no_match = IDR(tcn="IDR-20260302-000002", tcr="MA0130200-20260302-0007", ori="MA0130200", created=created,
                   result="no_match")
    for name, doc in (("idr-match.json", idr), ("idr-no-match.json", no_match), ("iaq.json", iaq), ("iar.json", iar)):
        (OUT / name).write_text(json.dumps(doc.model_dump(mode="json"), indent=2) + "\n")
    for p in sorted(OUT.iterdir()):
        if p.suffix in (".an2", ".json"):
            print(f"{p.name:36} {p.stat().st_size:>8,} bytes")


if __name__ == "__main__":
    main()
