"""``securecomm bench``: engine benchmarks (see :mod:`securecomm.engine.fvc`).

``securecomm bench fvc DIR [--json] [--ppi N] [--templates extract|iso]
[--extractor classical|learned|fused] [--cache DIR] [--limit-fingers N]`` runs the FVC
all-pairs protocol on every ``DB*`` folder under DIR.

``securecomm bench search --subjects N --probes P [--non-mated M] [--json] [--gallery plain|rolled]
[--store DIR]`` runs the indexed ten-print search on a synthetic gallery, with the FPIR 0.1 % threshold
set from the best scores of the non-mated searches (see :mod:`securecomm.synth.search_bench`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="bench commands", no_args_is_help=True)


@app.command("fvc")
def fvc(
    directory: Path = typer.Argument(..., help="folder holding DB* folders of F_I.tif images (FVC layout)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
    ppi: Optional[float] = typer.Option(None, "--ppi", help="image resolution (default: a 'ppi' file, else 500)"),
    templates: str = typer.Option("extract", "--templates", help="extract (our extractor) or iso (the .iso files)"),
    limit_fingers: Optional[int] = typer.Option(None, "--limit-fingers", min=2,
                                                help="use only the first N fingers of each database"),
    extractor: str = typer.Option("classical", "--extractor",
                                  help="classical, learned (LEADER via onnxruntime) or fused (both merged)"),
    cache: Optional[Path] = typer.Option(None, "--cache",
                                         help="keep extracted templates in this folder and reuse them"),
) -> None:
    """EER, FMR100, FMR1000, ZeroFMR, extraction time and match throughput per database."""
    from securecomm.engine import fvc as runner

    if templates not in ("extract", "iso"):
        raise typer.BadParameter("must be 'extract' or 'iso'", param_hint="--templates")
    from securecomm.engine.extractors import NAMES

    if extractor not in NAMES:
        raise typer.BadParameter(f"must be one of {', '.join(NAMES)}", param_hint="--extractor")
    try:
        dbs = runner.find_databases(directory)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    try:
        if as_json:
            result = runner.run(directory, templates, ppi, limit_fingers, databases=dbs,
                                extractor=extractor, cache=cache)
        else:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            err = Console(file=sys.stderr)
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err) as bar:
                tasks: dict[str, int] = {}

                def progress(name: str, done: int, total: int) -> None:
                    if name not in tasks:
                        tasks[name] = bar.add_task(f"{name} templates", total=total)
                    bar.update(tasks[name], completed=done)

                result = runner.run(directory, templates, ppi, limit_fingers, databases=dbs, progress=progress,
                                    extractor=extractor, cache=cache)
    except (ValueError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    what = f"extractor: {extractor}" if templates == "extract" else "templates: iso"
    table = Table(title=f"FVC all-pairs protocol, {what}")
    for col in ("database", "EER %", "FMR100 %", "FMR1000 %", "ZeroFMR %", "genuine", "impostor",
                "extract ms (median)", "match pairs/s", "quality rho"):
        table.add_column(col, justify="right")
    for name, d in result["databases"].items():
        ems = d["extract_ms_median"]
        rho = d.get("quality_spearman")
        table.add_row(name, f"{d['eer_pct']:.2f}", f"{d['fmr100_pct']:.2f}", f"{d['fmr1000_pct']:.2f}",
                      f"{d['zerofmr_pct']:.2f}", str(d["genuine"]), str(d["impostor"]),
                      "-" if ems is None else f"{ems:.1f}", f"{d['match_pairs_per_s']:.0f}",
                      "-" if rho is None else f"{rho:.2f}")
    Console().print(table)
    Console().print(f"mean EER: {result['mean_eer_pct']:.2f} %")


@app.command("search")
def search(
    subjects: int = typer.Option(1000, "--subjects", min=2, help="ten-print subjects in the gallery"),
    probes: int = typer.Option(100, "--probes", min=1, help="probes: half mated, half not"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
    gallery: str = typer.Option("plain", "--gallery", help="gallery impressions: plain (rolled probes) or rolled"),
    shortlist: Optional[int] = typer.Option(None, "--shortlist", min=1, help="subjects verified per search"),
    sample: int = typer.Option(20, "--exhaustive-sample", min=0,
                               help="probes also searched exhaustively, half mated, half non-mated (agreement, exhaustive FNIR)"),
    store: Optional[Path] = typer.Option(None, "--store", help="save the index here, then load it back and "
                                         "search the loaded one (on-disk size, load time)"),
    seed: int = typer.Option(7, "--seed", help="synthetic gallery seed"),
    non_mated: Optional[int] = typer.Option(None, "--non-mated", min=1,
                                            help="non-mated probes (the FPIR threshold's sample); then "
                                                 "--probes is the number of mated probes"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="enrolment threads; with --index-dir, "
                                          "processes building segments at once (default: CPUs)"),
    index_dir: Optional[Path] = typer.Option(None, "--index-dir", help="build the gallery into a saved index "
                                             "there (in segments of --save-every subjects; an interrupted build "
                                             "resumes, a finished one is reused), then load it and search"),
    save_every: int = typer.Option(10_000, "--save-every", min=1, help="subjects per segment with --index-dir "
                                   "(each built and saved on its own, then all merged once)"),
    build_only: bool = typer.Option(False, "--build-only", help="stop after the build (with --index-dir: "
                                    "build apart, then time the searches in another run)"),
    rank_probes: int = typer.Option(0, "--rank-probes", min=0, help="more mated probes ranked by the index "
                                    "code alone (how often a mate falls beyond the shortlist)"),
) -> None:
    """Indexed 1:N search on a synthetic template gallery: build, size, latency, accuracy vs exhaustive."""
    from securecomm.synth import search_bench

    if gallery not in search_bench.KINDS:
        raise typer.BadParameter(f"must be one of {', '.join(search_bench.KINDS)}", param_hint="--gallery")
    say = (lambda msg: None) if as_json else (lambda msg: typer.echo(msg, err=True))
    try:
        result = search_bench.run(subjects, probes, gallery, seed=seed, shortlist=shortlist,
                                  exhaustive_sample=sample, store=store, progress=say, non_mated=non_mated,
                                  threads=threads, index_dir=index_dir, save_every=save_every,
                                  build_only=build_only, rank_probes=rank_probes)
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        typer.echo(f"{key:28} {'-' if value is None else value}")
