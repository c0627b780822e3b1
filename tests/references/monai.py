"""Float64 NumPy translations of MONAI 1.6.1 segmentation losses (``monai/losses/*.py``, PyPI monai==1.6.1).

Shared input convention: ``logits`` (N, C, *spatial) float64 and ``label`` (N, *spatial) int class indices.
MONAI's own classes take probabilities unless ``sigmoid``/``softmax`` is set; here the flags keep MONAI's names
but default to ``softmax=True`` (the way symloss calls them), and ``to_onehot_y=True`` because the label is an
index map. MONAI's rules for one channel are kept: with C == 1, ``softmax`` and ``to_onehot_y`` and
``include_background=False`` are ignored (MONAI warns), and the target is the raw label as a float channel.

Where MONAI rounds to float32 inside (the distance maps of BoundaryLoss and HausdorffDTLoss, all of FocalLoss),
this module computes in float64; ``distance_dtype=np.float32`` reproduces MONAI's rounding of the maps.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt

from ._common import as_inputs, check_reduction, log_sigmoid, log_softmax, one_hot, sigmoid, softmax, spatial_axes
from .frameworks import torch_cross_entropy

__all__ = [
    "activate",
    "target_of",
    "dice_loss",
    "focal_loss",
    "dice_ce_loss",
    "dice_focal_loss",
    "mcc_loss",
    "boundary_loss",
    "boundary_distance_map",
    "hausdorff_distance_field",
    "hausdorff_dt_loss",
    "log_hausdorff_dt_loss",
    "soft_erode",
    "soft_dilate",
    "soft_skel",
    "soft_cldice_loss",
    "soft_dice_cldice_loss",
    "asymmetric_focal_loss",
    "asymmetric_focal_tversky_loss",
    "asymmetric_unified_focal_loss",
]


# ----------------------------------------------------------------------------------------------------------------
# shared pre-processing (the first lines of every MONAI forward)


def activate(x, *, sigmoid_=False, softmax_=False):
    """MONAI's activation block: sigmoid if asked; softmax over channels if asked and C > 1 (ignored for C == 1)."""
    if sigmoid_ and softmax_:
        raise ValueError("Incompatible values: more than 1 of [sigmoid=True, softmax=True].")
    if sigmoid_:
        x = sigmoid(x)
    if softmax_ and x.shape[1] > 1:
        x = softmax(x, axis=1)
    return x


def target_of(label, num_classes, *, to_onehot_y=True, ignore_index=None):
    """MONAI's target block for an index map: one-hot when ``to_onehot_y`` and C > 1, else the label as a float channel.

    With an ``ignore_index`` outside [0, C) (a sentinel such as 255), MONAI first replaces it by class 0 before the
    one-hot (Dice, Focal and the asymmetric losses do this; the caller masks those pixels afterwards).
    """
    if to_onehot_y and num_classes > 1:
        if ignore_index is not None and (ignore_index < 0 or ignore_index >= num_classes):
            label = np.where(label == ignore_index, 0, label)
        return one_hot(label, num_classes)
    return label[:, None].astype(np.float64)


def _ignore_mask(label, ignore_index):
    """``monai.metrics.utils.create_ignore_mask`` on a label-encoded target: (N, 1, *spatial), 1 = valid."""
    if ignore_index is None:
        return None
    return (label[:, None] != ignore_index).astype(np.float64)


def _drop_background(p, t, include_background):
    if not include_background and p.shape[1] > 1:
        return p[:, 1:], t[:, 1:]
    return p, t


def _reduce(f, reduction):
    check_reduction(reduction)
    if reduction == "mean":
        return np.mean(f)
    if reduction == "sum":
        return np.sum(f)
    return f


# ----------------------------------------------------------------------------------------------------------------
# DiceLoss, FocalLoss and the compound losses built on them (monai/losses/dice.py, monai/losses/focal_loss.py)


