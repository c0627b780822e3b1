"""MONAI's DiceCELoss: the Dice loss of each class plus the cross-entropy over every class."""
from symloss.compiler.dsl import (AllClasses, ClassWeights, Identity, Loss, Max, Param, Property, Sum, Symbol, c, g, i,
                                  ref)

weight = ClassWeights("weight", doc="weight of each class, as MONAI's weight=: it multiplies the class's Dice loss "
                                    "and weighs its cross-entropy terms (torch's weight=); None: every class weighs 1")
lambda_dice = Param("lambda_dice", 1.0, domain=(0, None), doc="weight of the Dice term")
lambda_ce = Param("lambda_ce", 1.0, domain=(0, None), doc="weight of the cross-entropy term")
smooth = Param("smooth", 1e-5, domain=(0, None),
               doc="added to numerator and denominator of the Dice ratio (MONAI's smooth_nr = smooth_dr)")
label_smoothing = Param("label_smoothing", 0.0, domain=(0, 1), doc="label smoothing of the cross-entropy term")
s = Symbol("s", nonnegative=True)

# torch's CrossEntropyLoss(weight): the sum over the unit's pixels divided by the sum of the targets' weights
# (the pixel count without weights); the bound keeps a unit whose targets weigh nothing at 0, not 0 / 0.
ce_total = Sum(ref("cross_entropy", label_smoothing=label_smoothing), i)
ce_weight = Max(Sum(Sum(weight[c] * g[c, i], c), i), 1e-30)
cross_entropy = AllClasses(ce_total / ce_weight)  # every class, whatever include_background says
dice = weight[c] * ref("dice", smooth=smooth)

LOSS = Loss(
    name="dice_ce",
    title="Dice + cross-entropy",
    class_name="DiceCELoss",
    family="compound",
    paper="arXiv:1606.04797",  # the Dice loss; the combination is MONAI's DiceCELoss (nnU-Net's default is similar)
    summary="lambda_dice times the Dice loss of each class plus lambda_ce times the mean cross-entropy over "
            "every class, MONAI's DiceCELoss.",
    params=[weight, lambda_dice, lambda_ce, smooth, label_smoothing],
    expr=lambda_dice * dice + lambda_ce * cross_entropy,  # free c: per class
    notes="MONAI 1.6's DiceCELoss(softmax=True, to_onehot_y=True): include_background=False leaves class 0 out "
          "of the Dice term only, the cross-entropy always spans every class; weight multiplies each kept class's "
          "Dice loss and is torch's CrossEntropyLoss weight. reduction='mean' is MONAI's mean of both terms: "
          "exactly so without class weights, and with them for batch=True (torch's weighted mean spans the "
          "batch; here it is taken per image, then averaged, when batch=False). MONAI's 'sum' adds the "
          "cross-entropy of every pixel, here 'sum' adds each entry (image and class) of this formula; MONAI "
          "has no 'none'. With one channel MONAI uses a BCE with logits; here the cross-entropy term is "
          "cross_entropy's -g log p: for a binary task give two channels.",
    claims=[
        Identity(ref("dice_ce", lambda_dice=1, lambda_ce=0, smooth=s), weight[c] * ref("dice", smooth=s)),
        Property.nonnegative(),
        Property.permutation_invariant(),
    ],
)
