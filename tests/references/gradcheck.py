"""Central finite differences in float64, to compare reference gradients with the generated Paddle code.

``numerical_gradient(f, x)`` differentiates a scalar function of an array (or ``sum(cotangent * f(x))`` for an
array-valued one) with the step ``h_i = rel_step * max(|x_i|, 1)``. ``rel_step=1e-6`` leaves a truncation error of
about h^2 |f'''| and a rounding error of about 1e-16 |f| / h, i.e. agreement to ~1e-8 relative on smooth losses:
compare with ``rtol ~ 1e-5, atol ~ 1e-7`` (scaled to the loss magnitude).

Piecewise references: a central difference across a kink or a jump is wrong, so draw inputs away from ties, or use
``kinks=True`` to get a mask of the coordinates where the forward and backward differences disagree and leave them
out of the comparison. ``PIECEWISE`` lists what makes each reference piecewise.
"""
from __future__ import annotations

import numpy as np

__all__ = ["PIECEWISE", "numerical_gradient", "assert_gradient_close"]

PIECEWISE = {
    # name in symloss -> where the reference is not smooth in the logits
    "boundary": "smooth: the signed distance map depends on the label only",
    "hausdorff_dt": "distance field of the thresholded prediction p > 0.5 (piecewise constant in the logits: keep"
    " every probability away from 0.5); the empty/full-mask switch to a zero field",
    "log_hausdorff_dt": "as hausdorff_dt",
    "cldice": "soft skeleton: min-pooling (erosion) and max-pooling (dilation) and relu; ties between neighbouring"
    " probabilities are kinks (use continuous random logits, no plateaus; the one-hot target side is constant)",
    "dice_cldice": "as cldice",
    "hausdorff_er": "relu threshold at dilation == 0.5, per-image max/min of the erosion (min-max normalisation),"
    " and the max == min switch; the min is often a plateau of exact zeros (zero gradient there, harmless)",
    "topk_ce": "top-k selection: a tie between the k-th and (k+1)-th voxel CE is a kink",
    "ohem_ce": "kept set = CE pixels with p_true < threshold, where threshold is the min_kept-th smallest p_true"
    " or thresh: a pixel crossing that value jumps in or out (a jump in the value, not just a kink)",
    "asym_focal": "clamp of p to [1e-7, 1 - 1e-7] (only at saturated probabilities)",
    "asym_focal_tversky": "clamp of p to [1e-7, 1 - 1e-7]",
    "asym_unified_focal": "clamp of p to [1e-7, 1 - 1e-7]",
    "mcc": "the perfect-prediction switch fp == fn == 0 (never met with soft probabilities)",
    "nnunet_dice_ce": "max(denominator, 1e-8) (never met with smooth > 0)",
    "dice_ce": "smooth",
    "dice_focal": "smooth",
    "poly1": "smooth",
    "label_smoothing_ce": "smooth",
}


def _as_scalar(value, cotangent):
    v = np.asarray(value, dtype=np.float64)
    if cotangent is None:
        if v.size != 1:
            raise ValueError("f returned an array: pass a cotangent of its shape")
        return float(v.reshape(()))
    return float(np.sum(np.asarray(cotangent, dtype=np.float64) * v))


def numerical_gradient(f, x, *, rel_step=1e-6, cotangent=None, indices=None, kinks=False, kink_rtol=1e-4,
                       kink_atol=1e-7):
    """Central-difference gradient of ``f`` at ``x`` (float64).

    f: callable taking an array shaped like x. cotangent: weights for an array-valued f (the gradient of
    ``sum(cotangent * f)``). indices: flat indices to differentiate (the others are left NaN), to keep big inputs
    cheap. kinks: also return a bool mask (True where the one-sided differences disagree by more than
    ``kink_atol + kink_rtol * |central|``: a kink or jump; compare only where it is False).
    """
    x = np.array(x, dtype=np.float64, order="C")  # a C-ordered copy, so that `flat` below is a view of it
    flat = x.reshape(-1)
    assert np.shares_memory(flat, x)
    grad = np.full(flat.shape, np.nan)
    kink = np.zeros(flat.shape, bool)
    idx = range(flat.size) if indices is None else np.asarray(indices).reshape(-1)
    f0 = _as_scalar(f(x), cotangent) if kinks else None
    for i in idx:
        h = rel_step * max(abs(flat[i]), 1.0)
        orig = flat[i]
        flat[i] = orig + h
        fp = _as_scalar(f(x), cotangent)
        flat[i] = orig - h
        fm = _as_scalar(f(x), cotangent)
        flat[i] = orig
        grad[i] = (fp - fm) / (2 * h)
        if kinks:
            fwd, bwd = (fp - f0) / h, (f0 - fm) / h
            kink[i] = abs(fwd - bwd) > kink_atol + kink_rtol * abs(grad[i])
    grad = grad.reshape(x.shape)
    if kinks:
        return grad, kink.reshape(x.shape)
    return grad


def assert_gradient_close(analytic, numeric, *, rtol=1e-5, atol=1e-7, mask=None):
    """Assert ``analytic`` (e.g. Paddle's autograd) matches ``numeric`` where numeric is defined (not NaN) and,
    if given, where ``mask`` is True. The tolerance is relative to the largest gradient entry, so tiny entries of a
    loss with large entries elsewhere are not over-constrained."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    sel = ~np.isnan(n)
    if mask is not None:
        sel &= np.asarray(mask, bool)
    if not sel.any():
        return
    scale = max(np.max(np.abs(n[sel])), np.max(np.abs(a[sel])), 1e-300)
    err = np.max(np.abs(a[sel] - n[sel]))
    if err > atol + rtol * scale:
        worst = np.argmax(np.where(sel, np.abs(a - n), -1))
        raise AssertionError(
            f"gradient mismatch: max |analytic - numeric| = {err:.3e} > {atol:.1e} + {rtol:.1e} * {scale:.3e}"
            f" (worst flat index {worst}: analytic {a.reshape(-1)[worst]!r}, numeric {n.reshape(-1)[worst]!r})"
        )
