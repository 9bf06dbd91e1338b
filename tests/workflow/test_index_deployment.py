"""Workers of one machine search through one saved candidate index (issue 7, deployment).

``work --index-dir DIR`` (``PipelineConfig.index_dir``): at start the index is checked, brought up to
the repositories and saved once; the workers map it and top up from its watermark. A corrupt index
is rebuilt from the repository rows, never used half-read.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from securecomm.engine.index import IndexedBackend
from securecomm.store.workflow_models import Response
from securecomm.workflow.gallery import Galleries, prepare_index
from securecomm.workflow.pipeline import Worker, submit, transaction_status
from securecomm.workflow.stages import PipelineConfig


def test_the_index_is_prepared_once_and_the_workers_decide_through_it(store, scenario, tmp_path, caplog) -> None:
    folder = tmp_path / "index"
    added = prepare_index(store, folder)
    assert added["criminal"] > 0 and added["immigration"] > 0  # the scenario's enrolments, prepared once
    for kind in ("criminal", "immigration"):
        saved = IndexedBackend.load(folder / kind)
        assert 0 < len(saved) <= added[kind]
        assert json.loads((folder / kind / "manifest.json").read_text())["watermark"] > 0
    stamp = {k: (folder / k / "manifest.json").stat().st_mtime_ns for k in ("criminal", "immigration")}
    assert prepare_index(store, folder) == {"criminal": 0, "immigration": 0}  # nothing new since it was saved
    # ... and then nothing is rewritten
    assert stamp == {k: (folder / k / "manifest.json").stat().st_mtime_ns for k in ("criminal", "immigration")}

    for raw in scenario.bookings.values():
        assert submit(store, raw).outcome == "queued"
    config = PipelineConfig(min_fingers=2, index_dir=str(folder))
    worker = Worker(store, config, lease_seconds=30, galleries=Galleries(index_dir=folder, verify=False))
    assert isinstance(worker.galleries.criminal.gallery.backend, IndexedBackend)
    worker.run()

    b1 = scenario.tcns["b1_overstay"]  # the same flow as the exhaustive search gives (test_pipeline)
    assert transaction_status(store, b1)["state"] == "done"
    with Session(store) as s:
        kinds = sorted(s.scalars(select(Response.kind).where(Response.tcn == b1)).all())
    assert kinds == ["IAQ", "IAR", "IAR", "IAR", "IDR", "IDR", "SRE", "SRE"]
    # the bookings' no-hit enrolments are new rows: the next start takes them into the saved index
    assert prepare_index(store, folder)["criminal"] > 0

    # a damaged file: detected at load, rebuilt from the rows with a warning, never used half-read
    codes = folder / "criminal" / "codes.npy"
    codes.write_bytes(codes.read_bytes()[: codes.stat().st_size // 2])
    with caplog.at_level(logging.WARNING):
        rebuilt = prepare_index(store, folder)
    assert "rebuilding it from the repository rows" in caplog.text
    assert rebuilt["criminal"] > added["criminal"] and rebuilt["immigration"] == 0
    IndexedBackend.load(folder / "criminal")  # whole again


def test_an_index_of_older_codes_is_re_coded_not_rebuilt(store, scenario, tmp_path, caplog) -> None:
    """New code parameters (a new projection file) make saved indexes stale: the machine's start re-codes
    them from their stored templates (cylinders kept, nothing taken in again); a worker's unverified
    load does not re-code, it starts from the rows as for a damaged index."""
    def _make_stale(index) -> None:  # the manifest names other code parameters
        m = json.loads((index / "manifest.json").read_text())
        m["code_id"] = "an-older-code"
        (index / "manifest.json").write_text(json.dumps(m))

    folder = tmp_path / "index"
    prepare_index(store, folder)
    _make_stale(folder / "criminal")
    z = (folder / "criminal" / "z.npy").stat().st_mtime_ns
    with caplog.at_level(logging.WARNING):
        assert prepare_index(store, folder) == {"criminal": 0, "immigration": 0}
    assert "re-coding it from its stored templates" in caplog.text
    assert (folder / "criminal" / "z.npy").stat().st_mtime_ns == z
    IndexedBackend.load(folder / "criminal")  # current again
    _make_stale(folder / "criminal")
    g = Galleries(index_dir=folder, verify=False)
    assert (folder / "criminal" / "z.npy").stat().st_mtime_ns == z and g.criminal.unsaved
