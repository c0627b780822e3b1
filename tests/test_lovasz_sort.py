"""The Lovasz weights of eager CPU calls (NumPy, radix sort) against Berman's definition, and one tie
order on every path: the host sort and Paddle's stable argsort of a static graph give the same gradient."""
import numpy as np
import paddle
import pytest

from symloss.paddle import LOSSES, _runtime as R


def _awkward(rng, shape, dtype):
    """Errors with ties, signed zeros, infinities and negative values (hinge errors can be < 0)."""
    e = rng.standard_normal(shape).astype(dtype)
    e.reshape(-1)[::3] = np.round(e.reshape(-1)[::3])  # many ties
    flat = e.reshape(-1)
    flat[:4] = [-0.0, 0.0, -np.inf, np.inf]
    flat[4:8] = -0.0
    return e


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_radix_order_is_numpys_stable_descending_order(dtype):
    rng = np.random.default_rng(0)
    e = _awkward(rng, (3, 4097), dtype)
    keys = R._descending_keys(e)
    for r in range(e.shape[0]):
        np.testing.assert_array_equal(R._stable_order(keys[r]), np.argsort(-e[r], kind="stable"))


def berman_weights(errors, targets):
    """Lovasz gradient of one row, float64, from Berman et al.'s definition: sort by error descending
    (ties in index order), Jaccard loss of every prefix, its increments put back in place."""
    order = np.argsort(-errors, kind="stable")
    gt = targets[order].astype(np.float64)
    intersection = gt.sum() - np.cumsum(gt)
    union = gt.sum() + np.cumsum(1 - gt)
    jaccard = 1 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    out = np.empty_like(jaccard)
    out[order] = jaccard
    return out


