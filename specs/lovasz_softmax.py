"""Lovász-softmax loss (Berman et al., 2018): the Lovász extension of the Jaccard loss, per class."""
from symloss.compiler.dsl import Abs, Choice, Identity, Indicator, Loss, Property, Sum, c, g, i, p, ref
from symloss.compiler.dsl import LovaszWeights

classes = Choice("classes", "present", ("present", "all"),
                 doc="average over the classes present in each unit's target (Berman's default), or over all")

errors = Abs(g[c, i] - p[c, i])
present = Indicator(Sum(g[c, i], i))  # 1 if the class occurs in the unit's target
lovasz = Sum(errors * LovaszWeights(errors, g[c, i]), i)

LOSS = Loss(
    name="lovasz_softmax",
    title="Lovász-softmax",
    family="region",
    paper="arXiv:1705.08790",
    summary="Per class, the Lovász extension of the Jaccard loss at the pixel errors |g - p|: a convex, "
            "tight surrogate of 1 - IoU.",
    params=[classes],
    expr=classes.pick(present=present * lovasz, all=lovasz),  # free c: one loss per class
    mean_denominator=classes.pick(present=present, all=1),  # "present": the mean over present classes
    notes="The pixels are sorted by error once for all classes and units, ties in pixel order in "
          "eager mode and in a graph alike; the sort is a constant of the gradient. batch=False is Berman's "
          "per_image=True. With classes='present', a class absent from a unit's target scores 0: "
          "reduction='mean' takes, per unit, the mean over the classes present in it, then the mean over the "
          "units (Berman's averaging, so an image does not weigh more for holding more classes); "
          "reduction='none' returns every (unit, class) entry, 0 for an absent class; reduction='sum' sums "
          "them. A unit whose pixels are all ignored is left out of the mean (Berman's code counts it as 0).",
    claims=[
        Identity(ref("lovasz_softmax", classes="all"), ref("jaccard", smooth=0), inputs="hard",
                 note="on a hard prediction the Lovász extension equals the Jaccard loss 1 - IoU"),
        Property.nonnegative(),
        Property.bounded(0, 1),
        Property.zero_at_perfect(),
        Property.permutation_invariant(),
    ],
)
