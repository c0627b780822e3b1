"""Exponential logarithmic loss (Wong et al., 2018): (-log Dice)^gamma and weighted (-log p)^gamma."""
from symloss.compiler.dsl import Identity, Loss, Max, Mean, Param, Property, Sum, Symbol, c, g, i, log, p, ref, sqrt

w_dice = Param("w_dice", 0.8, domain=(0, None), doc="weight of the Dice term")
w_cross = Param("w_cross", 0.2, domain=(0, None), doc="weight of the cross-entropy term")
gamma_dice = Param("gamma_dice", 0.3, domain=(0, None), doc="exponent of -log(Dice), used as is")
gamma_cross = Param("gamma_cross", 0.3, domain=(0, None), doc="exponent of -log(p), used as is")
smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator of each Dice ratio")
s = Symbol("s", nonnegative=True)

dice_coefficient = 1 - ref("dice", smooth=smooth)
frequency = Sum(g[c, i], i)
# Wong's label weights ((sum_k f_k) / f_l)^(1/2), from the unit's own target; an absent class counts as 1 pixel.
label_weight = sqrt(Sum(frequency, c) / Max(frequency, 1))

LOSS = Loss(
    name="exp_log",
    title="Exponential logarithmic",
    family="compound",
    paper="arXiv:1809.00076",
    summary="w_dice * mean over classes of (-log Dice)^gamma_dice + w_cross * mean over pixels of "
            "w_l (-log p_l)^gamma_cross.",
    params=[w_dice, w_cross, gamma_dice, gamma_cross, smooth],
    expr=w_dice * Mean((-log(dice_coefficient)) ** gamma_dice, c)
    + w_cross * Mean(Sum(label_weight * g[c, i] * (-log(p[c, i])) ** gamma_cross, c), i),
    notes="Defaults are the paper's (0.8, 0.2, 0.3, 0.3, smooth 1). The label frequencies f_k come from the "
          "target of each unit (image, or batch with batch=True), not from the whole training set.",
    claims=[
        Identity(ref("exp_log", w_dice=1, w_cross=0, gamma_dice=1, smooth=s), Mean(-log(1 - ref("dice", smooth=s)), c)),
        Property.nonnegative(),
        # (-log p)^gamma -> 0 as p -> 1 only for gamma > 0 (and slowly for small gamma): checked at the defaults.
        Property.zero_at_perfect(smooth=0, gamma_dice=0.3, gamma_cross=0.3),
        Property.permutation_invariant(),
    ],
)
