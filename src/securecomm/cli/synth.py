"""``securecomm synth``: synthetic fingerprints with ground truth (see :mod:`securecomm.synth`).

``securecomm synth fvc OUT --fingers N --impressions K --seed S``   FVC-layout database
``securecomm synth gallery --subjects N --seed S``                 template-level gallery speed
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

app = typer.Typer(help="synth commands", no_args_is_help=True)


@app.command("fvc")
def fvc(
    out: Path = typer.Argument(..., help="output folder; the database goes to OUT/DB1"),
    fingers: int = typer.Option(10, "--fingers", help="number of fingers (masters)"),
    impressions: int = typer.Option(8, "--impressions", help="impressions per finger"),
    seed: int = typer.Option(0, "--seed", help="seed: same seed, same bytes"),
    kind: str = typer.Option("plain", "--kind", help="plain (400x400) or rolled (800x750)"),
    workers: int = typer.Option(1, "--workers", help="processes (output does not depend on it)"),
    name: str = typer.Option("DB1", "--name", help="database folder name (must start with DB)"),
) -> None:
    """Write OUT/DB1/F_I.png (500 ppi) with ground-truth minutiae F_I.iso (ISO/IEC 19794-2)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from securecomm.synth.fvcdb import write_database

    if not name.startswith("DB"):
        raise typer.BadParameter("must start with 'DB' (the FVC layout)", param_hint="--name")
    err = Console(file=sys.stderr)
    t0 = time.perf_counter()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err) as bar:
            task = bar.add_task(f"{name} fingers", total=max(fingers, 1))
            db = write_database(out, fingers, impressions, seed, kind=kind, workers=workers, name=name,
                                progress=lambda done, total: bar.update(task, completed=done))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    dt = time.perf_counter() - t0
    err.print(f"wrote {fingers * impressions} impressions to {db} in {dt:.1f} s")


@app.command("gallery")
def gallery(
    subjects: int = typer.Option(100_000, "--subjects", help="ten-print subjects (10 fingers each)"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(None, "--out", help="save packed arrays to this .npz (omit to only time it)"),
    workers: int = typer.Option(1, "--workers", help="processes (output does not depend on it)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Generate a template-level gallery (no images) and report the speed."""
    import numpy as np

    from securecomm.synth import templates as T

    if subjects < 1:
        typer.echo(f"error: subjects must be >= 1, got {subjects}", err=True)
        raise typer.Exit(2)
    if workers < 1:
        typer.echo(f"error: workers must be >= 1, got {workers}", err=True)
        raise typer.Exit(2)
    n = subjects * 10
    t0 = time.perf_counter()
    total = 0
    parts = []
    for block in T.iter_blocks(n, seed, workers=workers):
        total += int(block.offsets[-1])
        if out is not None:
            parts.append(block)
    dt = time.perf_counter() - t0
    if out is not None:
        packed = T.concat(parts)
        np.savez(out, counts=packed.counts, **{k: getattr(packed, k) for k in ("x", "y", "angle", "kind", "quality")})
    result = {"subjects": subjects, "fingers": n, "minutiae": total, "seconds": round(dt, 3),
              "fingers_per_s": round(n / dt, 1), "mean_minutiae": round(total / n, 2)}
    typer.echo(json.dumps(result) if as_json else
               f"{n} fingers ({total} minutiae) in {dt:.1f} s: {n / dt:,.0f} fingers/s")
