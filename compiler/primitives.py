"""Primitives that are not closed-form algebra: distance maps and the Lovász sort.

A primitive is a field, indexed [c, i] like p and g, whose value at a pixel depends on a whole
image (distance maps) or a whole unit (the Lovász weights, which sort the unit's pixels). It
carries no gradient: the anchors all treat distance maps and sort permutations as constants.

Each primitive has a reference here (used by the checker and the test oracle, on exact or 50-digit
inputs) and a method of the generated runtime's Context (named by `runtime`) used by the emitter.
"""
from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp
from scipy import ndimage

from .dsl import c, i


class Primitive(sp.Function):
    """Base class: `scope` is "unit" (a sort over the unit's valid pixels) or "image" (the spatial grid)."""

    scope = "unit"
    runtime = ""

    def fdiff(self, argindex=1):
        return sp.S.Zero  # a constant of the gradient

    @classmethod
    def reference(cls, *args: np.ndarray) -> np.ndarray:
        """Values for one image (or unit): each argument and the result are (classes, *spatial)."""
        raise NotImplementedError


class LovaszWeights(Primitive):
    """LovaszWeights(errors, target): the Lovász extension of the Jaccard loss is sum_i errors_i * w_i.

    Sort the unit's pixels by error, descending; w is the increment of the Jaccard loss of the
    sorted prefix (Berman et al., lovasz_grad), put back in pixel order.
    """

    nargs = 2
    scope = "unit"
    runtime = "lovasz_weights"

    @classmethod
    def reference(cls, errors, target):
        out = np.empty(errors.shape, dtype=object)
        for k in range(errors.shape[0]):
            order = sorted(range(errors.shape[1]), key=lambda j: -errors[k, j])
            gts = sum(mpmath.mpf(float(v)) for v in target[k])
            seen_pos = seen_neg = mpmath.mpf(0)
            previous = mpmath.mpf(0)
            for j in order:
                g = mpmath.mpf(float(target[k, j]))
                seen_pos += g
                seen_neg += 1 - g
                jaccard = 1 - (gts - seen_pos) / (gts + seen_neg)
                out[k, j] = jaccard - previous
                previous = jaccard
        return out


def _thresholded(mask) -> np.ndarray:
    return np.asarray(mask, dtype=float) > 0.5


def distance_field(mask: np.ndarray) -> np.ndarray:
    """Distance to the mask's boundary from both sides, edt(fg) + edt(bg); zero if all fg or all bg."""
    fg = _thresholded(mask)
    if fg.all() or not fg.any():
        return np.zeros(fg.shape)
    return ndimage.distance_transform_edt(fg) + ndimage.distance_transform_edt(~fg)


def boundary_weight(mask: np.ndarray) -> np.ndarray:
    """Caliva's Phi inside one region: (max(d) - d) / max(d) for d the distance to the region's
    edge, so 1 at the boundary and 0 at the deepest point; 0 outside, and 0 for an empty or full region."""
    region = _thresholded(mask)
    if region.all() or not region.any():
        return np.zeros(region.shape)
    d = ndimage.distance_transform_edt(region)
    top = d.max()
    return np.where(region, (top - d) / top, 0.0)


def contour(mask: np.ndarray) -> np.ndarray:
    """Mask pixels with a 4-neighbour (or diagonal, in 3-D 6-neighbour) outside the mask; the image border is not an edge."""
    fg = _thresholded(mask)
    return fg & ~ndimage.binary_erosion(fg, border_value=1)


def contour_distance(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Al Arif's E: the mean distance from the predicted contour to the target contour, one value for
    the whole image (broadcast to every pixel); 0 when either contour is empty."""
    pred, true = contour(prediction), contour(target)
    if not pred.any() or not true.any():
        return np.zeros(pred.shape)
    to_true = ndimage.distance_transform_edt(~true)
    return np.full(pred.shape, to_true[pred].mean())


def _per_class(function, *arrays):
    return np.stack([function(*(a[k] for a in arrays)) for k in range(arrays[0].shape[0])])


class DistanceField(Primitive):
    """DistanceField(mask): per class and image, distance of each pixel to the boundary of mask > 0.5."""

    nargs = 1
    scope = "image"
    runtime = "distance_field"

    @classmethod
    def reference(cls, mask):
        return _per_class(distance_field, mask)


class BoundaryWeight(Primitive):
    """BoundaryWeight(mask): per class and image, Caliva's inverted, max-normalised distance map."""

    nargs = 1
    scope = "image"
    runtime = "boundary_weight"

    @classmethod
    def reference(cls, mask):
        return _per_class(boundary_weight, mask)


class ContourDistance(Primitive):
    """ContourDistance(prediction, target): per class and image, the mean predicted-to-target contour distance."""

    nargs = 2
    scope = "image"
    runtime = "contour_distance"

    @classmethod
    def reference(cls, prediction, target):
        return _per_class(contour_distance, prediction, target)


def extract(expr: sp.Expr) -> tuple[sp.Expr, list]:
    """Replace each primitive by a field `prim<k>[c, i]`; return the new formula and [(name, primitive)]."""
    found = sorted(expr.atoms(Primitive), key=sp.default_sort_key)
    table = [(f"prim{k}", prim) for k, prim in enumerate(found)]
    mapping = {prim: sp.IndexedBase(name, real=True)[c, i] for name, prim in table}
    return expr.xreplace(mapping), table
