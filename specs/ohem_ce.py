"""Online hard example mining cross-entropy (Shrivastava et al., 2016), as PaddleSeg's OhemCrossEntropyLoss."""
from symloss.compiler.dsl import Identity, Loss, Max, Mean, OhemSelect, Param, Property, Sum, c, g, i, log, p, ref

thresh = Param("thresh", 0.7, domain=(0, 1), doc="pixels whose true class has a probability below it are kept")
min_kept = Param("min_kept", 10000, domain=(0, None),
                 doc="at least this many pixels (rounded down) are kept: the threshold rises to the min_kept-th "
                     "smallest probability")

ce = -Sum(g[c, i] * log(p[c, i]), c)
true_class = Sum(g[c, i] * p[c, i], c)  # the probability of each pixel's class
kept = OhemSelect(true_class, thresh, min_kept)

LOSS = Loss(
    name="ohem_ce",
    title="OHEM cross-entropy",
    class_name="OhemCrossEntropyLoss",
    family="distribution",
    paper="arXiv:1604.03540",
    summary="Mean cross-entropy over the pixels whose true class is predicted with probability below thresh, "
            "at least min_kept of them: the hard examples.",
    params=[thresh, min_kept],
    expr=Sum(kept * ce, i) / Max(1, Sum(kept, i)),  # per unit
    binary_as_two_classes=True,
    notes="As PaddleSeg 2.8's OhemCrossEntropyLoss, which selects over the whole batch: batch=True; batch=False "
          "selects per image. With m = floor(min_kept) and n valid pixels, if 0 < m < n the kept pixels are those "
          "whose true-class probability is strictly below max(thresh, the m-th smallest of them) (so m - 1 of "
          "them when the m-th exceeds thresh), else every valid pixel (PaddleSeg keeps them all at min_kept=0 "
          "too). PaddleSeg divides by the kept fraction plus 1e-5; here the mean is exact, and a unit with no "
          "kept pixel scores 0 as there. One channel is read as [1 - p, p]. The selection is a constant of the "
          "gradient; it cannot span data-parallel ranks, so batch=True rejects sync=True.",
    claims=[
        Identity(ref("ohem_ce", thresh=1), Mean(ce, i), note="at thresh = 1 every pixel is kept: cross-entropy"),
        Property.nonnegative(),
        Property.zero_at_perfect(),
        Property.permutation_invariant(),
    ],
)
