import numpy as np
import pytest

from securecomm.engine import Template, TemplateError


def _t(n=3):
    rng = np.random.default_rng(0)
    return Template(rng.uniform(0, 99, n), rng.uniform(0, 99, n), rng.uniform(0, 6.28, n),
                    rng.integers(1, 3, n), rng.integers(0, 101, n), 100, 100, image_quality=55)


def test_round_trip_bytes():
    t = _t(40)
    u = Template.from_bytes(t.to_bytes())
    for col in ("x", "y", "angle", "kind", "quality"):
        assert np.array_equal(getattr(t, col), getattr(u, col))
    assert (u.width, u.height, u.image_quality) == (100, 100, 55)


def test_extractor_and_source_resolution_are_stored():
    t = _t(7)
    t = Template(t.x, t.y, t.angle, t.kind, t.quality, 100, 100, image_quality=55, extractor="fused",
                 source_ppi=569, split=3)
    u = Template.from_bytes(t.to_bytes())
    assert (u.extractor, u.source_ppi, len(u), u.split) == ("fused", 569, 7, 3)
    parts = u.parts()
    assert len(parts["learned"]) == 3 and len(parts["classical"]) == 4
    assert parts["classical"].x[0] == t.x[3] and parts["learned"].extractor == "learned"
    with pytest.raises(TemplateError, match="split"):
        Template(t.x, t.y, t.angle, t.kind, t.quality, 100, 100, extractor="classical", split=2)
    with pytest.raises(TemplateError, match="unknown extractor"):
        Template(t.x, t.y, t.angle, t.kind, t.quality, 100, 100, extractor="neural")
    bad = bytearray(t.to_bytes())
    bad[16] = 9  # extractor code byte (after magic, 4 shorts, count, split)
    with pytest.raises(TemplateError, match="unknown extractor"):
        Template.from_bytes(bytes(bad))


def test_version_1_bytes_still_read():
    import struct

    t = _t(4)
    v1 = struct.pack("<4sHHHhB", b"SCT1", 100, 100, 500, 55, 4) + t.x.tobytes() + t.y.tobytes() \
        + t.angle.tobytes() + t.kind.tobytes() + t.quality.tobytes()
    u = Template.from_bytes(v1)
    assert u.extractor == "" and u.source_ppi == 0 and np.array_equal(u.x, t.x)


@pytest.mark.parametrize("data", [b"", b"SCT1", b"SCT2", b"XXXX" + bytes(20), _t(5).to_bytes()[:-1]])
def test_corrupt_bytes_raise(data):
    with pytest.raises(TemplateError):
        Template.from_bytes(data)


def test_absurd_counts_and_values_raise():
    n = 300
    with pytest.raises(TemplateError, match="255"):
        Template(np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n), np.zeros(n), 10, 10)
    with pytest.raises(TemplateError, match="bounds"):
        Template(np.array([50.0]), np.array([1.0]), np.array([0.0]), np.array([1]), np.array([1]), 10, 10)
    with pytest.raises(TemplateError, match="length"):
        Template(np.zeros(2), np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1), 10, 10)
