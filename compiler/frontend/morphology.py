"""Soft morphology and kornia's erosion accumulation on one image, in plain Python arithmetic.

The oracle evaluation of the neighbourhood primitives: every function takes an object array over the
spatial grid and uses only +, -, *, /, comparisons and the choice of a winner (min, max, relu), so the
same code computes values at 50 digits (mpmath numbers) and, given numbers that record their operations
(compiler/proof/vjp.py), their exact gradient. Ignored pixels (`valid` False) lie outside the image:
no neighbourhood reads them, and their own outputs are 0.
"""
from __future__ import annotations

import itertools

import mpmath
import numpy as np


def relu(v):
    """max(v, 0) with derivative 0 at 0 (as Paddle's and torch's relu)."""
    return v if v > 0 else 0


def _valid(img, valid):
    return np.ones(img.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool).reshape(img.shape)


def _offsets(ndim: int, box: bool):
    """The 3x3(x3) box, or the cross: the pixel and its 2 * ndim axis neighbours."""
    if box:
        return list(itertools.product((-1, 0, 1), repeat=ndim))
    cross = [(0,) * ndim]
    for axis in range(ndim):
        for step in (-1, 1):
            cross.append(tuple(step if a == axis else 0 for a in range(ndim)))
    return cross


def _neighbourhoods(shape, valid, box):
    """For each valid pixel, the valid pixels of its neighbourhood (itself first)."""
    offsets = _offsets(len(shape), box)
    for index in np.ndindex(*shape):
        if not valid[index]:
            continue
        around = [tuple(a + o for a, o in zip(index, off)) for off in offsets]
        yield index, [n for n in around if all(0 <= a < s for a, s in zip(n, shape)) and valid[n]]


def _pool(img, valid, box, pick):
    valid = _valid(img, valid)
    out = np.zeros(img.shape, dtype=object)
    for index, around in _neighbourhoods(img.shape, valid, box):
        out[index] = pick(img[n] for n in around)
    return out


def _tie_min(a, b):
    """min(a, b), shared half and half on a tie (the gradient of Paddle's and torch's elementwise minimum)."""
    if a < b:
        return a
    if b < a:
        return b
    return (a + b) / 2  # the same value; each side gets half the gradient


def _axis_min(img, valid, axis):
    """The min over each pixel's 3 cells along one axis, the first winner taking the gradient (a max-pool of
    the negation, which scans its window in order)."""
    out = np.zeros(img.shape, dtype=object)
    for index in np.ndindex(*img.shape):
        if not valid[index]:
            continue
        around = [index[:axis] + (index[axis] + step,) + index[axis + 1:] for step in (-1, 0, 1)]
        out[index] = min(img[n] for n in around if 0 <= n[axis] < img.shape[axis] and valid[n])
    return out


def soft_erode(img, valid=None):
    """Min over the cross, built as clDice builds it: the elementwise min of 3-long min-pools along each axis.
    The value is the cross's min; the structure fixes which pixel a tie's gradient reaches."""
    valid = _valid(img, valid)
    out = _axis_min(img, valid, 0)
    for axis in range(1, img.ndim):
        out = np.frompyfunc(_tie_min, 2, 1)(out, _axis_min(img, valid, axis))
    return np.where(valid, out, 0).astype(object)


def soft_dilate(img, valid=None):
    """Max over the 3x3 (3x3x3) box (clDice's soft dilation)."""
    return _pool(img, valid, True, max)


def soft_open(img, valid=None):
    return soft_dilate(soft_erode(img, valid), valid)


def _relu(a):
    return np.frompyfunc(relu, 1, 1)(a)


def soft_skeleton(img, iters, valid=None):
    """clDice's soft skeleton: relu(img - open(img)), then `iters` times erode and add what opening removes."""
    iters = int(iters)
    skel = _relu(img - soft_open(img, valid))
    for _ in range(iters):
        img = soft_erode(img, valid)
        delta = _relu(img - soft_open(img, valid))
        skel = skel + _relu(delta - skel * delta)
    return skel


def cross_mean(img, valid=None):
    """The convolution with the cross kernel of weight 1 / (2 d + 1) (kornia's 0.2 in 2D, 1/7 in 3D), zero
    outside the image."""
    valid = _valid(img, valid)
    weight = mpmath.mpf(1) / (2 * img.ndim + 1)  # exact at the working precision
    out = np.zeros(img.shape, dtype=object)
    for index, around in _neighbourhoods(img.shape, valid, False):
        out[index] = sum(img[n] for n in around[1:]) * weight + img[index] * weight
    return out


def hausdorff_erosion(bound, alpha, k, valid=None):
    """kornia's HausdorffERLoss erosion of a per-pixel error map: k times, convolve with the cross, subtract
    1/2 and clip at 0, min-max normalise over the image (unless max == min), and accumulate (step ** alpha) times
    it."""
    valid = _valid(bound, valid)
    eroded = np.zeros(bound.shape, dtype=object)
    cells = [index for index in np.ndindex(*bound.shape) if valid[index]]
    for step in range(1, int(k) + 1):
        erosion = _relu(cross_mean(bound, valid) - 0.5)
        high = max(erosion[index] for index in cells)
        low = min(erosion[index] for index in cells)
        if high != low:
            for index in cells:
                erosion[index] = (erosion[index] - low) / (high - low)
        eroded = eroded + erosion * step ** alpha
        bound = erosion
    return eroded
