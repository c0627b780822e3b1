"""Balanced binary cross-entropy: beta on the positive term, 1 - beta on the negative one."""
from sympy import S

from symloss.compiler.dsl import Identity, Loss, Param, Property, c, g, i, log, p, ref

beta = Param("beta", 0.5, domain=(0, 1),
             doc="weight of the positive term g*log(p); the negative term gets 1 - beta")

LOSS = Loss(
    name="balanced_bce",
    title="Balanced binary cross-entropy",
    class_name="BalancedBCELoss",
    family="distribution",
    paper="arXiv:2006.14822",  # the survey's Eq. 3
    summary="Binary cross-entropy with weights beta and 1 - beta on the positive and negative terms.",
    params=[beta],
    expr=-(beta * g[c, i] * log(p[c, i]) + (1 - beta) * (1 - g[c, i]) * log(1 - p[c, i])),
    notes="The survey sets beta = 1 - (foreground fraction) from the data; here beta is a parameter "
          "(default 1/2, half of BCE) so a fixed class balance can be chosen per data set.",
    claims=[
        Identity(ref("balanced_bce", beta=S.Half), ref("bce") / 2),
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)
