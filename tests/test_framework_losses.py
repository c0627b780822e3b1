"""The losses frameworks train with, against float64 NumPy translations of the frameworks' own code.

tests/references/ translates MONAI, nnU-Net, torch and Paddle (validated against the libraries, see
VALIDATION.md). Each generated loss must give the reference's value on the stated conventions, and
Paddle's autograd gradient must match central finite differences of the reference.
"""
import numpy as np
import pytest

from references import frameworks, monai, nnunet, papers
from references.gradcheck import assert_gradient_close, numerical_gradient

paddle = pytest.importorskip("paddle")
from symloss.paddle import FUNCTIONS  # noqa: E402
from paddle_calls import value_and_grad  # noqa: E402

SHAPES = {"2d": (2, 3, 5, 6), "3d": (2, 4, 3, 4, 3)}


def inputs(shape, seed=0, ignored=0.0, scale=2.0):
    """float64 logits (N, C, *spatial) and int64 labels (N, *spatial), a share of them 255 (ignored)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, scale, size=shape)
    y = rng.integers(0, shape[1], size=(shape[0],) + shape[2:])
    y[rng.random(y.shape) < ignored] = 255
    return x, y


def check(name, reference, x, y, rtol=1e-12, atol=1e-13, **kw):
    """The generated loss against `reference(logits)`: values, and gradients by finite differences."""
    value, grad = value_and_grad(FUNCTIONS[name], x, y, **kw)
    expected = reference(x)
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol)
    numeric = numerical_gradient(lambda z: np.sum(reference(z)), x)
    assert_gradient_close(grad, numeric, rtol=1e-5, atol=1e-8)
    return value


# --------------------------------------------------------------------------- cross_entropy(label_smoothing)

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.4])
@pytest.mark.parametrize("layout", sorted(SHAPES))
def test_label_smoothing_is_torchs(layout, eps, weighted, reduction):
    x, y = inputs(SHAPES[layout], seed=1, ignored=0.2)
    c = x.shape[1]
    weight = list(np.linspace(0.5, 2.0, c)) if weighted else None

    def reference(z):
        return frameworks.torch_cross_entropy(z, y, weight=weight, ignore_index=255, reduction=reduction,
                                              label_smoothing=eps)

    check("cross_entropy", reference, x, y, weight=weight, label_smoothing=eps, reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_is_paddles_without_class_weights(reduction):
    x, y = inputs(SHAPES["2d"], seed=2)
    expected = frameworks.paddle_cross_entropy(x, y, reduction=reduction, label_smoothing=0.2)
    value, _ = value_and_grad(FUNCTIONS["cross_entropy"], x, y, label_smoothing=0.2, reduction=reduction, ignore_index=None)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    # and Paddle itself (channels-last: its smoothing builds the one-hot on the last axis)
    theirs = paddle.nn.functional.cross_entropy(
        paddle.to_tensor(np.moveaxis(x, 1, -1)), paddle.to_tensor(y), label_smoothing=0.2,
        reduction=reduction)
    np.testing.assert_allclose(value, theirs.numpy().reshape(np.shape(value)), rtol=1e-7)


def test_label_smoothing_weighs_classes_as_torch_does_not_as_paddle():
    """With class weights the two frameworks differ; the generated loss follows torch."""
    x, y = inputs(SHAPES["2d"], seed=3)
    weight = [0.2, 1.0, 3.0]
    value, _ = value_and_grad(FUNCTIONS["cross_entropy"], x, y, weight=weight, label_smoothing=0.3, ignore_index=None)
    torch_value = frameworks.torch_cross_entropy(x, y, weight=weight, label_smoothing=0.3)
    paddle_value = frameworks.paddle_cross_entropy(x, y, weight=weight, label_smoothing=0.3)
    np.testing.assert_allclose(value, torch_value, rtol=1e-12)
    assert abs(value - paddle_value) > 1e-4 * abs(paddle_value)


def test_label_smoothing_branches_agree_at_zero():
    """label_smoothing=0 runs a branch of its own (the fused kernel); the general code tends to it."""
    x, y = inputs(SHAPES["3d"], seed=4, ignored=0.3)
    for weight in (None, [1.0, 2.0, 0.5, 1.5]):
        zero = value_and_grad(FUNCTIONS["cross_entropy"], x, y, weight=weight, label_smoothing=0.0)
        tiny = value_and_grad(FUNCTIONS["cross_entropy"], x, y, weight=weight, label_smoothing=1e-15)
        np.testing.assert_allclose(tiny[0], zero[0], rtol=1e-13)
        np.testing.assert_allclose(tiny[1], zero[1], rtol=1e-12, atol=1e-15)
        expected = frameworks.torch_cross_entropy(x, y, weight=weight, ignore_index=255)
        np.testing.assert_allclose(zero[0], expected, rtol=1e-12)


# --------------------------------------------------------------------------- poly1

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("epsilon", [1.0, -1.0, 2.5])
@pytest.mark.parametrize("layout", sorted(SHAPES))
def test_poly1_is_the_papers(layout, epsilon, reduction):
    x, y = inputs(SHAPES[layout], seed=5, ignored=0.2)

    def reference(z):
        return papers.poly1_cross_entropy(z, y, epsilon=epsilon, reduction=reduction, ignore_index=255)

    check("poly1", reference, x, y, epsilon=epsilon, reduction=reduction)


def test_poly1_at_epsilon_zero_is_cross_entropy():
    x, y = inputs(SHAPES["3d"], seed=6, ignored=0.3)
    weight = [0.5, 1.0, 2.0, 4.0]
    for reduction in ("mean", "sum", "none"):
        poly = value_and_grad(FUNCTIONS["poly1"], x, y, epsilon=0.0, weight=weight, reduction=reduction)
        ce = value_and_grad(FUNCTIONS["cross_entropy"], x, y, weight=weight, reduction=reduction)
        np.testing.assert_allclose(poly[0], ce[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(poly[1], ce[1], rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- mcc

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("layout", sorted(SHAPES))
def test_mcc_is_monais(layout, include_background, batch, reduction):
    x, y = inputs(SHAPES[layout], seed=7)

    def reference(z):
        return monai.mcc_loss(z, y, include_background=include_background, batch=batch, reduction=reduction)

    check("mcc", reference, x, y, include_background=include_background, batch=batch, reduction=reduction)


def test_mcc_smoothing_is_monais():
    x, y = inputs(SHAPES["2d"], seed=8)

    def reference(z):
        return monai.mcc_loss(z, y, smooth_nr=0.5, smooth_dr=2.0)

    check("mcc", reference, x, y, smooth_nr=0.5, smooth_dr=2.0)


def test_mcc_is_exactly_zero_at_a_perfect_prediction():
    _, y = inputs(SHAPES["2d"], seed=9)
    x = 800.0 * (np.eye(3)[y].transpose(0, 3, 1, 2) - 0.5)  # softmax is exactly one-hot in float64
    assert monai.mcc_loss(x, y, reduction="none").max() == 0.0
    # The same one-hot prediction given as probabilities: Paddle's vectorised exp does not underflow to 0 (it
    # floors near the smallest normal number), so from logits the prediction is off by 1e-308, and so is fp.
    onehot = np.where(y[:, None] == 255, 0.0, np.eye(3)[np.clip(y, 0, 2)].transpose(0, 3, 1, 2))
    value, grad = value_and_grad(FUNCTIONS["mcc"], onehot, y, reduction="none", activation="none")
    np.testing.assert_array_equal(value, np.zeros((2, 3)))
    np.testing.assert_array_equal(grad, np.zeros_like(x))


# --------------------------------------------------------------------------- dice_focal

# MONAI's focal 'sum' adds one mean per image even with batch=True, where the focal term here is one mean.
@pytest.mark.parametrize("batch, reduction", [(False, "mean"), (False, "sum"), (True, "mean")])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("layout", sorted(SHAPES))
def test_dice_focal_is_monais(layout, include_background, batch, reduction):
    x, y = inputs(SHAPES[layout], seed=10)

    def reference(z):
        return monai.dice_focal_loss(z, y, include_background=include_background, batch=batch, reduction=reduction)

    check("dice_focal", reference, x, y, include_background=include_background, batch=batch, reduction=reduction)


def test_dice_focal_parameters_are_monais():
    x, y = inputs(SHAPES["2d"], seed=11)
    kw = dict(lambda_dice=0.3, lambda_focal=1.7, gamma=0.5)

    def reference(z):
        return monai.dice_focal_loss(z, y, smooth_nr=0.1, smooth_dr=0.1, **kw)

    check("dice_focal", reference, x, y, smooth=0.1, **kw)


def test_dice_focal_without_focal_is_monais_dice():
    x, y = inputs(SHAPES["3d"], seed=12)
    for batch in (False, True):
        value, _ = value_and_grad(FUNCTIONS["dice_focal"], x, y, lambda_focal=0.0, batch=batch)
        np.testing.assert_allclose(value, monai.dice_loss(x, y, batch=batch), rtol=1e-12)


# --------------------------------------------------------------------------- dice_ce

@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("layout", sorted(SHAPES))
def test_dice_ce_is_monais(layout, include_background, batch):
    x, y = inputs(SHAPES[layout], seed=13)

    def reference(z):
        return monai.dice_ce_loss(z, y, include_background=include_background, batch=batch)

    check("dice_ce", reference, x, y, include_background=include_background, batch=batch)


@pytest.mark.parametrize("include_background", [True, False])
def test_dice_ce_class_weights_and_label_smoothing_are_monais(include_background):
    """With class weights torch's CE mean spans the batch: equal to MONAI with batch=True."""
    x, y = inputs(SHAPES["2d"], seed=14)
    kw = dict(weight=[0.5, 2.0, 1.25], lambda_dice=0.7, lambda_ce=1.3, label_smoothing=0.1)

    def reference(z):
        return monai.dice_ce_loss(z, y, include_background=include_background, batch=True, smooth_nr=0.01,
                                  smooth_dr=0.01, **kw)

    check("dice_ce", reference, x, y, include_background=include_background, batch=True, smooth=0.01, **kw)


