"""Combo loss (Taghanaki et al., 2018): a balanced cross-entropy plus a Dice loss."""
from symloss.compiler.dsl import Identity, Loss, Mean, Param, Property, i, ref

alpha = Param("alpha", 0.5, domain=(0, 1), doc="weight of the cross-entropy term; the Dice term gets 1 - alpha")
beta = Param("beta", 0.5, domain=(0, 1),
             doc="weight of the positive term inside the cross-entropy (< 0.5 penalises false positives more)")
smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator of the Dice ratio")

modified_bce = Mean(ref("balanced_bce", beta=beta), i)
dice_loss = ref("dice", smooth=smooth)
authors_form = alpha * modified_bce - (1 - alpha) * (1 - dice_loss)  # the authors' code: subtracts the DSC
survey_form = alpha * modified_bce - (1 - alpha) * dice_loss  # survey Eq. 18: subtracts the Dice *loss*

LOSS = Loss(
    name="combo",
    title="Combo",
    family="compound",
    paper="arXiv:1805.02798",
    summary="alpha times a beta-balanced cross-entropy plus (1 - alpha) times the Dice loss, per class.",
    params=[alpha, beta, smooth],
    expr=alpha * modified_bce + (1 - alpha) * dice_loss,
    notes="The authors subtract the Dice coefficient (minimum -(1 - alpha)); adding the Dice loss instead "
          "shifts by the constant 1 - alpha, so gradients are identical and the minimum is 0. The authors' "
          "code also weights the negative term by beta*(1 - beta), a parenthesis slip; here it is 1 - beta.",
    claims=[
        Identity(ref("combo"), authors_form + (1 - alpha)),
        Property.nonnegative(),
        Property.zero_at_perfect(smooth=0),
        Property.minimal_at_perfect(survey_form, expect="refuted",
                                    note="with '- (1 - alpha) * DL' the loss rewards a worse Dice"),
        Property.permutation_invariant(),
    ],
)
