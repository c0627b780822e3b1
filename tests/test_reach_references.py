"""The newer losses against float64 NumPy translations of their references (tests/references/), value and
gradient, at the conventions the references define (see tests/references/CONVENTIONS.md)."""
import numpy as np
import pytest

from references import kornia, monai, nnunet, paddleseg
from references.gradcheck import assert_gradient_close, numerical_gradient

paddle = pytest.importorskip("paddle")
from symloss.paddle import FUNCTIONS  # noqa: E402
from paddle_calls import value_and_grad  # noqa: E402


def batch(classes, shape=(2, 5, 6), seed=0, scale=2.0, ignored=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, scale, size=(shape[0], classes) + shape[1:])
    y = rng.integers(0, max(classes, 2), size=shape)
    y[rng.random(shape) < ignored] = 255
    return x, y


def check(name, reference, x, y, rtol=1e-10, **kw):
    value, grad = value_and_grad(FUNCTIONS[name], x, y, **kw)
    expected = reference(x)
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=1e-12)
    cotangent = None if np.ndim(expected) == 0 else np.ones_like(expected)
    assert_gradient_close(grad, numerical_gradient(reference, x, cotangent=cotangent))


# -------------------------------------------------------------------- asymmetric unified focal family (MONAI)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_asym_focal_is_monai(reduction):
    x, y = batch(2)
    check("asym_focal", lambda v: monai.asymmetric_focal_loss(v, y, reduction=reduction), x, y,
          reduction=reduction, ignore_index=None)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_asym_focal_tversky_is_monai(reduction):
    x, y = batch(2, seed=1)
    check("asym_focal_tversky", lambda v: monai.asymmetric_focal_tversky_loss(v, y, reduction=reduction), x, y,
          reduction=reduction, ignore_index=None)


@pytest.mark.parametrize("classes", [1, 2])
def test_asym_unified_focal_is_monai(classes):
    """MONAI's defaults (delta 0.7); one channel is read as [1 - p, p] by both."""
    x, y = batch(classes, seed=2)
    activation = "sigmoid" if classes == 1 else "softmax"
    check("asym_unified_focal",
          lambda v: monai.asymmetric_unified_focal_loss(v, y, delta=0.7, activation=activation), x, y,
          delta=0.7, ignore_index=None)


