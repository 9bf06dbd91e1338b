"""Compute threads of the worker processes (engine.threads): N workers on N cores get one thread each,
an operator's own setting wins, and the cap changes no template."""

from __future__ import annotations

import cv2
import numba
import pytest

from securecomm.engine import threads


def test_the_cores_are_shared_among_the_workers():
    assert threads.per_worker(2, available=2) == 1
    assert threads.per_worker(3, available=2) == 1  # never below one
    assert threads.per_worker(2, available=8) == 4
    assert threads.per_worker(1, available=4) == 4
    assert threads.per_worker(0, available=4) == 4  # one worker at least


def test_the_environment_sizes_every_pool_and_keeps_what_the_operator_set():
    env = threads.environment(1, base={"OMP_NUM_THREADS": "3", "PATH": "/bin"})
    assert env["OMP_NUM_THREADS"] == "3" and env["PATH"] == "/bin"
    assert all(env[name] == "1" for name in threads.POOL_VARIABLES if name != "OMP_NUM_THREADS")


@pytest.fixture
def restore_pools():
    before = cv2.getNumThreads(), numba.get_num_threads()
    yield
    cv2.setNumThreads(before[0])
    numba.set_num_threads(before[1])


def test_limit_caps_opencv_and_numba_and_changes_no_template(restore_pools):
    from securecomm.engine.extractors import get
    from securecomm.synth import make_person, render

    master = make_person(4242)
    images = [(render(master.fingers[p], 7, "plain").pixels, 500.0) for p in (2, 7)]
    extractor = get("classical")
    threads.limit(2)
    two = [t.to_bytes() for t in extractor.extract_many(images, positions=[2, 7])]
    assert threads.limit(1) == 1
    assert cv2.getNumThreads() == 1 and numba.get_num_threads() == 1
    one = [t.to_bytes() for t in extractor.extract_many(images, positions=[2, 7])]
    assert one == two
