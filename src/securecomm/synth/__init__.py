"""Synthetic fingerprints with ground truth, from a seed (SFinGe-style).

>>> from securecomm.synth import make_person, render
>>> person = make_person(7)
>>> imp = render(person.fingers[2], seed=1, kind="plain")
>>> imp.pixels.shape, len(imp.minutiae) > 0
((400, 400), True)

``master``      class, orientation, ridge period, fingertip, ridges, minutiae
``impression``  plain and rolled impressions with mapped ground truth
``persons``     ten-print persons
``templates``   template-level galleries without images (large scale)
``fvcdb``       FVC-layout databases on disk
"""

from securecomm.synth.impression import SIZES, Impression, render
from securecomm.synth.master import CLASS_FREQUENCIES, CLASSES, Master, MasterPattern, make_master
from securecomm.synth.persons import POSITIONS, Person, make_person

__all__ = ["CLASSES", "CLASS_FREQUENCIES", "Impression", "Master", "MasterPattern", "POSITIONS",
           "Person", "SIZES", "make_master", "make_person", "render"]
