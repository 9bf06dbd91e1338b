"""Fingerprint engine: image -> template -> score -> ten-print search.

Read the modules in the order of the data flow: ``template`` (the compact
minutiae form every other step exchanges), extraction, matching, ten-print
fusion and 1:N search.
"""

from securecomm.engine.errors import ImageError, TemplateError
from securecomm.engine.template import Template

__all__ = ["ImageError", "Template", "TemplateError"]
