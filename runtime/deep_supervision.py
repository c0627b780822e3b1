"""Deep supervision: one loss on each of a network's outputs at decreasing resolutions, against one
full-resolution label, weighted and summed (nnU-Net's and MONAI's way of training U-Nets).

Self-contained (paddle only): the build copies this file into generated/deep_supervision.py.
"""

import math
import numbers

import paddle
import paddle.nn.functional as F

WEIGHT_MODES = ("exp", "nnunet")
_TENSORS = (paddle.Tensor,) + (
    (paddle.pir.Value,) if hasattr(paddle, "pir") and hasattr(paddle.pir, "Value") else ()
)
_FLOATS = ("float16", "bfloat16", "float32", "float64")
_AREA_POOLS = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}


def _fail(argument, got, expected):
    raise ValueError(f"DeepSupervision: {argument} got {got}; expected {expected}")


def _is_float(tensor):
    return str(tensor.dtype).replace("paddle.", "") in _FLOATS


def check_weights(weights):
    """"exp", "nnunet", or a list of non-negative numbers (one per output, checked per call)."""
    if isinstance(weights, str):
        if weights not in WEIGHT_MODES:
            _fail("weights", repr(weights), "'exp', 'nnunet' or a list of non-negative numbers")
        return weights
    if not isinstance(weights, (list, tuple)) or not weights:
        _fail("weights", repr(weights), "'exp', 'nnunet' or a list of non-negative numbers")
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0:
            _fail("weights", repr(weights), "finite non-negative numbers, one per output")
    return [float(w) for w in weights]


def scale_weights(weights, count):
    """The weight of each of `count` outputs, the full resolution first.

    "exp": 1/2^i normalised to sum 1 (nnU-Net's and MONAI's halving per level); "nnunet": the same with
    the lowest resolution given 0 (nnU-Net's DeepSupervisionWrapper); a list is used as given.
    """
    if not isinstance(weights, str):
        if len(weights) != count:
            _fail("weights", f"{len(weights)} weights", f"one per output of logits: {count}")
        return list(weights)
    halves = [0.5**k for k in range(count)]
    if weights == "nnunet":
        if count < 2:
            _fail("logits", "1 output", "2 or more with weights='nnunet' (it gives the last one weight 0)")
        halves[-1] = 0.0
    total = sum(halves)
    return [w / total for w in halves]