def dice_loss(
    logits,
    label,
    *,
    include_background=True,
    to_onehot_y=True,
    sigmoid=False,
    softmax=True,
    squared_pred=False,
    jaccard=False,
    reduction="mean",
    smooth_nr=1e-5,
    smooth_dr=1e-5,
    batch=False,
    weight=None,
    ignore_index=None,
):
    """MONAI 1.6.1 ``DiceLoss`` (monai/losses/dice.py).

    Per (sample, class) [per class if ``batch``]: ``1 - (2 tp + smooth_nr) / (2 tp + fp + fn + smooth_dr)``
    with soft counts over the spatial axes (tp = sum p g, fp = sum p - tp, fn = sum g - tp; with
    ``squared_pred`` the sums of p^2 and g^2; ``jaccard``: ``1 - (2 tp + nr) / (2 (tp + fp + fn) + dr)``, i.e.
    Jaccard with the smoothing halved). ``weight`` multiplies the per-class loss. Ignored pixels
    (``label == ignore_index``) are zeroed in both p and g. Reduction: mean/sum over every entry, or "none" with
    shape (N, C', 1, ...) [(C', 1, ...) with ``batch``].
    """
    x, y = as_inputs(logits, label)
    c = x.shape[1]
    p = activate(x, sigmoid_=sigmoid, softmax_=softmax)
    t = target_of(y, c, to_onehot_y=to_onehot_y, ignore_index=ignore_index)
    p, t = _drop_background(p, t, include_background)
    mask = _ignore_mask(y, ignore_index)
    if mask is not None:
        p, t = p * mask, t * mask
    axes = spatial_axes(x.ndim)
    if batch:
        axes = (0,) + axes
    if squared_pred:
        # JDT form with ord 2; identical to sum p g, sum p^2 - tp, sum g^2 - tp for hard labels
        sp, sg, diff = np.sum(p * p, axis=axes), np.sum(t * t, axis=axes), np.sum((p - t) ** 2, axis=axes)
        tp = (sp + sg - diff) / 2
        fp, fn = sp - tp, sg - tp
    else:
        tp = np.sum(p * t, axis=axes)
        fp = np.sum(p, axis=axes) - tp
        fn = np.sum(t, axis=axes) - tp
    if not jaccard:
        fp, fn = 0.5 * fp, 0.5 * fn
    f = 1.0 - (2 * tp + smooth_nr) / (2 * (tp + fp + fn) + smooth_dr)
    if weight is not None and t.shape[1] != 1:
        w = np.asarray(weight, dtype=np.float64)
        if w.ndim == 0:
            w = np.full(t.shape[1], float(w))
        if w.shape[0] != t.shape[1]:
            raise ValueError("The length of the `weight` sequence should be the same as the number of classes.")
        f = f * w
    check_reduction(reduction)
    if reduction == "none":
        return f.reshape(f.shape + (1,) * (x.ndim - 2))
    return _reduce(f, reduction)


def _sigmoid_focal(x, t, gamma, alpha):
    bce = x - x * t - log_sigmoid(x)
    loss = np.exp(gamma * log_sigmoid(-x * (2 * t - 1))) * bce  # (1 - p_t)^gamma * BCE
    if alpha is not None:
        a = np.asarray(alpha, dtype=np.float64)
        if a.ndim == 0:
            factor = t * a + (1 - t) * (1 - a)
        else:
            a = a.reshape((1, -1) + (1,) * (t.ndim - 2))
            factor = np.where(t == 1, a, 1.0)
        loss = factor * loss
    return loss


def _softmax_focal(x, t, gamma, alpha):
    ls = log_softmax(x, axis=1)
    loss = -((1 - np.exp(ls)) ** gamma) * ls * t
    if alpha is not None:
        a = np.asarray(alpha, dtype=np.float64)
        if a.ndim == 0:
            a = np.array([1 - float(a)] + [float(a)] * (t.shape[1] - 1))
        loss = a.reshape((1, -1) + (1,) * (t.ndim - 2)) * loss
    return loss


