"""Float64 NumPy translation of kornia 0.9.0 ``HausdorffERLoss`` / ``HausdorffERLoss3D`` (kornia/losses/hausdorff.py).

Karimi & Salcudean 2019 (arXiv:1904.10030), erosion variant, as refactored by kornia from PatRyg99/HausdorffLoss.
"""
from __future__ import annotations

import numpy as np

from ._common import as_inputs, check_reduction, softmax

__all__ = ["cross_conv", "erosion_sum", "hausdorff_er_loss", "hausdorff_er_loss_3d"]


# kornia builds its kernels as float32 tensors (``cross * 0.2``, ``... * (1 / 7)``) and casts them to the input
# dtype, so even in float64 the weights are float32(0.2) = 0.20000000298... and float32(1/7)
KERNEL_WEIGHT = {2: float(np.float32(0.2)), 3: float(np.float32(1 / 7))}


def cross_conv(img):
    """kornia's morphology convolution with zero padding: w * (the pixel + its 2*d axis neighbours), w = 0.2 on the
    2D 5-point cross, 1/7 on the 3D 7-point cross (both rounded to float32, see ``KERNEL_WEIGHT``);
    out-of-image neighbours count as 0."""
    d = img.ndim - 2
    acc = img.copy()
    for ax in range(2, img.ndim):
        n = img.shape[ax]
        lo = [slice(None)] * img.ndim
        hi = [slice(None)] * img.ndim
        lo[ax], hi[ax] = slice(0, n - 1), slice(1, n)
        acc[tuple(lo)] += img[tuple(hi)]  # neighbour at +1
        acc[tuple(hi)] += img[tuple(lo)]  # neighbour at -1
    return acc * KERNEL_WEIGHT[d] if d in KERNEL_WEIGHT else acc / (2 * d + 1)


def erosion_sum(pred, target, *, alpha=2.0, k=10):
    """``_HausdorffERLossBase.perform_erosion`` on one class: pred, target (N, 1, *spatial).

    bound = (pred - target)^2; k times: dil = cross_conv(bound); er = max(dil - 0.5, 0) (exactly 0 where dil < 0.5);
    er is min-max normalised per image, ``(er - min) / (max - min)``, unless max == min (then left as is);
    eroded += er * (i + 1)^alpha; bound = er. Returns eroded (N, 1, *spatial).
    """
    bound = (pred - target) ** 2
    eroded = np.zeros_like(bound)
    axes = tuple(range(2, bound.ndim))
    for i in range(k):
        dil = cross_conv(bound)
        er = np.where(dil < 0.5, 0.0, dil - 0.5)
        mx = np.max(er, axis=axes, keepdims=True)
        mn = np.min(er, axis=axes, keepdims=True)
        rng = mx - mn
        er = np.where(rng != 0, (er - mn) / np.where(rng != 0, rng, 1.0), er)
        eroded = eroded + er * float(i + 1) ** alpha
        bound = er
    return eroded


def hausdorff_er_loss(logits, label, *, alpha=2.0, k=10, reduction="mean", apply_softmax=True):
    """kornia 0.9.0 ``HausdorffERLoss`` (2D) and ``HausdorffERLoss3D`` (3D), chosen by the spatial rank.

    kornia takes probabilities and applies nothing; ``apply_softmax=True`` (this module's addition) softmaxes the
    logits over the class axis first. Every class channel c, background included, is compared with
    ``label == c`` (no one-hot argument, no ignore_index: kornia raises for labels outside [0, C)).
    "none" returns the eroded maps with shape (C, N, 1, *spatial) -- class axis first; "mean" is their plain mean
    (over classes, samples and pixels); "sum" their sum.
    """
    x, y = as_inputs(logits, label, min_spatial=2, max_spatial=3)
    check_reduction(reduction)
    if np.any((y < 0) | (y >= x.shape[1])):
        raise ValueError(f"Expect target values in range [0, {x.shape[1]})")
    p = softmax(x, axis=1) if apply_softmax else x
    out = np.stack(
        [erosion_sum(p[:, c : c + 1], (y[:, None] == c).astype(np.float64), alpha=alpha, k=k) for c in range(x.shape[1])]
    )
    if reduction == "mean":
        return np.mean(out)
    if reduction == "sum":
        return np.sum(out)
    return out


def hausdorff_er_loss_3d(logits, label, **kwargs):
    """kornia 0.9.0 ``HausdorffERLoss3D``: :func:`hausdorff_er_loss` on (N, C, D, H, W) logits."""
    if np.ndim(logits) != 5:
        raise ValueError("Only 3D images supported.")
    return hausdorff_er_loss(logits, label, **kwargs)
