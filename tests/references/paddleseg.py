"""Float64 NumPy translation of PaddleSeg 2.8.0 ``OhemCrossEntropyLoss``
(PaddlePaddle/PaddleSeg tag v2.8.0, paddleseg/models/losses/ohem_cross_entropy_loss.py)."""
from __future__ import annotations

import numpy as np

from ._common import as_inputs, log_softmax

__all__ = ["ohem_kept_mask", "ohem_cross_entropy_loss"]


def ohem_kept_mask(logits, label, *, thresh=0.7, min_kept=10000, ignore_index=255):
    """The pixels PaddleSeg 2.8.0's OHEM keeps, as a bool array shaped like ``label`` (constant of the gradient).

    p = softmax probability of the true class (ignored pixels read class 0 and get +1, so are never kept). Only if
    ``min_kept < num_valid`` (and num_valid > 0) and ``min_kept > 0``: threshold = the ``min_kept``-th smallest p
    if that exceeds ``thresh``, else ``thresh``; kept = valid & (p < threshold) -- strict, so when the
    ``min_kept``-th value is the threshold only ``min_kept - 1`` pixels (fewer with ties) are kept. Otherwise every
    valid pixel is kept (in particular ``min_kept=0`` disables OHEM altogether, and so does ``min_kept >= num_valid``).
    """
    x, y = as_inputs(logits, label)
    valid = y != ignore_index
    num_valid = int(valid.sum())
    kept = valid.copy()
    if min_kept < num_valid and num_valid > 0 and min_kept > 0:
        ls = log_softmax(x, axis=1)
        yl = np.where(valid, y, 0)
        prob = np.exp(np.take_along_axis(ls, yl[:, None], axis=1)[:, 0]) + (~valid)
        flat = np.sort(prob.ravel())
        kth = flat[min(flat.size, min_kept) - 1]
        threshold = kth if kth > thresh else thresh
        kept = valid & (prob < threshold)
    return kept


def ohem_cross_entropy_loss(logits, label, *, thresh=0.7, min_kept=10000, ignore_index=255, mask_dtype=np.float64):
    """PaddleSeg 2.8.0 ``OhemCrossEntropyLoss``: ``sum_kept CE / (num_kept + 1e-5 * V)``.

    Written as PaddleSeg does: ``mean(CE * kept) / (mean(kept) + EPS)`` with EPS = 1e-5 and V = all pixels of the
    batch, which is ``sum_kept CE / (num_kept + 1e-5 V)`` -- not exactly the mean over kept pixels (0 when none is
    kept). CE = softmax cross entropy on the raw logits. Returns a scalar (no reduction argument). PaddleSeg 2.8.0
    accepts only (N, C, H, W) logits; this translation also runs on 1D/3D. PaddleSeg stores the kept mask as float32,
    so ``mean(kept) + EPS`` is rounded to float32 there (relative difference ~6e-8); ``mask_dtype=np.float32``
    reproduces that.

    Note: the released 2.8.0 class does not run on Paddle 3.x once OHEM is active (``min_kept < num_valid``): it adds
    an int64 mask to the float probabilities (``prob + (1 - valid_mask)``), which Paddle 3's type promotion rejects;
    PaddleSeg's develop branch casts it (``.astype(prob.dtype)``). This translation is of the intended arithmetic.
    """
    x, y = as_inputs(logits, label)
    kept = ohem_kept_mask(x, y, thresh=thresh, min_kept=min_kept, ignore_index=ignore_index)
    ls = log_softmax(x, axis=1)
    ce = -np.take_along_axis(ls, np.where(kept, y, 0)[:, None], axis=1)[:, 0]
    loss = np.where(kept, ce, 0.0)
    den = mask_dtype(np.mean(kept.astype(np.float64), dtype=mask_dtype) + mask_dtype(1e-5))
    return np.mean(loss) / np.float64(den)
