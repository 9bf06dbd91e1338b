"""The ASGI application ``securecomm serve`` runs: the store named by ``$SECURECOMM_DATABASE_URL``,
the per-user rate limit from ``$SECURECOMM_API_RATE`` (requests per second; 0: none)."""

import os

from securecomm.api.app import RATE, create_app

app = create_app(rate=float(os.environ.get("SECURECOMM_API_RATE", RATE)))
