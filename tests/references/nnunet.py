"""Float64 NumPy translations of nnU-Net v2 losses (MIC-DKFZ/nnUNet, nnunetv2 2.8.1, nnunetv2/training/loss/).

``robust_ce_loss.py``: ``TopKLoss``; ``dice.py``: ``MemoryEfficientSoftDiceLoss``; ``compound_losses.py``:
``DC_and_CE_loss`` as built by ``nnUNetTrainer._build_loss`` (``dice_class=MemoryEfficientSoftDiceLoss``,
``smooth=1e-5``, ``do_bg=False``, ``weight_ce=weight_dice=1``). nnU-Net sums the Dice statistics with
``dtype=torch.float32``, so its Dice is float32 even for float64 input; this module stays in float64.
"""
from __future__ import annotations

import numpy as np

from ._common import as_inputs, one_hot, softmax
from .frameworks import torch_cross_entropy

__all__ = ["topk_loss", "memory_efficient_soft_dice_loss", "dc_and_ce_loss"]


def topk_loss(logits, label, *, weight=None, ignore_index=-100, k=10, label_smoothing=0.0):
    """nnU-Net v2 ``TopKLoss`` (nnunetv2/training/loss/robust_ce_loss.py).

    Per-voxel ``torch.nn.CrossEntropyLoss(weight, ignore_index, reduction='none', label_smoothing)`` (an ignored
    voxel scores 0), then the mean of the ``int(V * k / 100)`` largest values over the *whole batch* (V = every
    voxel, ignored ones included, so ignored voxels take part in the k% as zeros). k is a percentage (10 = 10%).
    If ``int(V * k / 100) == 0`` torch takes the mean of nothing: NaN.
    """
    x, y = as_inputs(logits, label)
    res = torch_cross_entropy(x, y, weight=weight, ignore_index=ignore_index, reduction="none",
                              label_smoothing=label_smoothing)
    n = int(np.int64(res.size) * k / 100)
    if n == 0:
        return np.float64(np.nan)
    top = np.sort(res.ravel())[::-1][:n]
    return np.mean(top)


def memory_efficient_soft_dice_loss(logits, label, *, batch_dice=False, do_bg=True, smooth=1.0, loss_mask=None,
                                    apply_softmax=True):
    """nnU-Net v2 ``MemoryEfficientSoftDiceLoss`` (nnunetv2/training/loss/dice.py), ``apply_nonlin`` = softmax.

    Per (sample, class) -- summed over the batch first with ``batch_dice`` -- ``I = sum p g m``, ``P = sum p m``,
    ``G = sum g m`` (m = ``loss_mask`` (N, 1, *spatial) or 1); ``dc = (2 I + smooth) / max(G + P + smooth, 1e-8)``;
    class 0 dropped when ``do_bg=False``; returns ``-mean(dc)`` (negative Dice, not 1 - Dice).
    """
    x, y = as_inputs(logits, label)
    p = softmax(x, axis=1) if apply_softmax else x
    g = one_hot(y, x.shape[1])
    if not do_bg:
        p, g = p[:, 1:], g[:, 1:]
    m = 1.0 if loss_mask is None else np.asarray(loss_mask, dtype=np.float64)
    axes = tuple(range(2, x.ndim))
    inter = np.sum(p * g * m, axis=axes)
    sp = np.sum(p * m, axis=axes)
    sg = np.sum(g * m, axis=axes)
    if batch_dice:
        inter, sp, sg = inter.sum(0), sp.sum(0), sg.sum(0)
    dc = (2 * inter + smooth) / np.maximum(sg + sp + smooth, 1e-8)
    return -np.mean(dc)


def dc_and_ce_loss(logits, label, *, batch_dice=False, do_bg=False, smooth=1e-5, weight_ce=1.0, weight_dice=1.0,
                   ignore_label=None, ce_weight=None, label_smoothing=0.0):
    """nnU-Net v2 ``DC_and_CE_loss`` with ``MemoryEfficientSoftDiceLoss`` (nnunetv2/training/loss/compound_losses.py).

    ``weight_ce * CE + weight_dice * (-dc)``: CE is ``torch.nn.CrossEntropyLoss(ignore_index=ignore_label)`` mean
    over the valid voxels of the batch; dc as in :func:`memory_efficient_soft_dice_loss` with the ignore mask as
    ``loss_mask`` (ignored voxels are relabelled 0 for the one-hot, then masked out of I, P and G). CE is exactly 0
    when every voxel is ignored; a zero weight skips its term. ``batch_dice`` comes from the nnU-Net plans.
    """
    x, y = as_inputs(logits, label)
    if ignore_label is not None:
        mask = y != ignore_label
        y_dice = np.where(mask, y, 0)
        num_fg = int(mask.sum())
        loss_mask = mask[:, None].astype(np.float64)
    else:
        y_dice, loss_mask, num_fg = y, None, None
    dc = memory_efficient_soft_dice_loss(x, y_dice, batch_dice=batch_dice, do_bg=do_bg, smooth=smooth,
                                         loss_mask=loss_mask) if weight_dice != 0 else 0.0
    if weight_ce != 0 and (ignore_label is None or num_fg > 0):
        ce = torch_cross_entropy(x, y, weight=ce_weight, ignore_index=-100 if ignore_label is None else ignore_label,
                                 label_smoothing=label_smoothing)
    else:
        ce = 0.0
    return weight_ce * ce + weight_dice * dc
