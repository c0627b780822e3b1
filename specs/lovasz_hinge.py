"""Lovász hinge loss (Berman et al., 2018): the Lovász extension of the Jaccard loss at hinge errors."""
from symloss.compiler.dsl import Identity, Loss, Max, Property, Sum, c, g, i, ref, x
from symloss.compiler.dsl import LovaszWeights

errors = 1 - x[c, i] * (2 * g[c, i] - 1)  # hinge errors on the logits, signs +1 / -1

LOSS = Loss(
    name="lovasz_hinge",
    title="Lovász hinge",
    family="region",
    paper="arXiv:1705.08790",
    summary="Per channel, the Lovász extension of the Jaccard loss at the hinge errors max(0, 1 - x s) of "
            "the logits x, s = +1 on the target and -1 off it.",
    params=[],
    expr=Sum(Max(errors, 0) * LovaszWeights(errors, g[c, i]), i),  # free c: one loss per channel
    notes="Works on logits, whatever the activation. With C == 1 it is Berman's binary hinge; with C > 1 "
          "each channel is a one-vs-rest binary problem (multi-label). batch=False is per_image=True. Ties in the "
          "sort by error are broken by pixel order in eager mode and in a graph alike.",
    claims=[
        Identity(ref("lovasz_hinge"), 2 * ref("jaccard", smooth=0), inputs="hard",
                 note="at unit margins (logits +-1) the hinge errors are 0 or 2, so the loss is 2 (1 - IoU)"),
        Property.nonnegative(),
        Property.zero_at_perfect(),
        Property.permutation_invariant(),
    ],
)