def nearest_indices(size_in, size_out):
    """The source pixel of each output pixel when `size_in` pixels shrink to `size_out` by nearest
    neighbour at pixel centres: floor((k + 1/2) size_in / size_out) (torch's 'nearest-exact', which
    nnU-Net and MONAI use), in exact integer arithmetic."""
    return [min((2 * k + 1) * size_in // (2 * size_out), size_in - 1) for k in range(size_out)]


def downsample_label(label, spatial):
    """A full-resolution label at the resolution `spatial`: class indices (N, *spatial) by nearest
    neighbour (an ignored pixel stays ignored: no new value is made up), soft targets (N, C, *spatial)
    by averaging the area each output pixel covers."""
    if _is_float(label):
        if list(label.shape[2:]) == list(spatial):
            return label
        return _AREA_POOLS[len(spatial)](label, list(spatial))
    for axis, (size_in, size_out) in enumerate(zip(label.shape[1:], spatial)):
        if size_in != size_out:
            index = paddle.to_tensor(nearest_indices(size_in, size_out), dtype="int64")
            label = paddle.index_select(label, index, axis=axis + 1)
    return label


class DeepSupervision(paddle.nn.Layer):
    r"""Deep supervision around any symloss loss (or any loss taking `(logit, label)`).

    `DeepSupervision(DiceCELoss(), weights="exp")(logits, label)` takes `logits`, a list or tuple of
    outputs (N, C, *spatial_i) at decreasing resolutions (the full resolution first), and one
    full-resolution `label`, and returns sum_i w_i loss(logits[i], label_i), where label_i is the label
    at the resolution of logits[i]: class indices (N, *spatial) or (N, 1, *spatial) by nearest neighbour
    at pixel centres (as nnU-Net and MONAI downsample; ignored pixels stay ignored), soft targets
    (N, C, *spatial) by area averaging.

    Args:
        loss: the loss of each output, e.g. `symloss.paddle.DiceCELoss(batch=True)`; its keywords
            (batch, sync, ignore_index, ...) apply at every resolution.
        weights: "exp" (default): 1/2^i normalised to sum 1, nnU-Net's and MONAI's halving per level;
            "nnunet": the same with the lowest resolution at 0, as nnU-Net trains; or a list of
            non-negative numbers, one per output, used as given (MONAI's DeepSupervisionLoss("exp") is
            [max(0.5 ** i, 0.0625) for each i], not normalised).
        ignore_index: None, or the label value the wrapped loss ignores (PaddleSeg's config hands the
            dataset's to every loss): it must agree with the loss's own `ignore_index`.

    `forward(logits, label, dist_map=None)`: `dist_map` is a list with one entry per output (the
    loss's distance maps at that output's resolution; see `targets`), for losses that take `dist_map=`.
    """

    def __init__(self, loss, weights="exp", ignore_index=None):
        super().__init__()
        if not callable(loss):
            _fail("loss", type(loss).__name__, "a loss, e.g. symloss.paddle.DiceLoss(), or a loss function")
        own = getattr(loss, "ignore_index", ignore_index)
        if ignore_index is not None and own != ignore_index:
            _fail("ignore_index", repr(ignore_index), f"the wrapped loss's ignore_index, {own!r}: set it in the loss")
        self.loss = loss
        self.weights = check_weights(weights)

    def targets(self, logits, label):
        """The label at the resolution of each output: what each output's loss is computed against
        (compute the distance maps of `dist_map=` from these)."""
        spatial, label = self._check(logits, label)
        return [downsample_label(label, shape) for shape in spatial]

    def forward(self, logits, label, dist_map=None):
        return self._weighted_sum(logits, label, dist_map)

    # Plain Python over the list of outputs: under paddle.jit.to_static it runs as written (building the
    # graph of each output's loss) instead of being translated into graph loops.
    @paddle.jit.not_to_static
    def _weighted_sum(self, logits, label, dist_map):
        spatial, label = self._check(logits, label)
        weights = scale_weights(self.weights, len(logits))
        if dist_map is not None:
            if not isinstance(dist_map, (list, tuple)) or len(dist_map) != len(logits):
                got = f"{len(dist_map)} maps" if isinstance(dist_map, (list, tuple)) else type(dist_map).__name__
                _fail("dist_map", got, f"a list with one entry per output of logits: {len(logits)}")
        terms = []
        for k, (logit, shape, weight) in enumerate(zip(logits, spatial, weights)):
            if weight == 0 and (terms or any(weights[k + 1 :])):
                continue  # an output with weight 0 takes no part (nnU-Net skips it too)
            extra = {} if dist_map is None else {"dist_map": dist_map[k]}
            terms.append((weight, self.loss(logit, downsample_label(label, shape), **extra)))
        shapes = {tuple(value.shape) for _, value in terms}
        if len(shapes) > 1:
            _fail("loss", f"values of shapes {sorted(shapes)} at the outputs' resolutions",
                  "one shape: use reduction='mean' or 'sum' (or a loss whose 'none' has no pixel axes)")
        total = None
        for weight, value in terms:
            if not paddle.in_dynamic_mode():  # a static graph would keep a Python float as float32
                weight = paddle.full([], weight, dtype=value.dtype)
            term = value * weight
            total = term if total is None else total + term
        return total

    def _check(self, logits, label):
        """Validate the outputs and the label; return each output's spatial shape, and the label with
        class indices as (N, *spatial)."""
        if not isinstance(logits, (list, tuple)) or not logits:
            _fail("logits", type(logits).__name__, "a non-empty list or tuple of outputs (N, C, *spatial)")
        for k, logit in enumerate(logits):
            if not isinstance(logit, _TENSORS) or len(logit.shape) not in (3, 4, 5):
                got = f"shape {list(logit.shape)}" if isinstance(logit, _TENSORS) else type(logit).__name__
                _fail("logits", f"{got} at output {k}", "paddle.Tensors (N, C, *spatial) with 1 to 3 spatial dims")
        first = list(logits[0].shape)
        for k, logit in enumerate(logits):
            shape = list(logit.shape)
            if len(shape) != len(first) or shape[:2] != first[:2]:
                _fail("logits", f"shape {shape} at output {k} after {first} at output 0",
                      "outputs with one batch size, one class count and one number of spatial dims")
        if not isinstance(label, _TENSORS):
            _fail("label", type(label).__name__, "a paddle.Tensor at the full resolution")
        dims = len(first) - 2
        if _is_float(label):
            full = list(label.shape[2:]) if len(label.shape) == dims + 2 else None
        elif len(label.shape) == dims + 2 and label.shape[1] == 1:
            full = list(label.shape[2:])
        else:
            full = list(label.shape[1:]) if len(label.shape) == dims + 1 else None
        if full is None:
            _fail("label", f"shape {list(label.shape)}",
                  f"class indices (N, *spatial) or (N, 1, *spatial), or soft targets (N, C, *spatial), "
                  f"with {dims} spatial dims like the outputs")
        if not _is_float(label) and len(label.shape) == dims + 2:
            label = label.squeeze(1)
        spatial = [list(logit.shape[2:]) for logit in logits]
        for k, shape in enumerate(spatial):
            if any(s > f for s, f in zip(shape, full)):
                _fail("label", f"spatial shape {full}, smaller than output {k} ({shape})",
                      "the full resolution: at least as large as every output")
        return spatial, label

    def extra_repr(self):
        return f"weights={self.weights!r}"
