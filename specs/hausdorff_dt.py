"""Hausdorff distance loss, distance-transform estimator (Karimi & Salcudean, 2019), as in MONAI."""
from symloss.compiler.dsl import Identity, Loss, Mean, Param, Property, c, g, i, p, ref
from symloss.compiler.dsl import DistanceField

alpha = Param("alpha", 2.0, domain=(0, None), doc="exponent of the distance fields (the paper finds 1 to 3 work)")

LOSS = Loss(
    name="hausdorff_dt",
    title="Hausdorff distance (DT)",
    class_name="HausdorffDTLoss",
    family="boundary",
    paper="arXiv:1904.10030",
    summary="Mean over pixels of (p - g)^2 (d_p^alpha + d_g^alpha), d the distance to the boundary of the "
            "thresholded prediction and of the target: errors far from either boundary cost most.",
    params=[alpha],
    expr=Mean((p[c, i] - g[c, i]) ** 2 * (DistanceField(p[c, i]) ** alpha + DistanceField(g[c, i]) ** alpha), i),
    notes="As MONAI's HausdorffDTLoss: per class and image, the field of a mask is edt(mask) + edt(~mask) "
          "of mask = (value > 0.5), zero when the mask is all foreground or all background; the fields are "
          "constants of the gradient. Ignored pixels are neither foreground nor background of either mask (the "
          "prediction's or the target's): at a valid pixel the field is the distance to the nearest valid pixel "
          "on the other side, so the logits at ignored pixels change neither the loss nor its gradient. MONAI "
          "leaves the background out by default; here include_background defaults to True like every symloss "
          "loss.",
    claims=[
        Identity(ref("hausdorff_dt", alpha=0), 2 * Mean((p[c, i] - g[c, i]) ** 2, i)),
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)
