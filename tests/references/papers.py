"""Float64 NumPy references written from papers (no framework code to translate).

- Poly-1 (Leng et al. 2022, arXiv:2204.12511, "PolyLoss", Appendix code ``poly1_cross_entropy``).
- Label-smoothed cross entropy (Szegedy et al. 2016, arXiv:1512.00567, section 7): q' = (1 - eps) delta + eps / K;
  the framework forms are :func:`references.frameworks.torch_cross_entropy` and ``paddle_cross_entropy``.
"""
from __future__ import annotations

import numpy as np

from ._common import as_inputs, check_reduction, log_softmax, one_hot, softmax
from .frameworks import torch_cross_entropy

__all__ = ["poly1_cross_entropy", "label_smoothing_cross_entropy"]


def poly1_cross_entropy(logits, label, *, epsilon=1.0, label_smoothing=0.0, reduction="mean", ignore_index=None):
    """Poly-1 = CE + epsilon * (1 - p_t), per pixel, with p_t = softmax probability of the true class.

    With ``label_smoothing = a`` (the paper's variant): CE against q = (1 - a) one_hot + a / C and
    ``1 - p_t = sum_c q_c (1 - p_c)``. ``ignore_index`` is not in the paper: here an ignored pixel scores 0 and
    "mean" averages over the valid pixels (torch's CE convention; NaN if none is valid).
    """
    check_reduction(reduction)
    x, y = as_inputs(logits, label)
    c = x.shape[1]
    valid = np.ones(y.shape, bool) if ignore_index is None else y != ignore_index
    q = one_hot(np.where(valid, y, 0), c)
    if label_smoothing:
        q = (1 - label_smoothing) * q + label_smoothing / c
    ce = -np.sum(q * log_softmax(x, axis=1), axis=1)
    one_minus_pt = np.sum(q * (1 - softmax(x, axis=1)), axis=1)
    loss = np.where(valid, ce + epsilon * one_minus_pt, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.sum(loss)
    with np.errstate(invalid="ignore"):
        return np.sum(loss) / np.sum(valid)


def label_smoothing_cross_entropy(logits, label, *, label_smoothing=0.1, reduction="mean", ignore_index=-100,
                                  weight=None):
    """Label-smoothed CE, ``(1 - eps) CE + eps * mean_c(-log p_c)`` per pixel = CE against (1 - eps) delta + eps/C.

    This is torch's ``F.cross_entropy(label_smoothing=eps)`` (see ``frameworks.torch_cross_entropy`` for its
    weighted and ignored forms). Paddle's ``F.cross_entropy(label_smoothing=eps)`` agrees without weights and
    without ignored labels; it differs with weights and cannot ignore (see ``frameworks.paddle_cross_entropy``).
    """
    return torch_cross_entropy(logits, label, weight=weight, ignore_index=ignore_index, reduction=reduction,
                               label_smoothing=label_smoothing)