def focal_loss(
    logits,
    label,
    *,
    include_background=True,
    to_onehot_y=True,
    gamma=2.0,
    alpha=None,
    weight=None,
    reduction="mean",
    use_softmax=False,
    ignore_index=None,
):
    """MONAI 1.6.1 ``FocalLoss`` (monai/losses/focal_loss.py); input are logits (no activation flag).

    Sigmoid form (default): per logit channel, ``(1 - p_t)^gamma * BCEWithLogits(x, t)`` with p = sigmoid(x);
    scalar ``alpha`` gives ``alpha t + (1 - alpha)(1 - t)``. Softmax form: ``-(1 - p_c)^gamma log p_c t_c``
    with log-softmax over all C channels *after* dropping the background channel when
    ``include_background=False`` (MONAI drops a scalar alpha in that case). ``weight`` scales classes.
    "mean" = mean over every (n, c, pixel) entry, or sum over valid entries / number of valid pixels when
    ``ignore_index`` is set (note: divided by the pixel count, not pixel x class count). "sum" first averages the
    spatial axes then sums (MONAI's back-compat quirk). MONAI casts input and target to float32 first.
    """
    x, y = as_inputs(logits, label)
    c = x.shape[1]
    t = target_of(y, c, to_onehot_y=to_onehot_y, ignore_index=ignore_index)
    xx, t = _drop_background(x, t, include_background)
    mask = _ignore_mask(y, ignore_index)
    if mask is not None:
        xx, t = xx * mask, t * mask
    alpha_arg = alpha
    if use_softmax:
        if not include_background and c > 1 and alpha is not None and np.ndim(alpha) == 0:
            alpha_arg = None
        loss = _softmax_focal(xx, t, gamma, alpha_arg)
    else:
        loss = _sigmoid_focal(xx, t, gamma, alpha_arg)
    if mask is not None:
        loss = loss * mask
    if weight is not None:
        w = np.asarray(weight, dtype=np.float64)
        if w.ndim > 0:
            loss = loss * w.reshape((1, -1) + (1,) * (loss.ndim - 2))
        else:
            loss = loss * w
    check_reduction(reduction)
    axes = spatial_axes(loss.ndim)
    if reduction == "sum":
        if mask is not None:
            per = np.sum(loss, axis=axes, keepdims=True) / np.maximum(
                np.sum(mask, axis=axes, keepdims=True), np.finfo(np.float32).eps
            )
        else:
            per = np.mean(loss, axis=axes)
        return np.sum(per)
    if reduction == "mean":
        if mask is not None:
            return np.sum(loss) / max(np.sum(mask), np.finfo(np.float32).eps)
        return np.mean(loss)
    return loss


def dice_ce_loss(
    logits,
    label,
    *,
    include_background=True,
    to_onehot_y=True,
    sigmoid=False,
    softmax=True,
    squared_pred=False,
    jaccard=False,
    reduction="mean",
    smooth_nr=1e-5,
    smooth_dr=1e-5,
    batch=False,
    weight=None,
    lambda_dice=1.0,
    lambda_ce=1.0,
    label_smoothing=0.0,
):
    """MONAI 1.6.1 ``DiceCELoss`` (monai/losses/dice.py).

    ``lambda_dice * DiceLoss(...) + lambda_ce * CE``. The CE term is ``torch.nn.CrossEntropyLoss(weight,
    reduction, label_smoothing)`` on the raw logits over *all* C channels (``include_background`` affects only
    the Dice term; the Dice term gets ``weight[1:]`` then) -- or, for C == 1, ``BCEWithLogitsLoss(pos_weight=
    weight)`` against the label as a float. Only "mean" and "sum" exist (MONAI rejects "none").
    """
    check_reduction(reduction, ("mean", "sum"))
    x, y = as_inputs(logits, label)
    dice_weight = None
    if weight is not None:
        dice_weight = np.asarray(weight, dtype=np.float64)
        if not include_background:
            dice_weight = dice_weight[1:]
    d = dice_loss(
        x, y, include_background=include_background, to_onehot_y=to_onehot_y, sigmoid=sigmoid, softmax=softmax,
        squared_pred=squared_pred, jaccard=jaccard, reduction=reduction, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
        batch=batch, weight=dice_weight,
    )
    if x.shape[1] != 1:
        ce = torch_cross_entropy(x, y, weight=weight, reduction=reduction, label_smoothing=label_smoothing)
    else:
        t = y[:, None].astype(np.float64)
        pw = 1.0 if weight is None else np.asarray(weight, dtype=np.float64)
        # BCEWithLogits with pos_weight: -(pw t log s(x) + (1 - t) log(1 - s(x)))
        per = -(pw * t * log_sigmoid(x) + (1 - t) * log_sigmoid(-x))
        ce = np.mean(per) if reduction == "mean" else np.sum(per)
    return lambda_dice * d + lambda_ce * ce


