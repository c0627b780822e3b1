"""Distance maps of binary masks, in NumPy: the one implementation of the image-scope primitives.

The checker and the oracle call these functions directly (this module imports no paddle); the
runtime uses them for eager calls, and the build inlines this module into generated/_runtime.py,
so that a generated loss needs only paddle, numpy and scipy. scipy is imported inside each
function: losses without a distance map never need it, and without SciPy the runtime computes the
same maps with Paddle ops.

Ignored pixels (`valid` False) belong to neither side of a mask: they are not foreground, not
background, not an edge, and distances are measured across them to the nearest valid pixel of the
other side. So a map at the valid pixels does not depend on the values at ignored pixels (a
prediction's logits there change nothing); the map is 0 at ignored pixels.
"""

import functools
import itertools
import math

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


def signed_distance(values, valid=None):
    """Kervadec's signed distance map, as MONAI's BoundaryLoss builds it: -(d - 1) inside the mask, d the
    distance to the nearest background pixel (0 on the inner boundary, negative deeper in), and outside the
    distance to the nearest foreground pixel; zero everywhere when the mask is all foreground or all
    background."""
    from scipy import ndimage

    fg, bg = _sides(values, valid)
    if not fg.any() or not bg.any():
        return np.zeros(fg.shape)
    out = np.where(
        fg, 1.0 - ndimage.distance_transform_edt(~bg), ndimage.distance_transform_edt(~fg)
    )
    return _zero_ignored(out, valid)


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
    "signed_distance": signed_distance,
}


# ---- the same maps for a batch of masks at once (the eager runtime) ------------------------------
# Inputs are boolean masks (N, K, *spatial), K class masks per image, thresholded by the caller, and
# `valid` shaped alike, or None.
# The values are those of the functions above, cast to `dtype`: every distance is the square root of
# an exact integer squared distance (from the optional `edt` package, else from SciPy), and whatever
# the functions above compute in float64 is computed in float64 here too. In float32, sqrt(n) rounded
# once equals sqrt(n) rounded to float64 and then to float32 for every integer n < 2**24 (checked for
# all of them), so a plain distance map is computed in float32 there.


def _exact_squares(shape):
    """The float type that holds every squared distance of an image of `shape` exactly."""
    largest = sum((s - 1) ** 2 for s in shape)
    return np.float32 if largest < 2**24 else np.float64


class _Edt:
    """The `edt` package (LGPL-3.0, optional: `pip install symloss[fast]`): two to four times faster
    than SciPy, and one call for both sides of a mask. Its squares are float32: exact below 2**24.
    It releases the GIL, so the images of a batch are transformed on a few threads (map_threads)."""

    threads = True

    def __init__(self, module):
        self.module = module

    def one_sided(self, inside):
        """Squared distance from each pixel of `inside` to the nearest pixel outside it (0 outside)."""
        inside = np.require(inside, requirements=["C", "W"]).view(np.uint8)  # edt's fastest input
        return self.module.edtsq(inside, black_border=False, parallel=1)

    def two_sided(self, mask):
        """Squared distance from each pixel to the nearest pixel on the other side of `mask`: the mask
        as a two-label image (each pixel's distance to the nearest pixel of the other label), one call."""
        return self.module.edtsq(np.add(mask, 1, dtype=np.uint8), black_border=False, parallel=1)


class _Scipy:
    threads = False  # SciPy's transform holds the GIL

    def __init__(self, module):
        self.module = module

    def one_sided(self, inside):
        d = self.module.distance_transform_edt(inside)
        return np.rint(d * d)  # SciPy's distance is sqrt(n) rounded to float64: its square rounds to n

    def two_sided(self, mask):
        return self.one_sided(mask) + self.one_sided(~mask)


