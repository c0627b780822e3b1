"""Hausdorff distance loss, erosion estimator (Karimi & Salcudean, 2019), as kornia's HausdorffERLoss."""
from symloss.compiler.dsl import HausdorffErosion, Identity, Loss, Param, Property, c, g, i, p, ref

alpha = Param("alpha", 2.0, domain=(0, None), doc="exponent of the erosion step's weight, step ** alpha")
k = Param("k", 10, domain=(0, None), doc="erosion steps (rounded down)")

LOSS = Loss(
    name="hausdorff_er",
    title="Hausdorff distance (erosion)",
    class_name="HausdorffERLoss",
    family="boundary",
    paper="arXiv:1904.10030",
    summary="The squared error map eroded k times by a soft cross erosion and accumulated with weights "
            "step^alpha: errors that survive many erosions (far from any boundary) cost most.",
    params=[alpha, k],
    expr=HausdorffErosion((p[c, i] - g[c, i]) ** 2, alpha, k),  # per class and pixel
    notes="As kornia's HausdorffERLoss (2D) and HausdorffERLoss3D: per image and class, k times: convolve with the "
          "cross of weight 1/5 (1/7 in 3D; 1/3 on a 1D signal), subtract 1/2 and clip at 0, normalise to [0, 1] "
          "over the image unless constant, add step^alpha times the result; reduction='mean' averages over classes "
          "and pixels as kornia's mean does. kornia takes probabilities and stores its kernel in float32 "
          "(0.2000000030); here the weights are exact. Ignored pixels lie outside the image (zero in the "
          "convolution, out of the normalisation), a case kornia rejects.",
    claims=[
        Identity(ref("hausdorff_er", k=0), 0, note="no erosion step: nothing accumulates"),
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)
