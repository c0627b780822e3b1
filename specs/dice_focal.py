"""MONAI's DiceFocalLoss: the softmax Dice loss plus a sigmoid focal loss on every logit channel."""
from symloss.compiler.dsl import Identity, Loss, Mean, Param, Property, Symbol, c, g, i, log, ref, sigmoid, softplus, x

lambda_dice = Param("lambda_dice", 1.0, domain=(0, None), doc="weight of the Dice term")
lambda_focal = Param("lambda_focal", 1.0, domain=(0, None), doc="weight of the focal term")
gamma = Param("gamma", 2.0, domain=(0, None), doc="focusing exponent of the focal term, on (1 - p_t)")
smooth = Param("smooth", 1e-5, domain=(0, None),
               doc="added to numerator and denominator of the Dice ratio (MONAI's smooth_nr = smooth_dr)")
k = Symbol("k", nonnegative=True)
s = Symbol("s", nonnegative=True)


def sigmoid_focal(exponent):
    """MONAI's FocalLoss(use_softmax=False): (1 - p_t)^gamma BCE-with-logits on the raw logit, p = sigmoid(x)."""
    q = sigmoid(x[c, i])
    return -g[c, i] * (1 - q) ** exponent * log(q) - (1 - g[c, i]) * q ** exponent * log(1 - q)


LOSS = Loss(
    name="dice_focal",
    title="Dice + focal",
    family="compound",
    paper="arXiv:1708.02002",  # the focal loss; the combination is MONAI's DiceFocalLoss
    summary="lambda_dice times the Dice loss plus lambda_focal times the mean over pixels of a sigmoid focal "
            "loss on each class's logit, per class.",
    params=[lambda_dice, lambda_focal, gamma, smooth],
    expr=lambda_dice * ref("dice", smooth=smooth) + lambda_focal * Mean(sigmoid_focal(gamma), i),  # free c
    notes="MONAI 1.6's DiceFocalLoss(softmax=True, to_onehot_y=True): the Dice term reads the activation's "
          "probabilities, the focal term is always MONAI's sigmoid FocalLoss on the raw logit of every kept "
          "channel against the one-hot target (MONAI issue 8242), whatever the activation. Both terms leave out "
          "the background with include_background=False. reduction='mean' equals MONAI's, and so does 'sum' with "
          "batch=False (with batch=True MONAI's focal 'sum' still adds one mean per image); MONAI's 'none' broadcasts the Dice term against the focal term's pixels, here it is one value per image and "
          "class. MONAI computes the focal term in float32.",
    claims=[
        Identity(ref("dice_focal", lambda_dice=1, lambda_focal=0, smooth=s), ref("dice", smooth=s)),
        Identity(ref("dice_focal", lambda_dice=0, lambda_focal=1, gamma=0),
                 Mean(g[c, i] * softplus(-x[c, i]) + (1 - g[c, i]) * softplus(x[c, i]), i)),
        Property.nonnegative(),
        Property.permutation_invariant(),
    ],
)