def dice_focal_loss(
    logits,
    label,
    *,
    include_background=True,
    to_onehot_y=True,
    sigmoid=False,
    softmax=True,
    squared_pred=False,
    jaccard=False,
    reduction="mean",
    smooth_nr=1e-5,
    smooth_dr=1e-5,
    batch=False,
    gamma=2.0,
    weight=None,
    lambda_dice=1.0,
    lambda_focal=1.0,
    alpha=None,
):
    """MONAI 1.6.1 ``DiceFocalLoss`` (monai/losses/dice.py).

    ``lambda_dice * DiceLoss(softmax/sigmoid flags) + lambda_focal * FocalLoss(use_softmax=False)``: the focal
    term is always the *sigmoid* focal loss on the raw logits of every (kept) channel against the one-hot target,
    whatever the Dice activation (MONAI #8242). ``include_background``, ``weight`` and ``reduction`` go to both
    terms; "none" broadcasts Dice (N, C', 1, ...) against focal (N, C', *spatial).
    """
    x, y = as_inputs(logits, label)
    d = dice_loss(
        x, y, include_background=include_background, to_onehot_y=to_onehot_y, sigmoid=sigmoid, softmax=softmax,
        squared_pred=squared_pred, jaccard=jaccard, reduction=reduction, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
        batch=batch, weight=weight,
    )
    f = focal_loss(
        x, y, include_background=include_background, to_onehot_y=to_onehot_y, gamma=gamma, alpha=alpha,
        weight=weight, reduction=reduction, use_softmax=False,
    )
    return lambda_dice * d + lambda_focal * f


def mcc_loss(
    logits,
    label,
    *,
    include_background=True,
    to_onehot_y=True,
    sigmoid=False,
    softmax=True,
    reduction="mean",
    smooth_nr=0.0,
    smooth_dr=1e-5,
    batch=False,
):
    """MONAI 1.6.1 ``MCCLoss`` (monai/losses/mcc_loss.py).

    Per (sample, class) [per class with ``batch``] soft confusion counts over the spatial axes,
    ``1 - (tp tn - fp fn + smooth_nr) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn) + smooth_dr)`` (``smooth_dr`` sits
    *inside* the square root), and the loss is set to exactly 0 where fp == 0 and fn == 0 (a perfect prediction).
    "none" returns shape (N, C') [(C',) with ``batch``] -- no trailing singleton axes, unlike DiceLoss.
    """
    x, y = as_inputs(logits, label)
    c = x.shape[1]
    p = activate(x, sigmoid_=sigmoid, softmax_=softmax)
    t = target_of(y, c, to_onehot_y=to_onehot_y)
    p, t = _drop_background(p, t, include_background)
    axes = spatial_axes(x.ndim)
    if batch:
        axes = (0,) + axes
    tp = np.sum(p * t, axis=axes)
    tn = np.sum((1 - p) * (1 - t), axis=axes)
    fp = np.sum(p * (1 - t), axis=axes)
    fn = np.sum((1 - p) * t, axis=axes)
    mcc = (tp * tn - fp * fn + smooth_nr) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + smooth_dr)
    score = np.where((fp == 0) & (fn == 0), 0.0, 1.0 - mcc)
    return _reduce(score, reduction)


# ----------------------------------------------------------------------------------------------------------------
# BoundaryLoss (monai/losses/boundary_loss.py)


def boundary_distance_map(target, dtype=np.float64):
    """``BoundaryLoss.compute_distance_map``: signed map per (sample, channel) of a one-hot (N, C, *spatial) target.

    Inside the class: ``-(edt(mask) - 1)`` (0 on the inner boundary pixels, negative deeper); outside:
    ``edt(~mask)`` (distance to the nearest class pixel, >= 1); all zeros if the class is empty or fills the image.
    MONAI stores the map as float32 (``dtype=np.float32`` reproduces that rounding).
    """
    out = np.zeros(target.shape, dtype=np.float64)
    for n in range(target.shape[0]):
        for c in range(target.shape[1]):
            mask = target[n, c] > 0.5
            if not mask.any() or mask.all():
                continue
            inside = distance_transform_edt(mask).astype(dtype)
            outside = distance_transform_edt(~mask).astype(dtype)
            out[n, c] = np.where(mask, -(inside - dtype(1.0)), outside)  # MONAI subtracts in float32
    return out


