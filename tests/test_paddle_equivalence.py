"""Where Paddle has its own loss, the generated one equals it on the same inputs."""
import numpy as np
import pytest

paddle = pytest.importorskip("paddle")
import paddle.nn.functional as F  # noqa: E402

from symloss.paddle import bce_loss, cross_entropy_loss, focal_loss  # noqa: E402


def batch(c, seed=0, shape=(2, 5, 6), ignored=0.2):
    rng = np.random.default_rng(seed)
    x = paddle.to_tensor(rng.normal(0, 3, size=(shape[0], c) + shape[1:]), dtype="float64")
    y = rng.integers(0, max(c, 2), size=shape)
    y[rng.random(shape) < ignored] = 255
    return x, paddle.to_tensor(y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_equals_paddle(reduction, weighted):
    x, y = batch(4)
    weight = [0.5, 2.0, 1.0, 3.0] if weighted else None
    ours = cross_entropy_loss(x, y, weight=weight, reduction=reduction)
    theirs = F.cross_entropy(x, y, weight=paddle.to_tensor(weight, dtype="float64") if weighted else None,
                             ignore_index=255, axis=1, reduction=reduction)
    if reduction == "none":
        theirs = paddle.where(y == 255, paddle.zeros_like(theirs), theirs)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_equals_paddle(reduction):
    x, y = batch(1, ignored=0.0)
    target = y.unsqueeze(1).astype("float64")
    ours = bce_loss(x, y, reduction=reduction)
    theirs = F.binary_cross_entropy_with_logits(x, target, reduction=reduction)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_bce_with_ignored_pixels_equals_paddle_on_the_kept_pixels():
    x, y = batch(1, ignored=0.3)
    keep = (y != 255).unsqueeze(1)
    theirs = F.binary_cross_entropy_with_logits(x, y.unsqueeze(1).astype("float64").clip(0, 1), reduction="none")
    expected = float(paddle.sum(paddle.where(keep, theirs, paddle.zeros_like(theirs))) / paddle.sum(keep.astype("float64")))
    np.testing.assert_allclose(float(bce_loss(x, y)), expected, rtol=1e-12)


def test_focal_equals_paddle_sigmoid_focal_loss():
    x, y = batch(1, ignored=0.0)
    target = y.unsqueeze(1).astype("float64")
    positives = paddle.sum(target)
    theirs = F.sigmoid_focal_loss(x, target, normalizer=positives, alpha=0.25, gamma=2.0, reduction="sum")
    ours = focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="sum") / positives
    np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-12)
    per_pixel = F.sigmoid_focal_loss(x, target, alpha=0.25, gamma=2.0, reduction="none")
    np.testing.assert_allclose(focal_loss(x, y, reduction="none").numpy(), per_pixel.numpy(), rtol=1e-10, atol=1e-14)