class _NearFirst:
    """A transform (_Edt or _Scipy) with the pixels near the other side measured first, exactly, by
    comparing the image with itself shifted by each integer offset in order of squared length (the
    first offset that reaches the other side gives a pixel's squared distance). Where every pixel lies
    within a few pixels of the other side (noisy or thin masks: the transforms' slowest case) that is
    the whole map, several times faster; otherwise (regions) the first shell tells, and the wrapped
    transform computes the map."""

    def __init__(self, base):
        self.base = base
        self.threads = base.threads

    def one_sided(self, inside):
        near = near_squares(inside, inside)
        return self.base.one_sided(inside) if near is None else near

    def two_sided(self, mask):
        near = near_squares(mask, None)
        return self.base.two_sided(mask) if near is None else near


NEAR_LARGEST = 32  # the largest squared distance measured by shifts
NEAR_DENSE = 0.5  # past the first shell, more pixels left than this share of the image: a region
NEAR_SPARSE = 1 / 64  # fewer pixels left than this share: follow them by their coordinates


@functools.lru_cache(maxsize=None)
def _shells(ndim, largest):
    """((k, offsets), ...): every nonzero integer offset of squared length k <= largest, by k."""
    reach = math.isqrt(largest)
    shells = {}
    for offset in itertools.product(range(-reach, reach + 1), repeat=ndim):
        k = sum(c * c for c in offset)
        if 0 < k <= largest:
            shells.setdefault(k, []).append(offset)
    return tuple((k, tuple(shells[k])) for k in sorted(shells))


def _shift_differs(labels, offset):
    """Boolean image: labels[x + offset] != labels[x] (False where x + offset leaves the image)."""
    out = np.zeros(labels.shape, dtype=bool)
    here = tuple(slice(max(-c, 0), n - max(c, 0)) for c, n in zip(offset, labels.shape))
    there = tuple(slice(max(c, 0), n - max(-c, 0)) for c, n in zip(offset, labels.shape))
    np.not_equal(labels[here], labels[there], out=out[here])
    return out


def near_squares(labels, where):
    """Float32 squared distance from each pixel of `where` (None: every pixel) to the nearest pixel of
    the other label of boolean `labels`, 0 elsewhere; None when a pixel lies farther than
    sqrt(NEAR_LARGEST), or when more than NEAR_DENSE of them lie beyond the first shell."""
    out = np.zeros(labels.shape, dtype=np.float32)
    todo = np.ones(labels.shape, dtype=bool) if where is None else where.copy()
    left = np.count_nonzero(todo)
    shells = _shells(labels.ndim, NEAR_LARGEST)
    done = 0
    while done < len(shells) and left > NEAR_SPARSE * labels.size:  # many pixels: whole-image shifts
        k, offsets = shells[done]
        done += 1
        hit = _shift_differs(labels, offsets[0])
        for offset in offsets[1:]:
            hit |= _shift_differs(labels, offset)
        hit &= todo
        out[hit] = k
        todo &= ~hit
        left = np.count_nonzero(todo)
        if done == 1 and left > NEAR_DENSE * labels.size:
            return None
    points = np.stack(np.nonzero(todo), axis=1)  # few pixels: followed by their coordinates
    own = labels[todo]
    limit = np.array(labels.shape)
    for k, offsets in shells[done:]:
        if not len(points):
            break
        found = np.zeros(len(points), dtype=bool)
        for offset in offsets:
            reached = points + offset
            inside = np.all((reached >= 0) & (reached < limit), axis=1)
            found[inside] |= labels[tuple(reached[inside].T)] != own[inside]
        out[tuple(points[found].T)] = k
        points, own = points[~found], own[~found]
    return out if not len(points) else None


def map_threads():
    """Threads that transform the images of a batch at once: SYMLOSS_MAP_THREADS, else up to 2 (the
    transforms are a small share of a core's work each; more threads mostly contend for memory)."""
    import os

    value = os.environ.get("SYMLOSS_MAP_THREADS", "")
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    return max(1, min(2, os.cpu_count() or 1))


