"""The ASGI application ``securecomm serve`` runs: the store named by ``$SECURECOMM_DATABASE_URL``."""

from securecomm.api.app import create_app

app = create_app()
