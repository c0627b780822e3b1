"""Inputs where hand-written losses go NaN: empty and full targets, every pixel ignored, huge
logits, half precision. Every loss must stay finite in value and gradient."""
import numpy as np
import pytest

from registry_names import NAMES

paddle = pytest.importorskip("paddle")
from symloss.paddle import FUNCTIONS  # noqa: E402

SHAPES = {"binary": (2, 1, 4, 4), "multiclass": (2, 3, 4, 4)}


def logits(shape, scale=3.0, seed=0):
    return np.random.default_rng(seed).normal(0.0, scale, size=shape)


def labels(kind, shape, seed=0):
    n, c, *spatial = shape
    rng = np.random.default_rng(seed)
    classes = max(c, 2)
    if kind == "empty":
        return np.zeros([n] + spatial, dtype=np.int64)
    if kind == "full":
        return np.full([n] + spatial, classes - 1, dtype=np.int64)
    if kind == "ignored":
        return np.full([n] + spatial, 255, dtype=np.int64)
    if kind == "single":
        lab = np.full([n] + spatial, 255, dtype=np.int64)
        lab[:, 0, 0] = rng.integers(0, classes, size=n)
        return lab
    return rng.integers(0, classes, size=[n] + spatial)


def run(name, x, y, dtype="float32", **kw):
    xt = paddle.to_tensor(x).astype(dtype)
    xt.stop_gradient = False
    out = FUNCTIONS[name](xt, paddle.to_tensor(y), **kw)
    out.sum().backward()
    return out, xt.grad


def finite(t):
    return bool(np.isfinite(t.astype("float32").numpy()).all())


@pytest.mark.parametrize("kind", ["empty", "full", "single", "random"])
@pytest.mark.parametrize("layout", sorted(SHAPES))
@pytest.mark.parametrize("name", NAMES)
def test_degenerate_targets_stay_finite(name, layout, kind):
    shape = SHAPES[layout]
    for batch in (False, True):
        for reduction in ("mean", "sum", "none"):
            out, grad = run(name, logits(shape), labels(kind, shape), batch=batch, reduction=reduction)
            assert finite(out) and finite(grad), (batch, reduction)


@pytest.mark.parametrize("layout", sorted(SHAPES))
@pytest.mark.parametrize("name", NAMES)
def test_every_pixel_ignored_gives_zero_loss_and_zero_gradient(name, layout):
    shape = SHAPES[layout]
    for batch in (False, True):
        for reduction in ("mean", "sum"):
            out, grad = run(name, logits(shape), labels("ignored", shape), batch=batch, reduction=reduction)
            assert float(out) == 0.0
            assert np.all(grad.numpy() == 0.0)


@pytest.mark.parametrize("scale", [1e4, -1e4])
@pytest.mark.parametrize("layout", sorted(SHAPES))
@pytest.mark.parametrize("name", NAMES)
def test_huge_logits_stay_finite(name, layout, scale):
    shape = SHAPES[layout]
    x = np.sign(logits(shape)) * abs(scale)
    for kind in ("random", "empty", "full"):
        out, grad = run(name, x, labels(kind, shape))
        assert finite(out) and finite(grad), kind


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("layout", sorted(SHAPES))
@pytest.mark.parametrize("name", NAMES)
def test_half_precision_logits_compute_in_float32(name, layout, dtype):
    shape = SHAPES[layout]
    x = logits(shape, scale=4.0)
    y = labels("random", shape)
    half, grad = run(name, x, y, dtype=dtype)
    assert half.dtype == paddle.float32
    assert finite(half) and finite(grad)
    rounded = paddle.to_tensor(x).astype(dtype).astype("float32").numpy()
    full, _ = run(name, rounded, y, dtype="float32")
    np.testing.assert_allclose(half.numpy(), full.numpy(), rtol=1e-6, atol=1e-7)
