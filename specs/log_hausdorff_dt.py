"""Log Hausdorff distance loss, distance-transform estimator, as MONAI's LogHausdorffDTLoss."""
from symloss.compiler.dsl import Loss, Param, Property, log, ref

alpha = Param("alpha", 2.0, domain=(0, None), doc="exponent of the distance fields, as in hausdorff_dt")

LOSS = Loss(
    name="log_hausdorff_dt",
    title="Log Hausdorff distance (DT)",
    class_name="LogHausdorffDTLoss",
    family="boundary",
    paper="arXiv:1904.10030",
    summary="log(1 + hausdorff_dt) of each class: the distance-transform Hausdorff loss with its large values "
            "compressed.",
    params=[alpha],
    expr=log(1 + ref("hausdorff_dt", alpha=alpha)),  # per class
    notes="log(1 + hausdorff_dt) per image and class entry, then the usual reduction: MONAI's reduction='none'. "
          "MONAI's 'mean' takes the log after averaging, log(1 + mean of the entries), which is larger (the log is "
          "concave); its 'sum' likewise. The distance fields are constants of the gradient.",
    claims=[
        Property.le(ref("log_hausdorff_dt", alpha=alpha), ref("hausdorff_dt", alpha=alpha),
                    note="log(1 + x) <= x"),
        Property.nonnegative(),
        Property.zero_at_perfect(),
    ],
)
