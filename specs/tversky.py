"""Tversky loss (Salehi et al., 2017): Dice with separate weights on false positives and negatives."""
from sympy import S, Symbol

from symloss.compiler.dsl import Identity, Loss, Param, Property, Sum, c, g, i, p, ref

alpha = Param("alpha", 0.3, domain=(0, None), doc="weight of the false positives, sum(p * (1 - g))")
beta = Param("beta", 0.7, domain=(0, None), doc="weight of the false negatives, sum((1 - p) * g)")
smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator")
s = Symbol("s", nonnegative=True)  # universally quantified in the claims below

tp = Sum(p[c, i] * g[c, i], i)
fp = Sum(p[c, i] * (1 - g[c, i]), i)
fn = Sum((1 - p[c, i]) * g[c, i], i)

LOSS = Loss(
    name="tversky",
    title="Tversky",
    family="region",
    paper="arXiv:1706.05721",
    summary="One minus the Tversky index TP / (TP + alpha FP + beta FN) of each class.",
    params=[alpha, beta, smooth],
    expr=1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth),  # free c: per class
    claims=[
        Identity(ref("tversky", alpha=S.Half, beta=S.Half, smooth=s), ref("dice", smooth=2 * s)),
        Identity(ref("tversky", alpha=1, beta=1, smooth=s), ref("jaccard", smooth=s)),
        Identity(
            ref("tversky", alpha=S.Half, beta=S.Half, smooth=s), ref("dice", smooth=s), expect="refuted",
            note="the often-quoted 'Tversky(1/2, 1/2) is Dice' holds with smoothing only as Dice(2s); at s = 0 both agree",
        ),
        Property.bounded(0, 1),
        Property.zero_at_perfect(smooth=0),
        Property.permutation_invariant(),
    ],
)
