"""Cross-entropy over classes, with optional class weights (paddle.nn.functional.cross_entropy)."""
from symloss.compiler.dsl import ClassWeights, Loss, Property, Sum, c, g, i, log, p

weight = ClassWeights("weight", doc="weight of each class's term, as Paddle's weight=; None: every class weighs 1")

LOSS = Loss(
    name="cross_entropy",
    title="Cross-entropy",
    class_name="CrossEntropyLoss",
    family="distribution",
    paper="arXiv:2006.14822",  # the survey's multi-class cross-entropy; the loss predates any one paper
    summary="Negative log-likelihood of each pixel's class under the predicted distribution.",
    params=[weight],
    expr=-Sum(weight[c] * g[c, i] * log(p[c, i]), c),  # free i: one loss per pixel
    mean_denominator=Sum(weight[c] * g[c, i], c),  # reduction="mean" divides by the weights of the targets
    notes="With class weights, reduction='mean' divides by the sum of the target classes' weights, exactly "
          "as paddle.nn.functional.cross_entropy does, so the two agree on every reduction.",
    claims=[
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)