@pytest.mark.parametrize("hard", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_host_weights_follow_berman(dtype, hard):
    rng = np.random.default_rng(1)
    e = np.abs(_awkward(rng, (2, 3, 50), dtype))
    e[0, 0, -5:] = -np.inf  # ignored pixels sort last
    t = rng.integers(0, 2, e.shape).astype(dtype) if hard else rng.random(e.shape).astype(dtype)
    t[1, 2] = 0  # a row without positives
    w = R._lovasz_weights_numpy(e.reshape(6, 1, 50), t.reshape(6, 1, 50), hard=hard).reshape(e.shape)
    assert w.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for a in range(2):
        for b in range(3):
            np.testing.assert_allclose(w[a, b], berman_weights(e[a, b], t[a, b]), rtol=tol, atol=tol)


def test_soft_target_extension_stays_accurate_over_a_large_image():
    """The running sums of a soft target over 512x512 pixels: in float32 they cost the Lovasz
    extension 1e-6 of its value here (2e-5 on the accuracy corpus); accumulated in float64 the
    float32 weights keep it within 1e-10."""
    rng = np.random.default_rng(3)
    e = (0.5 + rng.random((1, 1, 512 * 512))).astype(np.float32)
    t = (rng.random(e.shape) < 0.3).astype(np.float32) * rng.random(e.shape).astype(np.float32)
    w = R._lovasz_weights_numpy(e, t, hard=False)
    exact = float(np.dot(berman_weights(e.ravel().astype(np.float64), t.ravel()), e.ravel()))
    measured = float(np.dot(w.ravel().astype(np.float64), e.ravel()))
    assert abs(measured - exact) <= 1e-8 * abs(exact)


def _value_and_grad(loss, x, y):
    x = paddle.to_tensor(x)
    x.stop_gradient = False
    out = loss(x, paddle.to_tensor(y))
    out.backward()
    return float(out), x.grad.numpy()


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("name, classes", [("lovasz_softmax", 3), ("lovasz_hinge", 1), ("lovasz_hinge", 3)])
def test_eager_host_sort_and_graph_sort_agree_on_ties(name, classes, batch):
    rng = np.random.default_rng(2)
    x = (np.round(rng.standard_normal((2, classes, 5, 6))) * 0.3).astype("float32")  # many tied errors
    y = rng.integers(0, max(classes, 2), (2, 5, 6))
    y[0, 0, :2] = 255
    eager = _value_and_grad(LOSSES[name](batch=batch), x, y)
    static = _value_and_grad(paddle.jit.to_static(LOSSES[name](batch=batch), full_graph=True), x, y)
    np.testing.assert_allclose(static[0], eager[0], rtol=1e-6)
    np.testing.assert_allclose(static[1], eager[1], rtol=1e-5, atol=1e-7)


def _context(x, y, batch, background=True):
    return R.Context("lovasz_test", x, y, activation="auto", ignore_index=255, include_background=background,
                     batch=batch, sync=False, reduction="none")


def _fused_and_product(form, x, y, batch, cotangent, background=True):
    """(value, gradient) of the row-at-a-time sum (_LovaszSum) and of the product path it replaces."""
    out = []
    for fused in (True, False):
        xt = paddle.to_tensor(x)
        xt.stop_gradient = False
        ctx = _context(xt, y, batch, background)
        g = ctx.g
        if form == "abs":
            p = ctx.probs()
            e = paddle.abs(g - p)
            s = ctx.lovasz_abs_sum(p) if fused else ctx.msum(e * ctx.lovasz_weights(e, g))
        elif form == "hinge":
            t = ctx.logits()
            e = -t * (2 * g - 1) + 1
            s = ctx.lovasz_hinge_sum(t) if fused else ctx.msum(paddle.clip(e, min=0) * ctx.lovasz_weights(e, g))
        else:  # values other than the errors sorted by: v = p^2, e = |g - p|
            p = ctx.probs()
            e, v = paddle.abs(g - p), ctx.probs() ** 2
            s = ctx.lovasz_sum(v, e, g) if fused else ctx.msum(v * ctx.lovasz_weights(e, g))
        (s * paddle.to_tensor(cotangent[: s.shape[0], : s.shape[1]].astype(x.dtype))).sum().backward()
        out.append((s.numpy(), xt.grad.numpy()))
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("form", ["abs", "hinge", "given"])
def test_row_at_a_time_lovasz_sums_equal_the_weighted_product(form, batch, dtype):
    """Ties (rounded logits, hinge errors of exactly 0), ignored pixels, soft targets, one and three
    classes: the same weights, so the same gradient to the last bit, and the same sums to rounding
    (accumulated in float64 here, pairwise in the compute dtype there)."""
    rng = np.random.default_rng(7)
    for classes in (1, 3):
        for target in ("hard", "ignored", "soft"):
            x = (np.round(rng.standard_normal((3, classes, 5, 6)) * 2) / 2).astype(dtype)  # ties, |x| = 1
            if target == "soft":
                y = paddle.to_tensor(rng.random(x.shape).astype(dtype))
            else:
                labels = rng.integers(0, max(classes, 2), (3, 5, 6))
                if target == "ignored":
                    labels[0, :2] = 255
                    labels[2] = 255  # a unit with no valid pixel
                y = paddle.to_tensor(labels)
            cotangent = rng.random((3, classes, 1))
            for background in (True, False) if classes > 1 else (True,):  # class c of the scope is c + 1
                (fused, grad_fused), (product, grad_product) = _fused_and_product(form, x, y, batch, cotangent,
                                                                                  background)
                np.testing.assert_array_equal(grad_fused, grad_product)
                tol = 1e-6 if dtype == "float32" else 1e-14
                np.testing.assert_allclose(fused, product, rtol=tol, atol=tol)


def test_lovasz_sums_are_fused_by_form():
    """|g - p| sorted by itself and the hinge of the logits form their errors a row at a time; any other
    values weighted by Lovasz weights still sum without a product field."""
    import sympy as sp

    from symloss.compiler.backend.ir import PIXELS, PIXELS_MASKED, TENSORS, LovaszAbsSum, LovaszHingeSum, LovaszSum, ReduceSum
    from symloss.compiler.backend.rules import fuse_lovasz_sums
    from symloss.compiler.frontend.primitives import LovaszWeights

    g, p, x = TENSORS["g"], TENSORS["p"], TENSORS["x"]
    abs_error, hinge = sp.Abs(g - p), 1 - x * (2 * g - 1)
    cases = [(abs_error, abs_error, LovaszAbsSum(p)), (sp.Abs(p - g), sp.Abs(p - g), LovaszAbsSum(p)),
             (sp.Max(hinge, 0), hinge, LovaszHingeSum(x)), (p**2, abs_error, LovaszSum(p**2, abs_error, g))]
    # forms that only look like them keep the general kernel, which forms no error of its own
    squared_hinge, biased = 1 - x * g * (2 * g - 1), 1 - x * (2 * g - 1) + g
    for values, errors in [(sp.Max(hinge, 1), hinge), (sp.Max(squared_hinge, 0), squared_hinge),
                           (sp.Max(biased, 0), biased), (sp.Abs(2 * g - p), sp.Abs(2 * g - p)),
                           (abs_error, sp.Abs(g - x))]:
        cases.append((values, errors, LovaszSum(values, errors, g)))
    for values, errors, kernel in cases:
        fused, rules = fuse_lovasz_sums(5 * ReduceSum(values * LovaszWeights(errors, g), PIXELS_MASKED))
        assert fused == 5 * kernel and rules == ["lovasz_sum"]
    not_g = TENSORS["p_all"]  # a target other than g: the general kernel too
    fused, _ = fuse_lovasz_sums(ReduceSum(abs_error * LovaszWeights(abs_error, not_g), PIXELS))
    assert fused == LovaszSum(abs_error, abs_error, not_g)


@pytest.mark.parametrize("form", ["abs", "hinge"])
def test_a_second_backward_pass_sorts_again(form):
    """The backward pass turns the weights into the gradient in their own memory; a second pass (a
    retained graph) finds them taken and sorts again, for the same gradient. Called directly: Paddle
    3.3's PyLayer itself fails a second backward pass through a retained graph."""
    from types import SimpleNamespace

    rng = np.random.default_rng(4)
    t = rng.standard_normal((2, 3, 30)).astype("float32")
    labels = rng.integers(0, 3, (2, 30))
    valid = labels != 0
    rows = (lambda images, c: labels[images] == c, valid, True, True)
    weights, _ = R._lovasz_pass(form, t, None, *rows)
    saved = paddle.to_tensor(t)
    ctx = SimpleNamespace(form=form, rows=rows, weights=weights, saved_tensor=lambda: (saved,))
    up = paddle.to_tensor(rng.random((1, 3, 1)).astype("float32"))
    first = R._LovaszSum.backward(ctx, up).numpy().copy()
    assert ctx.weights is None and np.abs(first).max() > 0
    np.testing.assert_array_equal(R._LovaszSum.backward(ctx, up).numpy(), first)
