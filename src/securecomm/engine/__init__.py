"""Fingerprint engine: image -> template -> score -> ten-print search.

Read the modules in the order of the data flow (docs/engine.md describes each
step; docs/benchmarks.md has the measured accuracy and speed):

``template``     the compact minutiae form every other step exchanges
``iso19794``     ISO/IEC 19794-2:2005 records to and from templates
``image``        input checks and resampling to 500 ppi
``segment`` -> ``orientation`` -> ``frequency`` -> ``enhance`` -> ``minutiae``
                 the extraction steps; ``quality`` scores the image 0-100
``extract``      ``extract(pixels, ppi) -> Template``, the steps in order
``mcc``          Minutia Cylinder-Code descriptors and LSS-R consolidation
``match``        ``match(a, b)``, packed galleries and ``match_many`` (bulk)
``tenprint``     ten-print fusion, 1:N search, hit / review / no-hit bands
``fvc``          the FVC protocol behind ``securecomm bench fvc``

Only the light modules are imported here, so reading a template does not pay
for compiling the matcher.
"""

from securecomm.engine.errors import ImageError, TemplateError
from securecomm.engine.template import Template

__all__ = ["ImageError", "Template", "TemplateError"]
