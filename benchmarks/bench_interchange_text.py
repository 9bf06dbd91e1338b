"""CPU of the interchange writer and reader on the simulation's bookings (issue 12, sixth pass).

    .venv/bin/python benchmarks/bench_interchange_text.py [--bookings 300] [--repeat 5]
    PYTHONPATH=OTHER/src .venv/bin/python benchmarks/bench_interchange_text.py   # another source tree

The bookings are the first ``--bookings`` of a Massachusetts plan (seed 2012, scale 0.01: synthetic people
and charges, template-level, no images), written as CAR transactions by ``write_booking``. Timed, in this
process's CPU (best of ``--repeat`` passes over all of them, ms per booking):

* ``write_booking``: the CAR each booking is submitted as;
* ``read_parse``: ``parse_booking(read_transaction(raw))``, what a worker does once per booking;
* ``write_sre``: an SRE carrying a six-arrest rap sheet (multi-line text), two per booking in the pipeline.

Each writer reads its output back through the reader (the interchange module's guarantee), so the
writers' figures include a read. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bookings", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from securecomm.domain.records import Booking
    from securecomm.interchange import parse_booking, read_transaction, write_booking
    from securecomm.interchange.ebts import FBI_ORI, write_sre
    from securecomm.simulation.params import load
    from securecomm.simulation.plan import build_plan

    plan = build_plan(load("MA"), seed=2012, start=dt.date(2012, 5, 15), end=dt.date(2013, 5, 14), scale=0.01)
    people = {p.index: p for p in plan.people}
    bookings = [Booking(ori=b.ori, tcn=b.tcn, dai=FBI_ORI, date=b.date, person=people[b.person].person,
                        arrest_date=b.date, charges=b.charges, sib_ori="MASIB0000")
                for b in plan.bookings[:args.bookings]]
    raws = [write_booking(b) for b in bookings]
    sheet = "\n".join(f"ARREST {i + 1}: 2011-0{1 + i}-1{i} MA0130100 CHARGE 5404 DISPOSITION CONVICTED"
                      for i in range(6))

    def sre(i: int) -> bytes:
        return write_sre(tcn=f"SRE-{i:06d}", tcr=bookings[i].tcn, ori="WVIAFIS0Z", dai=bookings[i].ori,
                         result="I", ucn="UCN123456789", rap_sheet=sheet, date=bookings[i].date)

    cases = {"write_booking": lambda: [write_booking(b) for b in bookings],
             "read_parse": lambda: [parse_booking(read_transaction(r), min_fingers=0) for r in raws],
             "write_sre": lambda: [sre(i) for i in range(len(bookings))]}
    out: dict = {"bookings": len(bookings), "repeat": args.repeat}
    for name, run in cases.items():
        best = float("inf")
        for _ in range(args.repeat):
            t = time.process_time()
            run()
            best = min(best, time.process_time() - t)
        out[f"{name}_ms"] = round(1000 * best / len(bookings), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
