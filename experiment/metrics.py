"""Evaluation metrics on thresholded binary masks, in NumPy/SciPy (independent of any loss code).

Each metric is computed per image and then averaged over the images of the held-out split, as
segmentation papers usually report them. Conventions for empty masks (P = prediction, G = truth):

- Dice = 2|P & G| / (|P| + |G|); 1 when both are empty (a correct "nothing here"), 0 when only one is.
- Sensitivity = TP / (TP + FN) is undefined when G is empty; specificity = TN / (TN + FP) is undefined
  when G covers the whole image. Undefined values are left out of the mean (NaN, then nanmean); the
  bundled tasks never produce them, since every slice has both foreground and background.
- HD95 (pixels): the 95th percentile of the distances from each boundary pixel of P to the boundary
  of G and from each boundary pixel of G to the boundary of P, pooled (MedPy's convention). 0 when
  both masks are empty; the image diagonal (the largest distance possible) when exactly one is, so
  that a missed or hallucinated structure is penalised instead of dropped.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

METRICS = ("dice", "sensitivity", "specificity", "hd95")


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    denom = pred.sum() + gt.sum()
    return 1.0 if denom == 0 else float(2 * np.logical_and(pred, gt).sum() / denom)


def sensitivity(pred: np.ndarray, gt: np.ndarray) -> float:
    pos = gt.sum()
    return math.nan if pos == 0 else float(np.logical_and(pred, gt).sum() / pos)


def specificity(pred: np.ndarray, gt: np.ndarray) -> float:
    neg = (~gt).sum()
    return math.nan if neg == 0 else float(np.logical_and(~pred, ~gt).sum() / neg)


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` with a 4-neighbour outside it (the image border counts as outside)."""
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def hd95(pred: np.ndarray, gt: np.ndarray) -> float:
    if not pred.any() and not gt.any():
        return 0.0
    if not pred.any() or not gt.any():
        return float(math.hypot(*pred.shape))
    bp, bg = _boundary(pred), _boundary(gt)
    to_g = ndimage.distance_transform_edt(~bg)     # distance of every pixel to G's boundary
    to_p = ndimage.distance_transform_edt(~bp)
    return float(np.percentile(np.concatenate([to_g[bp], to_p[bg]]), 95))


def per_image(pred: np.ndarray, gt: np.ndarray) -> dict:
    """All metrics of one (H, W) prediction against its truth (both boolean or 0/1)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    return {"dice": dice(pred, gt), "sensitivity": sensitivity(pred, gt),
            "specificity": specificity(pred, gt), "hd95": hd95(pred, gt)}


def evaluate(preds: np.ndarray, gts: np.ndarray) -> dict:
    """Mean of each metric over images (N, H, W); undefined per-image values are left out."""
    rows = [per_image(p, g) for p, g in zip(preds, gts)]
    out = {}
    for name in METRICS:
        values = np.array([r[name] for r in rows], dtype=float)
        out[name] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    return out
