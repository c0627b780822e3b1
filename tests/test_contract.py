"""The runtime contract, checked at every door: no input gives a silent wrong number.

Each test states one promise of the README's "The contract" section, for every loss it applies to.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from references.berman_lovasz import lovasz_softmax_per_image
from registry_names import NAMES, REGISTRY
from symloss.compiler.frontend.expand import granularity, resolve
from symloss.compiler.frontend.primitives import ImagePrimitive, LovaszWeights
from symloss.compiler.proof.oracle import Options, Oracle

paddle = pytest.importorskip("paddle")
import symloss.paddle as symloss_paddle  # noqa: E402
from symloss.paddle import DISTANCE_MAPS, FUNCTIONS, LOSSES  # noqa: E402
from paddle_calls import value_and_grad  # noqa: E402


def _formula(name):
    return resolve(REGISTRY[name].expr, REGISTRY)


LOVASZ = [n for n in NAMES if _formula(n).atoms(LovaszWeights)]
IMAGE_MAPS = [n for n in NAMES if _formula(n).atoms(ImagePrimitive)]
READS_P = [n for n in NAMES if any(ind.base.name == "p" for ind in _formula(n).atoms(sp.Indexed))]
PER_UNIT = [n for n in NAMES if not granularity(REGISTRY[n], REGISTRY)[1]]
SCALARS = [n for n in NAMES if REGISTRY[n].scalars]


def logits(shape, seed=0, scale=2.0):
    return np.random.default_rng(seed).normal(0.0, scale, size=shape)


def class_labels(shape, seed=0):
    n, c, *spatial = shape
    return np.random.default_rng(seed + 1).integers(0, max(c, 2), size=[n] + spatial)




# ---- 1. a weighted mean of a loss per unit is taken within each unit first ---------------------
@pytest.mark.parametrize("seed", range(4))
def test_lovasz_softmax_per_image_is_bermans_mean_over_present_classes(seed):
    """Berman's per_image=True: per image the mean over its present classes, then over the images.
    Class 3 is absent from image 1 only, so the images hold different numbers of classes."""
    n, c = 3, 4
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(c), size=(n, 5, 6)).transpose(0, 3, 1, 2)
    label = rng.integers(0, c, size=(n, 5, 6))
    label[:, 0, :c] = np.arange(c)  # every class present in every image ...
    label[1][label[1] == 3] = 2  # ... but class 3 absent from image 1
    label[2, 4, :2] = 255  # and a few ignored pixels
    expected, expected_grad = lovasz_softmax_per_image(probs, label)
    value, grad = value_and_grad(FUNCTIONS["lovasz_softmax"], probs, label, activation="none")
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)
    # the default softmax activation computes the same loss of softmax(logit)
    x = np.log(probs)
    np.testing.assert_allclose(float(FUNCTIONS["lovasz_softmax"](paddle.to_tensor(x), paddle.to_tensor(label))),
                               expected, rtol=1e-12)


@pytest.mark.parametrize("name", PER_UNIT)
def test_mean_over_a_batch_is_the_mean_of_the_images_losses(name):
    """For a loss per image (and class), reduction="mean" over a batch is the mean of the single-image
    calls: no image weighs more because it holds more classes (or more valid pixels)."""
    shape = (3, 4, 5, 6)
    x, y = logits(shape), class_labels(shape)
    y[1][y[1] == 3] = 0  # class 3 absent from image 1 only
    y[2, :2] = 255
    whole = float(FUNCTIONS[name](paddle.to_tensor(x), paddle.to_tensor(y)))
    images = [float(FUNCTIONS[name](paddle.to_tensor(x[b: b + 1]), paddle.to_tensor(y[b: b + 1])))
              for b in range(shape[0])]
    np.testing.assert_allclose(whole, np.mean(images), rtol=1e-12)


def test_lovasz_softmax_none_keeps_absent_classes_at_zero():
    """reduction="none" returns every (image, class) entry; a class absent from an image scores 0."""
    shape = (2, 4, 5, 6)
    x, y = logits(shape), class_labels(shape)
    y[1][y[1] == 3] = 0
    out = FUNCTIONS["lovasz_softmax"](paddle.to_tensor(x), paddle.to_tensor(y), reduction="none").numpy()
    assert out.shape == (2, 4) and out[1, 3] == 0.0 and np.all(out[0] > 0)
    present = np.stack([np.isin(np.arange(4), y[b]) for b in range(2)])
    per_image = out.sum(1) / present.sum(1)
    mean = float(FUNCTIONS["lovasz_softmax"](paddle.to_tensor(x), paddle.to_tensor(y)))
    np.testing.assert_allclose(mean, per_image.mean(), rtol=1e-12)


# ---- 2. a float target holds probabilities -------------------------------------------------------
@pytest.mark.parametrize("layout", [1, 3])
@pytest.mark.parametrize("name", NAMES)
def test_float_target_outside_unit_interval_is_rejected(name, layout):
    shape = (2, layout, 4, 5)
    x = paddle.to_tensor(logits(shape), dtype="float32")
    onehot = np.eye(max(layout, 2))[class_labels(shape)][..., -layout:].transpose(0, 3, 1, 2)
    with_void = onehot.copy()
    with_void[0, :, 0, :2] = 255.0  # class indices' ignore value stored in a float mask
    for bad, low, high in ((with_void, "0", "255"), (onehot - 0.5, "-0.5", "0.5")):
        with pytest.raises(ValueError, match=rf"label got float values in \[{low}, {high}\].*int64"):
            FUNCTIONS[name](x, paddle.to_tensor(bad, dtype="float32"))
    FUNCTIONS[name](x, paddle.to_tensor(onehot, dtype="float32"))  # [0, 1] is accepted


# ---- 3. activation="none" takes probabilities ---------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_raw_logits_with_activation_none_are_rejected(name):
    shape = (2, 3, 4, 5)
    x, y = paddle.to_tensor(logits(shape)), paddle.to_tensor(class_labels(shape))
    if name not in READS_P:  # a loss of the logits alone (the Lovász hinge) takes any logit
        assert np.isfinite(float(FUNCTIONS[name](x, y, activation="none")))
        return
    with pytest.raises(ValueError, match=r"logit got values in \[-\S+, \S+\] with activation='none'"):
        FUNCTIONS[name](x, y, activation="none")
    with pytest.raises(ValueError, match="logit got values"):
        FUNCTIONS[name](x, y.astype("float32").unsqueeze(1).clip(0, 1).expand([2, 3, 4, 5]), activation="none")
    probs = paddle.nn.functional.softmax(x, axis=1)
    assert np.isfinite(float(FUNCTIONS[name](probs, y, activation="none")))


# ---- 4. parameters are finite --------------------------------------------------------------------
@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("name", SCALARS)
def test_non_finite_parameters_are_rejected(name, bad):
    shape = (2, 3, 4, 5)
    x, y = paddle.to_tensor(logits(shape)), paddle.to_tensor(class_labels(shape))
    for prm in REGISTRY[name].scalars:
        with pytest.raises(ValueError, match=f"{prm.name} got {bad!r}"):
            FUNCTIONS[name](x, y, **{prm.name: bad})
        with pytest.raises(ValueError, match=f"{prm.name} got {bad!r}"):
            LOSSES[name](**{prm.name: bad})


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY[n].weights])
def test_non_finite_class_weights_are_rejected(name, bad):
    shape = (2, 3, 4, 5)
    x, y = paddle.to_tensor(logits(shape)), paddle.to_tensor(class_labels(shape))
    for prm in REGISTRY[name].weights:
        with pytest.raises(ValueError, match=f"{prm.name} got .*finite non-negative"):
            FUNCTIONS[name](x, y, **{prm.name: [1.0, bad, 1.0]})
        with pytest.raises(ValueError, match=f"{prm.name} got .*finite non-negative"):
            LOSSES[name](**{prm.name: [1.0, bad, 1.0]})


# ---- 5. logits at ignored pixels take part in nothing -------------------------------------------
def _ignored_case(shape, seed):
    x, y = logits(shape, seed, scale=3.0), class_labels(shape, seed)
    rng = np.random.default_rng(seed + 2)
    ignored = rng.random(y.shape) < 0.3
    ignored[:, 1:3, 1:4] = True  # a block, so that distance maps meet it
    y[ignored] = 255
    other = x.copy()
    changed = rng.normal(0.0, 6.0, size=x.shape)
    other[np.broadcast_to(ignored[:, None], x.shape)] = changed[np.broadcast_to(ignored[:, None], x.shape)]
    return x, other, y, ignored


@pytest.mark.parametrize("layout", [1, 3])
@pytest.mark.parametrize("name", NAMES)
def test_logits_at_ignored_pixels_change_neither_value_nor_gradient(name, layout):
    shape = (2, layout, 6, 7)
    for seed in range(3):
        x, other, y, ignored = _ignored_case(shape, seed)
        for batch in (False, True):
            for reduction in ("mean", "none"):
                kw = dict(batch=batch, reduction=reduction)
                value, grad = value_and_grad(FUNCTIONS[name], x, y, **kw)
                value2, grad2 = value_and_grad(FUNCTIONS[name], other, y, **kw)
                np.testing.assert_allclose(value2, value, rtol=1e-13, atol=1e-15, err_msg=str(kw))
                np.testing.assert_allclose(grad2, grad, rtol=1e-13, atol=1e-15, err_msg=str(kw))
                assert np.all(grad[np.broadcast_to(ignored[:, None], grad.shape)] == 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_logits_at_ignored_pixels_change_nothing_in_a_static_graph(name):
    shape = (2, 3, 6, 7)
    x, other, y, _ = _ignored_case(shape, 0)
    layer = paddle.jit.to_static(LOSSES[name](), full_graph=True)
    eager = value_and_grad(LOSSES[name](), x, y)
    for inputs in (x, other):
        value, grad = value_and_grad(layer, inputs, y)
        np.testing.assert_allclose(value, eager[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grad, eager[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", IMAGE_MAPS)
def test_distance_maps_with_ignored_pixels_match_the_spec(name):
    """The oracle computes the maps from the spec's primitives with ignored pixels in neither mask."""
    shape = (2, 3, 4, 5)
    x, _, y, _ = _ignored_case(shape, 1)
    value, grad = value_and_grad(FUNCTIONS[name], x, y)
    expected, expected_grad = Oracle(REGISTRY[name], REGISTRY)(x, y, options=Options())
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-8, atol=1e-12)


