"""Asymmetric focal loss (Yeung et al., 2022): the cross-entropy half of the unified focal loss, as in MONAI."""
from symloss.compiler.dsl import (Identity, Loss, Max, Min, Param, Property, S, Sum, background, c, foreground, g, i,
                                  log, p, ref)

delta = Param("delta", 0.7, domain=(0, 1), doc="weight of the foreground classes' terms; the background's gets 1 - delta")
gamma = Param("gamma", 2.0, domain=(0, None), doc="focal exponent of the background term, (1 - p)^gamma")
epsilon = Param("epsilon", 1e-7, domain=(0, 0.5), doc="the prediction is clamped to [epsilon, 1 - epsilon] first")

q = Min(Max(p[c, i], epsilon), 1 - epsilon)  # MONAI clamps before the log (no gradient outside)
ce = -g[c, i] * log(q)

LOSS = Loss(
    name="asym_focal",
    title="Asymmetric focal",
    class_name="AsymmetricFocalLoss",
    family="distribution",
    paper="arXiv:2102.04525",
    summary="Cross-entropy of each class at each pixel, the background's suppressed by (1 - p)^gamma and weighed "
            "1 - delta, every other class's kept whole and weighed delta.",
    params=[delta, gamma, epsilon],
    expr=background[c] * (1 - delta) * (1 - q) ** gamma * ce + foreground[c] * delta * ce,  # per class and pixel
    binary_as_two_classes=True,
    notes="As MONAI 1.6's AsymmetricFocalLoss: the prediction is clamped to [epsilon, 1 - epsilon], class 0 is the "
          "background and is suppressed, every other class is enhanced (Yeung et al.'s generalisation to C > 2). "
          "MONAI is binary: one channel (C = 1) is read here as the two classes [1 - p, p], and with two channels "
          "the background term stays in (include_background=True, the default). reduction='mean' averages over "
          "classes and pixels, as MONAI's mean over both channels does; with include_background=False the "
          "background term is left out.",
    claims=[
        Identity(Sum(ref("asym_focal", delta=S.Half, gamma=0, epsilon=0), c), Sum(-g[c, i] * log(p[c, i]), c) / 2,
                 note="with no focusing, no clamp and equal weights, half the cross-entropy"),
        Property.nonnegative(),
        Property.zero_at_perfect(epsilon=0),
    ],
)
