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


@pytest.mark.parametrize("data", [b"", b"SCT1", b"XXXX" + bytes(20), _t(5).to_bytes()[:-1]])
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
