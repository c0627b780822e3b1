"""Focal loss (Lin et al., 2017): cross-entropy down-weighted on well-classified pixels."""
from symloss.compiler.dsl import Identity, Loss, Param, Property, Symbol, c, g, i, log, p, ref

alpha = Param("alpha", 0.25, domain=(0, 1), doc="weight of the positive term; the negative term gets 1 - alpha")
gamma = Param("gamma", 2.0, domain=(0, None), doc="focusing exponent, used as is on (1 - p_t)")
a = Symbol("a", positive=True)  # universally quantified below

LOSS = Loss(
    name="focal",
    title="Focal",
    family="distribution",
    paper="arXiv:1708.02002",
    summary="Binary cross-entropy scaled by (1 - p_t)^gamma and balanced by alpha, per class and pixel.",
    params=[alpha, gamma],
    expr=-(alpha * g[c, i] * (1 - p[c, i]) ** gamma * log(p[c, i])
           + (1 - alpha) * (1 - g[c, i]) * p[c, i] ** gamma * log(1 - p[c, i])),
    notes="Defaults alpha = 0.25, gamma = 2 are RetinaNet's. With reduction='sum' and the sum divided by "
          "the number of positives, this is paddle.nn.functional.sigmoid_focal_loss.",
    claims=[
        Identity(ref("focal", gamma=0, alpha=a), ref("balanced_bce", beta=a)),
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)
