"""The floors and Paddle's own functional losses, as timed cases.

Every baseline takes the int64 label a generated loss takes and builds its own target inside the
timed call (one-hot, cast), because the generated losses pay for that too. The floors take a
precomputed float target: they are the memory-bound limit, not a loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

FLOOR = "floor: sum(x*y)"
SOFTMAX_FLOOR = "floor: sum(softmax(x)*y)"
BCE_LOGITS = "F.binary_cross_entropy_with_logits"
SIGMOID_FOCAL = "F.sigmoid_focal_loss"
CE_NCHW = "F.cross_entropy(axis=1)"
CE_NHWC = "F.cross_entropy(NHWC)"


class NotApplicable(Exception):
    """The baseline does not take this shape (e.g. PaddleSeg's FocalLoss asserts C == 2)."""


@dataclass(frozen=True)
class Baseline:
    id: str
    make: Callable  # make(C) -> fn(logit, label) -> scalar loss; raises NotApplicable
    source: str = "paddle"  # "paddle" | "paddleseg" | "floor"
    fresh_label: bool = False  # writes into its label argument: give it a copy per call
    note: str = ""


def float_target(label, C):
    """The target as floats shaped like the logit: (label == 1) for C == 1, one-hot otherwise."""
    import paddle.nn.functional as F

    if C == 1:
        return (label == 1).astype("float32").unsqueeze(1)
    dims = len(label.shape)
    return F.one_hot(label, C).transpose([0, dims] + list(range(1, dims))).astype("float32")


def floor_fns(label, C):
    """{id: fn} of the floors, their float target computed once, outside the timed calls."""
    import paddle
    import paddle.nn.functional as F

    y = float_target(label, C).contiguous()  # one_hot + transpose is a strided view in Paddle 3
    fns = {FLOOR: lambda x, _: paddle.sum(x * y)}
    if C > 1:
        fns[SOFTMAX_FLOOR] = lambda x, _: paddle.sum(F.softmax(x, axis=1) * y)
    return fns


def _bce_logits(C):
    import paddle.nn.functional as F

    return lambda x, label: F.binary_cross_entropy_with_logits(x, float_target(label, C))


def _sigmoid_focal(C):
    import paddle.nn.functional as F

    # Paddle's default reduction is 'sum'; the generated focal loss averages.
    return lambda x, label: F.sigmoid_focal_loss(x, float_target(label, C), alpha=0.25, gamma=2.0,
                                                 reduction="mean")


def _multi_class(C):
    if C < 2:
        raise NotApplicable("needs C >= 2")


def _ce_nchw(C):
    import paddle.nn.functional as F

    _multi_class(C)
    return lambda x, label: F.cross_entropy(x, label, axis=1)


def _ce_nhwc(C):
    import paddle.nn.functional as F

    _multi_class(C)

    def fn(x, label):
        dims = len(x.shape)
        return F.cross_entropy(x.transpose([0] + list(range(2, dims)) + [1]), label)

    return fn


PADDLE_BASELINES = {
    b.id: b
    for b in (
        Baseline(BCE_LOGITS, _bce_logits, note="multi-label on the one-hot target when C > 1"),
        Baseline(SIGMOID_FOCAL, _sigmoid_focal, note="alpha 0.25, gamma 2, reduction='mean'"),
        Baseline(CE_NCHW, _ce_nchw, note="channels-first: Paddle's slower axis != -1 path"),
        Baseline(CE_NHWC, _ce_nhwc, note="transposed to channels-last inside the timed call"),
    )
}
