"""Asymmetric focal Tversky loss (Yeung et al., 2022): the Dice half of the unified focal loss, as in MONAI."""
from sympy import Interval

from symloss.compiler.dsl import Identity, Loss, Max, Min, Param, Property, Sum, background, c, foreground, g, i, p, ref

delta = Param("delta", 0.7, domain=(0, 1), doc="weight of the false negatives; the false positives get 1 - delta")
gamma = Param("gamma", 0.75, domain=Interval.Ropen(0, 1),
              doc="focal parameter: the foreground classes' terms are raised to 1 - gamma (MONAI's convention)")
epsilon = Param("epsilon", 1e-7, domain=(0, 0.5),
                doc="the prediction is clamped to [epsilon, 1 - epsilon]; also added to numerator and denominator")

q = Min(Max(p[c, i], epsilon), 1 - epsilon)
tp = Sum(g[c, i] * q, i)
fn = Sum(g[c, i] * (1 - q), i)
fp = Sum((1 - g[c, i]) * q, i)
tversky_loss = 1 - (tp + epsilon) / (tp + delta * fn + (1 - delta) * fp + epsilon)

LOSS = Loss(
    name="asym_focal_tversky",
    title="Asymmetric focal Tversky",
    class_name="AsymmetricFocalTverskyLoss",
    family="region",
    paper="arXiv:2102.04525",
    summary="One minus the Tversky index of each class, the background's used as is, every other class's raised "
            "to 1 - gamma, which enhances the rare classes' loss.",
    params=[delta, gamma, epsilon],
    expr=background[c] * tversky_loss + foreground[c] * tversky_loss ** (1 - gamma),  # per class
    binary_as_two_classes=True,
    notes="As MONAI 1.6's AsymmetricFocalTverskyLoss: the prediction is clamped to [epsilon, 1 - epsilon], the "
          "index is (TP + epsilon) / (TP + delta FN + (1 - delta) FP + epsilon) per class and image, class 0 (the "
          "background) keeps 1 - index and every other class takes (1 - index)^(1 - gamma) (Yeung et al.'s "
          "generalisation to C > 2). One channel (C = 1) is read as the two classes [1 - p, p]; reduction='mean' "
          "averages over images and classes as MONAI's does. gamma is kept below 1: at gamma > 1 the exponent "
          "1 - gamma is negative and the loss explodes as a class nears a perfect index (the erratum below).",
    claims=[
        Identity(ref("asym_focal_tversky", gamma=0, epsilon=0), ref("tversky", alpha=1 - delta, beta=delta, smooth=0),
                 note="at gamma = 0 every class's term is the Tversky loss with alpha = 1 - delta, beta = delta"),
        Property.bounded(0, 1),
        Property.zero_at_perfect(epsilon=0),
        Property.bounded(0, 1, gamma=2, expect="refuted",
                         note="MONAI's exponent 1 - gamma turns negative for gamma > 1: the loss is unbounded"),
    ],
)
