"""Distance maps of binary masks, in NumPy: the one implementation of the image-scope primitives.

The checker and the oracle call these functions directly (this module imports no paddle); the
runtime uses them for eager calls, and the build inlines this module into generated/_runtime.py,
so that a generated loss needs only paddle, numpy and scipy. scipy is imported inside each
function: losses without a distance map never need it.
"""

import numpy as np


def _mask(values):
    return np.asarray(values, dtype=float) > 0.5


def distance_field(values):
    """Distance to the mask's boundary from both sides, edt(fg) + edt(bg) (MONAI's HausdorffDTLoss);
    zero everywhere when the mask is all foreground or all background."""
    from scipy import ndimage

    fg = _mask(values)
    if fg.all() or not fg.any():
        return np.zeros(fg.shape)
    return ndimage.distance_transform_edt(fg) + ndimage.distance_transform_edt(~fg)


def boundary_weight(values):
    """Caliva's Phi inside one region: (max(d) - d) / max(d), d the distance to the region's edge, so 1
    at the boundary and 0 at the deepest point; 0 outside the region, and 0 for an empty or full one.
    """
    from scipy import ndimage

    region = _mask(values)
    if region.all() or not region.any():
        return np.zeros(region.shape)
    d = ndimage.distance_transform_edt(region)
    top = d.max()
    return np.where(region, (top - d) / top, 0.0)


def signed_distance(values):
    """Kervadec's signed distance map, as MONAI's BoundaryLoss builds it: -(edt(fg) - 1) inside the mask
    (0 on its inner boundary, negative deeper in), edt(bg) outside; zero everywhere when the mask is all
    foreground or all background."""
    from scipy import ndimage

    fg = _mask(values)
    if fg.all() or not fg.any():
        return np.zeros(fg.shape)
    return np.where(fg, 1.0 - ndimage.distance_transform_edt(fg), ndimage.distance_transform_edt(~fg))


def contour(values):
    """Mask pixels with a face-neighbour outside the mask; the image border does not count as outside."""
    from scipy import ndimage

    fg = _mask(values)
    return fg & ~ndimage.binary_erosion(fg, border_value=1)


def contour_distance(prediction, target):
    """Al Arif's E: mean distance from the predicted contour to the target contour, one value for the
    whole image (every pixel holds it); 0 when either contour is empty."""
    from scipy import ndimage

    pred, true = contour(prediction), contour(target)
    if not pred.any() or not true.any():
        return np.zeros(pred.shape)
    to_true = ndimage.distance_transform_edt(~true)
    return np.full(pred.shape, to_true[pred].mean())


# The eager runtime's maps, by the name of the Context method (and of the graph twin) that computes each.
NUMPY_MAPS = {
    "distance_field": distance_field,
    "boundary_weight": boundary_weight,
    "contour_distance": contour_distance,
    "signed_distance": signed_distance,
}
