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

from . import morphology
from .language import c, i


class Primitive(sp.Function):
    """Base class: `scope` is "unit" (a sort over the unit's valid pixels) or "image" (the spatial grid)."""

    scope = "unit"
    runtime = ""
    differentiable = False  # True: the gradient flows through it (a neighbourhood operator); else a constant
    fields = None  # how many leading arguments are per-pixel fields (None: all); the rest are numbers
    paddle = None  # a primitive defined in a spec: its Paddle implementation, paddle(ctx, *args)
    # What a unit-scope primitive computes from a whole unit, if it cannot be computed across data-parallel
    # ranks (a sort, a selection): the generated loss then refuses batch=True with sync=True, saying so.
    local_only = ""

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
    local_only = "the Lovasz sort"

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


def _rank_order(values, descending):
    """Positions of a row sorted by value (stable: ties keep pixel order)."""
    return sorted(range(len(values)), key=lambda j: -values[j] if descending else values[j])


class TopPercent(Primitive):
    """TopPercent(values, k): 1 at the pixels whose `values` are among the k% largest of the unit, else 0.

    The unit's n valid pixels (an image, or the batch with batch=True) keep max(1, floor(n k / 100)) of
    them, as nnU-Net's TopKLoss does over the batch. A selection: a constant of the gradient.
    """

    nargs = 2
    scope = "unit"
    runtime = "top_percent"
    fields = 1
    local_only = "a top-k selection"

    @classmethod
    def reference(cls, values, k):
        out = np.zeros(values.shape, dtype=object)
        for row in range(values.shape[0]):
            n = values.shape[1]
            kept = max(1, int(mpmath.floor(n * mpmath.mpf(k) / 100)))
            for j in _rank_order(list(values[row]), descending=True)[:kept]:
                out[row, j] = 1
        return out


class OhemSelect(Primitive):
    """OhemSelect(prob, thresh, min_kept): PaddleSeg's online hard example mining over the unit's pixels.

    With m = floor(min_kept) and n valid pixels: if 0 < m < n, 1 at the pixels whose probability of the
    true class is below max(thresh, the m-th smallest of them) (strictly below, as PaddleSeg keeps them),
    else 1 at every pixel. A selection: a constant of the gradient.
    """

    nargs = 3
    scope = "unit"
    runtime = "ohem_select"
    fields = 1
    local_only = "hard-example mining"

    @classmethod
    def reference(cls, prob, thresh, min_kept):
        out = np.zeros(prob.shape, dtype=object)
        m = int(mpmath.floor(mpmath.mpf(min_kept)))
        for row in range(prob.shape[0]):
            values = list(prob[row])
            if 0 < m < len(values):
                threshold = max(mpmath.mpf(thresh), sorted(values)[m - 1])
                out[row] = [1 if v < threshold else 0 for v in values]
            else:
                out[row] = 1
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


class NeighbourhoodPrimitive(Primitive):
    """A differentiable operator on each class's image: the value at a pixel reads its neighbourhood.

    Per image and class, never across images (whatever batch says); ignored pixels lie outside the image.
    `image(*images, *scalars, valid)` (compiler/frontend/morphology.py) is the oracle evaluation, written in
    plain arithmetic so that the oracle also gets its exact gradient; `runtime` names the Context method of the
    generated code, differentiable through Paddle's autograd. Arguments after the first `fields` are scalars
    (parameters).
    """

    scope = "image"
    differentiable = True
    fields = 1

    @classmethod
    def image(cls, *args, valid=None):
        raise NotImplementedError

    @classmethod
    def reference(cls, *args, valid=None):
        """Values for one image: field arguments (classes, *spatial), then scalars; `valid` (*spatial) or None."""
        images, scalars = args[: cls.fields], args[cls.fields:]
        out = np.stack([cls.image(*(a[k] for a in images), *scalars, valid=valid) for k in range(images[0].shape[0])])
        if valid is not None:
            out = np.where(np.broadcast_to(np.asarray(valid, bool).reshape(out.shape[1:]), out.shape), out, 0)
        return out


