"""Errors the engine raises for bad input, so callers can name what was wrong."""


class ImageError(ValueError):
    """A fingerprint image that cannot be processed (empty, flat, tiny, wrong dtype)."""


class TemplateError(ValueError):
    """A template that is malformed (corrupt bytes, absurd minutiae counts, bad values)."""


class ExtractorUnavailable(RuntimeError):
    """The configured extractor cannot run (model file missing or corrupt, onnxruntime failing)."""
