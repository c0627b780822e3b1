"""Boundary loss (Kervadec et al., 2019): the prediction integrated against the target's signed distance map."""
from symloss.compiler.dsl import Identity, Loss, Mean, Property, SignedDistance, c, g, i, p

LOSS = Loss(
    name="boundary",
    title="Boundary",
    family="boundary",
    paper="arXiv:1812.07032",
    summary="Mean over pixels of p times the target's signed distance map: predicted mass outside the target "
            "costs its distance to it, mass inside earns its depth.",
    params=[],
    expr=Mean(p[c, i] * SignedDistance(g[c, i]), i),  # per class
    notes="As MONAI 1.6's BoundaryLoss: the map of each class and image is -(d_fg - 1) inside the target, d_bg "
          "outside (d the Euclidean distance transform), and 0 when the class is empty or fills the image; it is "
          "a constant of the gradient, so the loss is linear in p. The map is per image whatever batch says; with "
          "batch=True the pixel mean spans the batch, which equals MONAI's batch mean when no pixel is ignored. "
          "The loss is negative at a good prediction (its minimum is minus the mean depth of the target).",
    claims=[
        Identity(Mean(p[c, i] * SignedDistance(g[c, i]), i) + Mean((1 - p[c, i]) * SignedDistance(g[c, i]), i),
                 Mean(SignedDistance(g[c, i]), i),
                 note="linear in p: the loss of p and of 1 - p add up to the mean of the map"),
        Property.minimal_at_perfect(),
        Property.nonnegative(expect="refuted", note="the map is negative inside the target: a good prediction "
                                                    "scores below 0"),
    ],
)