def boundary_loss(
    logits,
    label,
    *,
    include_background=True,
    to_onehot_y=True,
    sigmoid=False,
    softmax=True,
    reduction="mean",
    batch=False,
    distance_dtype=np.float64,
):
    """MONAI 1.6.1 ``BoundaryLoss`` (monai/losses/boundary_loss.py), Kervadec et al. 2019 (arXiv:1812.07032).

    ``mean over pixels of p[n, c, i] * phi[n, c, i]`` with ``phi = boundary_distance_map(one-hot target)`` (a
    constant of the gradient), giving (N, C'); ``batch=True`` averages over N first (C',); then mean/sum/none.
    2D and 3D only (MONAI raises otherwise). Background is *included* by default.
    """
    x, y = as_inputs(logits, label, min_spatial=2, max_spatial=3)
    c = x.shape[1]
    p = activate(x, sigmoid_=sigmoid, softmax_=softmax)
    t = target_of(y, c, to_onehot_y=to_onehot_y)
    p, t = _drop_background(p, t, include_background)
    phi = boundary_distance_map(t, distance_dtype)
    axes = spatial_axes(x.ndim)
    loss = np.sum(p * phi, axis=axes) / np.prod(x.shape[2:])
    if batch:
        loss = np.mean(loss, axis=0)
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------------------------------------------
# HausdorffDTLoss / LogHausdorffDTLoss (monai/losses/hausdorff_loss.py)


def hausdorff_distance_field(img, dtype=np.float64):
    """``HausdorffDTLoss.distance_field`` on a one-channel (N, 1, *spatial) image: per sample, with
    ``fg = img > 0.5``, ``edt(fg) + edt(~fg)`` (the distance of each pixel to the other region; 1 on both sides of
    the boundary), or 0 everywhere if fg is empty or full. MONAI casts it to float32 (``dtype=np.float32``)."""
    out = np.zeros(img.shape, dtype=np.float64)
    for n in range(img.shape[0]):
        fg = img[n] > 0.5
        if fg.any() and not fg.all():
            out[n] = distance_transform_edt(fg) + distance_transform_edt(~fg)
    return out.astype(dtype)


def hausdorff_dt_loss(
    logits,
    label,
    *,
    alpha=2.0,
    include_background=False,
    to_onehot_y=True,
    sigmoid=False,
    softmax=True,
    reduction="mean",
    batch=False,
    distance_dtype=np.float64,
):
    """MONAI 1.6.1 ``HausdorffDTLoss`` (monai/losses/hausdorff_loss.py), Karimi & Salcudean 2019 (arXiv:1904.10030).

    Per kept channel c: ``mean_i (p - g)^2 * (d_p^alpha + d_g^alpha)`` where d_p is the distance field of the
    thresholded prediction ``p > 0.5`` and d_g that of the target (both constants of the gradient, 0 for an empty
    or full mask). Averaged over the spatial axes per sample -> (N, C'), or over batch and space with ``batch`` ->
    (1, C'). "none" keeps shape (N or 1, C', 1, ...); "mean" is the mean of those entries. Background excluded by
    default. With ``distance_dtype=np.float32`` the weight ``d_p^alpha + d_g^alpha`` is formed in float32 as MONAI
    does.
    """
    x, y = as_inputs(logits, label, min_spatial=2, max_spatial=3)
    c = x.shape[1]
    p = activate(x, sigmoid_=sigmoid, softmax_=softmax)
    t = target_of(y, c, to_onehot_y=to_onehot_y)
    p, t = _drop_background(p, t, include_background)
    axes = spatial_axes(x.ndim)
    if batch:
        axes = (0,) + axes
    out = []
    for k in range(p.shape[1]):
        pk, tk = p[:, k : k + 1], t[:, k : k + 1]
        dp = hausdorff_distance_field(pk, distance_dtype)
        dt = hausdorff_distance_field(tk, distance_dtype)
        if distance_dtype == np.float32:
            weight = (dp ** np.float32(alpha) + dt ** np.float32(alpha)).astype(np.float64)
        else:
            weight = dp**alpha + dt**alpha
        out.append(np.mean((pk - tk) ** 2 * weight, axis=axes, keepdims=True))
    f = np.concatenate(out, axis=1)
    check_reduction(reduction)
    if reduction == "none":
        return f
    return _reduce(f, reduction)


def log_hausdorff_dt_loss(logits, label, **kwargs):
    """MONAI 1.6.1 ``LogHausdorffDTLoss``: ``log(HausdorffDTLoss(...) + 1)`` applied to the *reduced* value.

    So "mean" is ``log(1 + mean of the entries)``, not the mean of ``log(1 + entry)``; "none" gives
    ``log(1 + entry)`` per (sample, class). Same keywords and defaults as :func:`hausdorff_dt_loss`.
    """
    return np.log(hausdorff_dt_loss(logits, label, **kwargs) + 1.0)


# ----------------------------------------------------------------------------------------------------------------
# SoftclDiceLoss / SoftDiceclDiceLoss (monai/losses/cldice.py)


