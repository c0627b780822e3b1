"""Matthews correlation coefficient loss (Abhishek and Hamarneh, 2021), MONAI's MCCLoss."""
from symloss.compiler.dsl import Indicator, Interval, Loss, Param, Property, Sum, c, g, i, oo, p, sqrt

smooth_nr = Param("smooth_nr", 0.0, domain=(0, None), doc="added to the numerator tp tn - fp fn")
smooth_dr = Param("smooth_dr", 1e-5, domain=Interval.Lopen(0, oo),
                  doc="added to the product of the four margins, inside the square root (MONAI's)")

tp = Sum(p[c, i] * g[c, i], i)
fp = Sum(p[c, i] * (1 - g[c, i]), i)
fn = Sum((1 - p[c, i]) * g[c, i], i)
tn = Sum((1 - p[c, i]) * (1 - g[c, i]), i)
mcc = (tp * tn - fp * fn + smooth_nr) / sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + smooth_dr)

LOSS = Loss(
    name="mcc",
    title="Matthews correlation coefficient",
    class_name="MCCLoss",
    family="region",
    paper="arXiv:2010.13454",
    summary="One minus the soft Matthews correlation coefficient of each class, from soft confusion counts.",
    params=[smooth_nr, smooth_dr],
    # MONAI sets the loss to exactly 0 where fp = fn = 0 (a perfect prediction, where the MCC is 0 / 0)
    expr=Indicator(fp + fn) * (1 - mcc),  # free c: per class
    notes="MONAI 1.6's MCCLoss: soft counts per image and class (batch=True: over the batch), smooth_dr inside "
          "the square root, and a loss of exactly 0 where fp = fn = 0. MONAI has no ignore index; here ignored "
          "pixels are left out of all four counts.",
    claims=[
        Property.bounded(0, 2, smooth_nr=0),
        Property.permutation_invariant(),
    ],
)
