"""Generalised Dice loss (Sudre et al., 2017): one Dice over all classes, each weighted by 1/volume^2."""
from symloss.compiler.dsl import Identity, Loss, Max, Param, Property, Sum, c, g, i, p, ref

smooth = Param("smooth", 1e-5, domain=(0, None), doc="added to numerator and denominator")

volume = Sum(g[c, i], i)
weight = 1 / Max(volume, 1) ** 2  # an absent class weighs as much as a one-pixel class, not infinitely
numerator = 2 * Sum(weight * Sum(p[c, i] * g[c, i], i), c)
denominator = Sum(weight * (Sum(p[c, i], i) + volume), c)

LOSS = Loss(
    name="generalized_dice",
    title="Generalized Dice",
    family="region",
    paper="arXiv:1707.03237",
    summary="One minus a Dice ratio pooled over classes, each class weighted by the inverse square of its volume.",
    params=[smooth],
    expr=1 - (numerator + smooth) / (denominator + smooth),  # no free index: one loss per sample
    notes="Weights are 1 / max(sum_i g_ci, 1)^2: a class absent from the target would get an infinite "
          "weight (MONAI replaces it by the largest finite weight); here it weighs as a one-pixel class, the "
          "largest weight a present class can have with hard labels. Numerator and denominator are summed "
          "over classes before dividing (MONAI #369).",
    claims=[
        Identity(ref("generalized_dice", smooth=0), ref("dice", smooth=0), classes=1),
        Property.bounded(0, 1),
        Property.zero_at_perfect(smooth=0),
        Property.permutation_invariant(),
    ],
)
