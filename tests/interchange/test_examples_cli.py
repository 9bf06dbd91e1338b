"""The committed example files, the JSON documents and ``securecomm nist inspect``."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from securecomm.cli.app import app
from securecomm.interchange import (
    TransactionRejected, parse_booking, parse_criminal_enrolment, parse_errt, parse_immigration_enrolment,
    parse_sre, read_transaction,
)
from securecomm.interchange.messages import IAQ, IAR, IDR


def test_valid_examples(examples):
    b = parse_booking((examples / "car-booking.an2").read_bytes())
    assert b.ori == "MA0130100" and len(b.fingers) == 10 and b.charges[0].ncic == "1313"
    b4 = parse_booking((examples / "car-booking-type4.an2").read_bytes())
    assert {r.rtype for r in read_transaction((examples / "car-booking-type4.an2").read_bytes()).records} == {1, 2, 4}
    assert len(b4.fingers) == 10
    ce = parse_criminal_enrolment((examples / "cna-criminal-enrolment.an2").read_bytes())
    assert ce.ucn == "UCN0000001" and ce.arrests[0].dispositions[0].outcome == "convicted"
    ie = parse_immigration_enrolment((examples / "ien-immigration-enrolment.an2").read_bytes())
    assert ie.fin == "FIN0000001" and [e.type for e in ie.encounters][-1] == "visa_overstay"
    sre = parse_sre((examples / "sre-identified.an2").read_bytes())
    assert sre.result == "I" and sre.tcr == b.tcn
    errt = parse_errt((examples / "errt-bad-ncic.an2").read_bytes())
    assert errt.errors[0].field == "2.901 NOC"


@pytest.mark.parametrize("name, field", [("invalid-car-bad-ncic.an2", "2.901 NOC"),
                                         ("invalid-car-six-fingers.an2", "FGP"),
                                         ("invalid-car-corrupt-wsq.an2", "14.999 DATA")])
def test_invalid_examples(examples, name, field):
    with pytest.raises(TransactionRejected) as info:
        parse_booking((examples / name).read_bytes())
    assert any(e.field == field for e in info.value.errors), info.value.errors


def test_json_documents(examples):
    idr = IDR.model_validate_json((examples / "idr-match.json").read_text())
    assert idr.result == "match" and idr.evidence.confident
    assert IDR.model_validate_json((examples / "idr-no-match.json").read_text()).fin is None
    iaq = IAQ.model_validate_json((examples / "iaq.json").read_text())
    assert iaq.most_serious_ncic == "1313" and iaq.fin == idr.fin
    iar = IAR.model_validate_json((examples / "iar.json").read_text())
    assert iar.recommended_action == "notification_request"


def test_document_safeguards(examples):
    iar = json.loads((examples / "iar.json").read_text())
    with pytest.raises(ValidationError, match="manual review"):
        IAR.model_validate({**iar, "protected_flags": ["u_visa"], "recommended_action": "detainer"})
    IAR.model_validate({**iar, "protected_flags": ["u_visa"], "recommended_action": "detainer",
                        "manual_review": True, "review_reasons": ["U visa applicant"]})
    iaq = json.loads((examples / "iaq.json").read_text())
    with pytest.raises(ValidationError, match="NCIC"):
        IAQ.model_validate({**iaq, "most_serious_ncic": "9999"})
    weak = {**iaq["evidence"], "score": 10.0}
    with pytest.raises(ValidationError, match="examiner"):
        IAQ.model_validate({**iaq, "evidence": weak})
    IAQ.model_validate({**iaq, "evidence": {**weak, "examiner_confirmed": True, "examiner_id": "EX-7"}})
    idr = json.loads((examples / "idr-match.json").read_text())
    with pytest.raises(ValidationError):
        IDR.model_validate({**idr, "result": "no_match"})  # a no-match with a FIN
    with pytest.raises(ValidationError):
        IDR.model_validate({**idr, "evidence": weak})  # weak match not flagged for review
    assert IDR.model_validate({**idr, "evidence": weak, "examiner_review": True}).examiner_review
    with pytest.raises(ValidationError):
        IDR.model_validate({**idr, "ori": "bad"})
    assert IDR.model_validate(idr).created.tzinfo is not None and isinstance(IDR.model_validate(idr).created, dt.datetime)


def test_cli_inspect_json(examples, ansi_nist):
    runner = CliRunner()
    res = runner.invoke(app, ["nist", "inspect", "--json", str(examples / "car-booking.an2")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["valid"] and doc["tot"] == "CAR" and doc["ori"] == "MA0130100"
    imgs = [r["image"] for r in doc["records"] if r["image"]]
    assert len(imgs) == 10 and all(i["decoded"] == i["declared"] == "400x400" for i in imgs)
    assert doc["records"][1]["fields"]["2.018 NAM"] == "TESTER,ALEX Q"
    res = runner.invoke(app, ["nist", "inspect", "--json", str(ansi_nist / "fail" / "fail-type-1-L2.an2")])
    assert res.exit_code == 1
    doc = json.loads(res.output)
    assert not doc["valid"] and {"record": "Type-2 #2", "field": "2.002 IDC"}.items() <= doc["errors"][0].items()


def test_cli_inspect_tables(examples, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["nist", "inspect", str(examples / "invalid-car-corrupt-wsq.an2")])
    assert res.exit_code == 1 and "REJECTED" in res.output and "14.999 DATA" in res.output
    junk = tmp_path / "junk.an2"
    junk.write_bytes(b"\x00\x01garbage")
    res = runner.invoke(app, ["nist", "inspect", str(junk)])
    assert res.exit_code == 1 and "Type-1" in res.output
