"""Float64 NumPy translations of segmentation_models_pytorch losses, ``mode="multiclass"`` (SMP 0.5.0,
``segmentation_models_pytorch/losses/``: dice.py, jaccard.py, tversky.py, focal.py, soft_ce.py, _functional.py).

Shared input convention: ``logits`` (N, C, *spatial) float64 and ``label`` (N, *spatial) int class indices.
Written from the SMP source (not validated against a torch install here); the conventions that matter:

- Dice, Jaccard and Tversky share one score since SMP 0.4.0, ``soft_tversky_score``:
  ``(tp + smooth) / max(tp + alpha fp + beta fn + smooth, eps)`` with tp = (sum p + sum g - sum |p - g|) / 2,
  summed over the batch *and* the pixels (dims (0, 2)); Dice is alpha = beta = 1/2 (so SMP's Dice with
  ``smooth = s`` is the plain Dice ratio with 2 s), Jaccard alpha = beta = 1. A class absent from the batch's
  target scores 0 but still counts in the mean over classes; Tversky raises that mean to ``gamma``.
- FocalLoss: for each class, the *sigmoid* focal loss of its logit against ``label == c`` over the batch's
  non-ignored pixels, averaged; then the mean over classes. ``alpha=None`` weighs both terms 1.
- SoftCrossEntropyLoss: ``(1 - eps) nll + eps / C * sum_c (-log p_c)``; its "mean" divides by *every* pixel,
  ignored ones (scored 0) included.
"""
from __future__ import annotations

import numpy as np

from ._common import as_inputs, log_sigmoid, log_softmax, one_hot, softmax

__all__ = ["tversky_family_loss", "dice_loss", "jaccard_loss", "focal_loss", "soft_cross_entropy_loss"]


def tversky_family_loss(logits, label, *, alpha=0.5, beta=0.5, gamma=1.0, smooth=0.0, eps=1e-7, ignore_index=None):
    """SMP ``TverskyLoss("multiclass", alpha=alpha, beta=beta, gamma=gamma, smooth=smooth, eps=eps,
    ignore_index=ignore_index)`` (``DiceLoss`` at alpha = beta = 1/2, gamma = 1; ``JaccardLoss`` at 1, 1, 1)."""
    x, y = as_inputs(logits, label)
    n, c = x.shape[:2]
    p = softmax(x, axis=1).reshape(n, c, -1)
    y = y.reshape(n, -1)
    if ignore_index is not None:
        mask = (y != ignore_index)[:, None].astype(np.float64)
        p = p * mask
        g = one_hot(y * (y != ignore_index), c) * mask
    else:
        g = one_hot(y, c)
    dims = (0, 2)
    output_sum, target_sum = p.sum(axis=dims), g.sum(axis=dims)
    difference = np.abs(p - g).sum(axis=dims)
    tp = (output_sum + target_sum - difference) / 2
    fp, fn = output_sum - tp, target_sum - tp
    score = (tp + smooth) / np.maximum(tp + alpha * fp + beta * fn + smooth, eps)
    loss = (1.0 - score) * (target_sum > 0)
    return np.mean(loss) ** gamma


def dice_loss(logits, label, *, smooth=0.0, eps=1e-7, ignore_index=None):
    """SMP ``DiceLoss("multiclass", smooth=smooth, eps=eps, ignore_index=ignore_index)``."""
    return tversky_family_loss(logits, label, alpha=0.5, beta=0.5, smooth=smooth, eps=eps, ignore_index=ignore_index)


def jaccard_loss(logits, label, *, smooth=0.0, eps=1e-7, ignore_index=None):
    """SMP ``JaccardLoss("multiclass", smooth=smooth, eps=eps, ignore_index=ignore_index)``."""
    return tversky_family_loss(logits, label, alpha=1.0, beta=1.0, smooth=smooth, eps=eps, ignore_index=ignore_index)


def focal_loss(logits, label, *, alpha=None, gamma=2.0, ignore_index=None):
    """SMP ``FocalLoss("multiclass", alpha=alpha, gamma=gamma, ignore_index=ignore_index)`` on logits."""
    x, y = as_inputs(logits, label)
    valid = np.ones(y.shape, bool) if ignore_index is None else y != ignore_index
    losses = []
    for k in range(x.shape[1]):
        z, t = x[:, k][valid], (y[valid] == k).astype(np.float64)
        logpt = -(t * log_sigmoid(z) + (1 - t) * log_sigmoid(-z))  # BCE with logits
        loss = (1.0 - np.exp(-logpt)) ** gamma * logpt
        if alpha is not None:
            loss = loss * (alpha * t + (1 - alpha) * (1 - t))
        losses.append(loss.mean())
    return np.mean(losses)


def soft_cross_entropy_loss(logits, label, *, smooth_factor=0.0, ignore_index=-100):
    """SMP ``SoftCrossEntropyLoss(smooth_factor=smooth_factor, ignore_index=ignore_index)``, "mean"."""
    x, y = as_inputs(logits, label)
    c = x.shape[1]
    ignored = y == ignore_index
    ls = log_softmax(x, axis=1)
    nll = -np.take_along_axis(ls, np.where(ignored, 0, y)[:, None], axis=1)[:, 0]
    smooth = -ls.sum(axis=1)
    nll, smooth = np.where(ignored, 0.0, nll), np.where(ignored, 0.0, smooth)
    return (1.0 - smooth_factor) * nll.mean() + smooth_factor / c * smooth.mean()