def test_asym_focal_generalises_with_class_zero_suppressed():
    """C > 2 (Yeung et al.): the background term as MONAI's channel 0, every other class as its channel 1."""
    x, y = batch(4, seed=3)
    value, _ = value_and_grad(FUNCTIONS["asym_focal"], x, y, reduction="none", ignore_index=None)
    p = np.clip(np.exp(x) / np.exp(x).sum(axis=1, keepdims=True), 1e-7, 1 - 1e-7)
    g = (y[:, None] == np.arange(4)[None, :, None, None]).astype(float)
    ce = -g * np.log(p)
    np.testing.assert_allclose(value[:, 0], 0.3 * (1 - p[:, 0]) ** 2 * ce[:, 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(value[:, 1:], 0.7 * ce[:, 1:], rtol=1e-12, atol=1e-15)


# -------------------------------------------------------------------- order statistics
@pytest.mark.parametrize("k", [10.0, 37.5, 100.0])
def test_topk_ce_is_nnunet_over_the_batch(k):
    x, y = batch(3, shape=(2, 6, 7), seed=4)
    check("topk_ce", lambda v: nnunet.topk_loss(v, y, k=k), x, y, k=k, batch=True, ignore_index=None)


def test_topk_ce_never_selects_ignored_pixels():
    """nnU-Net counts ignored voxels in its k% as zeros; here the k% is of the valid pixels only."""
    x, y = batch(3, shape=(2, 6, 7), seed=5, ignored=0.3)
    valid = y != 255
    value, _ = value_and_grad(FUNCTIONS["topk_ce"], x, y, k=25.0, batch=True)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    ce = -np.take_along_axis(logp, np.where(valid, y, 0)[:, None], axis=1)[:, 0][valid]
    kept = int(np.floor(ce.size * 0.25))
    np.testing.assert_allclose(float(value), np.sort(ce)[::-1][:kept].mean(), rtol=1e-12)


@pytest.mark.parametrize("thresh, min_kept", [(0.7, 20), (0.3, 5), (0.7, 0), (0.9, 10000), (0.2, 1)])
def test_ohem_ce_is_paddleseg_over_the_batch(thresh, min_kept):
    """PaddleSeg divides by the kept count plus 1e-5 per pixel of the batch; symloss by the kept count."""
    x, y = batch(3, shape=(2, 6, 7), seed=6, ignored=0.2)
    pixels = y.size

    def reference(v):
        kept = paddleseg.ohem_kept_mask(v, y, thresh=thresh, min_kept=min_kept).sum()
        exact = (kept + 1e-5 * pixels) / kept if kept else 1.0
        return paddleseg.ohem_cross_entropy_loss(v, y, thresh=thresh, min_kept=min_kept) * exact

    check("ohem_ce", reference, x, y, thresh=thresh, min_kept=float(min_kept), batch=True)


def test_order_statistics_refuse_to_span_ranks():
    """Refused in a single process too, so that the configuration fails on its first run."""
    x, y = batch(3)
    for name in ("topk_ce", "ohem_ce"):
        with pytest.raises(ValueError, match="sync got True with batch=True"):
            FUNCTIONS[name](paddle.to_tensor(x), paddle.to_tensor(y), batch=True, sync=True)


# -------------------------------------------------------------------- boundary and topology (MONAI, kornia)
@pytest.mark.parametrize("shape", [(2, 7, 8), (2, 4, 5, 3)])
@pytest.mark.parametrize("batch_", [False, True])
def test_boundary_is_monai(shape, batch_):
    x, y = batch(3, shape=shape, seed=7)
    check("boundary", lambda v: monai.boundary_loss(v, y, batch=batch_, reduction="none"), x, y,
          batch=batch_, reduction="none", ignore_index=None, rtol=1e-12)


def test_log_hausdorff_dt_is_monai_per_entry():
    """MONAI's reduction="none": log(1 + entry) per (image, class); keep probabilities away from 0.5 (the
    prediction's distance field is piecewise constant there)."""
    x, y = batch(3, shape=(2, 6, 7), seed=8, scale=4.0)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert np.min(np.abs(p - 0.5)) > 1e-3

    def reference(v):
        return monai.log_hausdorff_dt_loss(v, y, include_background=True, reduction="none").reshape(2, 3)

    check("log_hausdorff_dt", reference, x, y, reduction="none", ignore_index=None)


@pytest.mark.parametrize("shape", [(2, 6, 7), (1, 4, 5, 4)])
@pytest.mark.parametrize("include_background", [True, False])
def test_cldice_is_monai(shape, include_background):
    x, y = batch(3, shape=shape, seed=9)

    def reference(v):
        return monai.soft_cldice_loss(v, y, include_background=include_background, reduction="none")

    check("cldice", reference, x, y, include_background=include_background, reduction="none", ignore_index=None)


@pytest.mark.parametrize("iters", [0, 1, 5])
def test_dice_cldice_is_monai(iters):
    x, y = batch(2, shape=(2, 8, 7), seed=10)
    check("dice_cldice", lambda v: monai.soft_dice_cldice_loss(v, y, iter_=iters, alpha=0.3), x, y,
          iters=float(iters), alpha=0.3, ignore_index=None)


@pytest.mark.parametrize("shape", [(2, 6, 7), (1, 4, 5, 3)])
def test_hausdorff_er_is_kornia(shape, monkeypatch):
    """kornia keeps its cross weights in float32 (0.2000000030); the reference is run with exact weights."""
    monkeypatch.setattr(kornia, "KERNEL_WEIGHT", {2: 0.2, 3: 1 / 7})
    x, y = batch(3, shape=shape, seed=11)
    value, grad = value_and_grad(FUNCTIONS["hausdorff_er"], x, y, reduction="none", ignore_index=None)
    expected = kornia.hausdorff_er_loss(x, y, reduction="none")  # (C, N, 1, *spatial)
    np.testing.assert_allclose(value, np.moveaxis(expected[:, :, 0], 0, 1), rtol=1e-10, atol=1e-12)
    check("hausdorff_er", lambda v: kornia.hausdorff_er_loss(v, y), x, y, ignore_index=None)


def test_neighbourhood_operators_stay_within_each_image_with_batch():
    """The skeleton is per image and class: batch=True changes the sums, not the operators."""
    x, y = batch(2, shape=(2, 6, 6), seed=12)
    per_image = [float(value_and_grad(FUNCTIONS["cldice"], x[b:b + 1], y[b:b + 1], batch=True, ignore_index=None)[0]) for b in range(2)]
    swapped = [float(value_and_grad(FUNCTIONS["cldice"], x[::-1][b:b + 1], y[::-1][b:b + 1], batch=True, ignore_index=None)[0])
               for b in range(2)]
    assert per_image == swapped[::-1]
    both, _ = value_and_grad(FUNCTIONS["cldice"], x, y, reduction="none", ignore_index=None)
    np.testing.assert_allclose(both, per_image, rtol=1e-12)


def test_ohem_ce_is_the_real_paddleseg_loss():
    """PaddleSeg 2.8.0's own OhemCrossEntropyLoss (int64 mask cast as in its develop branch, see
    benchmarks/pseg.py), after its 1e-5 in the denominator is taken out."""
    pytest.importorskip("paddleseg")
    from benchmarks import pseg

    x, y = batch(3, shape=(2, 6, 7), seed=13, ignored=0.1)
    for thresh, min_kept in ((0.7, 30), (0.5, 3), (0.7, 10000)):
        theirs = pseg.ohem_class()(thresh=thresh, min_kept=min_kept)(paddle.to_tensor(x), paddle.to_tensor(y))
        kept = paddleseg.ohem_kept_mask(x, y, thresh=thresh, min_kept=min_kept).sum()
        value, _ = value_and_grad(FUNCTIONS["ohem_ce"], x, y, thresh=thresh, min_kept=float(min_kept), batch=True)
        np.testing.assert_allclose(float(value), float(theirs) * (kept + 1e-5 * y.size) / kept, rtol=1e-6)
