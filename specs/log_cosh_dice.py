"""Log-cosh Dice loss (Jadon, 2020): log(cosh(Dice loss)), computed so that it cannot overflow."""
from symloss.compiler.dsl import Abs, Loss, Param, Property, cosh, log, ref

smooth = Param("smooth", 1.0, domain=(0, None), doc="added to numerator and denominator of the Dice ratio")

dice_loss = ref("dice", smooth=smooth)

LOSS = Loss(
    name="log_cosh_dice",
    title="Log-cosh Dice",
    family="region",
    paper="arXiv:2006.14822",
    summary="log(cosh(DL)) of each class's Dice loss DL: about DL^2/2 near zero, smoother than DL.",
    params=[smooth],
    expr=log(cosh(dice_loss)),
    notes="Compiled as |DL| + softplus(-2|DL|) - log 2, which equals log(cosh(DL)) and cannot overflow. "
          "Since DL lies in [0, 1], the minimiser is Dice's; the gradient tanh(DL) vanishes as DL -> 0.",
    claims=[
        Property.le(ref("log_cosh_dice", smooth=smooth), dice_loss),
        # log cosh x = x^2/2 - x^4/12 + ...: equal to DL^2/2 to second order.
        Property.le(Abs(ref("log_cosh_dice", smooth=smooth) - dice_loss**2 / 2), dice_loss**4 / 12),
        Property.nonnegative(),
        Property.zero_at_perfect(smooth=0),
        Property.permutation_invariant(),
    ],
)
