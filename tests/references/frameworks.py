"""Float64 NumPy translations of the framework cross-entropy functions other references build on.

- :func:`torch_cross_entropy`: ``torch.nn.functional.cross_entropy`` (torch 2.13, aten/src/ATen/native/LossNLL.cpp,
  ``cross_entropy_loss_label_smoothing``) with class-index targets.
- :func:`paddle_cross_entropy`: ``paddle.nn.functional.cross_entropy`` (Paddle 3.3.1,
  python/paddle/nn/functional/loss.py) with integer labels, ``use_softmax=True``.

Both take ``logits`` (N, C, *spatial) and ``label`` (N, *spatial) here, the class axis being axis 1.
"""
from __future__ import annotations

import numpy as np

from ._common import check_reduction, log_softmax, one_hot

__all__ = ["torch_cross_entropy", "paddle_cross_entropy"]


def torch_cross_entropy(logits, label, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """``torch.nn.functional.cross_entropy`` with an index target (torch 2.13).

    Per pixel i (0 where ``label == ignore_index``), with eps = ``label_smoothing`` and w = ``weight`` (ones if None):
    ``(1 - eps) w[y_i] (-log p[y_i]) + (eps / C) sum_c w[c] (-log p[c])``.
    "mean" divides the sum by ``sum_i w[y_i]`` over the non-ignored pixels (the pixel count without weights) --
    both the NLL and the smoothing term, so with weights the smoothing term is *not* a per-pixel mean; all pixels
    ignored gives 0/0 = NaN, as torch does. "sum" / "none" as usual.
    """
    check_reduction(reduction)
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(label).astype(np.int64)
    c = x.shape[1]
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    valid = y != ignore_index
    ls = log_softmax(x, axis=1)
    oh = one_hot(np.where(valid, y, 0), c)
    wy = np.where(valid, w[np.where(valid, y, 0)], 0.0)
    nll = -np.sum(oh * ls, axis=1) * wy
    wb = w.reshape((1, c) + (1,) * (x.ndim - 2))
    smooth = np.where(valid, -np.sum(ls * wb, axis=1), 0.0)
    if reduction == "none":
        return (1 - label_smoothing) * nll + label_smoothing / c * smooth
    if reduction == "sum":
        return (1 - label_smoothing) * np.sum(nll) + label_smoothing / c * np.sum(smooth)
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.sum(wy)
        return ((1 - label_smoothing) * np.sum(nll) + label_smoothing / c * np.sum(smooth)) / den


def paddle_cross_entropy(logits, label, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """``paddle.nn.functional.cross_entropy(use_softmax=True)`` with an integer label (Paddle 3.3.1).

    Hard label: per pixel ``w[y] (-log p[y])``, 0 where ``label == ignore_index``. "mean" when
    ``ignore_index >= 0``: sum / (number of valid pixels, or sum of w[y] over them; a zero denominator becomes 1, so
    all-ignored gives 0, not NaN); when ``ignore_index < 0`` (the default -100): sum / sum of w[y] with weights,
    else the plain mean over *every* pixel (a pixel labelled with a negative ignore_index counts as 0 in the mean).

    ``label_smoothing = eps > 0`` turns the label into the soft label ``q = (1 - eps) one_hot + eps / C`` and the
    per-pixel loss into ``(q . w) * (-sum_c q_c log p_c)`` -- the weight is the q-average of w, not torch's form.
    Paddle builds that one-hot on the *last* input axis, so smoothing works only channels-last (``axis=-1``): this
    reference is Paddle on the logits transposed to channels-last. There is then no ignore: Paddle's one_hot
    rejects an out-of-range label, and for ``ignore_index >= 0`` its "mean" divides by the number of soft-label
    *entries* (pixels x C; ``label != ignore_index`` compared on the soft label), i.e. C times too small --
    reproduced here. Paddle also rounds the soft label to float32 (differences ~1e-8 relative).
    """
    check_reduction(reduction)
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(label).astype(np.int64)
    c = x.shape[1]
    ls = log_softmax(x, axis=1)
    if label_smoothing > 0.0:
        if np.any((y < 0) | (y >= c)):
            raise ValueError("paddle's one_hot rejects labels outside [0, C) (label smoothing has no ignore_index)")
        q = (1 - label_smoothing) * one_hot(y, c) + label_smoothing / c
        out = -np.sum(q * ls, axis=1)
        if weight is not None:
            wq = np.sum(q * np.asarray(weight, dtype=np.float64).reshape((1, c) + (1,) * (x.ndim - 2)), axis=1)
            out = out * wq
        if reduction == "none":
            return out
        if reduction == "sum":
            return np.sum(out)
        if ignore_index >= 0:
            # Paddle's mask `label != ignore_index` is taken on the (pixels, C) soft label: every entry counts,
            # so the denominator is pixels x C (with weights: C x sum of q . w)
            cnt = float(q.size) if weight is None else float(np.sum(wq)) * c
            return np.sum(out) / (cnt if cnt != 0 else 1.0)
        if weight is not None:
            den = float(np.sum(wq))
            return np.sum(out) / (den if den != 0 else 1.0)
        return np.mean(out)
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    valid = y != ignore_index
    ysafe = np.where(valid, y, 0)
    nll = -np.take_along_axis(ls, ysafe[:, None], axis=1)[:, 0]
    wy = np.where(valid, w[ysafe], 0.0) if weight is not None else valid.astype(np.float64)
    out = nll * wy
    if reduction == "none":
        return out
    if reduction == "sum":
        return np.sum(out)
    if ignore_index >= 0:
        den = float(np.sum(wy))
        return np.sum(out) / (den if den != 0 else 1.0)
    if weight is not None:
        den = float(np.sum(wy))
        return np.sum(out) / (den if den != 0 else 1.0)
    return np.mean(out)
