"""Compute threads of one process: how many the extraction and search libraries may use.

A pipeline worker extracts one booking at a time, and ``securecomm work --workers N``
runs N of them: with N workers on N cores, every library thread pool beyond one per
worker only makes the workers' threads compete for the same cores (OpenCV's pool
busy-waits before it sleeps; BLAS and OpenMP pools spin likewise), which costs CPU
and buys no throughput. :func:`per_worker` says how many threads each worker gets,
:func:`environment` the variables a worker process must be started with (BLAS and
OpenMP read theirs when they load), :func:`limit` applies the cap in a running
process (OpenCV and numba can be told at any time). onnxruntime's intra-op threads
are set per session (``SECURECOMM_ONNX_THREADS``, default 1; engine.learned).

The cap changes no result: OpenCV splits an image into stripes computed by the same
code, and numba's parallel scoring writes each score from one thread (engine.match);
templates and scores are byte-identical with 1 or more threads.
"""

from __future__ import annotations

import os

#: Variables read by thread pools when their library loads: OpenMP, OpenBLAS, MKL, numba, OpenCV.
POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                  "OPENCV_FOR_THREADS_NUM")


def cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def per_worker(workers: int, available: int | None = None) -> int:
    """Threads each of ``workers`` processes gets so that together they use the cores once, at least 1."""
    return max(1, (available or cores()) // max(1, int(workers)))


def environment(threads: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The pool variables for a process limited to ``threads``; a value the operator set stays."""
    env = dict(os.environ if base is None else base)
    for name in POOL_VARIABLES:
        env.setdefault(name, str(int(threads)))
    return env


def limit(threads: int) -> int:
    """Cap OpenCV's and numba's pools in this process at ``threads``; returns the cap applied."""
    n = max(1, int(threads))
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:  # pragma: no cover - OpenCV is a dependency of the engine
        pass
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:  # pragma: no cover - numba is a dependency of the engine
        pass
    return n


#: The thread-count setters and getters of the OpenBLAS builds NumPy and SciPy bundle (their names carry a prefix
#: and an ILP64 suffix depending on the build).
_BLAS_SET = ("openblas_set_num_threads", "openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
             "scipy_openblas_set_num_threads64_")
_BLAS_GET = ("openblas_get_num_threads", "openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
             "scipy_openblas_get_num_threads64_")


def _loaded_openblas() -> list[tuple[object, object]]:
    """(setter, getter) of each OpenBLAS library loaded in this process (Linux: /proc/self/maps); [] elsewhere."""
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    out = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _BLAS_SET if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _BLAS_GET if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            out.append((setter, getter))
    return out


class blas_threads:
    """Cap the loaded OpenBLAS libraries at ``threads`` threads while the block runs, then restore them.

    BLAS reads ``OPENBLAS_NUM_THREADS`` only when it loads, so a running process (the ``securecomm
    simulate`` command) is capped through OpenBLAS's own setter. A single matrix-vector product per search
    (engine.index) gains nothing from OpenBLAS's threads but their busy-waiting: measured in the
    simulation, the same wall time for twice the CPU. Each product's elements are computed by the same
    kernel whatever the count, so results are identical. Without OpenBLAS (or off Linux) it does nothing.
    """

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, int(threads))
        self._saved: list[tuple[object, int]] = []

    def __enter__(self) -> "blas_threads":
        for setter, getter in _loaded_openblas():
            self._saved.append((setter, int(getter())))
            setter(self.threads)
        return self

    def __exit__(self, *exc: object) -> None:
        for setter, n in self._saved:
            setter(n)
        self._saved = []