# ---- 6. one tie order on every path --------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", LOVASZ)
def test_tied_errors_give_the_same_gradient_eager_static_and_in_the_spec(name, dtype):
    shape = (2, 3, 4, 5)
    y = class_labels(shape)
    y[0, 0, :2] = 255
    tied = np.round(logits(shape), 0) * 0.3  # many equal logits, hence equal errors (none at a hinge)
    for x in (np.zeros(shape), tied):
        for batch in (False, True):
            eager = value_and_grad(LOSSES[name](batch=batch), x, y, dtype=dtype)
            static = value_and_grad(paddle.jit.to_static(LOSSES[name](batch=batch), full_graph=True), x, y,
                                    dtype=dtype)
            tol = dict(rtol=1e-6, atol=1e-7) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(static[1], eager[1], **tol)
            np.testing.assert_allclose(static[0], eager[0], **tol)
            if dtype == "float64" and not x.any():  # ties that are exact, not only after rounding
                expected = Oracle(REGISTRY[name], REGISTRY)(x, y, options=Options(batch=batch))
                np.testing.assert_allclose(eager[1], expected[1], rtol=1e-10, atol=1e-14)


# ---- 7. empty tensors ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(0, 3, 4, 5), (2, 0, 4, 5), (2, 3, 0, 5), (2, 3, 4, 0)])
@pytest.mark.parametrize("name", NAMES)
def test_empty_tensors_are_rejected_naming_the_argument(name, shape):
    x = paddle.zeros(shape, dtype="float32")
    y = paddle.zeros([shape[0]] + list(shape[2:]), dtype="int64")
    with pytest.raises(ValueError, match=r"logit got shape \[.*0.*\]; expected every axis of size at least 1"):
        FUNCTIONS[name](x, y)


