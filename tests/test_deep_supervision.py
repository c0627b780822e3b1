"""DeepSupervision against the explicit weighted sum of the wrapped loss over the outputs, with the
label downsampled here independently (NumPy: nearest neighbour at pixel centres, area means)."""
import numpy as np
import pytest

paddle = pytest.importorskip("paddle")
import paddle.nn.functional as F  # noqa: E402

from symloss.paddle import (  # noqa: E402
    LOSSES, CrossEntropyLoss, DeepSupervision, DiceLoss, HausdorffDTLoss, TverskyLoss, hausdorff_dt_distance_maps,
)

# three outputs each, full resolution first: powers of two, and sizes that do not divide
SCALES = {
    "2d": [(16, 12), (8, 6), (4, 3)],
    "2d_uneven": [(10, 7), (5, 4), (3, 2)],
    "3d": [(8, 8, 6), (4, 4, 3), (2, 2, 2)],
}


def nearest(label, spatial):
    """Nearest neighbour at pixel centres (torch's 'nearest-exact', as nnU-Net and MONAI downsample)."""
    for axis, (size_in, size_out) in enumerate(zip(label.shape[1:], spatial)):
        index = np.minimum(np.floor((np.arange(size_out) + 0.5) * (size_in / size_out)).astype(int), size_in - 1)
        label = np.take(label, index, axis=axis + 1)
    return label


