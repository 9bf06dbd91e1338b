"""Root of the ``securecomm`` command; each area registers its own commands.

``nist``   -- read and check ANSI/NIST-ITL files       (cli/nist.py)
``bench``  -- engine benchmarks                        (cli/bench.py)
``synth``  -- synthetic fingerprint generation          (cli/synth.py)
pipeline   -- init, enroll, submit, work, status, ...  (cli/pipeline.py)
jobs, subjects -- parked jobs, consolidation and merges  (cli/operations.py)
stats, report -- the programme's statistics              (cli/stats.py)
simulate, whatif -- state-year simulation and replays     (cli/simulate.py)
<<<<<<< HEAD
detainers -- decisions, answers, the hold clock, timers  (cli/detainers.py)
=======
serve, tokens, audit verify -- the HTTP API and its tokens   (cli/serve.py)
>>>>>>> main
"""

from __future__ import annotations

import typer

<<<<<<< HEAD
from securecomm.cli import bench, detainers, nist, operations, pipeline, simulate, stats, synth
=======
from securecomm.cli import bench, nist, operations, pipeline, serve, simulate, stats, synth
>>>>>>> main

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
<<<<<<< HEAD
detainers.register(app)
=======
serve.register(app, pipeline.audit_app)
>>>>>>> main


def main() -> None:
    app()
