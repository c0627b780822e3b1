"""Soft clDice loss (Shit et al., 2021): topology-preserving overlap of soft skeletons, as MONAI's SoftclDiceLoss."""
from symloss.compiler.dsl import Identity, Loss, Param, Property, SoftSkeleton, Sum, c, g, i, p, ref

iters = Param("iters", 3, domain=(0, None), doc="erosions of the soft skeleton (rounded down; MONAI's iter_)")
smooth_nr = Param("smooth_nr", 1.0, domain=(0, None), doc="added to the numerators of precision and sensitivity")
smooth_dr = Param("smooth_dr", 1.0, domain=(0, None), doc="added to their denominators")
smooth = Param("smooth", 1e-4, domain=(0, None), doc="added to the denominator of their harmonic mean")

skel_p = SoftSkeleton(p[c, i], iters)
skel_g = SoftSkeleton(g[c, i], iters)
precision = (Sum(Sum(skel_p * g[c, i], i), c) + smooth_nr) / (Sum(Sum(skel_p, i), c) + smooth_dr)
sensitivity = (Sum(Sum(skel_g * p[c, i], i), c) + smooth_nr) / (Sum(Sum(skel_g, i), c) + smooth_dr)
paper_form = 1 - 2 * precision * sensitivity / (precision + sensitivity + smooth)
# The same with the ratios' denominators multiplied out: no ratio overflows where a skeleton is empty and
# smooth_dr is tiny (precision * sensitivity would).
hits_p, mass_p = Sum(Sum(skel_p * g[c, i], i), c) + smooth_nr, Sum(Sum(skel_p, i), c) + smooth_dr
hits_g, mass_g = Sum(Sum(skel_g * p[c, i], i), c) + smooth_nr, Sum(Sum(skel_g, i), c) + smooth_dr

LOSS = Loss(
    name="cldice",
    title="Soft clDice",
    class_name="SoftclDiceLoss",
    family="boundary",
    paper="arXiv:2003.07311",
    summary="One minus the harmonic mean of topology precision (the predicted skeleton inside the target) and "
            "topology sensitivity (the target's skeleton inside the prediction).",
    params=[iters, smooth_nr, smooth_dr, smooth],
    expr=1 - 2 * hits_p * hits_g / (hits_p * mass_g + hits_g * mass_p + smooth * mass_p * mass_g),  # per image
    notes="As MONAI 1.6's SoftclDiceLoss: soft skeletons by clDice's min-pooling over the cross and max-pooling "
          "over the 3x3 (3x3x3) box, per image and class (never across images, also with batch=True; ignored "
          "pixels lie outside the image), differentiable through the prediction; the sums run over classes and "
          "pixels of each image (of the batch with batch=True). The original clDice code leaves out the "
          "background and has no smooth term.",
    claims=[
        Identity(ref("cldice"), paper_form, note="MONAI's form, 1 - 2 P S / (P + S + smooth) with P and S the "
                                                 "topology precision and sensitivity"),
        Property.bounded(0, 1, smooth_nr=1, smooth_dr=1),
        Property.zero_at_perfect(smooth_nr=1, smooth_dr=1, smooth=0,
                                 note="with equal smoothing a perfect prediction has precision = sensitivity = 1; "
                                      "the smooth term alone leaves smooth / (2 + smooth)"),
    ],
)
