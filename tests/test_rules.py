"""Each exact rewrite rule is an identity, proved; guards only act below EPS."""
import mpmath
import pytest
import sympy as sp

from symloss.compiler.dsl import c, i, x
from symloss.compiler.frontend.functions import sigmoid, softplus
from symloss.compiler.backend.ir import Clamp
from symloss.compiler.backend.rules import EPS, RULES, guard, rewrite


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_is_an_identity(rule):
    y = sp.Symbol("y", real=True)
    lhs, rhs = rule.obligation(y)
    difference = (lhs - rhs).rewrite(sp.exp)
    if sp.simplify(difference) != 0:  # |y| in log_cosh: prove exp(lhs - rhs) = 1 on each half-line
        for half in (sp.Symbol("u", positive=True), sp.Symbol("v", negative=True)):
            assert sp.simplify(sp.exp(difference.xreplace({y: half}))) == 1


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_agrees_numerically_at_moderate_inputs(rule):
    y = sp.Symbol("y", real=True)
    lhs, rhs = (sp.lambdify([y, sp.Symbol("y_1", real=True)], e.rewrite(sp.exp), "mpmath") for e in rule.obligation(y))
    with mpmath.workdps(40):
        for v in (-7.5, -0.3, 0.0, 0.8, 12.0):
            assert abs(lhs(v, 0.4) - rhs(v, 0.4)) < 1e-30


def test_stabilized_forms():
    z = x[c, i]
    assert rewrite(sp.log(sigmoid(z)))[0] == -softplus(-z)
    assert rewrite(sp.log(1 - sigmoid(z)))[0] == -softplus(z)
    assert rewrite(sp.log(1 / (1 + sp.exp(-z))))[0] == -softplus(-z)
    assert rewrite(sp.log(1 + sp.exp(z)))[0] == softplus(z)


def test_stable_form_is_finite_where_the_naive_one_overflows():
    z = sp.Symbol("z", real=True)
    naive = sp.lambdify(z, -sp.log(1 / (1 + sp.exp(-z))), "math")
    stable = sp.lambdify(z, rewrite(-sp.log(1 / (1 + sp.exp(-z))))[0].rewrite(sp.exp), "mpmath")
    with pytest.raises(OverflowError):
        naive(-800.0)
    assert abs(stable(-800.0) - 800) < 1e-9


def test_guard_clamps_only_logs_and_fractional_powers_of_fields():
    p = sp.IndexedBase("p")[c, i]
    guarded, fired = guard(sp.log(p) + (1 - p) ** sp.Rational(3, 4) + p**2 + sp.log(2))
    assert guarded == sp.log(Clamp(p, EPS)) + Clamp(1 - p, EPS) ** sp.Rational(3, 4) + p**2 + sp.log(2)
    assert fired == ["clamp_log", "clamp_power"]


def test_guard_leaves_a_target_factor_of_a_log_outside_the_clamp():
    """log(g t) is log(g) + log(Clamp(t)): -inf where g = 0, as the formula says; the clamped product gave
    log(EPS) there, a finite wrong value wherever the -inf makes a ratio 0 (a fuzzed spec returned -0.0011
    where the spec is 0)."""
    p, g = sp.IndexedBase("p")[c, i], sp.IndexedBase("g")[c, i]
    assert guard(sp.log(2 * g * p))[0] == sp.log(g) + sp.log(Clamp(2 * p, EPS))
    assert guard(sp.log((1 - g) * p))[0] == sp.log(1 - g) + sp.log(Clamp(p, EPS))
    assert guard(sp.log(g * p + g))[0] == sp.log(Clamp(g * p + g, EPS))  # a sum: clamped whole


def _log_softmax(x):
    """float64 log softmax over axis 1."""
    import numpy as np

    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def _log1m_softmax(x):
    """float64 log(1 - softmax) over axis 1, as log of the other classes' sum (no cancellation)."""
    import numpy as np

    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    others = np.stack([np.delete(e, k, axis=1).sum(axis=1) for k in range(x.shape[1])], axis=1)
    return np.log(others) - np.log(e.sum(axis=1, keepdims=True))


def _exact_softmax_bce_gradient(x, g, a, b, w, first):
    """The gradient over x of sum w * -(a g log p + b (1 - g) log(1 - p)), p = softmax(x) over axis 1, classes
    from `first` on, at 80 digits (1 - p as the others' mass): d_j = p_j (G_j - sum_k G_k p_k), G = dL/dp."""
    import numpy as np

    N, C, P = x.shape
    a, b = (np.broadcast_to(v, g.shape) for v in (a, b))
    out = np.zeros(x.shape)
    with mpmath.workdps(80):
        for n in range(N):
            for i in range(P):
                e = [mpmath.exp(mpmath.mpf(float(x[n, k, i]))) for k in range(C)]
                total = mpmath.fsum(e)
                G = [mpmath.mpf(0)] * C
                for k in range(first, C):
                    p, q = e[k] / total, mpmath.fsum(e[:k] + e[k + 1:]) / total
                    gk, ak, bk = (mpmath.mpf(float(v[n, k - first, i])) for v in (g, a, b))
                    G[k] = mpmath.mpf(float(w[n, k - first, i])) * (-ak * gk / p + bk * (1 - gk) / q)
                mean = mpmath.fsum(G[k] * e[k] / total for k in range(C))
                for j in range(C):
                    out[n, j, i] = float(e[j] / total * (G[j] - mean))
    return out


