"""Audit export for oversight: filters, CSV and JSON, the chain hashes, CSV-injection safety, who may."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from securecomm.store.audit import row_digest
from securecomm.store.models import AuditEntry

from tests.api.test_api import api, bearer  # noqa: F401
from tests.api.test_console import signed_in


def test_export_filters_and_formats(api):  # noqa: F811
    client, sessions, toks, _ = api
    client.get("/api/v1/bookings/T-B-1", headers=bearer(toks["agency_a"]))  # a refusal to find again
    r = client.get("/api/v1/audit/export?format=json&actor=agency_a&action=refused", headers=bearer(toks["oversight"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "attachment" in r.headers["content-disposition"]
    doc = r.json()
    assert doc["rows"] and {(x["actor"], x["action"]) for x in doc["rows"]} == {("agency_a", "refused")}
    assert doc["complete"] and doc["exported_by"] == "oversight" and "actor=agency_a" in doc["filters"]
    kind = doc["rows"][0]["object_type"]
    r = client.get(f"/api/v1/audit/export?format=csv&object_type={kind}", headers=bearer(toks["oversight"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {x["object_type"] for x in rows} == {kind}
    assert [int(x["id"]) for x in rows] == sorted(int(x["id"]) for x in rows)
    page = client.get("/api/v1/audit/export?format=json&limit=2", headers=bearer(toks["oversight"])).json()
    assert len(page["rows"]) == 2 and not page["complete"]
    nxt = client.get(f"/api/v1/audit/export?format=json&limit=2&after_id={page['rows'][-1]['id']}",
                     headers=bearer(toks["oversight"])).json()
    assert nxt["rows"][0]["id"] > page["rows"][-1]["id"]
    r = client.get("/api/v1/audit/export?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z",
                   headers=bearer(toks["oversight"]))
    assert r.status_code == 422 and "until" in r.json()["detail"]
    assert client.get("/api/v1/audit/export?format=xml", headers=bearer(toks["oversight"])).status_code == 422
    assert client.get("/api/v1/audit/export", headers=bearer(toks["agency_a"])).status_code == 403
    with sessions() as s:  # the export itself is on the trail, with its filters
        row = s.scalars(select(AuditEntry).where(AuditEntry.action == "export")
                        .order_by(AuditEntry.id.desc())).first()
        assert row.actor == "oversight" and "rows as" in row.detail


def test_exported_rows_carry_their_chain_and_csv_cells_cannot_run(api):  # noqa: F811
    client, sessions, toks, _ = api
    with sessions() as s:
        s.add(AuditEntry(actor="=cmd|' /C calc'!A0", role="admin", action="read", object_type="x", object_id="1",
                         detail="@SUM(1+1)"))
        s.commit()
    client.get("/api/v1/me", headers=bearer(toks["oversight"]))  # a later unit of work seals pending rows
    text = client.get("/api/v1/audit/export?format=csv&object_type=x", headers=bearer(toks["oversight"])).text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["actor"].startswith("'=") and row["detail"].startswith("'@")
    doc = client.get("/api/v1/audit/export?format=json&limit=50", headers=bearer(toks["oversight"])).json()
    sealed = [x for x in doc["rows"] if x["row_hash"]]
    assert sealed
    with sessions() as s:
        for x in sealed[:10]:
            e = s.get(AuditEntry, x["id"])
            assert row_digest(e, x["chain_seq"], x["prev_hash"]) == x["row_hash"]


def test_console_audit_page_filters_and_links_the_export(api):  # noqa: F811
    _, sessions, toks, _ = api
    c = signed_in(sessions, toks["oversight"])
    page = c.get("/console/audit?actor=oversight&since=2020-01-01")
    assert page.status_code == 200 and "/console/audit/export?format=csv&amp;actor=oversight&amp;since=2020-01-01" in page.text
    r = c.get("/console/audit/export?format=csv&actor=oversight")
    assert r.status_code == 200 and r.text.startswith("id,at,actor")
    assert c.get("/console/audit?since=yesterday").status_code == 422
    assert signed_in(sessions, toks["agency_a"]).get("/console/audit/export").status_code == 403
