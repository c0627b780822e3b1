"""Focal Tversky loss (Abraham & Khan, 2018): the Tversky loss of each class to the power 1/gamma."""
from sympy import Interval, oo

from symloss.compiler.dsl import Identity, Loss, Param, Property, Symbol, Sum, c, g, i, p, ref

alpha = Param("alpha", 0.3, domain=(0, None), doc="weight of the false positives (as in tversky)")
beta = Param("beta", 0.7, domain=(0, None), doc="weight of the false negatives (as in tversky)")
gamma = Param("gamma", 4 / 3, domain=Interval.open(0, oo),
              doc="focal parameter; the exponent is 1/gamma (the paper's convention, best at 4/3)")
smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator of the index")
k = Symbol("k", positive=True)  # universally quantified below

tp = Sum(p[c, i] * g[c, i], i)
fp = Sum(p[c, i] * (1 - g[c, i]), i)
fn = Sum((1 - p[c, i]) * g[c, i], i)
survey_form = (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)) ** gamma  # survey Eq. 11

LOSS = Loss(
    name="focal_tversky",
    title="Focal Tversky",
    family="region",
    paper="arXiv:1810.07842",
    summary="(1 - Tversky index)^(1/gamma) per class: gamma > 1 focuses on classes that are still poorly segmented.",
    params=[alpha, beta, gamma, smooth],
    expr=ref("tversky", alpha=alpha, beta=beta, smooth=smooth) ** (1 / gamma),
    notes="Abraham & Khan weight the false negatives by 0.7 and the false positives by 0.3, i.e. alpha = 0.3, "
          "beta = 0.7 here. The survey writes the exponent as gamma, not 1/gamma (refuted below); SMP raises "
          "the class mean, not each class, to the power.",
    claims=[
        Identity(ref("focal_tversky", gamma=1), ref("tversky")),
        Identity(ref("focal_tversky", gamma=k), survey_form.xreplace({gamma: k}), expect="refuted",
                 note="the survey's exponent gamma differs from the paper's 1/gamma except at gamma = 1"),
        Property.bounded(0, 1),
        Property.zero_at_perfect(smooth=0),
        Property.permutation_invariant(),
    ],
)