def _shifted(img, axis, offset, fill):
    """img shifted by ``offset`` along ``axis`` (out[i] = img[i + offset]), out-of-range entries = fill."""
    out = np.full_like(img, fill)
    n = img.shape[axis]
    src = [slice(None)] * img.ndim
    dst = [slice(None)] * img.ndim
    if offset > 0:
        src[axis], dst[axis] = slice(offset, n), slice(0, n - offset)
    else:
        src[axis], dst[axis] = slice(0, n + offset), slice(-offset, n)
    out[tuple(dst)] = img[tuple(src)]
    return out


def soft_erode(img):
    """Soft erosion: min over the pixel and its 2*d axis neighbours (a cross), out-of-image neighbours ignored.

    (MONAI: the min of 3-long min-pools along each axis -- max-pools of -img whose padding is -inf.)"""
    if img.ndim not in (4, 5):
        raise ValueError("soft_erode needs (N, C, H, W) or (N, C, D, H, W)")
    out = img
    for ax in range(2, img.ndim):
        out = np.minimum(out, np.minimum(_shifted(img, ax, 1, np.inf), _shifted(img, ax, -1, np.inf)))
    return out


def soft_dilate(img):
    """Soft dilation: max over the 3x3 (3x3x3) box around each pixel, out-of-image entries ignored."""
    if img.ndim not in (4, 5):
        raise ValueError("soft_dilate needs (N, C, H, W) or (N, C, D, H, W)")
    out = img
    for ax in range(2, img.ndim):  # a box max is separable
        out = np.maximum(out, np.maximum(_shifted(out, ax, 1, -np.inf), _shifted(out, ax, -1, -np.inf)))
    return out


def soft_skel(img, iter_):
    """MONAI ``soft_skel``: skel = relu(img - open(img)); then iter_ times: img = erode(img),
    delta = relu(img - open(img)), skel += relu(delta - skel * delta); open = dilate(erode(.))."""
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    skel = relu(img - soft_dilate(soft_erode(img)))
    for _ in range(iter_):
        img = soft_erode(img)
        delta = relu(img - soft_dilate(soft_erode(img)))
        skel = skel + relu(delta - skel * delta)
    return skel


def soft_cldice_loss(
    logits,
    label,
    *,
    iter_=3,
    smooth_nr=1.0,
    smooth_dr=1.0,
    smooth=1e-4,
    include_background=True,
    to_onehot_y=True,
    sigmoid=False,
    softmax=True,
    reduction="mean",
):
    """MONAI 1.6.1 ``SoftclDiceLoss`` (monai/losses/cldice.py), Shit et al. 2021 (arXiv:2003.07311).

    Per *sample* (sums over kept channels and space together):
    ``tprec = (sum skel(p) g + nr) / (sum skel(p) + dr)``, ``tsens = (sum skel(g) p + nr) / (sum skel(g) + dr)``,
    ``loss = 1 - 2 tprec tsens / (tprec + tsens + smooth)``. "none" -> (N,). 2D/3D only.
    """
    x, y = as_inputs(logits, label, min_spatial=2, max_spatial=3)
    c = x.shape[1]
    p = activate(x, sigmoid_=sigmoid, softmax_=softmax)
    t = target_of(y, c, to_onehot_y=to_onehot_y)
    p, t = _drop_background(p, t, include_background)
    return _cldice_from_probs(p, t, iter_, smooth_nr, smooth_dr, smooth, reduction)


def _cldice_from_probs(p, t, iter_, smooth_nr, smooth_dr, smooth, reduction):
    skel_pred = soft_skel(p, iter_)
    skel_true = soft_skel(t, iter_)
    axes = tuple(range(1, p.ndim))
    tprec = (np.sum(skel_pred * t, axis=axes) + smooth_nr) / (np.sum(skel_pred, axis=axes) + smooth_dr)
    tsens = (np.sum(skel_true * p, axis=axes) + smooth_nr) / (np.sum(skel_true, axis=axes) + smooth_dr)
    cl = 1.0 - 2.0 * (tprec * tsens) / (tprec + tsens + smooth)
    return _reduce(cl, reduction)


