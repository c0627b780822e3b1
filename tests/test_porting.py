"""The README's "porting a recipe" table: each framework call on the left gives the value of the symloss call on
the right. Rows not tested here are tested beside their loss (test_framework_losses.py, test_reach_references.py)
or against Paddle itself (test_paddle_equivalence.py)."""
import numpy as np
import pytest

from references import monai, nnunet, smp

paddle = pytest.importorskip("paddle")
from symloss.paddle import FUNCTIONS  # noqa: E402


def inputs(shape=(2, 3, 6, 5), seed=0, ignored=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 2.0, size=shape)
    y = rng.integers(0, shape[1], size=(shape[0],) + shape[2:])
    y[rng.random(y.shape) < ignored] = 255
    return x, y


def ours(name, x, y, **kw):
    return float(FUNCTIONS[name](paddle.to_tensor(x), paddle.to_tensor(y), **kw))


# (row, framework value, symloss value); both on the same float64 logits and labels
ROWS = {
    "MONAI DiceLoss": lambda x, y: (monai.dice_loss(x, y), ours("dice", x, y, smooth=1e-5)),
    "MONAI DiceLoss batch, no background": lambda x, y: (
        monai.dice_loss(x, y, batch=True, include_background=False),
        ours("dice", x, y, smooth=1e-5, batch=True, include_background=False)),
    "MONAI FocalLoss": lambda x, y: (monai.focal_loss(x, y), ours("dice_focal", x, y, lambda_dice=0.0)),
    "MONAI FocalLoss alpha": lambda x, y: (monai.focal_loss(x, y, alpha=0.25, gamma=1.5),
                                           ours("focal", x, y, alpha=0.25, gamma=1.5, activation="sigmoid")),
    "MONAI HausdorffDTLoss": lambda x, y: (monai.hausdorff_dt_loss(x, y),
                                           ours("hausdorff_dt", x, y, include_background=False)),
    "MONAI BoundaryLoss": lambda x, y: (monai.boundary_loss(x, y), ours("boundary", x, y)),
    "nnU-Net MemoryEfficientSoftDiceLoss": lambda x, y: (
        nnunet.memory_efficient_soft_dice_loss(x, y, do_bg=False, smooth=1e-5),
        ours("nnunet_dice_ce", x, y, weight_ce=0.0)),
    "SMP DiceLoss": lambda x, y: (smp.dice_loss(x, y, smooth=0.5), ours("dice", x, y, smooth=1.0, batch=True)),
    "SMP JaccardLoss": lambda x, y: (smp.jaccard_loss(x, y, smooth=0.5), ours("jaccard", x, y, smooth=0.5, batch=True)),
    "SMP TverskyLoss": lambda x, y: (smp.tversky_family_loss(x, y, alpha=0.3, beta=0.7),
                                     ours("tversky", x, y, alpha=0.3, beta=0.7, smooth=0.0, batch=True)),
    "SMP FocalLoss": lambda x, y: (smp.focal_loss(x, y), ours("dice_focal", x, y, lambda_dice=0.0, batch=True)),
    "SMP FocalLoss alpha": lambda x, y: (smp.focal_loss(x, y, alpha=0.25),
                                         ours("focal", x, y, alpha=0.25, activation="sigmoid")),
    "SMP SoftCrossEntropyLoss": lambda x, y: (smp.soft_cross_entropy_loss(x, y, smooth_factor=0.1),
                                              ours("cross_entropy", x, y, label_smoothing=0.1)),
}


@pytest.mark.parametrize("row", sorted(ROWS))
def test_row_gives_the_frameworks_value(row):
    for seed, shape in enumerate([(2, 3, 6, 5), (2, 4, 3, 4, 3)]):
        x, y = inputs(shape, seed)
        theirs, mine = ROWS[row](x, y)
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_smp_ignores_pixels_as_symloss_does_with_batch_statistics():
    x, y = inputs(ignored=0.3, seed=5)
    np.testing.assert_allclose(ours("dice", x, y, smooth=0.0, batch=True), smp.dice_loss(x, y, ignore_index=255),
                               rtol=1e-12)
    np.testing.assert_allclose(ours("dice_focal", x, y, lambda_dice=0.0, batch=True),
                               smp.focal_loss(x, y, ignore_index=255), rtol=1e-12)


def test_smp_scores_a_class_absent_from_the_batch_zero():
    """The table's condition: SMP gives an absent class 0, symloss's Dice (smooth 0) gives it 1."""
    x, y = inputs(seed=6)
    y = np.where(y == 2, 0, y)
    theirs, mine = smp.dice_loss(x, y), ours("dice", x, y, smooth=0.0, batch=True)
    assert abs(theirs - mine) > 0.1


# ------------------------------------------------------------------------------------- PaddleSeg itself


def paddleseg_losses():
    pytest.importorskip("paddleseg")
    from paddleseg.models import losses

    return losses


def test_paddleseg_dice_loss():
    losses = paddleseg_losses()
    x, y = inputs(ignored=0.2, seed=7)
    theirs = losses.DiceLoss(smooth=1.0)(paddle.to_tensor(x), paddle.to_tensor(y))  # writes into its labels
    np.testing.assert_allclose(ours("dice", x, y, smooth=1.0), float(theirs), rtol=1e-6)


def test_paddleseg_lovasz_losses():
    losses = paddleseg_losses()
    x, y = inputs(ignored=0.2, seed=8)
    theirs = losses.LovaszSoftmaxLoss()(paddle.to_tensor(x), paddle.to_tensor(y))
    np.testing.assert_allclose(ours("lovasz_softmax", x, y, batch=True), float(theirs), rtol=1e-6)
    binary = np.where(y == 255, 255, y % 2)
    theirs = losses.LovaszHingeLoss()(paddle.to_tensor(x[:, :1]), paddle.to_tensor(binary))
    np.testing.assert_allclose(ours("lovasz_hinge", x[:, :1], binary, batch=True), float(theirs), rtol=1e-6)


def test_paddleseg_focal_loss():
    losses = paddleseg_losses()
    x, y = inputs(shape=(2, 2, 6, 5), ignored=0.2, seed=9)
    theirs = losses.FocalLoss(alpha=0.25, gamma=2.0)(paddle.to_tensor(x), paddle.to_tensor(y))
    np.testing.assert_allclose(ours("focal", x, y, alpha=0.25, gamma=2.0, activation="sigmoid"), float(theirs),
                               rtol=1e-6)