class SoftErode(NeighbourhoodPrimitive):
    """SoftErode(f): min of f over each pixel's cross (clDice's soft erosion)."""

    nargs = 1
    runtime = "soft_erode"
    image = staticmethod(morphology.soft_erode)


class SoftDilate(NeighbourhoodPrimitive):
    """SoftDilate(f): max of f over each pixel's 3x3 (3x3x3) box (clDice's soft dilation)."""

    nargs = 1
    runtime = "soft_dilate"
    image = staticmethod(morphology.soft_dilate)


class SoftOpen(NeighbourhoodPrimitive):
    """SoftOpen(f) = SoftDilate(SoftErode(f)) (clDice's soft opening)."""

    nargs = 1
    runtime = "soft_open"
    image = staticmethod(morphology.soft_open)


class SoftSkeleton(NeighbourhoodPrimitive):
    """SoftSkeleton(f, iters): clDice's soft skeleton of f after floor(iters) erosions."""

    nargs = 2
    runtime = "soft_skeleton"
    image = staticmethod(morphology.soft_skeleton)


class HausdorffErosion(NeighbourhoodPrimitive):
    """HausdorffErosion(e, alpha, k): kornia's accumulated erosion of an error map e (Karimi & Salcudean's
    erosion-based Hausdorff estimate): k cross convolutions, each thresholded at 1/2, normalised and weighed."""

    nargs = 3
    runtime = "hausdorff_erosion"
    image = staticmethod(morphology.hausdorff_erosion)


class SignedDistance(ImagePrimitive):
    """SignedDistance(mask): per class and image, -(d_fg - 1) inside mask > 0.5, d_bg outside, 0 for an
    empty or full mask (Kervadec et al.'s boundary-loss map, as MONAI builds it)."""

    nargs = 1
    runtime = "signed_distance"


def missing_parts(cls) -> str:
    """What a primitive defined outside this module lacks, as advice ("" if nothing): its Paddle
    implementation, its oracle evaluation, and a scope the oracle differentiates through."""
    if not callable(getattr(cls, "paddle", None)):
        return ("has no Paddle implementation: define @staticmethod paddle(ctx, *args) returning an (N, K, P) "
                "tensor from (N, K, P) fields (eager and graph mode; ctx.images / ctx.from_images give the image "
                "layout and the valid pixels)")
    if cls.scope not in ("image", "unit"):
        return f"has scope {cls.scope!r}: write scope = \"image\" (per image and class) or \"unit\" (over a unit's pixels)"
    if issubclass(cls, NeighbourhoodPrimitive):
        if getattr(cls.image, "__func__", cls.image) is NeighbourhoodPrimitive.image.__func__:
            return ("has no oracle evaluation: define @staticmethod image(*images, *numbers, valid=None) on one "
                    "class's image, in plain arithmetic (+ - * /, min, max, comparisons)")
    elif cls.reference.__func__ is Primitive.reference.__func__:
        return ("has no oracle evaluation: define @classmethod reference(cls, *arrays, valid=None) returning the "
                "values (classes, *spatial) of one image, or (classes, pixels) of one unit")
    if cls.differentiable and cls.scope != "image":
        return ("is differentiable over a unit: the oracle differentiates image operators only; subclass "
                "NeighbourhoodPrimitive, or set differentiable = False (a constant of the gradient)")
    return ""


def extract(expr: sp.Expr) -> tuple[sp.Expr, list]:
    """Replace each primitive by a field `prim<k>[c, i]` (`prim<k>[0, i]`, one row, for a primitive of
    per-pixel values that leave no class free); return the new formula and [(name, primitive)]."""
    found = sorted(expr.atoms(Primitive), key=sp.default_sort_key)
    table = [(f"prim{k}", prim) for k, prim in enumerate(found)]
    mapping = {prim: sp.IndexedBase(name, real=True)[c if c in prim.free_symbols else 0, i] for name, prim in table}
    return expr.xreplace(mapping), table
