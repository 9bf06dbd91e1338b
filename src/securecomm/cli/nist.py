"""``securecomm nist``: look inside ANSI/NIST-ITL transactions (see :mod:`securecomm.interchange`).

``securecomm nist inspect FILE [--json] [--fields/--no-fields]``  records, TOT, fields, decoded
image sizes and every validation finding; exit status 1 when the file is not acceptable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="nist commands", no_args_is_help=True)


def _image_info(ins: Any, rec: Any) -> dict[str, Any] | None:
    """What is known about a record's image: declared and decoded size, compression, position."""
    from securecomm.interchange.images import GCA_CODES

    if rec.tagged:
        if 999 not in rec.fields or not rec.value(6):
            return None
        info: dict[str, Any] = {"compression": rec.value(11), "declared": f"{rec.value(6)}x{rec.value(7)}",
                                "bytes": len(rec.data)}
        if rec.rtype in (13, 14, 15):
            info["position"] = " ".join(s[0] for s in rec.fields[13].subfields if s) if 13 in rec.fields else ""
            info["impression"] = rec.value(3)
    elif "HLL" in rec.header and "GCA" in rec.header:
        info = {"compression": GCA_CODES.get(rec.header["GCA"], str(rec.header["GCA"])),
                "declared": f"{rec.header['HLL']}x{rec.header['VLL']}", "bytes": len(rec.data),
                "position": " ".join(str(p) for p in rec.header["FGP"] if p != 255),
                "impression": str(rec.header["IMP"])}
    else:
        return None
    pix = ins.images.get(rec.position)
    info["decoded"] = f"{pix.shape[1]}x{pix.shape[0]}" if pix is not None else None
    return info


def _record_fields(rec: Any) -> dict[str, str]:
    if rec.tagged:
        return {rec.fields[n].label: rec.fields[n].text() for n in rec.field_order}
    return {f"{rec.rtype}.{k}": str(v) for k, v in rec.header.items() if not k.startswith("_")} | {
        f"{rec.rtype}.DATA": f"<{len(rec.data)} bytes>"}


def inspection_document(path: Path, data: bytes) -> dict[str, Any]:
    """The JSON form of ``inspect`` (also what the tests check)."""
    from securecomm.interchange import TransactionRejected
    from securecomm.interchange.reader import inspect_transaction

    try:
        ins = inspect_transaction(data)
    except TransactionRejected as exc:
        return {"file": str(path), "size": len(data), "valid": False, "tot": None, "records": [],
                "errors": [_err(e) for e in exc.errors],
                "warnings": []}
    t1 = ins.records[0]
    doc: dict[str, Any] = {
        "file": str(path), "size": len(data), "valid": ins.valid,
        "version": t1.value(2), "tot": t1.value(4), "date": t1.value(5), "dai": t1.value(7),
        "ori": t1.value(8), "tcn": t1.value(9), "tcr": t1.value(10),
        "records": [], "errors": [_err(e) for e in ins.errors], "warnings": [_err(e) for e in ins.warnings],
    }
    for rec in ins.records:
        doc["records"].append({"position": rec.position, "label": rec.label, "type": rec.rtype, "idc": rec.idc,
                               "length": rec.length, "fields": _record_fields(rec), "image": _image_info(ins, rec)})
    return doc


def _err(e: Any) -> dict[str, str]:
    return {"record": e.record, "field": e.field, "reason": e.reason}


@app.command("inspect")
def inspect(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="an ANSI/NIST-ITL file"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document instead of tables"),
    show_fields: bool = typer.Option(True, "--fields/--no-fields", help="list every field of every record"),
) -> None:
    """Show a transaction's records, TOT, fields, decoded image sizes and validation findings."""
    doc = inspection_document(file, file.read_bytes())
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        _print_tables(doc, show_fields)
    if not doc["valid"]:
        raise typer.Exit(1)


def _print_tables(doc: dict[str, Any], show_fields: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    status = "[green]valid[/]" if doc["valid"] else "[red]REJECTED[/]"
    con.print(f"[bold]{doc['file']}[/]  {doc['size']:,} bytes  {status}")
    if doc.get("tot") is not None:
        con.print(f"TOT [bold]{doc['tot']}[/]  VER {doc['version']}  DAT {doc['date']}  ORI {doc['ori']}  "
                  f"DAI {doc['dai']}  TCN {doc['tcn']}" + (f"  TCR {doc['tcr']}" if doc["tcr"] else ""))
    if doc["records"]:
        t = Table(title="records")
        for col in ("record", "IDC", "bytes", "fields", "image", "FGP", "IMP", "declared", "decoded"):
            t.add_column(col, no_wrap=True)
        for r in doc["records"]:
            img = r["image"] or {}
            dec = img.get("decoded")
            t.add_row(r["label"], "" if r["idc"] is None else str(r["idc"]), f"{r['length']:,}",
                      str(len(r["fields"])), img.get("compression", ""), img.get("position", ""),
                      img.get("impression", ""), img.get("declared", ""),
                      ("" if not img else (dec or "[red]not decoded[/]")))
        con.print(t)
    if show_fields:
        for r in doc["records"]:
            ft = Table(title=r["label"], show_header=False)
            ft.add_column("field", style="cyan")
            ft.add_column("value", overflow="fold")
            for k, v in r["fields"].items():
                ft.add_row(k, v if len(v) <= 200 else v[:200] + "...")
            con.print(ft)
    for kind, style in (("errors", "red"), ("warnings", "yellow")):
        if doc[kind]:
            ft = Table(title=kind, title_style=style)
            for col in ("record", "field", "reason"):
                ft.add_column(col)
            for e in doc[kind]:
                ft.add_row(e["record"], e["field"], e["reason"])
            con.print(ft)
    if not doc["errors"] and not doc["warnings"]:
        con.print("no findings")