def test_dice_ce_without_its_cross_entropy_is_monais_dice():
    x, y = inputs(SHAPES["3d"], seed=15)
    weight = [1.0, 0.5, 2.0, 3.0]
    for include_background in (True, False):
        value, _ = value_and_grad(FUNCTIONS["dice_ce"], x, y, lambda_ce=0.0, weight=weight, include_background=include_background)
        dice_weight = weight if include_background else weight[1:]
        expected = monai.dice_loss(x, y, include_background=include_background, weight=dice_weight)
        np.testing.assert_allclose(value, expected, rtol=1e-12)


# --------------------------------------------------------------------------- nnunet_dice_ce

@pytest.mark.parametrize("batch, ignored", [(True, 0.2), (True, 0.0), (False, 0.0)])
@pytest.mark.parametrize("layout", sorted(SHAPES))
def test_nnunet_dice_ce_is_nnunets_at_its_defaults(layout, batch, ignored):
    """nnU-Net's CE is one mean over the batch's valid pixels: equal with batch=True, or with nothing ignored."""
    x, y = inputs(SHAPES[layout], seed=16, ignored=ignored)

    def reference(z):
        return nnunet.dc_and_ce_loss(z, y, batch_dice=batch, ignore_label=255 if ignored else None)

    check("nnunet_dice_ce", reference, x, y, batch=batch)  # include_background defaults to False (do_bg)


