"""``securecomm nist``: see the module docstring of the area it fronts."""

from __future__ import annotations

import typer

app = typer.Typer(help="nist commands", no_args_is_help=True)
