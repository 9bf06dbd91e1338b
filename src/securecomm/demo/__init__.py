"""The demo: a small synthetic state run through the real pipeline (``securecomm demo``)."""