@pytest.mark.parametrize("include_background", [True, False])
def test_nnunet_dice_ce_parameters_are_nnunets(include_background):
    x, y = inputs(SHAPES["3d"], seed=17, ignored=0.2)
    weight = [0.3, 1.0, 2.0, 1.5]

    def reference(z):
        return nnunet.dc_and_ce_loss(z, y, batch_dice=True, do_bg=include_background, smooth=0.5, weight_ce=0.6,
                                     weight_dice=1.4, ignore_label=255, ce_weight=weight)

    check("nnunet_dice_ce", reference, x, y, batch=True, include_background=include_background, smooth=0.5,
          weight_ce=0.6, weight_dice=1.4, weight=weight)


def test_nnunet_dice_ce_without_dice_is_cross_entropy():
    x, y = inputs(SHAPES["2d"], seed=18, ignored=0.3)
    for weight in (None, [2.0, 0.5, 1.0]):
        value, grad = value_and_grad(FUNCTIONS["nnunet_dice_ce"], x, y, weight_dice=0.0, weight=weight, batch=True)
        ce_value, ce_grad = value_and_grad(FUNCTIONS["cross_entropy"], x, y, weight=weight)
        np.testing.assert_allclose(value, ce_value, rtol=1e-13)
        np.testing.assert_allclose(grad, ce_grad, rtol=1e-12, atol=1e-16)