def _pool_map(function, items, pixels):
    """[function(item) for item in items], on map_threads() threads where that helps: several images
    of at least THREADED_PIXELS pixels (below, handing an image to a thread costs more than it saves)."""
    import os

    workers = map_threads()
    if workers < 2 or len(items) < 2 or pixels < THREADED_PIXELS:
        return [function(item) for item in items]
    pool = _POOL.get("pool")
    if pool is None or _POOL.get("pid") != os.getpid() or _POOL.get("workers") != workers:
        from concurrent.futures import ThreadPoolExecutor  # one per process: a fork loses the threads

        pool = ThreadPoolExecutor(workers, thread_name_prefix="symloss-maps")
        _POOL.update(pool=pool, pid=os.getpid(), workers=workers)
    return list(pool.map(function, items))


_POOL = {}
THREADED_PIXELS = 128 * 128


def transform_for(spatial):
    """The distance transform for images of shape `spatial`: edt where it imports and its float32
    squares are exact, else SciPy; None when neither imports. Looked up once per process."""
    exact = _exact_squares(spatial) == np.float32
    if exact not in _TRANSFORMS:
        _TRANSFORMS[exact] = _find_transform(exact)
    return _TRANSFORMS[exact]


_TRANSFORMS = {}


def _find_transform(float32_exact):
    if float32_exact:
        try:
            import edt

            return _NearFirst(_Edt(edt))
        except ImportError:
            pass
    try:
        from scipy import ndimage
    except ImportError:
        return None
    return _NearFirst(_Scipy(ndimage))


class MapBatch:
    """The maps of one loss call on images of one shape. Masks are (N, K, *spatial): K class masks per
    image. Two-sided squared distances are kept for the call: a mask and its complement have the
    same, so boundary_weight(1 - g) and boundary_weight(g) share one transform per image and class."""

    def __init__(self, transform, spatial):
        self.transform = transform
        self.squares = _exact_squares(spatial)
        self._two_sided = []  # [(masks, squares)]

    def two_sided(self, masks):
        """Squared distance of each pixel to the nearest pixel on the other side of its mask; 0 for a
        mask that is empty or fills its image."""
        for known, squares in self._two_sided:
            if _same_or_complement(known, masks):
                return squares
        squares = self._each(masks, self.transform.two_sided)
        self._two_sided.append((masks, squares))
        return squares

    def one_sided(self, inside):
        """Squared distance from each pixel of each mask to the nearest pixel of its image outside that
        mask; 0 off the mask, and 0 for a mask that is empty or fills its image."""
        return self._each(inside, self.transform.one_sided)

    def _each(self, masks, transform):
        out = np.zeros(masks.shape, dtype=self.squares)
        todo = [i for i in np.ndindex(*masks.shape[:2]) if masks[i].any() and not masks[i].all()]
        if self.transform.threads:
            results = _pool_map(lambda index: transform(masks[index]), todo, masks[0, 0].size)
        else:
            results = [transform(masks[index]) for index in todo]
        for index, squares in zip(todo, results):
            out[index] = squares
        return out


def _same_or_complement(a, b):
    """Whether mask batches a and b are equal, or complements (checked on one image first)."""
    if a.shape != b.shape:
        return False
    for x, y in ((a[0, 0], b[0, 0]), (a, b)):
        equal = x == y
        if not (equal.all() or not equal.any()):
            return False
    return True


def _batch_sides(masks, valid):
    if valid is None:
        return masks, ~masks
    return masks & valid, ~masks & valid


def _root(squares, dtype):
    """Distances from exact integer squares, as the functions above compute them (float64), in dtype."""
    if dtype == np.float32 and squares.dtype == np.float32:
        return np.sqrt(squares)  # the float64 root rounded to float32 (see above)
    return np.sqrt(squares, dtype=np.float64).astype(dtype, copy=False)


def _spatial_axes(masks):
    return tuple(range(2, masks.ndim))


def _has_both(inside, outside):
    axes = _spatial_axes(inside)
    return np.expand_dims(inside.any(axis=axes) & outside.any(axis=axes), axes)


def distance_field_batch(maps, masks, valid, dtype):
    if valid is None:
        return _root(maps.two_sided(masks), dtype)
    # Ignored pixels belong to neither side: distances are measured across them.
    fg, bg = _batch_sides(masks, valid)
    squares = np.where(fg, maps.one_sided(~bg), maps.one_sided(~fg))
    squares *= _has_both(fg, bg) & valid
    return _root(squares, dtype)


