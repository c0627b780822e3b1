"""The eager runtime's batch distance maps (runtime/distance_maps.py, BATCH_MAPS) give exactly the values
of the per-image reference functions the oracle uses, cast to the compute dtype, with either transform
(the optional edt package or SciPy, each with or without the near pixels measured by shifts first),
with ignored pixels, in 1 to 3 spatial dimensions."""
import numpy as np
import pytest
from scipy import ndimage

from symloss.runtime import distance_maps as D

TRANSFORMS = {"scipy": lambda: D._Scipy(ndimage), "near, scipy": lambda: D._NearFirst(D._Scipy(ndimage))}
try:
    import edt

    TRANSFORMS["edt"] = lambda: D._Edt(edt)
    TRANSFORMS["near, edt"] = lambda: D._NearFirst(D._Edt(edt))
except ImportError:  # the optional `fast` extra
    pass


def _labels(rng, kind, shape, classes):
    if kind == "random":
        return rng.integers(0, classes, shape)
    if kind == "blobs":  # a coarse label image scaled up: regions with long boundaries
        coarse = rng.integers(0, classes, shape[:1] + tuple(max(1, s // 6) for s in shape[1:]))
        big = coarse
        for axis, s in enumerate(shape[1:], start=1):
            big = np.repeat(big, -(-s // big.shape[axis]), axis=axis)
        return big[tuple(slice(0, s) for s in shape)]
    return np.full(shape, classes - 1)  # one class fills every image


def _mask_sets(rng, kind, shape, classes):
    labels = _labels(rng, kind, shape, classes)
    onehot = np.stack([labels == k for k in range(classes)], axis=1)
    return {"target": onehot, "complement": ~onehot, "any": rng.random(onehot.shape) < 0.3}


def _reference(name, masks, valid):
    rows = []
    for n in range(masks.shape[0]):
        rows.append([D.NUMPY_MAPS[name](masks[n, k], valid=None if valid is None else valid[n, k])
                     for k in range(masks.shape[1])])
    return np.array(rows)


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("spatial", [(7,), (17, 12), (6, 7, 8)])
@pytest.mark.parametrize("kind", ["random", "blobs", "full"])
def test_batch_maps_equal_the_reference_maps(transform, spatial, kind):
    rng = np.random.default_rng(sum(spatial) + len(kind))
    for classes in (1, 3):
        shape = (2,) + spatial
        for ignored in (False, True):
            valid = None
            if ignored:
                valid = np.broadcast_to((rng.random((2, 1) + spatial) < 0.85), (2, classes) + spatial)
            for label, masks in _mask_sets(rng, kind, shape, classes).items():
                for dtype in (np.float32, np.float64):
                    maps = D.MapBatch(TRANSFORMS[transform](), spatial)
                    for name in ("distance_field", "boundary_weight", "signed_distance"):
                        for m in (masks, ~masks):  # the second reuses the first's transforms
                            got = D.BATCH_MAPS[name][0](maps, m, valid, dtype)
                            expected = _reference(name, m, valid).astype(dtype)
                            assert got.dtype == dtype, name
                            np.testing.assert_array_equal(got, expected, err_msg=f"{name} {label} {ignored}")
                    other = rng.random(masks.shape) < 0.5
                    got = D.BATCH_MAPS["contour_distance"][0](maps, masks, other, valid, dtype)
                    expected = _reference_contour(masks, other, valid)
                    np.testing.assert_array_equal(got, expected.astype(dtype), err_msg=f"contour {label}")


@pytest.mark.parametrize("spatial", [(300,), (40, 37), (12, 13, 14)])
def test_near_squares_are_the_exact_squared_distances(spatial):
    """Measured by shifts, or None: never a value that differs from the transform's. Noisy masks are
    measured (the test fails if none is), regions and sparse masks go back to the transform."""
    rng = np.random.default_rng(len(spatial))
    measured = 0
    for density in (0.5, 0.25, 0.05, 0.95):
        mask = rng.random(spatial) < density
        for where in (None, mask, ~mask):  # two-sided; one-sided from either side
            near = D.near_squares(mask, where)
            if near is None:
                continue
            measured += 1
            both = ndimage.distance_transform_edt(mask) ** 2 + ndimage.distance_transform_edt(~mask) ** 2
            expected = np.where(np.ones(spatial, bool) if where is None else where, np.rint(both), 0)
            assert near.dtype == np.float32
            np.testing.assert_array_equal(near, expected, err_msg=f"{density} {where is None}")
    assert measured >= 3
    region = np.zeros(spatial, bool)
    region[tuple(slice(0, max(1, s // 2)) for s in spatial)] = True
    assert D.near_squares(region, None) is None  # most pixels lie inside a region: the transform's job
    lonely = np.zeros(spatial, bool)
    lonely.reshape(-1)[0] = True  # one pixel: the others lie farther than sqrt(NEAR_LARGEST)
    assert D.near_squares(lonely, lonely) is not None and D.near_squares(lonely, ~lonely) is None


def _reference_contour(pred, true, valid):
    out = np.zeros(pred.shape[:2])
    for index in np.ndindex(*out.shape):
        v = None if valid is None else valid[index]
        full = D.contour_distance(pred[index], true[index], valid=v)
        kept = np.ones(full.shape, bool) if v is None else v
        out[index] = full[kept].reshape(-1)[0] if kept.any() else 0.0
    return out


def test_float32_square_roots_of_exact_squares_match_scipys_float64_cast():
    """The batch maps take sqrt in float32 for a float32 map: equal to SciPy's float64 root cast to
    float32 for every integer below 2**24, i.e. every squared distance of an image up to 2896 wide."""
    n = np.arange(2**24, dtype=np.int64)
    assert np.array_equal(np.sqrt(n.astype(np.float32)), np.sqrt(n.astype(np.float64)).astype(np.float32))


def test_large_images_use_exact_float64_squares():
    assert D._exact_squares((2896, 2896)) == np.float32
    assert D._exact_squares((4097, 4097)) == np.float64


@pytest.mark.skipif("edt" not in TRANSFORMS, reason="the optional edt package is not installed")
@pytest.mark.parametrize(
    "name", ["hausdorff_dt", "distance_map_ce", "shape_aware", "boundary", "log_hausdorff_dt"]
)
def test_losses_are_the_same_with_edt_and_with_scipy(name, monkeypatch):
    """A loss reads the same maps whichever transform computes them (edt is optional)."""
    import paddle

    from symloss.paddle import FUNCTIONS, _runtime

    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 9, 11)).astype("float32")
    y = rng.integers(0, 3, size=(2, 9, 11))
    y[0, :2] = 255
    results = []
    for transform in ("edt", "scipy"):
        monkeypatch.setattr(_runtime, "_TRANSFORMS", {True: TRANSFORMS[transform](), False: TRANSFORMS[transform]()})
        logit = paddle.to_tensor(x, stop_gradient=False)
        loss = FUNCTIONS[name](logit, paddle.to_tensor(y))
        loss.backward()
        results.append((float(loss), logit.grad.numpy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
