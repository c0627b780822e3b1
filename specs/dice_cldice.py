"""Dice plus soft clDice (Shit et al., 2021), as MONAI's SoftDiceclDiceLoss."""
from symloss.compiler.dsl import Identity, Loss, Mean, Param, Property, Sum, Symbol, c, g, i, p, ref

iters = Param("iters", 3, domain=(0, None), doc="erosions of the soft skeleton (rounded down; MONAI's iter_)")
alpha = Param("alpha", 0.5, domain=(0, 1), doc="weight of the clDice term; the Dice term gets 1 - alpha")
smooth_nr = Param("smooth_nr", 1.0, domain=(0, None), doc="added to the numerators of both terms")
smooth_dr = Param("smooth_dr", 1.0, domain=(0, None), doc="added to the denominators of both terms")
smooth = Param("smooth", 1e-4, domain=(0, None), doc="added to the denominator of clDice's harmonic mean")
s = Symbol("s", positive=True)

dice = 1 - (2 * Sum(p[c, i] * g[c, i], i) + smooth_nr) / (Sum(g[c, i], i) + Sum(p[c, i], i) + smooth_dr)
cldice = ref("cldice", iters=iters, smooth_nr=smooth_nr, smooth_dr=smooth_dr, smooth=smooth)

LOSS = Loss(
    name="dice_cldice",
    title="Dice + soft clDice",
    class_name="SoftDiceclDiceLoss",
    family="compound",
    paper="arXiv:2003.07311",
    summary="(1 - alpha) times the Dice loss averaged over classes plus alpha times the soft clDice loss.",
    params=[iters, alpha, smooth_nr, smooth_dr, smooth],
    expr=(1 - alpha) * Mean(dice, c) + alpha * cldice,  # per image
    notes="As MONAI 1.6's SoftDiceclDiceLoss: MONAI's DiceLoss (per image and class, smooth_nr and smooth_dr) "
          "averaged over classes, plus the clDice of cldice; reduction='mean' averages the images, which is "
          "MONAI's mean of both terms. MONAI's reduction='none' broadcasts a (N, C, 1, 1) Dice against a (N,) "
          "clDice; here 'none' gives one value per image.",
    claims=[
        Identity(ref("dice_cldice", alpha=0, smooth_nr=s, smooth_dr=s), Mean(ref("dice", smooth=s), c)),
        Identity(ref("dice_cldice", alpha=1), cldice),
        Property.bounded(0, 1, smooth_nr=1, smooth_dr=1),
    ],
)