@pytest.mark.parametrize("name", sorted(DISTANCE_MAPS))
def test_empty_labels_for_distance_maps_are_rejected(name):
    with pytest.raises(ValueError, match="label got shape"):
        DISTANCE_MAPS[name](np.zeros((0, 4, 5), dtype=np.int64), 3)


# ---- 8. set_checks("debug") ----------------------------------------------------------------------
@pytest.fixture
def debug_checks():
    previous = symloss_paddle.set_checks("debug")
    yield
    symloss_paddle.set_checks(previous)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("name", NAMES)
def test_debug_checks_name_the_input_holding_nan_or_inf(name, bad, debug_checks):
    shape = (2, 3, 4, 5)
    x, y = logits(shape), class_labels(shape)
    x_bad = x.copy()
    x_bad[1, 2, 3, 4] = bad
    with pytest.raises(ValueError, match="logit got NaN or Inf values"):
        FUNCTIONS[name](paddle.to_tensor(x_bad), paddle.to_tensor(y))
    soft = np.eye(3)[y].transpose(0, 3, 1, 2)
    soft[0, 1, 0, 0] = bad
    with pytest.raises(ValueError, match="label got NaN or Inf values"):
        FUNCTIONS[name](paddle.to_tensor(x), paddle.to_tensor(soft))
    for prm in REGISTRY[name].scalars:
        with pytest.raises(ValueError, match=f"{prm.name} got NaN or Inf values"):
            FUNCTIONS[name](paddle.to_tensor(x), paddle.to_tensor(y),
                            **{prm.name: paddle.to_tensor(bad, dtype="float64")})
    for prm in REGISTRY[name].weights:
        with pytest.raises(ValueError, match=f"{prm.name} got NaN or Inf values"):
            FUNCTIONS[name](paddle.to_tensor(x), paddle.to_tensor(y),
                            **{prm.name: paddle.to_tensor([1.0, bad, 1.0], dtype="float64")})
    if name in DISTANCE_MAPS:
        maps = DISTANCE_MAPS[name](y, 3)
        maps[0, 0, 0, 0, 0] = bad
        with pytest.raises(ValueError, match="dist_map got NaN or Inf values"):
            FUNCTIONS[name](paddle.to_tensor(x), paddle.to_tensor(y), dist_map=paddle.to_tensor(maps))
    FUNCTIONS[name](paddle.to_tensor(x), paddle.to_tensor(y))  # finite inputs pass


