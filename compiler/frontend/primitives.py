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

from symloss.runtime.distance_maps import NUMPY_MAPS

from .language import c, i


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


class ImagePrimitive(Primitive):
    """A distance map of each class's image: `runtime` names both the Context method of the
    generated code and the NumPy function of runtime/distance_maps.py that computes it per image."""

    scope = "image"

    @classmethod
    def reference(cls, *arrays, valid=None):
        """`valid` (*spatial, bool): the image's pixels that are not ignored (None: every pixel)."""
        function = NUMPY_MAPS[cls.runtime]
        return np.stack([function(*(a[k] for a in arrays), valid=valid) for k in range(arrays[0].shape[0])])


class DistanceField(ImagePrimitive):
    """DistanceField(mask): per class and image, distance of each pixel to the boundary of mask > 0.5."""

    nargs = 1
    runtime = "distance_field"


class BoundaryWeight(ImagePrimitive):
    """BoundaryWeight(mask): per class and image, Caliva's inverted, max-normalised distance map."""

    nargs = 1
    runtime = "boundary_weight"


class ContourDistance(ImagePrimitive):
    """ContourDistance(prediction, target): per class and image, the mean predicted-to-target contour distance."""

    nargs = 2
    runtime = "contour_distance"


def extract(expr: sp.Expr) -> tuple[sp.Expr, list]:
    """Replace each primitive by a field `prim<k>[c, i]`; return the new formula and [(name, primitive)]."""
    found = sorted(expr.atoms(Primitive), key=sp.default_sort_key)
    table = [(f"prim{k}", prim) for k, prim in enumerate(found)]
    mapping = {prim: sp.IndexedBase(name, real=True)[c, i] for name, prim in table}
    return expr.xreplace(mapping), table
