"""Shared float64 NumPy building blocks for the reference translations.

Nothing here is specific to one library: stable softmax/sigmoid, one-hot encoding of an index map,
and the input checks every reference shares (``logits`` (N, C, *spatial), ``label`` (N, *spatial)).
"""
from __future__ import annotations

import numpy as np


def as_inputs(logits, label, *, min_spatial=1, max_spatial=3):
    """Validate and convert the shared input convention: float64 logits (N, C, *spatial), int label (N, *spatial)."""
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(label)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"label must hold integer class indices, got dtype {y.dtype}")
    if x.ndim < 2 + min_spatial or x.ndim > 2 + max_spatial:
        raise ValueError(f"logits must be (N, C, *spatial) with {min_spatial}-{max_spatial} spatial dims, got {x.shape}")
    if y.shape != (x.shape[0],) + x.shape[2:]:
        raise ValueError(f"label shape {y.shape} does not match logits {x.shape} without its class axis")
    return x, y.astype(np.int64)


def spatial_axes(ndim):
    """Axes 2..ndim-1 of an (N, C, *spatial) array."""
    return tuple(range(2, ndim))


def softmax(x, axis=1):
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=1):
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def sigmoid(x):
    # exp of a non-positive number only: no overflow for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), computed without overflow."""
    return -np.logaddexp(0.0, -x)


def one_hot(label, num_classes, dtype=np.float64):
    """(N, *spatial) int -> (N, C, *spatial); an index outside [0, C) gives an all-zero column."""
    label = np.asarray(label)
    classes = np.arange(num_classes).reshape((1, num_classes) + (1,) * (label.ndim - 1))
    return (label[:, None] == classes).astype(dtype)


def check_reduction(reduction, allowed=("mean", "sum", "none")):
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")
