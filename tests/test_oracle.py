"""Generated code against the spec itself: values and gradients, on Hypothesis-drawn inputs.

The oracle evaluates each spec's literal formula at 50 digits and differentiates it exactly;
the generated Paddle code runs in float64, so the two must agree to float64 rounding.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from registry_names import NAMES, REGISTRY
from symloss.compiler.proof.oracle import Options, Oracle

paddle = pytest.importorskip("paddle")
from symloss.paddle import FUNCTIONS  # noqa: E402

RTOL, ATOL = 1e-8, 1e-10
SPATIAL = [(4,), (3,), (2, 3), (1, 4), (2, 2, 1), (1, 2, 2)]


def param_strategy(prm, classes):
    if prm.kind == "choice":
        return st.sampled_from(prm.options)
    if prm.kind == "class_weights":
        return st.none() | st.lists(st.floats(0.1, 3.0), min_size=classes, max_size=classes)
    lo = float(prm.domain.inf) if prm.domain.inf.is_finite else -3.0
    hi = float(prm.domain.sup) if prm.domain.sup.is_finite else lo + 3.0
    # Subnormal parameters are left out: 1/gamma of the smallest subnormal is inf in float64.
    return st.floats(lo, hi, exclude_min=bool(prm.domain.left_open), exclude_max=bool(prm.domain.right_open),
                     allow_subnormal=False)


@st.composite
def cases(draw, loss):
    """A batch, its labels, the common keywords and the spec's parameters."""
    n = draw(st.integers(1, 2))
    c = draw(st.sampled_from(loss_classes(loss)))
    spatial = draw(st.sampled_from(SPATIAL))
    shape = (n, c) + spatial
    activation = draw(st.sampled_from(["auto", "sigmoid", "none"] + (["softmax"] if c > 1 else [])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if activation == "none":
        logit = rng.uniform(0.02, 0.98, size=shape)
    else:
        logit = rng.normal(0.0, draw(st.sampled_from([0.5, 2.0, 5.0])), size=shape)
    if draw(st.booleans()) or loss_needs_indices(loss):
        label = rng.integers(0, max(c, 2), size=(n,) + spatial)
        ignored = rng.random(label.shape) < draw(st.sampled_from([0.0, 0.0, 0.3]))
        label[ignored] = 255
        if draw(st.booleans()):
            label = label[:, None]
    else:
        label = rng.uniform(0.0, 1.0, size=shape)
    options = Options(
        activation=activation,
        ignore_index=draw(st.sampled_from([255, 255, None])) if label.dtype.kind == "i" else 255,
        include_background=draw(st.booleans()),
        batch=draw(st.booleans()),
        reduction=draw(st.sampled_from(["mean", "sum", "none"])),
    )
    if options.ignore_index is None and label.dtype.kind == "i":
        label = np.where(label == 255, 0, label)
    params = {prm.name: draw(param_strategy(prm, c)) for prm in loss.params}
    return logit, label, options, params


def loss_classes(loss):
    return [1, 2, 3]


def loss_needs_indices(loss):
    return False


def run_generated(name, logit, label, options, params):
    x = paddle.to_tensor(logit, dtype="float64", stop_gradient=False)
    y = paddle.to_tensor(label)
    out = FUNCTIONS[name](x, y, **params, activation=options.activation, ignore_index=options.ignore_index,
                          include_background=options.include_background, batch=options.batch,
                          reduction=options.reduction)
    out.sum().backward()
    return out.numpy(), x.grad.numpy()


@pytest.mark.parametrize("name", NAMES)
def test_values_and_gradients_match_the_spec(name):
    loss = REGISTRY[name]
    oracle = Oracle(loss, REGISTRY)

    @given(cases(loss))
    def check(case):
        logit, label, options, params = case
        value, grad = run_generated(name, logit, label, options, params)
        expected, expected_grad = oracle(logit, label, params, options)
        # Compare only where the spec itself is a real number (e.g. -log(Dice) at smooth=0 on an
        # absent class is +inf); the edge-case tests check that the generated code stays finite there.
        assume(np.all(np.isfinite(expected)) and np.all(np.isfinite(expected_grad)))
        np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL, err_msg="loss value")
        np.testing.assert_allclose(grad, expected_grad, rtol=RTOL, atol=ATOL, err_msg="gradient")

    check()
