"""Root of the ``securecomm`` command; each area registers its own commands.

``nist``   -- read and check ANSI/NIST-ITL files       (cli/nist.py)
``bench``  -- engine benchmarks                        (cli/bench.py)
``synth``  -- synthetic fingerprint generation          (cli/synth.py)
pipeline   -- init, enroll, submit, work, status, ...  (cli/pipeline.py)
jobs, subjects -- parked jobs, consolidation and merges  (cli/operations.py)
stats, report -- the programme's statistics              (cli/stats.py)
simulate, whatif -- state-year simulation and replays     (cli/simulate.py)
serve, tokens, audit verify -- the HTTP API and its tokens   (cli/serve.py)
detainers -- decisions, answers, the hold clock, timers  (cli/detainers.py)
"""

from __future__ import annotations

import typer

from securecomm.cli import bench, detainers, nist, operations, pipeline, serve, simulate, stats, synth

app = typer.Typer(
    help="securecomm: booking fingerprints searched against criminal and immigration repositories.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(nist.app, name="nist")
app.add_typer(bench.app, name="bench")
app.add_typer(synth.app, name="synth")
pipeline.register(app)
operations.register(app)
stats.register(app)
simulate.register(app)
serve.register(app, pipeline.audit_app)
detainers.register(app)


def main() -> None:
    app()
