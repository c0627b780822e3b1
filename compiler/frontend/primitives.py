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
    ties = False  # True: sorts the unit's pixels by its first argument, so pixels with equal inputs may
    # get different values (by the order the sort leaves ties in); tied_reference gives their mean

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
    ties = True  # sorts by its first argument: pixels with equal errors take their weights in any order

    @classmethod
    def reference(cls, errors, target):
        return cls.tied_reference(errors, target)

    @classmethod
    def tied_reference(cls, errors, target, groups=None):
        """Exact weights as mpf; with `groups` (one id per pixel, equal ids for pixels with equal
        inputs), each pixel gets the mean weight of its group, which no tie order can change.

        J_k = 1 - (G - hits_k) / (G + misses_k) = (hits_k + misses_k) / (G + misses_k) over the sorted
        prefix, with the targets (read as float64) scaled to integers, so every J_k is an exact
        fraction; a run of pixels of one group in sorted order weighs J(run end) - J(before the run).
        """
        out = np.empty(errors.shape, dtype=object)
        for k in range(errors.shape[0]):
            order = _descending(errors[k])
            t, unit = _scaled_integers(np.asarray([float(v) for v in target[k]], dtype=np.float64)[order])
            hits, misses = np.cumsum(t), np.cumsum(unit - t)
            total = hits[-1]
            ids = np.arange(len(order)) if groups is None else np.asarray(groups)[order]
            ends = np.flatnonzero(np.r_[ids[1:] != ids[:-1], True])  # last sorted position of each run
            jaccard = [mpmath.mpf(hits[e] + misses[e]) / mpmath.mpf(total + misses[e]) for e in ends]
            runs = np.asarray([a - b for a, b in zip(jaccard, [mpmath.mpf(0)] + jaccard[:-1])], dtype=object)
            if groups is None:
                out[k, order] = runs
                continue
            run_ids = ids[ends]
            sums = {}
            for gid, w in zip(run_ids.tolist(), runs):
                sums[gid] = sums.get(gid, mpmath.mpf(0)) + w
            labels, counts = np.unique(ids, return_counts=True)
            mean = {gid: sums[gid] / int(m) for gid, m in zip(labels.tolist(), counts)}
            out[k] = _spread(mean, np.asarray(groups))
        return out


def _spread(values: dict, ids: np.ndarray) -> np.ndarray:
    """values[id] at each position of `ids`, as an object array."""
    keys = np.asarray(sorted(values))
    table = np.asarray([values[key] for key in keys.tolist()], dtype=object)
    return table[np.searchsorted(keys, ids)]


def _descending(values) -> np.ndarray:
    """Indices sorting `values` (mpf or float) descending, ties in index order (a stable sort on exact
    values: by float64 first, then exactly within runs that float64 cannot tell apart)."""
    keys = np.asarray([float(v) for v in values], dtype=np.float64)
    order = np.argsort(-keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for a, b in zip(starts, ends):
        if b - a > 1 and any(values[j] != values[order[a]] for j in order[a + 1:b]):
            order[a:b] = sorted(order[a:b], key=lambda j: -values[j])
    return order


def _scaled_integers(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(values * 2**s as Python ints (object array), 2**s): exact, s the smallest power that makes every
    float64 value an integer (0 for hard targets, so the counts stay small)."""
    mantissa, exponent = np.frexp(values)
    digits = (mantissa * 2.0**53).astype(np.int64)  # exact: a float64 mantissa has 53 bits
    zeros = np.zeros_like(digits)
    nonzero = digits != 0
    zeros[nonzero] = np.log2((digits & -digits)[nonzero]).astype(np.int64)  # trailing zero bits
    odd = digits >> zeros
    power = exponent.astype(np.int64) - 53 + zeros  # value = odd * 2**power
    s = max(0, int(-power[nonzero].min())) if nonzero.any() else 0
    scaled = np.array([int(m) << int(e + s) if m else 0 for m, e in zip(odd, power)], dtype=object)
    return scaled, 1 << s


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
