"""Every loss under paddle.jit.to_static(full_graph=True): the values and gradients of eager mode.

Distance maps switch from SciPy (eager) to Paddle ops (graph); both are exact, so the losses agree
to float64 rounding.
"""
import traceback
import warnings

import numpy as np
import pytest

from registry_names import NAMES

paddle = pytest.importorskip("paddle")
from symloss.paddle import DISTANCE_MAPS, LOSSES  # noqa: E402


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, size=(2, 3, 6, 7))
    y = rng.integers(0, 3, size=(2, 6, 7))
    y[0, 0, :3] = 255
    return x, y


def value_and_grad(layer, x, y, **kw):
    xt = paddle.to_tensor(x, dtype="float64", stop_gradient=False)
    loss = layer(xt, paddle.to_tensor(y), **kw)
    loss.backward()
    return loss.numpy(), xt.grad.numpy()


def warnings_of(call) -> list[str]:
    """The text of every warning `call` raises (repeated ones included), less those that Paddle
    raises while it derives the backward graph of a static program (its own full_like, whatever the
    forward code was)."""
    caught = []

    def record(message, category, filename, lineno, file=None, line=None):
        if not any(frame.name == "_append_backward" for frame in traceback.extract_stack()):
            caught.append(f"{category.__name__}: {message}")

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        call()
    return caught


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_static_graph_equals_eager(name, batch):
    x, y = inputs()
    eager = value_and_grad(LOSSES[name](batch=batch), x, y)
    static = []
    seen = warnings_of(lambda: static.extend(
        value_and_grad(paddle.jit.to_static(LOSSES[name](batch=batch), full_graph=True), x, y)))
    np.testing.assert_allclose(static[0], eager[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(static[1], eager[1], rtol=1e-10, atol=1e-12)
    assert seen == []  # symloss's code warns about nothing while the graph is traced


@pytest.mark.parametrize("name", NAMES)
def test_a_static_forward_pass_raises_no_warning(name):
    """paddle.jit.to_static(DiceLoss(), full_graph=True)(x, y): no warning at all."""
    x, y = inputs(3)
    layer = paddle.jit.to_static(LOSSES[name](), full_graph=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer(paddle.to_tensor(x), paddle.to_tensor(y))
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("name", sorted(DISTANCE_MAPS))
def test_precomputed_distance_maps_equal_computed_ones(name):
    x, y = inputs(1)
    maps = paddle.to_tensor(DISTANCE_MAPS[name](y, 3), dtype="float64")
    layer = LOSSES[name](include_background=False)
    computed = value_and_grad(layer, x, y)
    given = value_and_grad(layer, x, y, dist_map=maps)
    static = value_and_grad(paddle.jit.to_static(LOSSES[name](include_background=False), full_graph=True),
                            x, y, dist_map=maps)
    for a, b in ((given, computed), (static, computed)):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-6, atol=1e-9)


def test_distance_maps_of_the_wrong_shape_are_rejected():
    x, y = inputs()
    with pytest.raises(ValueError, match="dist_map got shape"):
        LOSSES["hausdorff_dt"]()(paddle.to_tensor(x), paddle.to_tensor(y), dist_map=paddle.zeros([2, 2, 3, 6, 7]))
