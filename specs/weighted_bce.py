"""Weighted binary cross-entropy: the positive term scaled by beta (Paddle's pos_weight)."""
from symloss.compiler.dsl import Identity, Loss, Param, Property, c, g, i, log, p, ref

beta = Param("beta", 1.0, domain=(0, None),
             doc="weight of the positive term g*log(p), used as is (Paddle's pos_weight); > 1 lowers false "
                 "negatives, < 1 lowers false positives")

LOSS = Loss(
    name="weighted_bce",
    title="Weighted binary cross-entropy",
    class_name="WeightedBCELoss",
    family="distribution",
    paper="arXiv:2006.14822",  # the survey's Eq. 2
    summary="Binary cross-entropy whose positive term is weighted by beta.",
    params=[beta],
    expr=-(beta * g[c, i] * log(p[c, i]) + (1 - g[c, i]) * log(1 - p[c, i])),  # per class and pixel
    notes="The survey names no default; beta = 1 is plain BCE. SemSegLoss's weighted_cross_entropyloss "
          "passes pos_weight = beta / (1 - beta), which is balanced BCE divided by (1 - beta), not this loss.",
    claims=[
        Identity(ref("weighted_bce", beta=1), ref("bce")),
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)
