"""Cross-entropy over classes, with optional class weights and label smoothing (paddle.nn.functional.cross_entropy)."""
from symloss.compiler.dsl import C, ClassWeights, Identity, Loss, Mean, Param, Property, Sum, Symbol, c, g, i, log, p, ref

weight = ClassWeights("weight", doc="weight of each class's term, as Paddle's weight=; None: every class weighs 1")
label_smoothing = Param("label_smoothing", 0.0, domain=(0, 1),
                        doc="eps: (1 - eps) CE + eps times the mean over classes of -log p (torch's and Paddle's)")
eps = Symbol("eps", nonnegative=True)

plain = -Sum(weight[c] * g[c, i] * log(p[c, i]), c)
uniform = -Mean(weight[c] * log(p[c, i]), c)  # the cross-entropy against the uniform distribution 1/C

LOSS = Loss(
    name="cross_entropy",
    title="Cross-entropy",
    class_name="CrossEntropyLoss",
    family="distribution",
    paper="arXiv:2006.14822",  # the survey's multi-class cross-entropy; the loss predates any one paper
    summary="Negative log-likelihood of each pixel's class under the predicted distribution, optionally "
            "label-smoothed.",
    params=[weight, label_smoothing],
    expr=(1 - label_smoothing) * plain + label_smoothing * uniform,  # free i: one loss per pixel
    mean_denominator=Sum(weight[c] * g[c, i], c),  # reduction="mean" divides by the weights of the targets
    notes="With class weights, reduction='mean' divides by the sum of the target classes' weights, exactly "
          "as paddle.nn.functional.cross_entropy does, so the two agree on every reduction. Label smoothing "
          "(Szegedy et al. 2016, arXiv:1512.00567) is torch's F.cross_entropy(label_smoothing=eps): the "
          "cross-entropy against the target (1 - eps) g + eps / C, each class's term weighted by its own "
          "weight and the mean divided by the target classes' weights, so ignored pixels and class weights "
          "mean the same as without smoothing. Paddle's F.cross_entropy(label_smoothing=eps) gives the same "
          "value without class weights; with them it weights each pixel by the smoothed target's mean weight "
          "instead, and it cannot ignore pixels.",
    claims=[
        Identity(ref("cross_entropy", label_smoothing=0), plain),
        Identity(ref("cross_entropy", label_smoothing=eps),
                 -Sum(weight[c] * ((1 - eps) * g[c, i] + eps / C) * log(p[c, i]), c)),
        Property.nonnegative(),
        Property.zero_at_perfect(label_smoothing=0),
    ],
)
