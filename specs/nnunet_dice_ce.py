"""nnU-Net's default loss: cross-entropy plus the negative soft Dice coefficient (DC_and_CE_loss)."""
from symloss.compiler.dsl import (AllClasses, ClassWeights, Identity, Loss, Max, Param, Property, Sum, Symbol, c, g,
                                  i, p, ref)

weight = ClassWeights("weight", doc="class weights of the cross-entropy term (nnU-Net's ce_kwargs weight=); "
                                    "None: every class weighs 1")
weight_ce = Param("weight_ce", 1.0, domain=(0, None), doc="weight of the cross-entropy term")
weight_dice = Param("weight_dice", 1.0, domain=(0, None), doc="weight of the Dice term, -dc")
smooth = Param("smooth", 1e-5, domain=(0, None), doc="added to numerator and denominator of dc")
s = Symbol("s", nonnegative=True)

# torch's CrossEntropyLoss over every class: the unit's sum divided by its targets' weights (its valid pixels)
ce_weight = Max(Sum(Sum(weight[c] * g[c, i], c), i), 1e-30)
cross_entropy = AllClasses(Sum(ref("cross_entropy", label_smoothing=0), i) / ce_weight)
# MemoryEfficientSoftDiceLoss: the denominator bounded below by 1e-8
dc = (2 * Sum(p[c, i] * g[c, i], i) + smooth) / Max(Sum(g[c, i], i) + Sum(p[c, i], i) + smooth, 1e-8)

LOSS = Loss(
    name="nnunet_dice_ce",
    title="nnU-Net Dice + cross-entropy",
    class_name="DCandCELoss",
    family="compound",
    paper="doi:10.1038/s41592-020-01008-z",
    summary="weight_ce times the cross-entropy over every class minus weight_dice times the soft Dice "
            "coefficient of each foreground class, nnU-Net's DC_and_CE_loss.",
    params=[weight, weight_ce, weight_dice, smooth],
    expr=weight_ce * cross_entropy - weight_dice * dc,  # free c: per class
    keyword_defaults={"include_background": False},  # nnU-Net's do_bg=False
    notes="nnU-Net v2's DC_and_CE_loss with MemoryEfficientSoftDiceLoss, as nnUNetTrainer builds it: "
          "CE + (-dc), not 1 - dc, with dc = (2 I + smooth) / max(G + P + smooth, 1e-8); the background is "
          "left out of the Dice term (include_background=False by default here, nnU-Net's do_bg=False) and "
          "kept in the cross-entropy; batch=True is nnU-Net's batch_dice; ignored pixels (nnU-Net's ignore "
          "label) are out of both terms. reduction='mean' is nnU-Net's value exactly with batch=True, and with "
          "batch=False when no pixel is ignored (nnU-Net's cross-entropy is one mean over the batch's valid "
          "pixels; here it is taken per image, then averaged). Where every pixel of the batch is ignored "
          "nnU-Net gives -weight_dice (dc = 1 from the smoothing alone), here the loss is 0. The loss is "
          "negative near a good prediction; its gradient is that of CE plus the Dice loss.",
    claims=[
        Identity(ref("nnunet_dice_ce", weight_ce=1, weight_dice=0), cross_entropy),
        Identity(ref("nnunet_dice_ce", weight_ce=0, weight_dice=1, smooth=s), ref("dice", smooth=s) - 1),
        Property.nonnegative(ref("nnunet_dice_ce") + weight_dice),
        Property.permutation_invariant(),
    ],
)