def soft_dice_cldice_loss(
    logits,
    label,
    *,
    iter_=3,
    alpha=0.5,
    smooth_nr=1.0,
    smooth_dr=1.0,
    smooth=1e-4,
    include_background=True,
    to_onehot_y=True,
    sigmoid=False,
    softmax=True,
    reduction="mean",
):
    """MONAI 1.6.1 ``SoftDiceclDiceLoss`` (monai/losses/cldice.py).

    ``(1 - alpha) * DiceLoss(smooth_nr, smooth_dr, per (sample, class)) + alpha * SoftclDiceLoss``: the Dice term
    uses the clDice smoothing (default 1.0, not DiceLoss's 1e-5). "none" adds a (N, C', 1, ...) Dice to an (N,)
    clDice with NumPy/torch broadcasting (a meaningless (N, C', 1, N) for 2D), reproduced as is.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] but got {alpha}.")
    x, y = as_inputs(logits, label, min_spatial=2, max_spatial=3)
    d = dice_loss(
        x, y, include_background=include_background, to_onehot_y=to_onehot_y, sigmoid=sigmoid, softmax=softmax,
        reduction=reduction, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
    )
    cl = soft_cldice_loss(
        x, y, iter_=iter_, smooth_nr=smooth_nr, smooth_dr=smooth_dr, smooth=smooth,
        include_background=include_background, to_onehot_y=to_onehot_y, sigmoid=sigmoid, softmax=softmax,
        reduction=reduction,
    )
    return (1.0 - alpha) * d + alpha * cl


# ----------------------------------------------------------------------------------------------------------------
# Asymmetric unified focal family (monai/losses/unified_focal_loss.py), Yeung et al. 2022 (arXiv:2102.04525)


def _asym_probs(x, activation):
    """MONAI's asymmetric losses apply *no* activation (they take probabilities). ``activation`` is this module's
    addition: "auto" = softmax for C > 1 and sigmoid for C == 1; "softmax"; "sigmoid"; None = logits are already
    probabilities."""
    if activation == "auto":
        activation = "softmax" if x.shape[1] > 1 else "sigmoid"
    if activation == "softmax":
        return softmax(x, axis=1) if x.shape[1] > 1 else x
    if activation == "sigmoid":
        return sigmoid(x)
    if activation is None:
        return x
    raise ValueError(f"activation must be 'auto', 'softmax', 'sigmoid' or None, got {activation!r}")


def _asym_focal(p, t, mask, delta, gamma, epsilon, reduction):
    if p.shape[1] < 2:
        raise IndexError("AsymmetricFocalLoss reads channels 0 and 1: it needs C >= 2 (MONAI raises for C == 1)")
    p = np.clip(p, epsilon, 1.0 - epsilon)
    ce = -t * np.log(p)
    if mask is not None:
        ce = ce * mask
    back = (1 - delta) * (1 - p[:, 0]) ** gamma * ce[:, 0]
    fore = delta * ce[:, 1]
    loss = np.stack([back, fore], axis=1)
    check_reduction(reduction)
    if reduction == "mean":
        if mask is not None:
            return np.sum(loss * mask) / max(np.sum(np.broadcast_to(mask, loss.shape)), epsilon)
        return np.mean(loss)
    if reduction == "sum":
        return np.sum(loss)
    return loss


def _asym_focal_tversky(p, t, mask, delta, gamma, epsilon, reduction):
    if p.shape[1] < 2:
        raise IndexError("AsymmetricFocalTverskyLoss reads channels 0 and 1: it needs C >= 2")
    p = np.clip(p, epsilon, 1.0 - epsilon)
    if mask is not None:  # MONAI masks after the clamp: ignored pixels give p = 0, g = 0
        p, t = p * mask, t * mask
    axes = spatial_axes(p.ndim)
    tp = np.sum(t * p, axis=axes)
    fn = np.sum(t * (1 - p), axis=axes)
    fp = np.sum((1 - t) * p, axis=axes)
    ti = (tp + epsilon) / (tp + delta * fn + (1 - delta) * fp + epsilon)
    loss = np.stack([1 - ti[:, 0], (1 - ti[:, 1]) ** (1 - gamma)], axis=-1)
    check_reduction(reduction)
    if reduction == "mean":
        return np.mean(loss)
    if reduction == "sum":
        return np.sum(loss)
    return loss


def asymmetric_focal_loss(
    logits,
    label,
    *,
    to_onehot_y=True,
    delta=0.7,
    gamma=2.0,
    epsilon=1e-7,
    reduction="mean",
    ignore_index=None,
    activation="auto",
):
    """MONAI 1.6.1 ``AsymmetricFocalLoss`` (monai/losses/unified_focal_loss.py).

    p clamped to [eps, 1 - eps]; per pixel ``back = (1 - delta) (1 - p0)^gamma (-g0 log p0)`` (focal suppression on
    the background only) and ``fore = delta (-g1 log p1)``; channels beyond 1 are ignored. "none" -> (N, 2,
    *spatial); "mean" = mean over (N, 2, pixels) -- i.e. half of the original Keras code's mean over pixels of
    back + fore; with ``ignore_index``: sum / (2 x valid pixels). Needs C >= 2 (MONAI fails for C == 1).
    """
    x, y = as_inputs(logits, label)
    c = x.shape[1]
    p = _asym_probs(x, activation)
    t = target_of(y, c, to_onehot_y=to_onehot_y, ignore_index=ignore_index)
    if t.shape != p.shape:
        raise ValueError(f"ground truth has different shape ({t.shape}) from input ({p.shape})")
    return _asym_focal(p, t, _ignore_mask(y, ignore_index), delta, gamma, epsilon, reduction)


def asymmetric_focal_tversky_loss(
    logits,
    label,
    *,
    to_onehot_y=True,
    delta=0.7,
    gamma=0.75,
    epsilon=1e-7,
    reduction="mean",
    ignore_index=None,
    activation="auto",
):
    """MONAI 1.6.1 ``AsymmetricFocalTverskyLoss`` (monai/losses/unified_focal_loss.py).

    Per (sample, class) with p clamped to [eps, 1 - eps]: ``TI = (tp + eps) / (tp + delta fn + (1 - delta) fp +
    eps)`` (delta weighs FN); loss entries ``[1 - TI_0, (1 - TI_1)^(1 - gamma)]`` -> (N, 2) for "none", mean of
    those for "mean". Only channels 0 and 1 are used. Needs C >= 2. Where TI_1 == 1 exactly (every pixel ignored)
    the value is 0 but torch's gradient of ``(1 - TI_1)^(1 - gamma)`` is NaN (0 * inf).
    """
    x, y = as_inputs(logits, label)
    c = x.shape[1]
    p = _asym_probs(x, activation)
    t = target_of(y, c, to_onehot_y=to_onehot_y, ignore_index=ignore_index)
    if t.shape != p.shape:
        raise ValueError(f"ground truth has different shape ({t.shape}) from input ({p.shape})")
    return _asym_focal_tversky(p, t, _ignore_mask(y, ignore_index), delta, gamma, epsilon, reduction)


def asymmetric_unified_focal_loss(
    logits,
    label,
    *,
    to_onehot_y=True,
    num_classes=2,
    weight=0.5,
    gamma=0.5,
    delta=0.7,
    reduction="mean",
    ignore_index=None,
    activation="auto",
):
    """MONAI 1.6.1 ``AsymmetricUnifiedFocalLoss`` (monai/losses/unified_focal_loss.py).

    ``weight * AsymmetricFocalLoss(delta, gamma)["mean"] + (1 - weight) * AsymmetricFocalTverskyLoss(delta,
    gamma)["mean"]`` (epsilon 1e-7 in both; the *same* gamma, 0.5 by default, is the focal exponent in the first
    and gives the exponent 1 - gamma in the second). C == 1: p -> [1 - p, p] and g -> [1 - g, g]; C == 2: one-hot.
    The reduction acts on that scalar, so "none" returns the same scalar. With ``ignore_index``, p and g are zeroed
    at ignored pixels before both terms, which then run *without* a mask: ignored pixels add 0 to the focal sum
    but count in its mean, and add eps (the clamp of p = 0) to each class's fp in the Tversky term.
    """
    x, y = as_inputs(logits, label, min_spatial=2, max_spatial=3)
    orig_c = x.shape[1]
    p = _asym_probs(x, activation)
    if p.shape[1] == 1:
        p = np.concatenate([1 - p, p], axis=1)
    if to_onehot_y and orig_c != 1:
        t = target_of(y, num_classes, to_onehot_y=True, ignore_index=ignore_index)
    else:
        g = y[:, None].astype(np.float64)
        t = np.concatenate([1 - g, g], axis=1)
    if ignore_index is None and np.max(t) > num_classes - 1:
        raise ValueError(f"Invalid class index found. Maximum class should be {num_classes - 1}")
    mask = _ignore_mask(y, ignore_index)
    if mask is not None:
        p, t = p * mask, t * mask
    af = _asym_focal(p, t, None, delta, gamma, 1e-7, "mean")
    aft = _asym_focal_tversky(p, t, None, delta, gamma, 1e-7, "mean")
    loss = weight * af + (1 - weight) * aft
    check_reduction(reduction)
    return loss
