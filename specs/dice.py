"""Soft Dice loss (Milletari et al., 2016), with the plain (not squared) denominator."""
from symloss.compiler.dsl import Identity, Loss, Param, Property, Sum, c, g, i, p, ref

smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator; keeps an empty class finite")

tp = Sum(p[c, i] * g[c, i], i)
LOSS = Loss(
    name="dice",
    title="Dice",
    family="region",
    paper="arXiv:1606.04797",
    summary="One minus the soft Dice coefficient 2|P∩G| / (|P| + |G|) of each class.",
    params=[smooth],
    expr=1 - (2 * tp + smooth) / (Sum(p[c, i], i) + Sum(g[c, i], i) + smooth),  # free c: per class
    claims=[
        # Dice = 2J / (1 + J), written with the losses DL = 1 - Dice and JL = 1 - J.
        Identity(ref("dice", smooth=0), 1 - 2 * (1 - ref("jaccard", smooth=0)) / (2 - ref("jaccard", smooth=0))),
        Property.bounded(0, 1),
        Property.zero_at_perfect(smooth=0),
        Property.permutation_invariant(),
    ],
)