def area(target, spatial):
    """The mean of the input pixels each output pixel covers (adaptive average pooling)."""
    for axis, (size_in, size_out) in enumerate(zip(target.shape[2:], spatial)):
        starts = [k * size_in // size_out for k in range(size_out)]
        ends = [-((-(k + 1) * size_in) // size_out) for k in range(size_out)]
        parts = [np.take(target, np.arange(a, b), axis=axis + 2).mean(axis=axis + 2, keepdims=True)
                 for a, b in zip(starts, ends)]
        target = np.concatenate(parts, axis=axis + 2)
    return target


def outputs(scales, n=2, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, 2.0, size=(n, c) + s) for s in scales]


def labels(spatial, n=2, c=3, seed=1, ignored=0.2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, size=(n,) + spatial)
    y[rng.random(y.shape) < ignored] = 255
    return y


def run(loss, xs, y, **kw):
    """(value, gradient of each output) of `loss(list of outputs, label)`."""
    ts = [paddle.to_tensor(x, dtype="float64", stop_gradient=False) for x in xs]
    out = loss(ts, paddle.to_tensor(y), **kw)
    out.backward()
    return out.numpy(), [np.zeros_like(x) if t.grad is None else t.grad.numpy() for x, t in zip(xs, ts)]


def explicit(loss, xs, targets, weights):
    """sum_i w_i loss(x_i, target_i), each term computed on its own."""
    total, grads = 0.0, []
    for x, t, w in zip(xs, targets, weights):
        xt = paddle.to_tensor(x, dtype="float64", stop_gradient=False)
        value = loss(xt, paddle.to_tensor(t))
        (value * w).backward()
        total = total + w * value.numpy()
        grads.append(xt.grad.numpy())
    return total, grads


def assert_same(got, want, rtol=1e-13):
    np.testing.assert_allclose(got[0], want[0], rtol=rtol, atol=1e-15)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-15)


WEIGHTS = {"exp": [4 / 7, 2 / 7, 1 / 7], "nnunet": [2 / 3, 1 / 3, 0.0], "list": [1.0, 0.5, 0.25]}


@pytest.mark.parametrize("mode", sorted(WEIGHTS))
@pytest.mark.parametrize("layout", sorted(SCALES))
@pytest.mark.parametrize("make", [DiceLoss, CrossEntropyLoss, lambda: TverskyLoss(batch=True)],
                         ids=["dice", "cross_entropy", "tversky_batch"])
def test_weighted_sum_over_three_scales_with_integer_labels(make, layout, mode):
    scales = SCALES[layout]
    xs, y = outputs(scales), labels(scales[0])
    weights = WEIGHTS[mode] if mode != "list" else WEIGHTS["list"]
    ds = DeepSupervision(make(), weights=mode if mode != "list" else WEIGHTS["list"])
    targets = [nearest(y, s) for s in scales]
    assert_same(run(ds, xs, y), explicit(make(), xs, targets, weights))


@pytest.mark.parametrize("layout", sorted(SCALES))
def test_soft_targets_are_averaged_over_the_area(layout):
    scales = SCALES[layout]
    xs = outputs(scales, seed=2)
    rng = np.random.default_rng(3)
    soft = rng.dirichlet(np.ones(3), size=(2,) + scales[0])  # (N, *spatial, C)
    soft = np.moveaxis(soft, -1, 1)
    targets = [area(soft, s) for s in scales]
    assert_same(run(DeepSupervision(DiceLoss()), xs, soft), explicit(DiceLoss(), xs, targets, WEIGHTS["exp"]))


def test_the_downsampled_labels_keep_ignored_pixels_and_invent_no_value():
    scales = SCALES["2d_uneven"]
    y = labels(scales[0], ignored=0.4, seed=4)
    ds = DeepSupervision(DiceLoss())
    got = ds.targets([paddle.zeros((2, 3) + s) for s in scales], paddle.to_tensor(y))
    for t, s in zip(got, scales):
        np.testing.assert_array_equal(t.numpy(), nearest(y, s))
        assert set(np.unique(t.numpy())) <= set(np.unique(y))
    assert (got[-1].numpy() == 255).any()
    # a label with a channel axis (N, 1, *spatial) is the same label
    again = ds.targets([paddle.zeros((2, 3) + s) for s in scales], paddle.to_tensor(y[:, None]))
    for a, b in zip(again, got):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_nearest_neighbour_picks_pixel_centres():
    """5 pixels to 3: centres at 5/6, 15/6, 25/6 fall in pixels 0, 2, 4 (not 0, 1, 3 as 'nearest' does)."""
    y = np.arange(5)[None, :]
    ds = DeepSupervision(DiceLoss())
    (full, small) = ds.targets([paddle.zeros([1, 2, 5]), paddle.zeros([1, 2, 3])], paddle.to_tensor(y))
    assert small.numpy().tolist() == [[0, 2, 4]] and full.numpy().tolist() == [[0, 1, 2, 3, 4]]


@pytest.mark.parametrize("layout", ["2d", "3d"])
def test_static_graph_equals_eager(layout):
    scales = SCALES[layout]
    xs, y = outputs(scales, seed=5), labels(scales[0], seed=6)
    eager = run(DeepSupervision(DiceLoss(batch=True)), xs, y)
    static = run(paddle.jit.to_static(DeepSupervision(DiceLoss(batch=True)), full_graph=True), xs, y)
    assert_same(static, eager, rtol=1e-12)


def test_distance_maps_are_given_one_per_output():
    scales = SCALES["2d"]
    xs, y = outputs(scales, seed=7), labels(scales[0], seed=8, ignored=0.0)
    ds = DeepSupervision(HausdorffDTLoss())
    maps = [paddle.to_tensor(hausdorff_dt_distance_maps(t.numpy(), 3))
            for t in ds.targets([paddle.to_tensor(x) for x in xs], paddle.to_tensor(y))]
    assert_same(run(ds, xs, y, dist_map=maps), run(ds, xs, y), rtol=1e-6)
    with pytest.raises(ValueError, match="dist_map got 2 maps"):
        run(ds, xs, y, dist_map=maps[:2])


def test_every_catalog_loss_can_be_wrapped():
    scales = SCALES["2d"]
    xs, y = outputs(scales, seed=9), labels(scales[0], seed=10)
    for name, cls in sorted(LOSSES.items()):
        targets = [nearest(y, s) for s in scales]
        assert_same(run(DeepSupervision(cls()), xs, y), explicit(cls(), xs, targets, WEIGHTS["exp"]), rtol=1e-12)


def bad_calls():
    xs = [paddle.zeros([2, 3, 8, 8]), paddle.zeros([2, 3, 4, 4]), paddle.zeros([2, 3, 2, 2])]
    y = paddle.zeros([2, 8, 8], dtype="int64")
    ds = DeepSupervision(DiceLoss())
    return [
        ("a tensor", lambda: ds(xs[0], y), "logits got Tensor"),
        ("an empty list", lambda: ds([], y), "logits got list"),
        ("batch sizes differ", lambda: ds([xs[0], paddle.zeros([1, 3, 4, 4])], y), "logits got shape"),
        ("class counts differ", lambda: ds([xs[0], paddle.zeros([2, 2, 4, 4])], y), "logits got shape"),
        ("label too small", lambda: ds(xs, paddle.zeros([2, 4, 4], dtype="int64")), "label got spatial shape"),
        ("label of other dims", lambda: ds(xs, paddle.zeros([2, 8], dtype="int64")), "label got shape"),
        ("weights of the wrong length", lambda: DeepSupervision(DiceLoss(), [1.0, 0.5])(xs, y),
         "weights got 2 weights"),
        ("unknown weights", lambda: DeepSupervision(DiceLoss(), "linear"), "weights got 'linear'"),
        ("negative weights", lambda: DeepSupervision(DiceLoss(), [1.0, -0.5]), "weights got"),
        ("nnunet with one output", lambda: DeepSupervision(DiceLoss(), "nnunet")(xs[:1], y), "logits got 1 output"),
        ("not a loss", lambda: DeepSupervision("dice"), "loss got str"),
        ("per-pixel none", lambda: DeepSupervision(CrossEntropyLoss(reduction="none"))(xs, y),
         "loss got values of shapes"),
        ("another ignore index", lambda: DeepSupervision(DiceLoss(), ignore_index=0), "ignore_index got 0"),
    ]


@pytest.mark.parametrize("case", range(len(bad_calls())), ids=[c[0] for c in bad_calls()])
def test_bad_input_is_a_value_error_naming_the_argument(case):
    _, call, message = bad_calls()[case]
    with pytest.raises(ValueError, match=message):
        call()


def test_paddleseg_ignore_index_must_agree_with_the_loss():
    assert DeepSupervision(DiceLoss(ignore_index=4), ignore_index=4).loss.ignore_index == 4
    DeepSupervision(DiceLoss(), ignore_index=255)
