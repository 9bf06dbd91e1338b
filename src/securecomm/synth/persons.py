"""Ten-print persons: ten independent master fingers, some missing or unprintable.

Each finger's master seed is derived from (person seed, finger position) with
numpy's SeedSequence, so fingers are independent, persons are independent,
and a person is just a seed plus ten small parameter records.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from securecomm.synth.master import Master, _check_seed, make_master

#: Finger positions of a ten-print (1 right thumb .. 5 right little, 6 left thumb .. 10 left little).
POSITIONS: tuple[int, ...] = tuple(range(1, 11))

#: Chance that a person has lost one or more fingers (amputation), and that a
#: finger that is present cannot be printed (worn, scarred, bandaged).
P_AMPUTEE = 0.02
P_UNPRINTABLE = 0.01


@dataclass(frozen=True, eq=False)
class Person:
    """A synthetic person's ten fingers by position; None marks a missing finger."""

    seed: int
    fingers: dict[int, Master | None]

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(p for p, m in self.fingers.items() if m is None)

    @property
    def unprintable(self) -> tuple[int, ...]:
        return tuple(p for p, m in self.fingers.items() if m is not None and m.unprintable)


def finger_seed(person_seed: int, position: int) -> int:
    """Master seed of one finger: a 63-bit hash of (person seed, position)."""
    state = np.random.SeedSequence([int(person_seed), int(position), 0x46494E47]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def make_person(seed: int) -> Person:
    """Ten independent master fingers from ``seed``; occasionally missing or unprintable ones."""
    seed = _check_seed(seed)
    rng = np.random.default_rng([seed, 0x50455253])  # "PERS"
    missing: set[int] = set()
    if rng.random() < P_AMPUTEE:
        n = int(rng.choice([1, 1, 1, 2, 3]))
        missing = {int(p) for p in rng.choice(POSITIONS, size=n, replace=False)}
    fingers: dict[int, Master | None] = {}
    for pos in POSITIONS:
        bad = rng.random() < P_UNPRINTABLE
        if pos in missing:
            fingers[pos] = None
            continue
        m = make_master(finger_seed(seed, pos), position=pos)
        if bad:
            m = dataclasses.replace(m, unprintable=True)
        fingers[pos] = m
    return Person(seed=seed, fingers=fingers)
