"""Asymmetric unified focal loss (Yeung et al., 2022): asymmetric focal plus asymmetric focal Tversky."""
from sympy import Interval, Rational

from symloss.compiler.dsl import C, Identity, Loss, Mean, Param, Property, Sum, c, i, ref

weight = Param("weight", 0.5, domain=(0, 1), doc="weight of the asymmetric focal loss; the focal Tversky gets 1 - weight")
delta = Param("delta", 0.6, domain=(0, 1), doc="delta of both parts (the paper's 0.6; MONAI's default is 0.7)")
gamma = Param("gamma", 0.5, domain=Interval.Ropen(0, 1), doc="gamma of both parts (the paper's and MONAI's 0.5)")
epsilon = Rational(1, 10**7)  # both parts' default clamp, fixed as in MONAI

focal = Mean(Sum(ref("asym_focal", delta=delta, gamma=gamma, epsilon=epsilon), c), i) / C
focal_tversky = Mean(ref("asym_focal_tversky", delta=delta, gamma=gamma, epsilon=epsilon), c)

LOSS = Loss(
    name="asym_unified_focal",
    title="Asymmetric unified focal",
    class_name="AsymmetricUnifiedFocalLoss",
    family="compound",
    paper="arXiv:2102.04525",
    summary="weight times the asymmetric focal loss plus 1 - weight times the asymmetric focal Tversky loss, "
            "with the same delta and gamma in both.",
    params=[weight, delta, gamma],
    expr=weight * focal + (1 - weight) * focal_tversky,  # per image
    binary_as_two_classes=True,
    notes="As MONAI 1.6's AsymmetricUnifiedFocalLoss, at the paper's defaults (weight 0.5, delta 0.6, gamma 0.5; "
          "MONAI's delta is 0.7): per image, the focal part is averaged over classes and pixels and the focal "
          "Tversky part over classes; reduction='mean' then averages over images, which is MONAI's mean when no "
          "pixel is ignored. One channel (C = 1) is read as the two classes [1 - p, p].",
    claims=[
        Identity(ref("asym_unified_focal", weight=1), focal),
        Identity(ref("asym_unified_focal", weight=0), focal_tversky),
        Property.nonnegative(),
    ],
)
