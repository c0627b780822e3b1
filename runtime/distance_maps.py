"""Distance maps of binary masks, in NumPy: the one implementation of the image-scope primitives.

The checker and the oracle call these functions directly (this module imports no paddle); the
runtime uses them for eager calls, and the build inlines this module into generated/_runtime.py,
so that a generated loss needs only paddle, numpy and scipy. scipy is imported inside each
function: losses without a distance map never need it.

Ignored pixels (`valid` False) belong to neither side of a mask: they are not foreground, not
background, not an edge, and distances are measured across them to the nearest valid pixel of the
other side. So a map at the valid pixels does not depend on the values at ignored pixels (a
prediction's logits there change nothing); the map is 0 at ignored pixels.
"""

import numpy as np


def _sides(values, valid):
    """(inside, outside): the mask (value > 0.5) and its complement, each among the valid pixels."""
    inside = np.asarray(values, dtype=float) > 0.5
    if valid is None:
        return inside, ~inside
    valid = np.asarray(valid, dtype=bool)
    return inside & valid, ~inside & valid


def _zero_ignored(out, valid):
    return out if valid is None else np.where(valid, out, 0.0)


def distance_field(values, valid=None):
    """Distance to the mask's boundary from both sides, edt(fg) + edt(bg) (MONAI's HausdorffDTLoss):
    at a foreground pixel the distance to the nearest background pixel, and the other way round;
    zero everywhere when the mask is all foreground or all background."""
    from scipy import ndimage

    fg, bg = _sides(values, valid)
    if not fg.any() or not bg.any():
        return np.zeros(fg.shape)
    # edt(a) is each pixel of a's distance to the nearest pixel outside a: ~bg is fg plus the ignored pixels.
    out = ndimage.distance_transform_edt(~bg) + ndimage.distance_transform_edt(~fg)
    return _zero_ignored(out, valid)


def boundary_weight(values, valid=None):
    """Caliva's Phi inside one region: (max(d) - d) / max(d), d the distance to the region's edge, so 1
    at the boundary and 0 at the deepest point; 0 outside the region, and 0 for an empty or full one.
    """
    from scipy import ndimage

    region, outside = _sides(values, valid)
    if not region.any() or not outside.any():
        return np.zeros(region.shape)
    d = ndimage.distance_transform_edt(~outside)
    top = d[region].max()
    return np.where(region, (top - d) / top, 0.0)


def contour(values, valid=None):
    """Mask pixels with a face-neighbour outside the mask; the image border and ignored pixels do not
    count as outside."""
    from scipy import ndimage

    fg, bg = _sides(values, valid)
    return fg & ~ndimage.binary_erosion(~bg, border_value=1)


def contour_distance(prediction, target, valid=None):
    """Al Arif's E: mean distance from the predicted contour to the target contour, one value for the
    whole image (every valid pixel holds it); 0 when either contour is empty."""
    from scipy import ndimage

    pred, true = contour(prediction, valid), contour(target, valid)
    if not pred.any() or not true.any():
        return np.zeros(pred.shape)
    to_true = ndimage.distance_transform_edt(~true)
    return _zero_ignored(np.full(pred.shape, to_true[pred].mean()), valid)


# The eager runtime's maps, by the name of the Context method (and of the graph twin) that computes each.
NUMPY_MAPS = {
    "distance_field": distance_field,
    "boundary_weight": boundary_weight,
    "contour_distance": contour_distance,
}
