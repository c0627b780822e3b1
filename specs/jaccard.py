"""Soft Jaccard (IoU) loss: one minus intersection over union of each class."""
from symloss.compiler.dsl import Loss, Param, Property, Sum, c, g, i, p

smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator; keeps an empty class finite")

tp = Sum(p[c, i] * g[c, i], i)
LOSS = Loss(
    name="jaccard",
    title="Jaccard",
    family="region",
    paper="doi:10.1111/j.1469-8137.1912.tb05611.x",
    summary="One minus the soft intersection over union |P∩G| / |P∪G| of each class.",
    params=[smooth],
    expr=1 - (tp + smooth) / (Sum(p[c, i], i) + Sum(g[c, i], i) - tp + smooth),  # free c: per class
    claims=[
        Property.bounded(0, 1),
        Property.zero_at_perfect(smooth=0),
        Property.permutation_invariant(),
    ],
)
