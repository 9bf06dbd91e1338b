"""The ``securecomm`` command line: one module per area, assembled in ``app``."""
