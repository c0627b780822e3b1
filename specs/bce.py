"""Binary cross-entropy, per class and pixel (the maximum-likelihood loss for a Bernoulli target)."""
from symloss.compiler.dsl import Loss, Property, c, g, i, log, p

LOSS = Loss(
    name="bce",
    title="Binary cross-entropy",
    class_name="BCELoss",
    family="distribution",
    paper="arXiv:2006.14822",  # the survey's Eq. 1; the loss predates any one paper
    summary="Negative log-likelihood of each pixel's target under an independent Bernoulli prediction.",
    params=[],
    expr=-(g[c, i] * log(p[c, i]) + (1 - g[c, i]) * log(1 - p[c, i])),  # free c, i: per class and pixel
    claims=[
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)