@pytest.mark.parametrize("weights", ["numbers", "maps"])
@pytest.mark.parametrize("labels", ["indices", "soft", "no_background", "ignored"])
def test_softmax_bce_gradient_is_exact_to_rounding_at_every_gap(labels, weights, monkeypatch):
    """The softmax BCE kernel's backward, in float32, against the exact gradient at 80 digits: per pixel
    within 100 float32 roundings (exp's condition at the largest gap here, 75), on an image whose top
    classes lie up to 38 above the rest (the backward from p and R: R >= e^-40) and one up to 75 above
    (the backward from log p and log(1 - p)); both paths run."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    fast = []
    original = _runtime._softmax_bce_backward_fast
    monkeypatch.setattr(_runtime, "_softmax_bce_backward_fast", lambda *args, **kw: fast.append(1) or original(*args, **kw))
    rng = np.random.default_rng(12)
    x = rng.normal(0, 3, size=(2, 4, 3, 5))
    x[0, 1, 0] += np.linspace(20, 38, 5)
    x[1, 2, :2] += np.linspace(45, 75, 10).reshape(2, 5)
    x = x.astype(np.float32)
    logit = paddle.to_tensor(x, stop_gradient=False)
    ctx = _runtime.Context("test", logit, paddle.to_tensor(draw_labels(rng, labels, 4)), activation="softmax",
                           ignore_index=255, include_background=labels != "no_background", batch=False, sync=False,
                           reduction="none")
    shape = (2, ctx.n_classes, 15)
    a, b = 2.0, 0.5
    if weights == "maps":
        a = paddle.to_tensor(rng.uniform(1, 3, size=shape).astype(np.float32))
        b = a * 0.5
    w = rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
    paddle.sum(ctx.softmax_bce(a, b) * paddle.to_tensor(w)).backward()
    assert len(fast) == 1  # the first image only
    if ctx.m is not None:
        w = w * ctx.m.numpy()
    numbers = [v if np.isscalar(v) else v.numpy() for v in (a, b)]
    exact = _exact_softmax_bce_gradient(x.reshape(2, 4, 15), ctx.g.numpy(), *numbers, w, ctx.first)
    got = logit.grad.numpy().reshape(exact.shape)
    scale = np.linalg.norm(exact, axis=1)
    assert np.all(np.linalg.norm(got, axis=1)[scale == 0] == 0)  # ignored pixels
    error = np.linalg.norm(got - exact, axis=1)[scale > 0] / scale[scale > 0]
    assert error.max() <= 100 * np.finfo(np.float32).eps


def test_log_one_minus_softmax_is_exact_in_float32_at_large_gaps():
    """1 - p of a confident class is the other classes' sum, not 1 - p rounded (which is 0 past a
    gap of about 17 in float32)."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, size=(2, 4, 6, 5))
    x[:, 1] += rng.uniform(0, 40, size=(2, 6, 5))  # gaps up to 40, below Paddle's softmax clip at 64
    x32 = x.astype("float32")
    ctx = _runtime.Context("test", paddle.to_tensor(x32), paddle.to_tensor(rng.integers(0, 4, size=(2, 6, 5))),
                           activation="auto", ignore_index=255, include_background=True, batch=False, sync=False,
                           reduction="none")
    expected = _log1m_softmax(x32.astype("float64"))
    np.testing.assert_allclose(ctx.log_one_minus_probs().numpy().reshape(x.shape), expected, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("labels", ["indices", "ignored", "soft", "no_background"])
def test_fused_kernels_equal_the_expressions_they_replace(labels):
    paddle = pytest.importorskip("paddle")
    import numpy as np
    import paddle.nn.functional as F
    from symloss.paddle import _runtime

    rng = np.random.default_rng(3)
    for classes in (1, 4):
        x = paddle.to_tensor(rng.normal(0, 4, size=(2, classes, 3, 5)))
        y = paddle.to_tensor(draw_labels(rng, labels, classes))
        options = dict(activation="auto", ignore_index=255, include_background=labels != "no_background",
                       batch=False, sync=False, reduction="none")
        ctx = _runtime.Context("test", x, y, **options)
        g, weight = ctx.g, ctx.class_weights("weight", list(rng.uniform(0.5, 2, size=classes)))
        if classes > 1:
            expected = -paddle.sum(weight * g * ctx.log_probs(), axis=1, keepdim=True)
            got = ctx.softmax_cross_entropy(weight)
            masked = (lambda t: t if ctx.m is None else t * ctx.m)
            np.testing.assert_allclose(masked(got).numpy(), masked(expected).numpy(), rtol=1e-12, atol=1e-12)
            for a, b in ((1.0, 1.0), (2.0, 0.5)):
                flat = x.numpy().reshape(2, classes, -1)
                expected = -(a * g.numpy() * _log_softmax(flat)[:, ctx.first:]
                             + b * (1 - g.numpy()) * _log1m_softmax(flat)[:, ctx.first:])
                np.testing.assert_allclose(masked(ctx.softmax_bce(a, b)).numpy(), masked(paddle.to_tensor(expected)).numpy(),
                                           rtol=1e-12, atol=1e-12)
        z = ctx.logits()
        for b in (1, 2.5):
            expected = b * g * F.softplus(-z) + (1 - g) * F.softplus(z)
            np.testing.assert_allclose(ctx.sigmoid_bce(b).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
        weights = paddle.to_tensor(rng.uniform(1, 2, size=(2, ctx.n_classes, 15)))  # e.g. distance maps
        for a, b in ((2.5, 0.5), (weights, 1.5 * weights), (1.0, 1.0)):
            expected = a * g * F.softplus(-z) + b * (1 - g) * F.softplus(z)
            np.testing.assert_allclose(ctx.sigmoid_bce(a, b).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


def test_kernels_are_chosen_only_when_optimising():
    from registry_names import REGISTRY
    from symloss.compiler.backend.emit import render_loss

    assert "ctx.softmax_cross_entropy(" in render_loss(REGISTRY["cross_entropy"], REGISTRY)
    assert "ctx.sigmoid_bce(beta)" in render_loss(REGISTRY["weighted_bce"], REGISTRY)
    assert "ctx.softmax_bce(beta, 1 - beta)" in render_loss(REGISTRY["balanced_bce"], REGISTRY)
    assert "ctx.sigmoid_bce(beta, 1 - beta)" in render_loss(REGISTRY["balanced_bce"], REGISTRY)
    assert "ctx.sigmoid_bce(dist1 + 1, dist0 + 1)" in render_loss(REGISTRY["distance_map_ce"], REGISTRY)
    assert "ctx.sigmoid_focal(gamma, alpha, 1 - alpha)" in render_loss(REGISTRY["focal"], REGISTRY)
    assert "ctx.sigmoid_focal(gamma, 1, 1)" in render_loss(REGISTRY["dice_focal"], REGISTRY)
    assert "ctx.sigmoid_focal" not in render_loss(REGISTRY["focal"], REGISTRY, optimize=False)
    dice = render_loss(REGISTRY["dice"], REGISTRY)
    assert "ctx.target_sum(p)" in dice and "ctx.target_count()" in dice and "ctx.g" not in dice
    tversky = render_loss(REGISTRY["tversky"], REGISTRY)  # sum((1 - g) p), summed as it stands
    assert "ctx.complement_sum(p)" in tversky and "ctx.msum(p * (1 - g))" not in tversky
    assert "ctx.complement_sum(" not in render_loss(REGISTRY["tversky"], REGISTRY, optimize=False)
    assert "ctx.missed_sum(p)" in tversky and "extra_sums=(\"complement\", \"missed\")" in tversky  # in one step
    assert "extra_sums" not in dice  # it reads g p and p alone: the step sums no (1 - g) p
    assert "ctx.rejected_sum(p)" in render_loss(REGISTRY["mcc"], REGISTRY)  # sum((1 - g) (1 - p))
    asym = render_loss(REGISTRY["asym_focal"], REGISTRY)  # one clip; g meets the class masks first
    assert "t0 = paddle.clip(p, min=epsilon, max=1 - epsilon)" in asym
    assert "t1 = paddle.log(ctx.clamp(t0))" in asym and "-background * g * t1" in asym
    sensitivity = render_loss(REGISTRY["sensitivity_specificity"], REGISTRY)  # (g - p)^2 and sum(1 - g)
    assert "ctx.squared_error(p)" in sensitivity and "ctx.complement_count()" in sensitivity
    for name in ("tversky", "focal_tversky", "mcc"):  # the sigmoid branch too: its 1 - p is sigmoid(-x)
        sigmoid_branch = render_loss(REGISTRY[name], REGISTRY).split('if ctx.activation == "sigmoid":')[1]
        sigmoid_branch = sigmoid_branch.split("else:")[0]
        assert "ctx.missed_sum(p)" in sigmoid_branch and "ctx.sigmoid(-x)" not in sigmoid_branch
    assert "ctx.softmax_bce(dist1 + 1, dist0 + 1)" in render_loss(REGISTRY["distance_map_ce"], REGISTRY)
    literal = render_loss(REGISTRY["bce"], REGISTRY, optimize=False)
    assert "ctx.sigmoid_bce" not in literal and "paddle.log(" in literal


def test_a_negative_factor_stands_outside_a_sum():
    """-sum(-g t) is sum(g t): the negative factor leaves the sum (exact), so no negated field is built
    and kept for the product's backward pass (poly1, ohem_ce and nnunet_dice_ce held one)."""
    from registry_names import REGISTRY
    from symloss.compiler.backend.emit import render_loss
    from symloss.compiler.backend.ir import CLASSES, PIXELS, TENSORS, ReduceSum

    g, p = TENSORS["g"], TENSORS["p"]
    assert ReduceSum(-2 * g * p, PIXELS) == -ReduceSum(2 * g * p, PIXELS)
    assert -ReduceSum(-g * p, CLASSES) == ReduceSum(g * p, CLASSES)
    assert ReduceSum(g - p, CLASSES).args[0] == g - p  # a difference stays as written
    for name in ("cross_entropy", "poly1", "ohem_ce", "topk_ce"):
        code = render_loss(REGISTRY[name], REGISTRY)
        assert "csum(-" not in code and "(-g *" not in code and "-t0 * " not in code, name


def test_class_sums_of_one_class_are_the_field_itself():
    """ctx.csum, the printed sum over the classes: a one-class field as it is (Paddle's sum along an axis
    of length 1 is a copy costing as much as a sum, forward and backward), Paddle's sum otherwise; the
    unit-weight target weight of one class is the target."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from registry_names import REGISTRY
    from symloss.compiler.backend.emit import render_loss
    from symloss.paddle import _runtime

    assert "ctx.csum(" in render_loss(REGISTRY["poly1"], REGISTRY) and "axis=1" not in render_loss(REGISTRY["poly1"], REGISTRY)
    one, four = paddle.rand([2, 1, 6]), paddle.rand([2, 4, 6])
    assert _runtime.Context.csum(one) is one
    np.testing.assert_array_equal(_runtime.Context.csum(four).numpy(), four.numpy().sum(axis=1, keepdims=True))
    ctx = _runtime.Context("test", paddle.rand([2, 1, 2, 3]), paddle.to_tensor(np.array([[[0, 1, 255], [1, 1, 0]]] * 2)),
                           activation="sigmoid", ignore_index=255, include_background=True, batch=False, sync=False,
                           reduction="none")
    assert ctx.target_weight(ctx.class_weights("weight", None)) is ctx.g


def test_a_prediction_free_weight_of_the_softmax_bce_enters_the_kernel():
    """w * SoftmaxBCE(a, b) -> SoftmaxBCE(w a, w b) for w a map or class weight (shape-aware's 1 + E):
    the kernel weighs each element, no broadcast product of its own; a factor that reads the prediction
    (its gradient flows) or a plain number stays outside."""
    from registry_names import REGISTRY
    from symloss.compiler.backend.emit import render_loss
    from symloss.compiler.backend.ir import TENSORS, PrimitiveTensor, SoftmaxBCE
    from symloss.compiler.backend.rules import specialize

    softmax = render_loss(REGISTRY["shape_aware"], REGISTRY).split('elif ctx.activation == "softmax":')[1]
    softmax = softmax.split("else:")[0]
    assert "ctx.softmax_bce(t0, t0)" in softmax and "t0 = ctx.contour_distance(p, g) + 1" in softmax
    kernel, beta = SoftmaxBCE(1, 1), sp.Symbol("beta", positive=True)
    distance = PrimitiveTensor("distance")
    assert specialize((distance + 1) * kernel)[0] == SoftmaxBCE(distance + 1, distance + 1)
    assert specialize(beta * distance * SoftmaxBCE(2, 1))[0] == SoftmaxBCE(2 * beta * distance, beta * distance)
    for kept in (TENSORS["p"] * kernel, 2 * kernel, beta * kernel):
        assert specialize(kept)[0] == kept


@pytest.mark.parametrize("labels", ["indices", "ignored", "soft", "no_background"])
@pytest.mark.parametrize("gamma, a, b", [(2.0, 0.25, 0.75), (0.0, 1.0, 1.0), (0.5, 0.3, 0.7), (3.0, 2.0, 2.0)])
def test_sigmoid_focal_kernel_equals_the_terms_it_replaces(labels, gamma, a, b, monkeypatch):
    """sigmoid_focal(gamma, a, b) = a g sigmoid(-x)^gamma softplus(-x) + b (1 - g) sigmoid(x)^gamma
    softplus(x), values and gradients, at logits out to +-40 (the kernel's NumPy path for class
    indices, the terms themselves for soft targets)."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    calls = []
    kernel = _runtime._SigmoidFocal.apply
    monkeypatch.setattr(_runtime._SigmoidFocal, "apply", lambda *args: calls.append(1) or kernel(*args))
    rng = np.random.default_rng(8)
    for classes in (1, 4):
        x = rng.normal(size=(2, classes, 3, 5)) * rng.choice([1.0, 10.0, 40.0], size=(2, classes, 3, 5))
        y = paddle.to_tensor(draw_labels(rng, labels, classes))
        options = dict(activation="sigmoid", ignore_index=255, include_background=labels != "no_background",
                       batch=False, sync=False, reduction="none")
        upstream = rng.uniform(size=(2, classes - (labels == "no_background" and classes > 1), 15))
        results = []
        for fused in (True, False):
            logit = paddle.to_tensor(x, stop_gradient=False)
            ctx = _runtime.Context("test", logit, y, **options)
            if fused:
                loss = ctx.sigmoid_focal(gamma, a, b)
            else:
                z, g = ctx.logits(), ctx.g
                loss = (a * g * ctx.sigmoid(-z) ** gamma * ctx.softplus(-z)
                        + b * (1 - g) * ctx.sigmoid(z) ** gamma * ctx.softplus(z))
            paddle.sum(loss * paddle.to_tensor(upstream)).backward()
            results.append((loss.numpy(), logit.grad.numpy()))
        np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-11, atol=1e-300)
    assert bool(calls) == (labels != "soft")  # the NumPy kernel ran for class indices: it is what is compared


def test_log_of_one_plus_a_nonnegative_term_becomes_log1p_and_nothing_else_does():
    import sympy as sp

    from symloss.compiler.backend.rules import log_one_plus
    from symloss.compiler.frontend.functions import log1p

    q = sp.Symbol("q", nonnegative=True)
    y = sp.Symbol("y", real=True)
    assert log_one_plus(sp.log(1 + q)) == log1p(q)
    assert log_one_plus(sp.log(1 + q ** 2 + q)) == log1p(q ** 2 + q)
    for kept in (sp.log(q), sp.log(2 + q), sp.log(1 + y), sp.log(1 - q), sp.log(3 * q)):
        assert log_one_plus(kept) == kept  # no literal 1, or a term that may reach -1
    assert sp.simplify((log1p(q) - sp.log(1 + q)).rewrite(sp.exp)) == 0
    assert sp.diff(log1p(q), q) == 1 / (1 + q)


def test_target_weight_kernel_equals_the_class_sum():
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    rng = np.random.default_rng(5)
    raw = rng.integers(0, 4, size=(2, 3, 5))
    raw[rng.random(raw.shape) < 0.3] = 255
    ctx = _runtime.Context("test", paddle.to_tensor(rng.normal(size=(2, 4, 3, 5))), paddle.to_tensor(raw),
                           activation="auto", ignore_index=255, include_background=True, batch=False, sync=False,
                           reduction="none")
    weight = ctx.class_weights("weight", [0.5, 2.0, 1.0, 3.0])
    expected = paddle.sum(weight * ctx.g, axis=1, keepdim=True)
    np.testing.assert_array_equal(ctx.target_weight(weight).numpy(), expected.numpy())


@pytest.mark.parametrize("labels", ["indices", "ignored", "soft", "no_background", "batch"])
def test_target_sums_equal_the_sums_they_replace(labels):
    """target_sum(t) = psum(g * t), complement_sum(t) = msum((1 - g) * t), msum(t) after them = msum(t),
    missed_sum(t) = psum(g * (1 - t)), rejected_sum(t) = msum((1 - g) * (1 - t)), target_count() = psum(g):
    values and, through the shared gradient, the gradient of t."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    rng = np.random.default_rng(6)
    for classes in (1, 4):
        x = rng.normal(size=(2, classes, 3, 5))
        y = paddle.to_tensor(draw_labels(rng, labels, classes))
        options = dict(activation="auto", ignore_index=255, include_background=labels != "no_background",
                       batch=labels == "batch", sync=False, reduction="none",
                       extra_sums=("complement", "missed", "rejected"))
        weights = paddle.to_tensor(rng.uniform(size=(2, classes - (labels == "no_background" and classes > 1), 15)))
        results = []
        for fused in (True, False):
            logit = paddle.to_tensor(x, stop_gradient=False)
            ctx = _runtime.Context("test", logit, y, **options)
            t = ctx.probs()
            if fused:
                sums = [ctx.target_sum(t), ctx.complement_sum(t), ctx.msum(t), ctx.missed_sum(t),
                        ctx.rejected_sum(t), ctx.target_count()]
            else:
                sums = [ctx.psum(ctx.g * t), ctx.msum((1 - ctx.g) * t), ctx.msum(t), ctx.psum(ctx.g * (1 - t)),
                        ctx.msum((1 - ctx.g) * (1 - t)), ctx.psum(ctx.g)]
            total = paddle.sum(sums[0] * weights[:, :, :1] + sums[1] * weights[:, :, 1:2]
                               + sums[2] * weights[:, :, 2:3] + sums[3] * weights[:, :, 3:4]
                               + sums[4] * weights[:, :, 4:5] + sums[5])
            total.backward()
            results.append(([s.numpy() for s in sums], logit.grad.numpy()))
        for got, expected in zip(results[0][0], results[1][0]):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("graph", [False, True])
@pytest.mark.parametrize("batch", [False, True])
def test_missed_and_rejected_sums_of_sigmoid_probabilities_keep_their_tail(graph, batch):
    """sum(g (1 - p)) and sum((1 - g) (1 - p)) of p = sigmoid(x) at a near-perfect prediction (x = +-20,
    where float32 rounds p to 1): 1 - p would give 0 where the sums are e^-20 per pixel; they are summed
    as sigmoid(-x), in the fused step (eager) and in a static graph."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    rng = np.random.default_rng(3)
    raw = rng.integers(0, 2, (2, 16, 16))
    raw[0, 0, :4] = 255
    x = np.where(raw == 1, 20.0, 12.0).astype(np.float32)[:, None]  # p of the background: sigmoid(12)
    options = dict(activation="sigmoid", ignore_index=255, include_background=True, batch=batch,
                   sync=False, reduction="none", extra_sums=("complement", "missed", "rejected"))

    def sums(logit, label):
        ctx = _runtime.Context("test", logit, label, **options)
        p = ctx.probs()
        ctx.target_sum(p)
        return ctx.missed_sum(p), ctx.rejected_sum(p)

    if graph:
        static = paddle.jit.to_static(sums, full_graph=True)
        missed, rejected = (t.numpy() for t in static(paddle.to_tensor(x), paddle.to_tensor(raw)))
    else:
        missed, rejected = (t.numpy() for t in sums(paddle.to_tensor(x), paddle.to_tensor(raw)))
    valid = raw != 255
    q = 1 / (1 + np.exp(x[:, 0].astype(np.float64)))  # 1 - p, exact
    expected_missed = np.sum(q * (raw == 1), axis=(1, 2))
    expected_rejected = np.sum(q * ((raw == 0) & valid), axis=(1, 2))
    if batch:
        expected_missed, expected_rejected = expected_missed.sum(keepdims=True), expected_rejected.sum(keepdims=True)
    np.testing.assert_allclose(missed.reshape(-1), expected_missed, rtol=1e-5)
    np.testing.assert_allclose(rejected.reshape(-1), expected_rejected, rtol=1e-5)


@pytest.mark.parametrize("labels", ["indices", "ignored", "soft", "no_background"])
def test_target_sums_gradient_in_numpy_is_the_paddle_path_bit_for_bit(labels, monkeypatch):
    """The eager CPU backward of the fused sums spreads the five statistics' gradients in NumPy
    (_spread_statistics); on a device it takes Paddle's operations: the same numbers."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    rng = np.random.default_rng(8)
    x = (rng.normal(size=(2, 4, 3, 5)) * 3).astype(np.float32)
    y = paddle.to_tensor(draw_labels(rng, labels, 4).astype(np.float32 if labels == "soft" else np.int64))
    weights = paddle.to_tensor(rng.uniform(size=(5, 2, 4 - (labels == "no_background"), 1)).astype(np.float32))
    gradients = []
    for host in (True, False):
        if not host:
            monkeypatch.setattr(_runtime._TargetSums, "backward",
                                staticmethod(_as_on_a_device(_runtime._TargetSums.backward)))
        logit = paddle.to_tensor(x, stop_gradient=False)
        ctx = _runtime.Context("test", logit, y, activation="softmax", ignore_index=255,
                               include_background=labels != "no_background", batch=False, sync=False,
                               reduction="none", extra_sums=("complement", "missed", "rejected"))
        p = ctx.probs()
        sums = [ctx.target_sum(p), ctx.complement_sum(p), ctx.msum(p), ctx.missed_sum(p), ctx.rejected_sum(p)]
        paddle.sum(sum(s * w for s, w in zip(sums, weights))).backward()
        gradients.append(logit.grad.numpy())
    np.testing.assert_array_equal(gradients[0], gradients[1])


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("labels", ["indices", "ignored", "soft"])
def test_target_sums_in_blocks_equal_the_whole_batch(labels, activation, monkeypatch):
    """The host sums take a fixed-size block at a time, whole images or class rows of one (a volume's
    image would be half the batch's memory again): one row per step, two, or one image gives the whole
    batch's numbers bit for bit."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    rng = np.random.default_rng(11)
    x = (rng.normal(size=(2, 4, 3, 5)) * 4).astype(np.float32)
    y = draw_labels(rng, labels, 4).astype(np.float32 if labels == "soft" else np.int64)
    results = []
    for block in (_runtime._SUM_BLOCK, 15, 30, 60):  # the batch, one row of 15 pixels, two rows, one image
        monkeypatch.setattr(_runtime, "_SUM_BLOCK", block)
        logit = paddle.to_tensor(x, stop_gradient=False)
        ctx = _runtime.Context("test", logit, paddle.to_tensor(y), activation=activation, ignore_index=255,
                               include_background=True, batch=False, sync=False, reduction="none",
                               extra_sums=("complement", "missed", "rejected"))
        p = ctx.probs()
        sums = [ctx.target_sum(p), ctx.complement_sum(p), ctx.msum(p), ctx.missed_sum(p), ctx.rejected_sum(p)]
        paddle.sum(sum(s * (k + 1) for k, s in enumerate(sums))).backward()
        results.append([s.numpy() for s in sums] + [logit.grad.numpy()])
    for other in results[1:]:
        for got, expected in zip(other, results[0]):
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("labels", ["indices", "ignored", "soft"])
def test_the_fused_sums_skip_the_complement_no_term_reads(labels, activation):
    """A loss reading g t and t alone (dice) leaves the sum of (1 - g) t out of the fused step: its
    other sums and their gradient are the same bit for bit, and complement_sum, asked anyway, sums
    (1 - g) t on its own to the number the fused step gives."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    rng = np.random.default_rng(12)
    x = (rng.normal(size=(2, 3, 3, 5)) * 4).astype(np.float32)
    y = draw_labels(rng, labels, 3).astype(np.float32 if labels == "soft" else np.int64)
    results = {}
    for extra in ((), ("complement",)):
        logit = paddle.to_tensor(x, stop_gradient=False)
        ctx = _runtime.Context("test", logit, paddle.to_tensor(y), activation=activation, ignore_index=255,
                               include_background=True, batch=False, sync=False, reduction="none",
                               extra_sums=extra)
        p = ctx.probs()
        sums = [ctx.target_sum(p), ctx.msum(p)]
        paddle.sum(sums[0] * 2 + sums[1] * 3).backward()
        results[extra] = [s.numpy() for s in sums] + [logit.grad.numpy(), ctx.complement_sum(p).numpy()]
        if not extra:  # the step's own complement: not summed
            assert ctx._split_sums[id(p)][2] is None
            fields = [np.ascontiguousarray(a, dtype=np.float32) for a in (p.numpy(), ctx.g.numpy())]
            assert not _runtime._target_sums_host(*fields, None, True, frozenset(), None, False)[1].any()
    for got, expected in zip(results[()], results[("complement",)]):
        np.testing.assert_array_equal(got, expected)


def _as_on_a_device(backward):
    """_TargetSums.backward run as on a device: Paddle's operations, no NumPy."""
    def run(ctx, *grads):
        ctx.host = False
        return backward(ctx, *grads)
    return run


@pytest.mark.parametrize("labels", ["indices", "ignored", "soft", "no_background", "batch"])
def test_squared_error_and_complement_count_are_the_expressions_they_replace(labels):
    """squared_error(t) = (g - t)^2, value and gradient bit for bit; complement_count() = msum(1 - g)
    (class indices: valid pixels less the class's own, exact)."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    rng = np.random.default_rng(9)
    for classes in (1, 4):
        x = (rng.normal(size=(2, classes, 3, 5)) * 3).astype(np.float32)
        raw = draw_labels(rng, labels, classes)
        y = paddle.to_tensor(raw.astype(np.float32) if labels == "soft" else raw)
        options = dict(activation="auto", ignore_index=255, include_background=labels != "no_background",
                       batch=labels == "batch", sync=False, reduction="none")
        weights = rng.uniform(size=(2, classes - (labels == "no_background" and classes > 1), 15))
        weights = paddle.to_tensor(weights.astype(np.float32))
        results = []
        for fused in (True, False):
            logit = paddle.to_tensor(x, stop_gradient=False)
            ctx = _runtime.Context("test", logit, y, **options)
            p = ctx.probs()
            field = ctx.squared_error(p) if fused else paddle.square(ctx.g - p)
            count = ctx.complement_count() if fused else ctx.msum(1 - ctx.g)
            paddle.sum(field * weights).backward()
            results.append((field.numpy(), np.asarray(count), logit.grad.numpy()))
        for got, expected in zip(*results):
            np.testing.assert_array_equal(got, np.broadcast_to(expected, np.shape(got)))


def test_complement_sum_does_not_cancel_in_float32():
    """sum((1 - g) p) of a class covering every pixel but one is that one pixel's p, exactly, where
    msum(p) - target_sum(p) is a difference of two sums of 65536 numbers near 1 (no digit left)."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    raw = np.zeros((1, 256, 256), dtype=np.int64)
    raw[0, 0, 0] = 1
    x = np.zeros((1, 2, 256, 256), dtype=np.float32)
    x[:, 0] = 12.0  # p of class 0 is 1 - 6e-6 at every pixel
    ctx = _runtime.Context("test", paddle.to_tensor(x), paddle.to_tensor(raw), activation="auto",
                           ignore_index=255, include_background=True, batch=False, sync=False, reduction="none")
    p = ctx.probs()
    ctx.target_sum(p)
    rest = float(ctx.complement_sum(p)[0, 0, 0])
    exact = 1 / (1 + np.exp(-12.0))  # the one pixel labelled 1, in class 0
    assert abs(rest - exact) <= 1e-6 * exact


def test_pixel_sum_after_the_split_is_summed_directly():
    """msum(p) after target_sum(p) is the sum of p itself (pairwise, NumPy's along the pixel axis), not
    target_sum + complement_sum: the two parts added carry both their roundings (2x the literal's
    gradient error of log_cosh_dice at C = 1)."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import _runtime

    rng = np.random.default_rng(4)
    x = paddle.to_tensor(rng.standard_normal((2, 1, 256, 256)).astype(np.float32) * 5)
    labels = paddle.to_tensor(rng.integers(0, 2, (2, 256, 256)))
    options = dict(activation="auto", ignore_index=255, include_background=True, batch=False,
                   sync=False, reduction="none")
    ctx = _runtime.Context("test", x, labels, **options)
    p = ctx.probs()
    ctx.target_sum(p)
    values = p.numpy()
    np.testing.assert_array_equal(ctx.msum(p).numpy(), np.sum(values, axis=2, keepdims=True))
    exact = np.sum(values.astype(np.float64), axis=2, keepdims=True)
    np.testing.assert_allclose(ctx.msum(p).numpy(), exact, rtol=1e-7)


def draw_labels(rng, labels, classes):
    """Labels of shape (2, 3, 5) of the kind a runtime test asks for: soft targets (2, classes, 3, 5), or class
    indices with 30% ignored pixels for "ignored"."""
    if labels == "soft":
        return rng.uniform(0, 1, size=(2, classes, 3, 5))
    raw = rng.integers(0, max(classes, 2), size=(2, 3, 5))
    if labels == "ignored":
        raw[rng.random(raw.shape) < 0.3] = 255
    return raw


def test_nested_clips_become_one_only_where_the_bounds_are_ordered():
    """Min(Max(t, a), b) is one clip(t, a, b) where a <= b at every parameter value (then the values and
    the slope are the nested clips'); where the domains let a exceed b (nested: b everywhere), two."""
    from symloss.compiler.backend.ir import TensorVar
    from symloss.compiler.backend.printer import paddle_code
    from symloss.compiler.frontend.language import Param

    t = TensorVar("p", positive=True)
    eps = Param("eps", 1e-7, domain=(0, 0.5))
    assert paddle_code(sp.Min(sp.Max(t, eps), 1 - eps)) == "paddle.clip(p, min=eps, max=1 - eps)"
    assert paddle_code(sp.Max(sp.Min(t, 1 - eps), eps)) == "paddle.clip(p, min=eps, max=1 - eps)"
    low, high = Param("low", 0.1, domain=(0, 1)), Param("high", 0.9, domain=(0, 1))
    assert paddle_code(sp.Min(sp.Max(t, low), high)).count("paddle.clip(") == 2
    wide = Param("wide", 0.1, domain=(0, None))
    assert paddle_code(sp.Min(sp.Max(t, wide), 1)).count("paddle.clip(") == 2


@pytest.mark.parametrize("device_path", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_is_exact_where_the_label_lies_far_below_the_top(weighted, device_path, monkeypatch):
    """The loss is log-sum-exp minus the label's logit at every gap: eager on the CPU from the NumPy
    softmax (no clip), and on the device path through Paddle's fused kernel, which puts every class at
    most 64 below the top and whose cut is added back where a pixel's loss reaches 64; a class far
    below that no pixel is labelled with changes nothing."""
    paddle = pytest.importorskip("paddle")
    import numpy as np
    from symloss.paddle import FUNCTIONS, _runtime

    if device_path:
        monkeypatch.setattr(_runtime.Context, "_eager_cpu", lambda self: False)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    labels = rng.integers(0, 3, (2, 4, 4))
    x[0, 1] -= 150.0  # class 1 of image 0 far below the rest: cut where it is the label
    labels[1, 0, 0] = 255
    weight = [0.5, 2.0, 1.0] if weighted else None
    value = FUNCTIONS["cross_entropy"](paddle.to_tensor(x), paddle.to_tensor(labels), weight=weight).numpy()
    z = x.astype(np.float64)
    lse = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
    valid = labels != 255
    own = np.take_along_axis(z, np.where(valid, labels, 0)[:, None], axis=1)[:, 0]
    w = np.asarray(weight or [1.0, 1.0, 1.0])[np.where(valid, labels, 0)] * valid
    expected = np.sum(w * (lse - own)) / np.sum(w)
    assert np.sum(valid & (labels == 1) & (np.arange(2)[:, None, None] == 0)) > 0  # some pixel is cut
    np.testing.assert_allclose(value, expected, rtol=1e-5)
