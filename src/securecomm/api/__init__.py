"""The HTTP API (FastAPI): every party at its own door, through the service layer.

``create_app(url)`` builds the application on a store; ``securecomm serve`` runs it
under uvicorn. Each request authenticates with a bearer token (``securecomm tokens
issue``); the principal comes from the token only, and every endpoint calls one
service function in a unit of work with that principal -- permissions, scopes and
the audit are decided there. See ``docs/api.md``.
"""

from securecomm.api.app import create_app

__all__ = ["create_app"]
