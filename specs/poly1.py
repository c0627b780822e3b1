"""Poly-1 loss (Leng et al., 2022): cross-entropy plus epsilon times the first polynomial term 1 - p_t."""
from symloss.compiler.dsl import ClassWeights, Identity, Loss, Param, Property, Sum, c, g, i, p, ref

weight = ClassWeights("weight", doc="weight of each class's term, as in cross_entropy; None: every class weighs 1")
epsilon = Param("epsilon", 1.0, domain=(-1, None),
                doc="coefficient of 1 - p_t; -1 removes the leading term of cross-entropy's expansion")

cross_entropy = ref("cross_entropy", label_smoothing=0)
one_minus_pt = Sum(weight[c] * g[c, i] * (1 - p[c, i]), c)  # 1 - p_t, or sum_c g_c (1 - p_c) for soft targets

LOSS = Loss(
    name="poly1",
    title="Poly-1",
    family="distribution",
    paper="arXiv:2204.12511",
    summary="Cross-entropy plus epsilon (1 - p_t): the first term of its expansion in powers of 1 - p_t, "
            "reweighted.",
    params=[weight, epsilon],
    expr=cross_entropy + epsilon * one_minus_pt,  # free i: one loss per pixel
    mean_denominator=Sum(weight[c] * g[c, i], c),  # as cross_entropy: the weights of the target classes
    notes="-log p_t = sum over j >= 1 of (1 - p_t)^j / j; Poly-1 adds epsilon to the first coefficient. The "
          "paper's code is CE(reduction='none') + epsilon (1 - p_t), averaged over the pixels (torch's mean over "
          "valid pixels with an ignore index). With soft targets 1 - p_t is sum_c g_c (1 - p_c), the paper's form "
          "with label smoothing. Class weights, not in the paper, weigh a pixel's whole term and the mean "
          "divides by the target classes' weights, so that epsilon = 0 is cross_entropy with the same weights.",
    claims=[
        Identity(ref("poly1", epsilon=0), cross_entropy),
        Property.le(cross_entropy, ref("poly1")),  # at the default epsilon = 1
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)
