"""Coverage-guided fuzzing of the ANSI/NIST-ITL reader and the EBTS Type-2 parsers (atheris).

Not run in CI (atheris is not a test dependency; the hypothesis suite in
tests/interchange/test_fuzz.py is). Contract under test, defined once in
``securecomm.interchange.contract`` (which tests/interchange/test_corpus.py
checks in CI on every corpus file): whatever the bytes,
``read_transaction`` / ``inspect_transaction`` and every ``parse_*`` either
return or raise :class:`TransactionRejected` whose errors each name record,
field and reason -- any other exception, a crash of the interpreter or a
hang is a finding. Two semantic oracles too: an accepted transaction's decoded
pixels stay within the pixel budget, and an accepted person's name holds no
control, format or bidi character.

Usage (see docs/reliability.md)::

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/fuzz_reader.py --make-corpus tests/corpus   # (re)build the seed corpus
    nice -n 10 .venv/bin/python fuzz/fuzz_reader.py work/corpus tests/corpus -runs=1000000 -timeout=20

``work/corpus`` (not committed) receives what libFuzzer adds; keep only small,
meaningful new inputs in ``tests/corpus`` (run 3 kept, per distinct outcome, the
smallest input: ``fuzz-*.an2``; tests/interchange/test_corpus.py replays them all in CI).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _seeds() -> dict[str, bytes]:
    """Small valid transactions of every kind the parsers read (synthetic people only)."""
    import datetime as dt

    import numpy as np

    from securecomm.interchange import TransactionError, write_booking, write_errt, write_sre
    from securecomm.domain.records import Biographic, Booking, Charge, FingerImage

    def finger(p: int) -> FingerImage:
        yy, xx = np.mgrid[0:40, 0:36].astype(np.float32)
        return FingerImage(position=p, pixels=(128 + 90 * np.sin(np.hypot(yy - 18, xx - 18) / 2.6 + p)).astype(np.uint8),
                           ppi=500.0, impression=1)

    person = Biographic(last_name="SEED", first_name="ROBIN", dob=dt.date(1990, 1, 2), sex="X", pob="CA",
                        middle_name="Q", citizenship="MX")
    base = Booking(ori="MA0130100", tcn="SEED-1", dai="DCFBIWA0Z", date=dt.date(2026, 3, 2), person=person,
                   arrest_date=dt.date(2026, 3, 1), charges=(Charge("1313", "SIMPLE ASSLT"),), sib_ori="MAMSP0000")
    uni = Biographic(last_name="MÜLLER-ŁUKASZ", first_name="ZOË", dob=dt.date(1990, 1, 2), sex="F", pob="PL")
    return {
        "car-text-only.an2": write_booking(base),
        "car-utf8-name.an2": write_booking(Booking(**{**base.__dict__, "person": uni, "tcn": "SEED-2"})),
        "car-type14-one-finger.an2": write_booking(Booking(**{**base.__dict__, "fingers": {2: finger(2)}})),
        "car-type4-one-finger.an2": write_booking(Booking(**{**base.__dict__, "fingers": {7: finger(7)}}), image_type=4),
        "sre.an2": write_sre(tcn="SEED-SRE", tcr="SEED-1", ori="DCFBIWA0Z", dai="MA0130100", result="I",
                             ucn="UCN0001", rap_sheet="ARREST 2020-01-01 MA0130100\nCHARGE 1313", date=dt.date(2026, 3, 2)),
        "errt.an2": write_errt(tcn="SEED-ERRT", tcr="SEED-1", ori="DCFBIWA0Z", dai="MA0130100", date=dt.date(2026, 3, 2),
                               errors=[TransactionError("Type-2", "2.018 NAM", "control character U+0000")]),
    }


def make_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in _seeds().items():
        (folder / name).write_bytes(data)
        print(f"{folder / name}: {len(data)} bytes")


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--make-corpus":
        make_corpus(Path(sys.argv[2]))
        return
    import atheris

    with atheris.instrument_imports(include=["securecomm.interchange"]):
        from securecomm.interchange import contract

    def one_input(data: bytes) -> None:
        contract.check(data)  # anything but a return is a finding (securecomm.interchange.contract)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
