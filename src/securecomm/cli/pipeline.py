"""Pipeline commands: init, enroll, agencies, activate, submit, work, status, responses, review, demo."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the root app."""