@pytest.mark.parametrize("name", NAMES)
def test_default_checks_leave_nan_logits_to_the_caller(name):
    """Without debug checks a NaN logit costs no check (as in Paddle's own losses): the loss is NaN."""
    shape = (2, 3, 4, 5)
    x = logits(shape)
    x[:] = np.nan
    assert np.isnan(float(FUNCTIONS[name](paddle.to_tensor(x), paddle.to_tensor(class_labels(shape)))))


def test_set_checks_takes_a_known_mode_and_returns_the_previous():
    with pytest.raises(ValueError, match="mode got 'loud'"):
        symloss_paddle.set_checks("loud")
    assert symloss_paddle.set_checks("debug") == "default"
    assert symloss_paddle.set_checks("default") == "debug"


@pytest.mark.parametrize("value, outcome", [("debug", "logit got NaN or Inf values"),
                                            ("default", "nan"),
                                            ("loud", "SYMLOSS_CHECKS got 'loud'")])
def test_checks_environment_variable(value, outcome):
    script = ("import paddle, symloss.paddle as s\n"
              "print(float(s.dice_loss(paddle.full([1, 2, 3, 3], float('nan')), paddle.zeros([1, 3, 3], 'int64'))))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=os.environ | {"SYMLOSS_CHECKS": value})
    assert outcome in run.stdout + run.stderr


# ---- inputs changed in place between the loss and its backward pass -------------------------------
@pytest.mark.parametrize("changed", ["logit", "label"])
@pytest.mark.parametrize("name, classes", [("dice", 1), ("lovasz_hinge", 1), ("focal", 1), ("tversky", 3),
                                           ("cross_entropy", 3), ("lovasz_softmax", 3)])
def test_inputs_changed_in_place_before_backward_raise(name, classes, changed):
    """The CPU kernels read the logits and the labels again in the backward pass (the sigmoid's slope,
    the one-hot target, the Lovasz rows): changed in place in between, the backward pass raises,
    naming the loss, and writes no gradient, where it would have used the new values silently."""
    shape = (2, classes, 5, 6)
    x = paddle.to_tensor(logits(shape).astype("float32"), stop_gradient=False)
    y = paddle.to_tensor(class_labels(shape))
    loss = FUNCTIONS[name](x, y, ignore_index=None)
    with paddle.no_grad():
        (x.scale_(-3.0) if changed == "logit" else y.scale_(0))
    with pytest.raises(Exception, match=f"{name}_loss: the logits or the labels were changed in place"):
        loss.backward()
    assert x.grad is None
    fresh = paddle.to_tensor(logits(shape).astype("float32"), stop_gradient=False)
    FUNCTIONS[name](fresh, y, ignore_index=None).backward()  # unchanged inputs: no complaint
    assert fresh.grad is not None


# ---- 9. the Lovász losses cannot synchronise a batch ---------------------------------------------
@pytest.mark.parametrize("name", LOVASZ)
def test_lovasz_batch_sync_is_rejected_in_a_single_process(name):
    shape = (2, 3, 4, 5)
    x, y = paddle.to_tensor(logits(shape)), paddle.to_tensor(class_labels(shape))
    with pytest.raises(ValueError, match="sync got True with batch=True"):
        FUNCTIONS[name](x, y, batch=True, sync=True)
    with pytest.raises(ValueError, match="sync got True with batch=True"):
        LOSSES[name](batch=True, sync=True)(x, y)
    FUNCTIONS[name](x, y, batch=False, sync=True)  # the mean over samples may span ranks
