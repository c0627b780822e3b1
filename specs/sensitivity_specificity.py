"""Sensitivity-specificity loss (Brosch et al., 2015): squared errors on positives and on negatives."""
from symloss.compiler.dsl import Loss, Param, Property, Sum, c, g, i, p

r = Param("r", 0.05, domain=(0, 1),
          doc="weight of the error on positive pixels (the sensitivity term); negatives get 1 - r")
smooth = Param("smooth", 1e-5, domain=(0, None), doc="added to each denominator")

error = (g[c, i] - p[c, i]) ** 2
positives = Sum(g[c, i], i)
negatives = Sum(1 - g[c, i], i)
tp = Sum(p[c, i] * g[c, i], i)
tn = Sum((1 - p[c, i]) * (1 - g[c, i]), i)
survey_form = r * tp / (positives + smooth) + (1 - r) * tn / (negatives + smooth)  # survey Eq. 12: a metric

LOSS = Loss(
    name="sensitivity_specificity",
    title="Sensitivity-specificity",
    family="region",
    paper="doi:10.1007/978-3-319-24574-4_1",
    summary="r times the mean squared error on positive pixels plus 1 - r times that on negative pixels, per class.",
    params=[r, smooth],
    expr=r * Sum(error * g[c, i], i) / (positives + smooth)
    + (1 - r) * Sum(error * (1 - g[c, i]), i) / (negatives + smooth),
    notes="r = 0.05 as in NiftyNet (Brosch et al. suggest 0.01 to 0.10). NiftyNet and SegLoss call the "
          "r-weighted positive term 'specificity_part'; it is the sensitivity term. The survey's Eq. 12 "
          "(w * sensitivity + (1 - w) * specificity) is a metric to maximise: as a loss it grows as "
          "predictions improve (refuted below).",
    claims=[
        Property.nonnegative(),
        Property.bounded(0, 1),
        Property.zero_at_perfect(),
        Property.minimal_at_perfect(survey_form, expect="refuted",
                                    note="the survey's form is largest, not smallest, at a perfect prediction"),
        Property.permutation_invariant(),
    ],
)
