"""Top-k cross-entropy (nnU-Net's TopKLoss): the cross-entropy of the k% hardest pixels."""
from sympy import Interval

from symloss.compiler.dsl import Identity, Loss, Max, Mean, Param, Property, Sum, TopPercent, c, g, i, log, p, ref

k = Param("k", 10.0, domain=Interval.Lopen(0, 100), doc="percent of the unit's pixels kept: those of largest cross-entropy")

ce = -Sum(g[c, i] * log(p[c, i]), c)  # each pixel's cross-entropy
hardest = TopPercent(ce, k)

LOSS = Loss(
    name="topk_ce",
    title="Top-k cross-entropy",
    class_name="TopKCrossEntropyLoss",
    family="distribution",
    paper="doi:10.1038/s41592-020-01008-z",
    summary="Mean cross-entropy over the k% of pixels where it is largest: easy pixels stop contributing.",
    params=[k],
    expr=Sum(hardest * ce, i) / Max(1, Sum(hardest, i)),  # per unit
    binary_as_two_classes=True,
    notes="As nnU-Net's TopKLoss (robust_ce_loss.py), which selects over the whole batch: batch=True; "
          "batch=False selects per image and averages the images. The unit's n valid pixels keep "
          "max(1, floor(n k / 100)) of them. Ignored pixels are never counted or selected; nnU-Net counts them "
          "as zero-loss voxels in its k%, so with ignored pixels it keeps fewer real ones. One channel is read as the "
          "two classes [1 - p, p], so that the cross-entropy is the binary one. The selection is a "
          "constant of the gradient; it cannot span data-parallel ranks, so batch=True rejects sync=True.",
    claims=[
        Identity(ref("topk_ce", k=100), Mean(ce, i), note="keeping every pixel is the plain cross-entropy"),
        Property.le(Mean(ce, i), ref("topk_ce", k=k),
                    note="the hardest pixels' mean is at least the mean over all of them"),
        Property.nonnegative(),
        Property.zero_at_perfect(),
        Property.permutation_invariant(),
    ],
)