def boundary_weight_batch(maps, masks, valid, dtype):
    region, outside = _batch_sides(masks, valid)
    # Two-sided: at the region's pixels, the distance to the outside; the rest serves the complement.
    squares = maps.two_sided(masks) if valid is None else maps.one_sided(~outside)
    out = np.zeros(masks.shape, dtype=dtype)
    for index in np.ndindex(*masks.shape[:2]):
        inside = region[index]
        if inside.any() and outside[index].any():
            out[index] = _phi(squares[index], inside, dtype)
    return out


def _phi(squares, region, dtype):
    """(top - d) / top on the region, 0 elsewhere, d = sqrt(squares), top its largest value on the
    region, in float64 as boundary_weight computes it. The squares are small integers: when there are
    fewer distinct ones than pixels, each value is computed once and looked up."""
    top_square = (squares * region).max()  # squares >= 0
    top = np.sqrt(np.float64(top_square))
    largest = int(squares.max())
    if largest < squares.size:
        table = np.zeros(largest + 1, dtype=dtype)  # 0 past top_square: only off the region
        k = np.arange(int(top_square) + 1, dtype=np.float64)
        table[: len(k)] = (top - np.sqrt(k)) / top
        values = np.take(table, squares.astype(np.int32))
    else:
        values = ((top - np.sqrt(squares, dtype=np.float64)) / top).astype(dtype)
        values[values < 0] = 0
    return np.multiply(values, region, out=values)  # every value >= 0: 0 off the region is +0.0


def contour_batch(masks, valid):
    """contour() of every image: mask pixels with a face-neighbour outside, by array shifts."""
    fg, bg = _batch_sides(masks, valid)
    kept = ~bg  # the mask and the ignored pixels; beyond the image border counts as kept
    inner = kept.copy()
    for axis in _spatial_axes(masks):
        length = masks.shape[axis]
        ahead, behind = [slice(None)] * masks.ndim, [slice(None)] * masks.ndim
        ahead[axis], behind[axis] = slice(1, length), slice(0, length - 1)
        inner[tuple(ahead)] &= kept[tuple(behind)]
        inner[tuple(behind)] &= kept[tuple(ahead)]
    return fg & ~inner


def contour_distance_batch(maps, predictions, targets, valid, dtype):
    """contour_distance's one value per image and class, (N, K)."""
    pred, true = contour_batch(predictions, valid), contour_batch(targets, valid)
    out = np.zeros(pred.shape[:2], dtype=dtype)
    todo = [i for i in np.ndindex(*out.shape) if pred[i].any() and true[i].any()]

    def mean_distance(index):
        squares = maps.transform.one_sided(~true[index])
        return np.sqrt(squares[pred[index]], dtype=np.float64).mean()

    if maps.transform.threads:
        values = _pool_map(mean_distance, todo, pred[0, 0].size)
    else:
        values = [mean_distance(index) for index in todo]
    for index, value in zip(todo, values):
        out[index] = value
    return out


def signed_distance_batch(maps, masks, valid, dtype):
    """signed_distance of every image and class: 1 - d inside, d outside, from one two-sided transform."""
    fg, bg = _batch_sides(masks, valid)
    if valid is None:
        squares = maps.two_sided(masks)
    else:  # ignored pixels belong to neither side: distances are measured across them
        squares = np.where(fg, maps.one_sided(~bg), maps.one_sided(~fg))
    d = np.sqrt(squares, dtype=np.float64)
    keep = _has_both(fg, bg) if valid is None else _has_both(fg, bg) & valid
    return np.where(keep, np.where(fg, 1.0 - d, d), 0.0).astype(dtype, copy=False)


# The batch versions of the maps above that have one (a map missing here runs image by image), and
# whether each gives one value per image rather than a map.
BATCH_MAPS = {
    "distance_field": (distance_field_batch, False),
    "boundary_weight": (boundary_weight_batch, False),
    "contour_distance": (contour_distance_batch, True),
    "signed_distance": (signed_distance_batch, False),
}
