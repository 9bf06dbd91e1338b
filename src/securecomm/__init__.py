"""securecomm: an open implementation of Secure Communities.

Data flows top-down through the subpackages:

interchange  -> ANSI/NIST-ITL transactions in and out (CAR, SRE, ERRT), JSON IDR/IAQ/IAR
engine       -> fingerprint image -> template -> score -> ten-print 1:N search
synth        -> synthetic fingerprints and people with ground truth, from a seed
repositories -> the criminal (UCN, rap sheet) and immigration (FIN, encounters) repositories
policy       -> versioned data: offense levels, enforcement priorities
workflow     -> the booking pipeline's durable stages and status determination
store        -> SQLAlchemy models and Alembic migrations (SQLite or PostgreSQL)
cli          -> the `securecomm` command
"""

__version__ = "0.1.0"
